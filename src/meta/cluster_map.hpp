// The cluster's metadata: who the members are, where they sit on the ring,
// which keyspaces exist, and the epoch that numbers every version of it.
// The metadata Raft group replicates it (commands.hpp); every node builds its
// ring from it the same way (build_ring).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meta/keyspace.hpp"
#include "ring/ring.hpp"
#include "tally/status.hpp"

namespace tally::meta {

// A node's life in the cluster (docs/architecture.md, Range movement): it
// joins (known, receiving the ranges it will own, not yet on the ring that
// build_ring() makes: reads do not reach it), becomes normal (on the ring)
// once its ranges are streamed in, leaves (still on the ring while its
// ranges are streamed away), has left (off the ring, its data handed over)
// and is removed (out of the metadata group as well).
enum class NodeState : uint8_t { kJoining = 0, kNormal = 1, kLeaving = 2, kRemoved = 3, kLeft = 4 };
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

// One range of one keyspace on its way to a node that will own it.
enum class TransferState : uint8_t { kPending = 0, kStreaming = 1, kDone = 2 };
std::string_view transfer_state_name(TransferState s);

struct Transfer {
  std::string keyspace;
  ring::TokenRange range;
  ring::NodeId to = ring::kNoNode;  // the receiver: it pulls the range
  // Who may send it: the range's replicas before the movement, the one the
  // receiver replaces first (it holds every write acknowledged before the
  // movement started: streaming from it keeps R + W > N, where another
  // replica might miss a write that only the replaced one acknowledged).
  std::vector<ring::NodeId> sources;
  TransferState state = TransferState::kPending;
  // The last key received and durable on the receiver: a stream resumes
  // after it (from any source: keys are scanned in the same order on all).
  std::string cursor;
  bool operator==(const Transfer&) const = default;
};

// A join or a leave while its ranges move (docs/architecture.md, Range
// movement). From the command that starts it until the last transfer is
// done, writes go to the owners of both rings (ring_before() and
// ring_after()) and need W of each; reads go to ring_before()'s. The command
// that marks the last transfer done completes it: a joiner becomes normal, a
// leaver has left, and the epoch goes up.
enum class MovementKind : uint8_t { kJoin = 1, kLeave = 2 };
std::string_view movement_kind_name(MovementKind k);

struct Movement {
  MovementKind kind = MovementKind::kJoin;
  ring::NodeId node = ring::kNoNode;  // the node joining or leaving
  // The epoch its start made: replicas refuse writes routed by an older map
  // while it runs (fencing), and stream messages name the movement by it.
  uint64_t epoch = 0;
  std::vector<Transfer> transfers;
  // Progress, as receivers report it: keys and bytes received, wall clock
  // (ms, the reporters' clocks) of the first and latest report.
  uint64_t keys = 0;
  uint64_t bytes = 0;
  uint64_t started_ms = 0;
  uint64_t updated_ms = 0;

  size_t done_count() const;
  bool operator==(const Movement&) const = default;
};

struct ClusterMap {
  // Bumped by every change (commands.hpp): a node or client that sees a higher
  // epoch than its own knows its copy is behind. 0: no cluster yet.
  uint64_t epoch = 0;
  std::vector<Member> members;
  std::vector<Keyspace> keyspaces;
  std::optional<Movement> movement;  // the join or leave whose ranges are moving
  // The epoch of the last change of who owns what: a movement's start, its
  // completion, or its calling off. Replicas refuse reads and writes routed
  // by an older map (fencing): its coordinator may be asking the wrong nodes.
  uint64_t ring_epoch = 0;

  const Member* member(ring::NodeId id) const;
  const Member* member_named(std::string_view name) const;
  const Keyspace* keyspace(std::string_view name) const;
  // The ring reads are served by: normal and leaving members. A joining
  // member is known (address, tokens) but serves nothing until its ranges
  // are streamed in; a member that left or was removed owns nothing.
  Result<ring::Ring> build_ring() const;
  // The ring once the movement in progress completes: normal and joining
  // members. Without a movement it is build_ring()'s.
  Result<ring::Ring> build_ring_after() const;
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
