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
  schedule_(delay, [this, batch = std::move(batch), sync, fail, done = std::move(done)] {
    if (fail) {
      done(Status::IoError("simulated disk write error"));
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
