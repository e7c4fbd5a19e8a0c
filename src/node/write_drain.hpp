// Counts the writes a node has accepted and not yet finished (a coordinated
// write until every replica answered or it timed out, a replica write until
// it is durable), so that stopping the node can wait for them: nothing the
// node acknowledged, or is about to, is cut short by a clean stop.
#pragma once

#include <functional>
#include <utility>

namespace tally {

class WriteDrain {
 public:
  void started() { ++in_flight_; }
  void finished() {
    if (--in_flight_ == 0 && on_drained_) {
      auto done = std::move(on_drained_);
      on_drained_ = nullptr;
      done();
    }
  }
  int in_flight() const { return in_flight_; }
  // `done` runs once no write is in flight: now, or when the last one finishes.
  void when_drained(std::function<void()> done) {
    if (in_flight_ == 0) return done();
    on_drained_ = std::move(done);
  }

 private:
  int in_flight_ = 0;
  std::function<void()> on_drained_;
};

}  // namespace tally
