// What this node believes about the cluster, as the data path routes by it:
// its own id, the cluster map in use and the ring built from that map.
//
// Owned and changed by MapFollower alone (it adopts newer maps and learns the
// node's id when it joins); every other room of the node holds it by const
// reference and reads it afresh on every request, so a request routes by the
// map that was current when it started.
#pragma once

#include <algorithm>
#include <string>

#include "meta/cluster_map.hpp"
#include "ring/ring.hpp"

namespace tally {

struct ClusterView {
  ring::NodeId self = ring::kNoNode;  // kNoNode until a joiner is given its id
  meta::ClusterMap map;               // epoch 0: no map yet, no data requests
  ring::Ring ring;                    // map.build_ring(): who serves reads
  // While a ring movement runs (map.movement), the ring after it
  // (map.build_ring_after()): writes go to the replicas of both rings.
  ring::Ring after;
  // The highest epoch a peer's message spoke of: above map.epoch, this node
  // is behind (a newer map is being fetched).
  uint64_t newest_heard = 0;

  bool moving() const { return map.movement.has_value(); }
  bool behind() const { return newest_heard > map.epoch; }

  uint64_t epoch() const { return map.epoch; }

  // A keyspace's N as it applies today: never more than the nodes on the ring.
  int replicas_for(const meta::Keyspace& ks) const { return std::min(ks.n, std::max(1, ring.node_count())); }

  // The key's primaries, clockwise from its position.
  ring::PreferenceList replicas_of(const meta::Keyspace& ks, const std::string& key) const {
    return ring.preference_list(ring::key_position(ks.name, key), replicas_for(ks));
  }
  // Whether `node` is a replica of the key in the ring, or in the ring after
  // the movement in progress (a pending owner).
  bool replica_of(ring::NodeId node, const meta::Keyspace& ks, const std::string& key) const {
    const uint64_t position = ring::key_position(ks.name, key);
    const int n = replicas_for(ks);
    if (ring.preference_list(position, n).contains(node)) return true;
    return moving() && replicas_after(position, n).contains(node);
  }
  // The primaries of `position` once the movement completes (the same as
  // ring's without one), `n` capped by that ring's nodes as replicas_for does.
  ring::PreferenceList replicas_after(uint64_t position, int n) const {
    const ring::Ring& r = moving() ? after : ring;
    return r.preference_list(position, std::min(n, std::max(1, r.node_count())));
  }
};

}  // namespace tally
