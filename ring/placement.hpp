// ring/placement.hpp — the zone-aware placement rule: which nodes, met in ring order,
// become the replicas of a position.
//
// Walk clockwise from the position, token by token, and offer each token's node to a
// ReplicaSelector. With Z zones in the ring and replication factor N it accepts
//   - a node already accepted: never (vnodes repeat nodes);
//   - the first node met of a zone not yet represented: always;
//   - any other node (a "duplicate" of a represented zone): only while fewer than
//     N - min(N, Z) duplicates have been accepted;
// and stops at N nodes. So with Z >= N the replicas are the first nodes of the first N
// distinct zones met; with Z < N every zone is used and the remaining N - Z slots go to
// the first other nodes met.
//
// The set accepted is the one Cassandra's NetworkTopologyStrategy picks inside one
// datacenter with racks as zones; the walk order is kept as the list order.
//
// Why it keeps data movement minimal: the sets the selector accepts are the independent
// sets of a matroid (at most N - min(N, Z) duplicates), and the walk is the greedy
// algorithm on that matroid with ring order as weight. Adding one element to a matroid
// changes its greedy basis by at most one exchange that brings the new element in;
// removing one brings at most one other element in. On the ring: a joining node can
// only replace a replica by itself, and a leaving node is only replaced, so data moves
// only towards a joining node and only away from a leaving one (streaming relies on
// this). It also holds when the node opens a new zone: with Z < N the new zone's one
// replica comes out of the duplicate budget (the last duplicate makes way for it), and
// with Z >= N the rule is unchanged. docs/ring.md has the argument; tests check it.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "ring/preference_list.hpp"

namespace tally::ring {

class ReplicaSelector {
 public:
  // Selects n replicas (1 <= n <= kMaxReplicas) in a ring with zone_count zones.
  ReplicaSelector(int n, int zone_count)
      : n_(n), duplicates_left_(n - std::min(n, std::max(zone_count, 1))) {
    assert(n >= 1 && n <= kMaxReplicas);
  }

  // Offers the next node met in ring order (any unique node and zone numbering).
  // Returns whether it joined the replicas. O(1) for a node of an unrepresented zone
  // (zones numbered below 64), O(N) otherwise. The data path calls this a few times per
  // request, and whether a node is taken is a coin flip to the branch predictor, so the
  // common path is written without branches on it.
  bool offer(uint32_t node, uint32_t zone) {
    if (count_ == n_) return false;
    // An accepted node's zone is represented, so a node of an unrepresented zone is new.
    const bool zone_new = !zone_seen(zone);
    bool take = zone_new;
    if (duplicates_left_ > 0 && !zone_new) take = !contains(node);  // 0 with Z >= N
    nodes_[count_] = node;  // in bounds (count_ < n_); kept only if taken
    zones_[count_] = zone;
    count_ += take;
    duplicates_left_ -= take & !zone_new;
    if (zone < 64) zone_mask_ |= uint64_t{take} << zone;
    return take;
  }

  bool full() const { return count_ == n_; }
  int size() const { return count_; }
  // The i-th accepted node and its zone, in the order accepted.
  uint32_t node(int i) const { return nodes_[i]; }
  uint32_t zone(int i) const { return zones_[i]; }
  bool contains(uint32_t node) const {
    for (int i = 0; i < count_; ++i) {
      if (nodes_[i] == node) return true;
    }
    return false;
  }

 private:
  bool zone_seen(uint32_t zone) const {
    if (zone < 64) return (zone_mask_ >> zone) & 1;
    for (int i = 0; i < count_; ++i) {
      if (zones_[i] == zone) return true;
    }
    return false;
  }

  int n_;
  int duplicates_left_;
  int count_ = 0;
  uint64_t zone_mask_ = 0;  // zones below 64 already represented
  uint32_t nodes_[kMaxReplicas];
  uint32_t zones_[kMaxReplicas];
};

}  // namespace tally::ring
