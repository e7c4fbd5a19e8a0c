// Raft's persistent state in the node's database: the hard state, the latest
// snapshot and the log after it, under their own key prefix. It does for a
// Ready what raft::MemoryStorage::persist does (the reference; the tests hold
// the two to the same results), as one atomic write batch, fsynced when the
// Ready says it must be (a new term, vote, entries or snapshot).
//
// A failed write (persist, compact) leaves the log's bounds here ahead of the
// disk, and the disk takes no writes until it is reopened (store/disk.hpp):
// the owner stops taking part in Raft, and once the disk takes writes again
// starts over from load(), as a restarted process would (node/meta_group.hpp).
//
// Layout: "rh" hard state; "rs" snapshot; "re" + big-endian index for each
// entry, so a scan returns the log in order; "rn" the node's id in the group
// when it was given one by joining (founders take theirs from the config).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "raft/ready.hpp"
#include "raft/storage.hpp"
#include "store/disk.hpp"
#include "tally/status.hpp"

namespace tally::store {

class RaftLogStore {
 public:
  explicit RaftLogStore(Disk& disk) : disk_(disk) {}

  // Reads everything back, as a restarting node needs it. Must run before
  // persist. Errors: Corruption (a record that does not decode, a log with a
  // gap), or the disk's.
  void load(std::function<void(Result<raft::PersistentState>)> done);

  // Step 1 of the Ready contract: `done` runs once it is on disk (durably when
  // ready.must_sync). Errors: InvalidArgument for a Ready that would leave a gap
  // (a bug in the caller; reported at once, inside the call), or the disk's.
  void persist(const raft::Ready& ready, std::function<void(Status)> done);

  // Stores a snapshot the application took and drops the entries it covers.
  void compact(std::shared_ptr<const raft::Snapshot> snapshot, std::function<void(Status)> done);

  // The node id this node was given when it joined: 0 when it never joined.
  void load_node_id(std::function<void(Result<uint64_t>)> done);
  // Remembers it, durably, before the node takes part under it.
  void save_node_id(uint64_t id, std::function<void(Status)> done);

  uint64_t first_index() const { return first_; }  // of the entries held; last_+1 when none
  uint64_t last_index() const { return last_; }

 private:
  Disk& disk_;
  uint64_t snapshot_index_ = 0;
  uint64_t first_ = 1;
  uint64_t last_ = 0;
};

}  // namespace tally::store
