// raft/message.hpp — the messages Raft servers exchange.
//
// One struct for every kind, as in etcd's raftpb.Message: the fields a kind does
// not use stay at their defaults. The wire codec lives in src/net; Raft itself
// only produces these (in Ready::messages) and consumes them (RaftNode::step).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.hpp"

namespace tally::raft {

enum class MessageType : uint8_t {
  kAppend = 0,             // AppendEntries (Figure 2)
  kAppendResponse = 1,     // its answer; also tells a stale leader about a newer term
  kHeartbeat = 2,          // an empty AppendEntries that carries no log position
  kHeartbeatResponse = 3,  // its answer, echoing the ReadIndex round in `context`
  kVote = 4,               // RequestVote
  kVoteResponse = 5,
  kPreVote = 6,  // "would you vote for me at term+1?" (dissertation §9.6)
  kPreVoteResponse = 7,
  kSnapshot = 8,    // InstallSnapshot (Figure 13), the whole snapshot in one message
  kTimeoutNow = 9,  // leadership transfer: "start an election now" (§3.10)
};

std::string_view message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  // The sender's term; for kPreVote the term it would campaign in (its term + 1),
  // and for a granted kPreVoteResponse that same future term.
  uint64_t term = 0;
  // kAppend: the term of the entry before `entries` (prevLogTerm).
  // kVote/kPreVote: the term of the candidate's last entry (lastLogTerm).
  // kAppendResponse with reject: the term of the follower's entry at reject_hint.
  uint64_t log_term = 0;
  // kAppend: prevLogIndex. kVote/kPreVote: the candidate's last index.
  // kAppendResponse: on success the last index now known to match the leader;
  // on reject the prevLogIndex that did not match.
  uint64_t index = 0;
  std::vector<Entry> entries;  // kAppend only
  // kAppend/kHeartbeat: the leader's commit index (for a heartbeat, capped at what
  // the follower is known to hold, so it never commits an entry it may not have).
  uint64_t commit = 0;
  bool reject = false;  // responses: the request was refused
  // kAppendResponse with reject: the follower's last index <= `index` whose term is
  // <= the rejected prevLogTerm, so the leader can skip a whole term's entries per
  // round trip instead of one entry (the optimisation at the end of §5.3).
  uint64_t reject_hint = 0;
  // kHeartbeat/kHeartbeatResponse: the ReadIndex round the heartbeat confirms.
  uint64_t context = 0;
  // kVote/kPreVote: the election was started by TimeoutNow (leadership transfer),
  // so voters must not ignore it because they heard from a leader recently (§3.10).
  bool leader_transfer = false;
  std::shared_ptr<const Snapshot> snapshot;  // kSnapshot only

  // "kAppend 1->2 term 3 index 7 log_term 2 entries 2 commit 6", for test output.
  std::string to_string() const;
};

}  // namespace tally::raft
