#include "meta/cluster_map.hpp"

#include <algorithm>

#include "ring/token_allocator.hpp"

namespace tally::meta {

std::string_view node_state_name(NodeState s) {
  switch (s) {
    case NodeState::kJoining: return "joining";
    case NodeState::kNormal: return "normal";
    case NodeState::kLeaving: return "leaving";
    case NodeState::kRemoved: return "removed";
    case NodeState::kLeft: return "left";
  }
  return "?";
}

std::string_view transfer_state_name(TransferState s) {
  switch (s) {
    case TransferState::kPending: return "pending";
    case TransferState::kStreaming: return "streaming";
    case TransferState::kDone: return "done";
  }
  return "?";
}

std::string_view movement_kind_name(MovementKind k) { return k == MovementKind::kJoin ? "join" : "leave"; }

size_t Movement::done_count() const {
  size_t n = 0;
  for (const auto& t : transfers) n += t.state == TransferState::kDone;
  return n;
}

const Member* ClusterMap::member(ring::NodeId id) const {
  for (const auto& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

const Member* ClusterMap::member_named(std::string_view name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const Keyspace* ClusterMap::keyspace(std::string_view name) const {
  for (const auto& k : keyspaces) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

namespace {

Result<ring::Ring> ring_of(const std::vector<Member>& members, bool joining, bool leaving) {
  std::vector<ring::NodeTokens> nodes;
  nodes.reserve(members.size());
  for (const auto& m : members) {
    bool owns = m.state == NodeState::kNormal || (leaving && m.state == NodeState::kLeaving) ||
                (joining && m.state == NodeState::kJoining);
    if (owns) nodes.push_back(ring::NodeTokens{m.id, m.zone, m.tokens});
  }
  return ring::Ring::build(std::move(nodes));
}

}  // namespace

Result<ring::Ring> ClusterMap::build_ring() const { return ring_of(members, false, true); }
Result<ring::Ring> ClusterMap::build_ring_after() const {
  return movement ? ring_of(members, true, false) : build_ring();
}
Result<ring::Ring> ClusterMap::build_ring_with_joining() const { return ring_of(members, true, true); }

Result<ClusterMap> bootstrap(std::vector<Member> members, std::vector<Keyspace> keyspaces,
                             int tokens_per_node) {
  ClusterMap map;
  map.epoch = 1;
  map.ring_epoch = 1;
  map.keyspaces = std::move(keyspaces);
  bool have_default = false;
  for (const auto& ks : map.keyspaces) have_default = have_default || ks.name == kDefaultKeyspace;
  if (!have_default) {
    // N=3, R=2, W=2 (docs/architecture.md, The metadata group), or as many
    // replicas as there are members when fewer.
    Keyspace def;
    def.name = std::string(kDefaultKeyspace);
    def.n = std::clamp(static_cast<int>(members.size()), 1, 3);
    def.r = def.w = std::min(2, def.n);
    map.keyspaces.insert(map.keyspaces.begin(), def);
  }
  for (const auto& ks : map.keyspaces) {
    Status s = validate(ks);
    if (!s.ok()) return s;
  }
  int rf = 1;
  for (const auto& ks : map.keyspaces) rf = std::max(rf, ks.n);
  ring::Ring ring;
  for (auto& m : members) {
    if (m.tokens.empty()) {
      auto tokens = ring::allocate_tokens(ring, m.id, m.zone, tokens_per_node, std::min(rf, ring::kMaxReplicas));
      if (!tokens.ok()) return tokens.status();
      m.tokens = std::move(*tokens);
    }
    map.members.push_back(m);
    auto next = map.build_ring();
    if (!next.ok()) return next.status();
    ring = std::move(*next);
  }
  return map;
}

}  // namespace tally::meta
