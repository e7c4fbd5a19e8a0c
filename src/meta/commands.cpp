#include "meta/commands.hpp"

#include <algorithm>

namespace tally::meta {

namespace {

// Allowed moves: joining -> normal -> leaving -> removed, and joining ->
// removed (a join given up). Nothing comes back from removed: a node that
// returns joins again under a new id.
bool allowed(NodeState from, NodeState to) {
  switch (from) {
    case NodeState::kJoining: return to == NodeState::kNormal || to == NodeState::kRemoved;
    case NodeState::kNormal: return to == NodeState::kLeaving;
    case NodeState::kLeaving: return to == NodeState::kRemoved || to == NodeState::kNormal;
    case NodeState::kRemoved: return false;
  }
  return false;
}

Status add_node(ClusterMap& map, const AddNode& c) {
  const Member& m = c.member;
  if (m.id == ring::kNoNode) return Status::InvalidArgument("node id 0 is reserved");
  for (const auto& other : map.members) {
    if (other.id == m.id) return Status::InvalidArgument("node id " + std::to_string(m.id) + " is taken by " + other.name);
    if (other.state == NodeState::kRemoved) continue;
    if (other.name == m.name) return Status::InvalidArgument("node name '" + m.name + "' is taken");
    if (other.address == m.address) {
      return Status::InvalidArgument("address " + m.address + " is taken by " + other.name);
    }
  }
  ClusterMap next = map;
  next.members.push_back(m);
  // The ring must still build once it joins (tokens distinct, a zone, some tokens).
  auto ring = next.build_ring_with_joining();
  if (!ring.ok()) return ring.status();
  next.epoch++;
  map = std::move(next);
  return Status::Ok();
}

Status set_state(ClusterMap& map, const SetNodeState& c) {
  auto it = std::find_if(map.members.begin(), map.members.end(), [&](const Member& m) { return m.id == c.id; });
  if (it == map.members.end()) return Status::NotFound("no node with id " + std::to_string(c.id));
  if (it->state == c.state) return Status::Ok();
  if (!allowed(it->state, c.state)) {
    return Status::InvalidArgument("node " + it->name + " cannot go from " + std::string(node_state_name(it->state)) +
                                   " to " + std::string(node_state_name(c.state)));
  }
  if (c.state == NodeState::kRemoved) {
    size_t live = std::count_if(map.members.begin(), map.members.end(),
                                [](const Member& m) { return m.state != NodeState::kRemoved; });
    if (live == 1) return Status::InvalidArgument("cannot remove " + it->name + ", the last node");
  }
  it->state = c.state;
  map.epoch++;
  return Status::Ok();
}

Status keyspace_change(ClusterMap& map, const Command& command) {
  if (auto* c = std::get_if<CreateKeyspace>(&command)) {
    Status s = validate(c->keyspace);
    if (!s.ok()) return s;
    if (map.keyspace(c->keyspace.name)) {
      return Status::InvalidArgument("keyspace '" + c->keyspace.name + "' already exists");
    }
    map.keyspaces.push_back(c->keyspace);
    return Status::Ok();
  }
  if (auto* c = std::get_if<AlterKeyspace>(&command)) {
    Status s = validate(c->keyspace);
    if (!s.ok()) return s;
    auto it = std::find_if(map.keyspaces.begin(), map.keyspaces.end(),
                           [&](const Keyspace& k) { return k.name == c->keyspace.name; });
    if (it == map.keyspaces.end()) {
      return Status::UnknownKeyspace("keyspace '" + c->keyspace.name + "' does not exist");
    }
    if (it->n != c->keyspace.n) {
      return Status::InvalidArgument("keyspace '" + it->name + "': n cannot change (from " + std::to_string(it->n) +
                                     " to " + std::to_string(c->keyspace.n) + "): it would move every key");
    }
    *it = c->keyspace;
    return Status::Ok();
  }
  const auto& drop = std::get<DropKeyspace>(command);
  if (drop.name == kDefaultKeyspace) return Status::InvalidArgument("keyspace 'default' cannot be dropped");
  auto it = std::find_if(map.keyspaces.begin(), map.keyspaces.end(),
                         [&](const Keyspace& k) { return k.name == drop.name; });
  if (it == map.keyspaces.end()) return Status::UnknownKeyspace("keyspace '" + drop.name + "' does not exist");
  map.keyspaces.erase(it);
  return Status::Ok();
}

}  // namespace

Status apply(ClusterMap& map, const Command& command) {
  if (map.epoch == 0 && !std::holds_alternative<InitCluster>(command)) {
    return Status::Unavailable("the cluster map is not initialized yet");
  }
  if (auto* c = std::get_if<AddNode>(&command)) return add_node(map, *c);
  if (auto* c = std::get_if<SetNodeState>(&command)) return set_state(map, *c);
  if (auto* c = std::get_if<InitCluster>(&command)) {
    if (map.epoch != 0) return Status::InvalidArgument("the cluster is already initialized");
    if (c->map.epoch == 0 || c->map.members.empty()) {
      return Status::InvalidArgument("an initial cluster map needs members and an epoch");
    }
    map = c->map;
    return Status::Ok();
  }
  Status s = keyspace_change(map, command);
  if (s.ok()) map.epoch++;
  return s;
}

}  // namespace tally::meta
