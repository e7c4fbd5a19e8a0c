#include "sim/sim_disk.hpp"

#include <algorithm>

namespace tally::sim {

// Operations complete in the order they were submitted: each completes no
// earlier than the one before it (a log-structured store behaves that way, and
// the record store relies on batches being durable in order).
uint64_t SimDisk::completion_delay(uint64_t extra) {
  uint64_t latency = rng_.between(faults_.min_latency_us, faults_.max_latency_us) + extra;
  uint64_t now = now_();
  uint64_t done_at = std::max(busy_until_us_, now) + latency;
  uint64_t delay = done_at - now;
  busy_until_us_ = done_at;
  return delay;
}

void SimDisk::write(store::WriteBatch batch, bool sync, WriteDone done) {
  bool fail = rng_.chance(faults_.write_error);
  uint64_t delay = completion_delay(sync ? faults_.fsync_latency_us : 0);
  schedule_(delay, [this, batch = std::move(batch), sync, fail, done = std::move(done)]() mutable {
    if (!failure_.ok()) return done(failure_);  // stopped by an earlier write: not applied
    if (fail || faults_.full) {
      failure_ = Status::IoError(faults_.full ? "simulated disk write error: No space left on device"
                                              : "simulated disk write error");
      if (faults_.failed_write_applied > 0 && rng_.chance(faults_.failed_write_applied)) torn_ = std::move(batch);
      if (listener_) listener_(failure_);
      done(failure_);
      return;
    }
    for (const auto& op : batch.ops) {
      if (op.value) {
        visible_[op.key] = *op.value;
      } else {
        visible_.erase(op.key);
      }
    }
    // An fsync of the log makes everything written before it durable too.
    if (sync) durable_ = visible_;
    done(Status::Ok());
  });
}

void SimDisk::read_back_torn() {
  failure_ = Status::Ok();
  if (!torn_) return;
  for (const auto& op : torn_->ops) {
    if (op.value) {
      visible_[op.key] = *op.value;
    } else {
      visible_.erase(op.key);
    }
  }
  torn_.reset();
}

void SimDisk::reopen(WriteDone done) {
  schedule_(completion_delay(0), [this, done = std::move(done)] {
    if (faults_.full) return done(Status::IoError("cannot open the database: No space left on device (simulated)"));
    ++reopens_;
    read_back_torn();
    done(Status::Ok());
  });
}

void SimDisk::read(std::string key, ReadDone done) {
  schedule_(completion_delay(0), [this, key = std::move(key), done = std::move(done)] {
    auto it = visible_.find(key);
    done(it == visible_.end() ? std::optional<std::string>() : std::optional<std::string>(it->second));
  });
}

void SimDisk::scan(std::string start, std::string end, size_t limit, ScanDone done) {
  schedule_(completion_delay(0), [this, start = std::move(start), end = std::move(end), limit,
                                  done = std::move(done)] {
    std::vector<store::KeyValue> out;
    for (auto it = visible_.lower_bound(start); it != visible_.end() && out.size() < limit; ++it) {
      if (!end.empty() && it->first >= end) break;
      out.push_back({it->first, it->second});
    }
    done(std::move(out));
  });
}

}  // namespace tally::sim
