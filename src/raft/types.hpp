// raft/types.hpp — the plain values Raft persists, replicates and reports.
//
// Nothing here has behaviour beyond comparisons and names: these are the types a
// codec (src/net, src/store) encodes and the node hands between the Raft core and
// its storage. Index 0 and term 0 mean "none": the first real log entry has index 1,
// and every term a node has voted in or led is >= 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally::raft {

// A Raft server's id. 0 is reserved for "nobody" (no vote, no known leader).
using NodeId = uint64_t;
inline constexpr NodeId kNoNode = 0;
// Terms above this are refused as corrupt or forged: a term grows by one an
// election, so no group reaches it, and the next term is always representable.
inline constexpr uint64_t kMaxTerm = uint64_t{1} << 62;
// How far beyond its own term a node follows a message from a node outside
// its configuration. A stranger's term is dropped past this (a removed node
// that kept campaigning, a forged message); within it, a member this node has
// not yet heard of (its log lags a configuration change) is still heard.
inline constexpr uint64_t kMaxTermLeapFromStranger = 1000;

// What a membership-change entry does. One server at a time (dissertation §4.1):
// each change adds or removes a single voter, so every majority of the old
// configuration overlaps every majority of the new one.
enum class ConfChangeType : uint8_t {
  kAddVoter = 0,        // a node that is not a member becomes a voter
  kAddLearner = 1,      // a node that is not a member becomes a learner (receives the log)
  kPromoteLearner = 2,  // a learner becomes a voter (the usual way to add a voter: catch up first)
  kRemoveNode = 3,      // a voter or learner leaves the group
  kDemoteVoter = 4,     // a voter becomes a learner (keeps receiving the log)
};

std::string_view conf_change_type_name(ConfChangeType type);

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node = kNoNode;

  bool operator==(const ConfChange&) const = default;
};

enum class EntryType : uint8_t {
  kNormal = 0,      // an application command; empty data is a leader's no-op
  kConfChange = 1,  // a membership change, effective as soon as it is in a log
};

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  EntryType type = EntryType::kNormal;
  // kNormal: the command, opaque to Raft (empty only for the no-op a new leader
  // appends, §5.4.2 / dissertation §6.4). kConfChange: application context for the
  // change (e.g. the new node's address), opaque to Raft.
  std::string data;
  ConfChange change;  // meaningful only when type == kConfChange

  bool operator==(const Entry&) const = default;
};

// Identifies one entry in one history: by Log Matching, two logs that hold an entry
// with the same index and term hold the same entry and the same prefix before it.
struct EntryId {
  uint64_t term = 0;
  uint64_t index = 0;

  bool operator==(const EntryId&) const = default;
};

// What must be on stable storage before the messages of the same Ready are sent
// (Figure 2, "persistent state on all servers"). The commit index is persisted
// too, so a restarted node does not need to re-learn it; losing it would be safe.
struct HardState {
  uint64_t term = 0;
  NodeId vote = kNoNode;  // who this node voted for in `term`, kNoNode if nobody
  uint64_t commit = 0;

  bool operator==(const HardState&) const = default;
};

enum class Role : uint8_t { kFollower = 0, kPreCandidate = 1, kCandidate = 2, kLeader = 3 };

std::string_view role_name(Role role);

// Volatile state the application may want to observe (who leads, in which role we
// are). Never persisted.
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;

  bool operator==(const SoftState&) const = default;
};

// The members of the group: voters decide elections and commitment; learners only
// receive the log (dissertation §4.2.1 "catching up new servers"). Both lists are
// sorted and disjoint.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool is_voter(NodeId id) const;
  bool is_learner(NodeId id) const;
  bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  // Votes (or acknowledgements) needed for a majority of the voters.
  size_t quorum() const { return voters.size() / 2 + 1; }
  // "voters {1,2,3} learners {4}", for messages and test output.
  std::string to_string() const;

  bool operator==(const Membership&) const = default;
};

struct SnapshotMetadata {
  uint64_t index = 0;  // the last entry the snapshot covers
  uint64_t term = 0;   // that entry's term
  // The configuration in force at `index`: the last one in the log up to and
  // including it, committed since index <= commit. Never a later, uncommitted
  // one (canonical/raft #250: that one could not be rolled back).
  Membership membership;

  bool operator==(const SnapshotMetadata&) const = default;
};

struct Snapshot {
  SnapshotMetadata metadata;
  std::string data;  // the application's state machine at metadata.index, opaque to Raft

  bool operator==(const Snapshot&) const = default;
};

// A confirmed linearizable read (dissertation §6.4). The application may answer
// the read identified by `request_ctx` from its state machine: Raft hands it out
// only once the node has applied at least `index`.
struct ReadState {
  uint64_t request_ctx = 0;
  uint64_t index = 0;

  bool operator==(const ReadState&) const = default;
};

}  // namespace tally::raft
