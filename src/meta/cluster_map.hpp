// The cluster's metadata: who the members are, where they sit on the ring,
// which keyspaces exist, and the epoch that numbers every version of it.
// The metadata Raft group replicates it (commands.hpp); every node builds its
// ring from it the same way (build_ring).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meta/keyspace.hpp"
#include "ring/ring.hpp"
#include "tally/status.hpp"

namespace tally::meta {

// A node's life in the cluster (docs/architecture.md, The metadata group): it
// joins (a member owning no range: not on the ring that build_ring() makes),
// becomes normal (on the ring), leaves (still on the ring) and is removed (off
// it). No data moves between the states yet: range streaming is to come.
enum class NodeState : uint8_t { kJoining = 0, kNormal = 1, kLeaving = 2, kRemoved = 3 };
std::string_view node_state_name(NodeState s);

struct Member {
  ring::NodeId id = ring::kNoNode;
  std::string name;     // "n1"
  std::string address;  // "host:port"
  std::string zone;
  std::vector<uint64_t> tokens;
  NodeState state = NodeState::kNormal;
  bool operator==(const Member&) const = default;
};

struct ClusterMap {
  // Bumped by every change (commands.hpp): a node or client that sees a higher
  // epoch than its own knows its copy is behind. 0: no cluster yet.
  uint64_t epoch = 0;
  std::vector<Member> members;
  std::vector<Keyspace> keyspaces;

  const Member* member(ring::NodeId id) const;
  const Member* member_named(std::string_view name) const;
  const Keyspace* keyspace(std::string_view name) const;
  // The ring of the members that own ranges: normal and leaving ones. A
  // joining member is known (address, tokens) but owns nothing until it is
  // made normal; a removed one owns nothing again.
  Result<ring::Ring> build_ring() const;
  // The ring as it will be once every joining member is normal: what a
  // joiner's tokens are checked and allocated against.
  Result<ring::Ring> build_ring_with_joining() const;

  bool operator==(const ClusterMap&) const = default;
};

inline constexpr std::string_view kDefaultKeyspace = "default";

// The tokens each member gets when a cluster starts: allocated one member
// after another, in the order given, with the balanced allocator, so every
// node computes the same ring from the same list. Adds keyspace `default`
// (N=3, R=2, W=2, siblings; fewer replicas when there are fewer members)
// unless `keyspaces` defines it.
inline constexpr int kDefaultTokensPerNode = 32;  // balance within 1.02 of the mean (docs/ring.md)
Result<ClusterMap> bootstrap(std::vector<Member> members, std::vector<Keyspace> keyspaces,
                             int tokens_per_node = kDefaultTokensPerNode);

}  // namespace tally::meta
