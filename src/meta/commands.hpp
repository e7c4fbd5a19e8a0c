// The changes the Raft group agrees on, and how each changes the cluster map.
// Applying a committed command is deterministic, so every node that applies
// the same log holds the same map (and so builds the same ring).
//
// Every change that takes effect bumps the epoch, keyspace changes too: a
// node or client holding an older epoch knows it may be missing a keyspace as
// well as a ring change.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "meta/cluster_map.hpp"
#include "tally/status.hpp"

namespace tally::meta {

struct AddNode {
  Member member;  // with its tokens, chosen by the proposer (ring::allocate_tokens)
};
struct SetNodeState {
  ring::NodeId id = ring::kNoNode;
  NodeState state = NodeState::kNormal;
};
struct CreateKeyspace {
  Keyspace keyspace;
};
struct AlterKeyspace {
  Keyspace keyspace;  // r, w and mode may change; n may not (that would move data)
};
struct DropKeyspace {
  std::string name;
};

// A receiver's progress on the transfers of a movement (named by its epoch):
// each listed transfer (an index into Movement::transfers, all of them to
// `to`) now holds every key up to `cursor`; `done` when the whole range is
// in. `keys`, `bytes` add to the movement's totals; `now_ms` is the
// receiver's clock. The one that marks the last transfer done completes the
// movement. Progress alone does not bump the epoch (it routes nothing).
struct StreamUpdate {
  uint64_t movement = 0;
  ring::NodeId to = ring::kNoNode;
  std::vector<uint32_t> transfers;
  std::string cursor;
  bool done = false;
  uint64_t keys = 0;
  uint64_t bytes = 0;
  uint64_t now_ms = 0;
};

// The first command of a cluster's log: the map its founders computed from the
// config (bootstrap()). Applied only to an empty map; a second one (two
// early leaders each proposed it) is refused and changes nothing.
struct InitCluster {
  ClusterMap map;
};

using Command =
    std::variant<AddNode, SetNodeState, CreateKeyspace, AlterKeyspace, DropKeyspace, InitCluster, StreamUpdate>;

// Node states (cluster_map.hpp) move joining -> normal -> leaving -> left ->
// removed. A join (AddNode) and a leave (SetNodeState to leaving) start a
// movement, one at a time; while it runs, the node can only go back (a
// joiner removed, a leaver normal again: the movement is called off). The
// last StreamUpdate completes it; only a node that has left can be removed.
//
// Applies `command` to `map`. On error (the message names the problem: an id
// or address already taken, an unknown node or keyspace, an invalid keyspace,
// a state change that is not allowed) `map` is left unchanged.
Status apply(ClusterMap& map, const Command& command);

}  // namespace tally::meta
