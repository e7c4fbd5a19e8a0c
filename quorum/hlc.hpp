// A hybrid logical clock (Kulkarni, Demirbas, Madappa, Avva, Leone, "Logical
// Physical Clocks", OPODIS 2014): tags that follow physical time closely, never
// go backwards (even when the physical clock does), and order a receive after
// the send it answers. Keyspaces in `lww` mode tag each write with one; the
// highest tag wins (quorum/dvv.hpp, lww_update).
//
// The clock is pure: the caller passes the physical time in (the node's Env),
// it never reads one. One HybridClock per node; it is not thread-safe.
#pragma once

#include <cstdint>

#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::quorum {

class HybridClock {
 public:
  // CockroachDB's default --max-offset: a peer whose clock runs further ahead
  // than this is refused rather than allowed to drag our tags into the future.
  static constexpr uint64_t kDefaultMaxOffsetMs = 500;

  // A clock for node `node`, starting at (0, 0). `max_offset_ms` bounds how far
  // ahead of our physical time a received tag may be (see update).
  explicit HybridClock(ReplicaId node, uint64_t max_offset_ms = kDefaultMaxOffsetMs)
      : node_(node), max_offset_ms_(max_offset_ms) {}

  // A local or send event at physical time `physical_ms`: returns a tag strictly
  // greater than every tag this clock returned before (the paper's send rule:
  // l = max(l, pt); c = c + 1 if l did not move, else 0). When the physical time
  // is behind l (the clock stepped back, or a peer was ahead) l stays put and c
  // counts. O(1), never fails.
  HlcTimestamp now(uint64_t physical_ms);

  // A receive event: folds in the tag `received` from a peer and returns a tag
  // strictly greater than both it and every tag this clock returned before (the
  // paper's receive rule). Errors: InvalidArgument, leaving the clock unchanged,
  // if `received` is more than max_offset_ms ahead of `physical_ms`: accepting it
  // would push every later tag of this node (and of the nodes it talks to) that
  // far ahead of real time, so that writes tagged by honest clocks would lose to
  // it under lww. O(1).
  Result<HlcTimestamp> update(const HlcTimestamp& received, uint64_t physical_ms);

  // The last tag returned, or (0, 0, node) before the first. O(1).
  HlcTimestamp last() const { return {wall_ms_, logical_, node_}; }

  ReplicaId node() const { return node_; }
  uint64_t max_offset_ms() const { return max_offset_ms_; }

 private:
  // Moves to (wall, logical), where logical may exceed 32 bits: then the tag
  // moves to (wall + 1, 0) instead, which is still greater and keeps the order.
  HlcTimestamp advance_to(uint64_t wall, uint64_t logical);

  ReplicaId node_;
  uint64_t max_offset_ms_;
  uint64_t wall_ms_ = 0;  // l
  uint32_t logical_ = 0;  // c
};

}  // namespace tally::quorum
