// raft/ready.hpp — everything the Raft core asks of the world, in one batch.
//
// The contract (the same as etcd's RawNode, with durability made explicit as in
// LogCabin). For each Ready, in this order:
//
//   1. Persist, atomically or in this order: `snapshot` (it replaces the whole
//      persisted log), then delete persisted entries with index >= `truncate_from`,
//      then append `entries`, then write `hard_state`. Sync to disk if must_sync().
//   2. Only then send `messages`. A vote, or an acknowledgement of entries, that
//      reaches a peer before the vote or the entries are on disk can be forgotten
//      by a crash, and Raft's safety argument is gone (Figure 2: "respond to RPCs
//      only after updating stable storage").
//   3. Restore the state machine from `snapshot`, if any, then apply
//      `committed_entries` in order. Serve each of `read_states` (its index is
//      already applied once this Ready's committed entries are). Fail each request
//      in `aborted_reads` (leadership was lost before it could be confirmed).
//   4. Call advance(). Only then does the core count this Ready's entries as
//      persisted and its committed entries as applied.
//
// A crash at any point is fine: what was not persisted is lost, and the restarted
// node rebuilds from what was. step(), tick() and the other inputs may be called
// between ready() and advance(); their effects go into the next Ready.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "raft/message.hpp"
#include "raft/types.hpp"

namespace tally::raft {

struct Ready {
  // Set when the leader or this node's role changed since the last Ready.
  std::optional<SoftState> soft_state;
  // Set when term, vote or commit changed since the last Ready: persist it.
  std::optional<HardState> hard_state;
  // A snapshot received from the leader: persist it in place of the whole log, and
  // restore the state machine from it. Null when there is none.
  std::shared_ptr<const Snapshot> snapshot;
  // When non-zero, delete every persisted entry with index >= truncate_from before
  // appending `entries`: this node's uncommitted suffix was overwritten by the
  // leader's. Always entries.front().index when `entries` is non-empty.
  uint64_t truncate_from = 0;
  std::vector<Entry> entries;            // to append to the persisted log
  std::vector<Entry> committed_entries;  // to apply, in order; all already durable
  std::vector<Message> messages;         // to send once step 1 is done
  std::vector<ReadState> read_states;    // confirmed linearizable reads, ready to serve
  std::vector<uint64_t> aborted_reads;   // request_ctx of reads that will never be confirmed

  // True when step 1 must reach the disk (fsync) before step 2: a new term, vote,
  // entries or snapshot. A commit-index-only change may be written lazily.
  bool must_sync = false;
};

}  // namespace tally::raft
