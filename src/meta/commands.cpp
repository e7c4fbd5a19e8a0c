#include "meta/commands.hpp"

#include <algorithm>

#include "ring/ownership_diff.hpp"

namespace tally::meta {

namespace {

// Allowed moves by a SetNodeState: joining -> removed (a join called off),
// normal -> leaving (starts a movement), leaving -> normal (a leave called
// off), left -> removed. joining -> normal and leaving -> left are made by the
// movement's completion, not by a command. Nothing comes back from removed:
// a node that returns joins again under a new id.
bool allowed(NodeState from, NodeState to) {
  switch (from) {
    case NodeState::kJoining: return to == NodeState::kRemoved;
    case NodeState::kNormal: return to == NodeState::kLeaving;
    case NodeState::kLeaving: return to == NodeState::kNormal;
    case NodeState::kLeft: return to == NodeState::kRemoved;
    case NodeState::kRemoved: return false;
  }
  return false;
}

std::string progress_of(const Movement& mv) {
  return std::to_string(mv.done_count()) + " of " + std::to_string(mv.transfers.size()) + " ranges streamed";
}

Status movement_in_progress(const ClusterMap& map) {
  const Movement& mv = *map.movement;
  const Member* m = map.member(mv.node);
  return Status::InvalidArgument("a ring movement is in progress (" + (m ? m->name : std::to_string(mv.node)) + " " +
                                 (mv.kind == MovementKind::kJoin ? "joining" : "leaving") + ", " + progress_of(mv) +
                                 "); one at a time: wait for it (tally cluster status --wait)");
}

// A movement ends: the node takes its place on the ring (a join) or leaves
// it (a leave).
void complete(ClusterMap& map) {
  const Movement mv = std::move(*map.movement);
  map.movement.reset();
  for (auto& m : map.members) {
    if (m.id != mv.node) continue;
    if (mv.kind == MovementKind::kJoin && m.state == NodeState::kJoining) m.state = NodeState::kNormal;
    if (mv.kind == MovementKind::kLeave && m.state == NodeState::kLeaving) m.state = NodeState::kLeft;
  }
}

// Starts the movement of `node`, whose state has just changed in `map`: the
// ranges whose replicas differ between the ring before and after it, each
// with the node that gains it and where to take it from. A movement with
// nothing to move completes at once. The caller bumps the epoch first.
Status start_movement(ClusterMap& map, MovementKind kind, ring::NodeId node) {
  Movement mv;
  mv.kind = kind;
  mv.node = node;
  mv.epoch = map.epoch;
  map.movement = Movement{kind, node, map.epoch, {}, 0, 0, 0, 0};
  auto before = map.build_ring();
  auto after = map.build_ring_after();
  if (!before.ok()) return before.status();
  if (!after.ok()) return after.status();
  for (const auto& ks : map.keyspaces) {
    auto diff = ring::ownership_diff(*before, *after, ks.n);
    if (!diff.ok()) return diff.status();
    for (const auto& change : *diff) {
      for (ring::NodeId to : change.gained) {
        Transfer t;
        t.keyspace = ks.name;
        t.range = change.range;
        t.to = to;
        for (ring::NodeId n : change.lost) t.sources.push_back(n);
        for (ring::NodeId n : change.before) {
          if (!change.lost.contains(n)) t.sources.push_back(n);
        }
        mv.transfers.push_back(std::move(t));
      }
    }
  }
  map.movement = std::move(mv);
  map.ring_epoch = map.epoch;
  if (map.movement->transfers.empty()) complete(map);
  return Status::Ok();
}

Status add_node(ClusterMap& map, const AddNode& c) {
  const Member& m = c.member;
  if (m.id == ring::kNoNode) return Status::InvalidArgument("node id 0 is reserved");
  if (map.movement) return movement_in_progress(map);
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
  if (m.state == NodeState::kJoining) {
    Status s = start_movement(next, MovementKind::kJoin, m.id);
    if (!s.ok()) return s;
  }
  map = std::move(next);
  return Status::Ok();
}

Status set_state(ClusterMap& map, const SetNodeState& c) {
  auto it = std::find_if(map.members.begin(), map.members.end(), [&](const Member& m) { return m.id == c.id; });
  if (it == map.members.end()) return Status::NotFound("no node with id " + std::to_string(c.id));
  if (it->state == c.state) return Status::Ok();
  const bool moving_it = map.movement && map.movement->node == c.id;
  if (moving_it && c.state == NodeState::kNormal && it->state == NodeState::kJoining) {
    return Status::InvalidArgument("node " + it->name + " is still receiving its ranges (" +
                                   progress_of(*map.movement) + "); it becomes normal when they are in");
  }
  if (moving_it && (c.state == NodeState::kLeft || c.state == NodeState::kRemoved) &&
      it->state == NodeState::kLeaving) {
    return Status::InvalidArgument("node " + it->name + " has not finished leaving (" + progress_of(*map.movement) +
                                   "); wait for it (tally cluster status --wait), then remove it");
  }
  if (!allowed(it->state, c.state)) {
    return Status::InvalidArgument("node " + it->name + " cannot go from " + std::string(node_state_name(it->state)) +
                                   " to " + std::string(node_state_name(c.state)));
  }
  if (c.state == NodeState::kLeaving) {
    if (map.movement) return movement_in_progress(map);
    // Every keyspace must still find N nodes once it has gone.
    int remaining = 0;
    for (const auto& m : map.members) remaining += m.state == NodeState::kNormal && m.id != c.id;
    for (const auto& ks : map.keyspaces) {
      if (remaining < ks.n) {
        return Status::InvalidArgument("node " + it->name + " cannot leave: " + std::to_string(remaining) +
                                       " nodes would remain, fewer than keyspace '" + ks.name +
                                       "' keeps copies of each key (N=" + std::to_string(ks.n) + ")");
      }
    }
  }
  if (c.state == NodeState::kRemoved) {
    size_t live = std::count_if(map.members.begin(), map.members.end(),
                                [](const Member& m) { return m.state != NodeState::kRemoved; });
    if (live == 1) return Status::InvalidArgument("cannot remove " + it->name + ", the last node");
  }
  it->state = c.state;
  map.epoch++;
  if (moving_it) {
    map.movement.reset();  // a join or leave called off
    map.ring_epoch = map.epoch;
  }
  if (c.state == NodeState::kLeaving) return start_movement(map, MovementKind::kLeave, c.id);
  return Status::Ok();
}

Status stream_update(ClusterMap& map, const StreamUpdate& c) {
  if (!map.movement || map.movement->epoch != c.movement) {
    return Status::InvalidArgument("no ring movement started at epoch " + std::to_string(c.movement) +
                                   " is in progress (it completed or was called off)");
  }
  Movement& mv = *map.movement;
  for (uint32_t i : c.transfers) {
    if (i >= mv.transfers.size() || mv.transfers[i].to != c.to) {
      return Status::InvalidArgument("transfer " + std::to_string(i) + " of the movement is not one to node " +
                                     std::to_string(c.to));
    }
  }
  for (uint32_t i : c.transfers) {
    Transfer& t = mv.transfers[i];
    if (t.state == TransferState::kDone) continue;
    t.state = c.done ? TransferState::kDone : TransferState::kStreaming;
    t.cursor = c.cursor;
  }
  mv.keys += c.keys;
  mv.bytes += c.bytes;
  if (mv.started_ms == 0) mv.started_ms = c.now_ms;
  mv.updated_ms = std::max(mv.updated_ms, c.now_ms);
  if (mv.done_count() == mv.transfers.size()) {
    complete(map);
    map.epoch++;
    map.ring_epoch = map.epoch;
  }
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
  if (map.movement) {
    // Nothing of it is left to move.
    for (auto& t : map.movement->transfers) {
      if (t.keyspace == drop.name) t.state = TransferState::kDone;
    }
    // Completes with the drop's epoch (the caller bumps it).
    if (map.movement->done_count() == map.movement->transfers.size()) {
      complete(map);
      map.ring_epoch = map.epoch + 1;
    }
  }
  return Status::Ok();
}

}  // namespace

Status apply(ClusterMap& map, const Command& command) {
  if (map.epoch == 0 && !std::holds_alternative<InitCluster>(command)) {
    return Status::Unavailable("the cluster map is not initialized yet");
  }
  if (auto* c = std::get_if<AddNode>(&command)) return add_node(map, *c);
  if (auto* c = std::get_if<SetNodeState>(&command)) return set_state(map, *c);
  if (auto* c = std::get_if<StreamUpdate>(&command)) return stream_update(map, *c);
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
