// The node's side of a failing disk (docs/operations.md, "A failing disk").
// When a write error stops the disk's writes (store/disk.hpp: a full disk,
// too many open files), the store refuses writes with that error while reads
// go on; this room reopens the database, again and again with a growing pause
// while the cause lasts, and once it opens tells the rooms that keep state
// beside the disk to read it back (the record store, the replica side's dot
// floor and mint epochs, anti-entropy's trees, the metadata group).
//
// Owns: the retry timer, when the failure began, what the last attempt said,
// the recoveries counted in NodeStats. Touches the disk only through
// Disk::reopen and its failure listener; decides nothing about records.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/log.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "tally/status.hpp"

namespace tally {

struct DiskRecoveryOptions {
  // The pause before the first reopen, doubled after each failed one up to
  // the second, which bounds how long the store stays failing once the cause
  // is gone. An attempt while the cause lasts costs little: the database is
  // closed only once a probe finds file descriptors and room for its logs
  // (store::LevelDbEngine::can_reopen).
  uint64_t first_retry_us = 100'000;
  uint64_t max_retry_us = 500'000;
};

class DiskRecovery {
 public:
  struct Hooks {
    // Writes stopped with `why`: refuse them from now on.
    std::function<void(const Status& why)> failed;
    // The database is open again: forget what memory holds of it, read back
    // what is needed, take writes again. Runs before any write can start.
    std::function<void()> reopened;
  };

  DiskRecovery(Env& env, Logger log, NodeStats& stats, Hooks hooks,
               DiskRecoveryOptions options = {});
  ~DiskRecovery();  // stops listening to the disk

  // Listens to the disk's failures; stop() ends the retries.
  void start();
  void stop();

  // Runs `fn` (later, on the loop) once the disk takes writes: soon when it
  // does now, else right after the next reopen. For state a failed write left
  // ahead of the disk (the metadata group's), to be read back.
  void when_writable(std::function<void()> fn);

  bool failing() const { return !failure_.ok(); }
  // The write error writes stopped with (Ok when not failing).
  const Status& failure() const { return failure_; }
  uint64_t failing_since_us() const { return since_us_; }
  uint32_t attempts() const { return attempts_; }
  // Why the last reopen failed (Ok before the first attempt).
  const Status& last_attempt() const { return last_attempt_; }

 private:
  void on_failure(const Status& why);
  void attempt();
  void retry_later();

  Env& env_;
  Logger log_;
  NodeStats& stats_;
  Hooks hooks_;
  DiskRecoveryOptions options_;
  Status failure_;
  Status last_attempt_;
  uint64_t since_us_ = 0;
  uint32_t attempts_ = 0;
  uint64_t pause_us_ = 0;
  TimerId timer_ = 0;
  bool stopped_ = false;
  std::vector<std::function<void()>> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tally
