// A simulated disk: an ordered map, with the gap between what a write made
// visible and what an fsync made durable modelled explicitly, so a crash can
// take away exactly what a real one would.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "raft/random.hpp"
#include "store/disk.hpp"

namespace tally::sim {

struct DiskFaults {
  uint64_t min_latency_us = 20;
  uint64_t max_latency_us = 200;
  uint64_t fsync_latency_us = 500;  // extra, for sync writes
  double write_error = 0.0;         // probability a write fails with an I/O error
  // While set, every write fails ("no space left on device") and so does
  // reopen(): a cause that lasts until the operator removes it (a full disk,
  // too many open files).
  bool full = false;
  // The chance that a failed write is in the database whole when it is read
  // back (reopen, a process restart): its log record was complete, only its
  // fsync failed. Reads see it only from then on, as with LevelDB.
  double failed_write_applied = 0.0;
};

class SimDisk final : public store::Disk {
 public:
  // `schedule(delay, fn)` runs fn later on the owning host (and never after it crashed).
  using Schedule = std::function<void(uint64_t delay_us, std::function<void()> fn)>;
  using Now = std::function<uint64_t()>;
  SimDisk(SplitMix64& rng, Schedule schedule, Now now)
      : rng_(rng), schedule_(std::move(schedule)), now_(std::move(now)) {}

  void write(store::WriteBatch batch, bool sync, WriteDone done) override;
  void read(std::string key, ReadDone done) override;
  void scan(std::string start, std::string end, size_t limit, ScanDone done) override;
  // A failed write stops writes until reopen(), as store/disk.hpp says.
  Status write_failure() const override { return failure_; }
  void set_failure_listener(std::function<void(const Status&)> listener) override {
    listener_ = std::move(listener);
  }
  // Completes after the operations in flight; fails while faults().full.
  void reopen(WriteDone done) override;

  DiskFaults& faults() { return faults_; }
  // Process crash: buffered writes survive (the OS has them), and so does a
  // failed write whose log record was complete; the next process opens the
  // database afresh.
  void crash_process() {
    busy_until_us_ = 0;
    read_back_torn();
  }
  // Power loss: only what an fsync covered survives.
  void crash_power() {
    torn_.reset();
    visible_ = durable_;
    busy_until_us_ = 0;
    failure_ = Status::Ok();
  }
  uint64_t reopens() const { return reopens_; }

  // The disk loses every key starting with `prefix`, synced or not (an
  // operator wiped those files).
  void wipe(const std::string& prefix) {
    for (auto* m : {&visible_, &durable_}) {
      auto it = m->lower_bound(prefix);
      while (it != m->end() && it->first.compare(0, prefix.size(), prefix) == 0) it = m->erase(it);
    }
  }

  const std::map<std::string, std::string>& visible() const { return visible_; }
  const std::map<std::string, std::string>& durable() const { return durable_; }

 private:
  uint64_t completion_delay(uint64_t extra);
  // The database is read back: a failed write found whole is in it from now on.
  void read_back_torn();

  SplitMix64& rng_;
  Schedule schedule_;
  Now now_;
  DiskFaults faults_;
  std::map<std::string, std::string> visible_;  // what reads see
  std::map<std::string, std::string> durable_;  // what survives a power loss
  uint64_t busy_until_us_ = 0;  // completions are in submission order, like one log file
  Status failure_;              // the write error that stopped writes
  std::optional<store::WriteBatch> torn_;  // a failed write found whole when read back
  std::function<void(const Status&)> listener_;
  uint64_t reopens_ = 0;
};

}  // namespace tally::sim
