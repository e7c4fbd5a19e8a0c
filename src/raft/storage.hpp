// raft/storage.hpp — what Raft keeps on disk, and an in-memory model of it.
//
// The core never reads or writes storage: it hands out what to persist in each
// Ready and is given back, on restart, what was persisted (PersistentState).
// MemoryStorage is the reference for what "persist a Ready" means. Tests and the
// simulation use it as their disk (a crash keeps exactly what it holds), and the
// LevelDB store in src/store must behave the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "raft/ready.hpp"
#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::raft {

// What a restarted server reads back: its hard state, its latest snapshot (null if
// it never had one) and the log entries after that snapshot, contiguous.
struct PersistentState {
  HardState hard_state;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Entry> entries;

  bool empty() const { return hard_state == HardState{} && !snapshot && entries.empty(); }
};

class MemoryStorage {
 public:
  // Does step 1 of the Ready contract (see ready.hpp). Throws std::logic_error if
  // the Ready would leave a gap in the log: that is a bug in the core.
  void persist(const Ready& ready);

  // Stores a snapshot the application took itself (RaftNode::compact) and drops
  // the entries it covers; later entries stay. InvalidArgument if it is older than
  // the stored one or past the stored log.
  Status compact(std::shared_ptr<const Snapshot> snapshot);

  // Everything persisted so far, as a restarted node is given it.
  PersistentState load() const;

  const HardState& hard_state() const { return hard_state_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  uint64_t last_index() const;

 private:
  uint64_t snapshot_index() const { return snapshot_ ? snapshot_->metadata.index : 0; }

  HardState hard_state_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<Entry> entries_;  // contiguous from snapshot_index() + 1
};

}  // namespace tally::raft
