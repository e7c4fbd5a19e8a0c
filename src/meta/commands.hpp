// The changes the Raft group agrees on, and how each changes the cluster map.
// Applying a committed command is deterministic, so every node that applies
// the same log holds the same map (and so builds the same ring).
//
// Every change that takes effect bumps the epoch, keyspace changes too: a
// node or client holding an older epoch knows it may be missing a keyspace as
// well as a ring change.
#pragma once

#include <string>
#include <variant>

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

// The first command of a cluster's log: the map its founders computed from the
// config (bootstrap()). Applied only to an empty map; a second one (two
// early leaders each proposed it) is refused and changes nothing.
struct InitCluster {
  ClusterMap map;
};

using Command = std::variant<AddNode, SetNodeState, CreateKeyspace, AlterKeyspace, DropKeyspace, InitCluster>;

// Applies `command` to `map`. On error (the message names the problem: an id
// or address already taken, an unknown node or keyspace, an invalid keyspace,
// a state change that is not allowed) `map` is left unchanged.
Status apply(ClusterMap& map, const Command& command);

}  // namespace tally::meta
