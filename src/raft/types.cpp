#include "raft/types.hpp"

#include <algorithm>

#include "raft/message.hpp"

namespace tally::raft {

std::string_view conf_change_type_name(ConfChangeType type) {
  switch (type) {
    case ConfChangeType::kAddVoter:
      return "add voter";
    case ConfChangeType::kAddLearner:
      return "add learner";
    case ConfChangeType::kPromoteLearner:
      return "promote learner";
    case ConfChangeType::kRemoveNode:
      return "remove node";
    case ConfChangeType::kDemoteVoter:
      return "demote voter";
  }
  return "unknown conf change";
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown role";
}

std::string_view message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResponse:
      return "AppendResponse";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
  }
  return "Unknown";
}

bool Membership::is_voter(NodeId id) const {
  return std::binary_search(voters.begin(), voters.end(), id);
}

bool Membership::is_learner(NodeId id) const {
  return std::binary_search(learners.begin(), learners.end(), id);
}

namespace {

std::string join_ids(const std::vector<NodeId>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

}  // namespace

std::string Membership::to_string() const {
  std::string out = "voters " + join_ids(voters);
  if (!learners.empty()) out += " learners " + join_ids(learners);
  return out;
}

std::string Message::to_string() const {
  std::string out(message_type_name(type));
  out += " " + std::to_string(from) + "->" + std::to_string(to) + " term " + std::to_string(term);
  switch (type) {
    case MessageType::kAppend:
      out += " index " + std::to_string(index) + " log_term " + std::to_string(log_term) +
             " entries " + std::to_string(entries.size()) + " commit " + std::to_string(commit);
      break;
    case MessageType::kAppendResponse:
      out += " index " + std::to_string(index);
      if (reject)
        out += " reject hint " + std::to_string(reject_hint) + "/" + std::to_string(log_term);
      break;
    case MessageType::kHeartbeat:
      out += " commit " + std::to_string(commit) + " ctx " + std::to_string(context);
      break;
    case MessageType::kHeartbeatResponse:
      out += " ctx " + std::to_string(context);
      break;
    case MessageType::kVote:
    case MessageType::kPreVote:
      out += " last " + std::to_string(index) + "/" + std::to_string(log_term);
      if (leader_transfer) out += " transfer";
      break;
    case MessageType::kVoteResponse:
    case MessageType::kPreVoteResponse:
      out += reject ? " rejected" : " granted";
      break;
    case MessageType::kSnapshot:
      if (snapshot) {
        out += " snapshot " + std::to_string(snapshot->metadata.index) + "/" +
               std::to_string(snapshot->metadata.term);
      }
      break;
    case MessageType::kTimeoutNow:
      break;
  }
  return out;
}

}  // namespace tally::raft
