// raft_election.cpp — roles, timers and elections: §5.2 (leader election), §5.4.1
// (the election restriction), dissertation §9.6 (PreVote) and §6.2 (CheckQuorum).
#include <string>
#include <utility>

#include "raft/raft_node.hpp"

namespace tally::raft {

void RaftNode::reset_timers() {
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  // A fresh draw in [election_ticks, 2 * election_ticks) at every role change, so
  // servers that timed out together do not keep doing so (§5.2, §9.3).
  randomized_election_timeout_ = config_.election_ticks + rng_.uniform(config_.election_ticks);
}

void RaftNode::become_follower(uint64_t term, NodeId leader) {
  bool was_leader = role_ == Role::kLeader;
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  lead_ = leader;
  votes_.clear();
  reset_timers();
  if (was_leader) {
    progress_.clear();
    transfer_target_ = kNoNode;
    for (uint64_t ctx : reads_.abort_unconfirmed()) aborted_reads_.push_back(ctx);
  }
}

void RaftNode::become_pre_candidate() {
  // Neither term nor vote change: a pre-vote that fails leaves no trace, which is
  // the point (§9.6).
  role_ = Role::kPreCandidate;
  lead_ = kNoNode;
  votes_.clear();
  reset_timers();
}

void RaftNode::become_candidate() {
  term_ += 1;
  vote_ = config_.id;
  role_ = Role::kCandidate;
  lead_ = kNoNode;
  votes_.clear();
  reset_timers();
}

void RaftNode::become_leader() {
  role_ = Role::kLeader;
  lead_ = config_.id;
  reset_timers();
  transfer_target_ = kNoNode;
  progress_.clear();
  sync_progress_with_membership();
  // §5.4.2 / §6.4: a leader may only count replicas for entries of its own term,
  // so it appends one at once. Until it is committed the leader does not know the
  // full commit index: no ReadIndex read and no membership change before then.
  term_start_index_ = log_.last_index() + 1;
  append_entry(Entry{term_, term_start_index_, EntryType::kNormal, "", {}});
  broadcast_append();
}

bool RaftNode::promotable() const { return configs_.current().is_voter(config_.id); }

bool RaftNode::in_lease() const {
  if (!config_.check_quorum) return false;
  if (role_ == Role::kLeader) return true;  // CheckQuorum deposes it otherwise
  return lead_ != kNoNode && election_elapsed_ < config_.election_ticks;
}

Status RaftNode::campaign() {
  if (role_ == Role::kLeader) return Status::Ok();
  if (!promotable()) {
    return Status::InvalidArgument("node " + std::to_string(config_.id) + " is not a voter (" +
                                   configs_.current().to_string() + ")");
  }
  start_election(config_.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote);
  after_input();
  return Status::Ok();
}

void RaftNode::start_election(ElectionKind kind) {
  if (!promotable()) return;
  MessageType type;
  uint64_t election_term;
  if (kind == ElectionKind::kPreVote) {
    become_pre_candidate();
    type = MessageType::kPreVote;
    election_term = term_ + 1;
  } else {
    become_candidate();
    type = MessageType::kVote;
    election_term = term_;
  }
  votes_[config_.id] = true;
  if (configs_.current().quorum() == 1) {  // a single voter wins at once
    if (kind == ElectionKind::kPreVote) {
      start_election(ElectionKind::kVote);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId v : configs_.current().voters) {
    if (v == config_.id) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = election_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.leader_transfer = kind == ElectionKind::kLeaderTransfer;
    send(std::move(m));
  }
}

void RaftNode::handle_vote_request(const Message& m) {
  bool pre = m.type == MessageType::kPreVote;
  // One vote per term (Figure 2), repeatable to the same candidate (its request may
  // be duplicated). A pre-vote for a later term binds nothing, so it is answered
  // on the merits of the log alone.
  bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term > term_);
  Message reply;
  reply.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  reply.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    // Granted at the term asked for (for a pre-vote, one we have not reached).
    reply.term = m.term;
    if (!pre) {
      vote_ = m.from;
      election_elapsed_ = 0;  // §5.2: granting a vote resets the election timer
    }
  } else {
    reply.reject = true;
  }
  send(std::move(reply));
}

void RaftNode::handle_vote_response(const Message& m) {
  bool pre = m.type == MessageType::kPreVoteResponse;
  if (pre != (role_ == Role::kPreCandidate)) return;
  if (!pre && role_ != Role::kCandidate) return;
  // A granted pre-vote carries the term asked for; one for another term answers
  // an older round.
  if (pre && !m.reject && m.term != term_ + 1) return;
  votes_.emplace(m.from, !m.reject);
  const Membership& members = configs_.current();
  size_t granted = 0, rejected = 0;
  for (NodeId v : members.voters) {  // learners' and strangers' answers never count
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected) += 1;
  }
  if (granted >= members.quorum()) {
    if (pre) {
      start_election(ElectionKind::kVote);
    } else {
      become_leader();
    }
  } else if (rejected > members.voters.size() - members.quorum()) {
    become_follower(term_, kNoNode);
  }
}

bool RaftNode::quorum_active() const {
  const Membership& members = configs_.current();
  size_t active = 0;
  for (NodeId v : members.voters) {
    if (v == config_.id) {
      ++active;
      continue;
    }
    auto it = progress_.find(v);
    if (it != progress_.end() && now_ - it->second.last_heard < config_.election_ticks) ++active;
  }
  return active >= members.quorum();
}

void RaftNode::tick_follower() {
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    start_election(config_.pre_vote ? ElectionKind::kPreVote : ElectionKind::kVote);
  }
}

void RaftNode::tick_leader() {
  ++election_elapsed_;
  // CheckQuorum, checked every tick so the leader steps down within one election
  // timeout of losing its majority (not up to two, as with a periodic check).
  if (config_.check_quorum && !quorum_active()) {
    become_follower(term_, kNoNode);
    return;
  }
  if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= config_.election_ticks) {
    abort_transfer();  // the target did not win in time; take proposals again
  }
  for (auto& [id, pr] : progress_) {
    // A snapshot message may be lost and nothing else would say so: retry.
    if (pr.state == ProgressState::kSnapshot &&
        ++pr.snapshot_elapsed >= 2 * static_cast<uint64_t>(config_.election_ticks)) {
      pr.become_probe();
    }
  }
  if (++heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
}

Status RaftNode::not_leader() const {
  std::string msg = "node " + std::to_string(config_.id) + " is not the leader";
  if (lead_ != kNoNode) {
    msg += "; node " + std::to_string(lead_) + " leads term " + std::to_string(term_);
  } else {
    msg += "; no leader is known in term " + std::to_string(term_);
  }
  return Status::NotLeader(msg);
}

}  // namespace tally::raft
