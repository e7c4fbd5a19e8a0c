// raft/read_index.hpp — the leader's queue of linearizable reads (ReadIndex,
// dissertation §6.4).
//
// A read goes through three stages:
//   1. awaiting commit: the leader has not yet committed an entry of its own term,
//      so its commit index may be behind entries committed by earlier leaders
//      (etcd #7331, TiKV #9208: a stale read right after a leader change).
//   2. unconfirmed: the read index is the commit index; it waits for a round of
//      heartbeats answered by a majority, which proves that no newer leader had
//      been elected when the read arrived. Rounds are numbered; a heartbeat carries
//      the latest round, and an answer to round r confirms every read up to r.
//   3. confirmed: it is released (in a Ready) once the state machine has applied
//      the read index. A confirmed read stays valid if leadership is lost later:
//      the index was the commit index at a moment this node was still leader.
// Losing leadership aborts stages 1 and 2: those reads were never confirmed.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "raft/types.hpp"

namespace tally::raft {

class ReadIndexQueue {
 public:
  // Stage 1.
  void await_commit(uint64_t request_ctx) { awaiting_commit_.push_back(request_ctx); }
  bool has_awaiting_commit() const { return !awaiting_commit_.empty(); }
  std::vector<uint64_t> take_awaiting_commit();

  // Stage 2: queues a read at `index` and returns its round, which the next
  // heartbeats carry.
  uint64_t add(uint64_t request_ctx, uint64_t index);
  // The latest round handed out (0 before any).
  uint64_t round() const { return round_; }
  // A majority answered heartbeats of `round` or later: every read up to it is
  // confirmed.
  void confirm_through(uint64_t round);

  // Stage 3.
  bool has_releasable(uint64_t applied) const;
  std::vector<ReadState> take_releasable(uint64_t applied);

  // Leadership was lost: the request contexts of every read not yet confirmed.
  std::vector<uint64_t> abort_unconfirmed();

  // Empty when consistent with `committed` and `is_leader`, else what is wrong.
  std::string check(uint64_t committed, bool is_leader) const;

 private:
  struct Pending {
    uint64_t request_ctx;
    uint64_t index;
    uint64_t round;
  };

  std::vector<uint64_t> awaiting_commit_;
  std::deque<Pending> unconfirmed_;  // increasing round
  std::deque<ReadState> confirmed_;  // non-decreasing index
  uint64_t round_ = 0;
};

}  // namespace tally::raft
