// raft_node.cpp — starting a node, dispatching inputs, and the Ready cycle.
#include "raft/raft_node.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace tally::raft {

namespace {

std::string num(uint64_t v) { return std::to_string(v); }

}  // namespace

RaftNode::RaftNode(const RaftConfig& config) : config_(config), rng_(config.seed) {}

Result<std::unique_ptr<RaftNode>> RaftNode::open(const RaftConfig& config, PersistentState state) {
  if (Status s = config.validate(); !s.ok()) return s;
  std::unique_ptr<RaftNode> node(new RaftNode(config));
  if (state.empty() && !config.bootstrap_voters.empty()) {
    node->bootstrap();
  } else if (Status s = node->restore(std::move(state)); !s.ok()) {
    return s;
  }
  node->role_ = Role::kFollower;
  node->reset_timers();
  node->last_soft_state_ = {kNoNode, Role::kFollower};
  node->after_input();
  return node;
}

void RaftNode::bootstrap() {
  // One conf-change entry per founding member at term 1, the same on every
  // founder, all committed: every founder holds them, so no election could ever
  // overwrite them. They are still handed out in the first Ready to be persisted
  // and applied like any other entry.
  log_.reset(0, 0, {}, 0, 0);
  configs_.reset(0, Membership{});
  auto add = [&](NodeId id, ConfChangeType type) {
    Entry e{1, log_.last_index() + 1, EntryType::kConfChange, "", ConfChange{type, id}};
    configs_.append(e.index, e.change);
    log_.append(std::move(e));
  };
  std::vector<NodeId> voters = config_.bootstrap_voters;
  std::vector<NodeId> learners = config_.bootstrap_learners;
  std::sort(voters.begin(), voters.end());
  std::sort(learners.begin(), learners.end());
  for (NodeId v : voters) add(v, ConfChangeType::kAddVoter);
  for (NodeId l : learners) add(l, ConfChangeType::kAddLearner);
  log_.commit_to(log_.last_index());
  term_ = 1;
  last_hard_state_ = HardState{};  // nothing is persisted yet
}

Status RaftNode::restore(PersistentState state) {
  uint64_t snap_index = 0, snap_term = 0;
  Membership membership;
  if (state.snapshot) {
    snapshot_ = state.snapshot;
    snap_index = snapshot_->metadata.index;
    snap_term = snapshot_->metadata.term;
    membership = snapshot_->metadata.membership;
  }
  for (size_t i = 0; i < state.entries.size(); ++i) {
    if (state.entries[i].index != snap_index + 1 + i) {
      return Status::Corruption("persisted raft entry " + num(state.entries[i].index) + " where " +
                                num(snap_index + 1 + i) + " was expected");
    }
  }
  uint64_t last = snap_index + state.entries.size();
  const HardState& hs = state.hard_state;
  if (hs.commit > last) {
    return Status::Corruption("persisted commit index " + num(hs.commit) +
                              " is past the last persisted entry " + num(last));
  }
  uint64_t applied = config_.applied == 0 ? snap_index : config_.applied;
  if (applied < snap_index || applied > last) {
    return Status::InvalidArgument("applied index " + num(applied) + " is outside [" +
                                   num(snap_index) + ", " + num(last) + "]");
  }
  // A commit-only hard state need not be synced (Ready::must_sync), so the state
  // machine may be durably ahead of it; anything applied was committed.
  uint64_t commit = std::max({hs.commit, snap_index, applied});
  configs_.reset(snap_index, membership);
  for (const Entry& e : state.entries) {
    if (e.type == EntryType::kConfChange) configs_.append(e.index, e.change);
  }
  log_.reset(snap_index, snap_term, std::move(state.entries), commit, applied);
  term_ = hs.term;
  vote_ = hs.vote;
  last_hard_state_ = hs;
  return Status::Ok();
}

void RaftNode::after_input() {
  if (!config_.check_invariants) return;
  Status s = check_invariants();
  if (!s.ok()) throw std::logic_error("raft node " + num(config_.id) + ": " + s.to_string());
}

Status RaftNode::step(const Message& m) {
  if (m.to != config_.id) {
    return Status::InvalidArgument("message for node " + num(m.to) + " reached node " +
                                   num(config_.id));
  }
  if (m.term == 0) return Status::InvalidArgument(m.to_string() + " carries no term");
  if (m.from == kNoNode || m.from == config_.id) {
    return Status::InvalidArgument(m.to_string() + " has a bad sender");
  }
  if (m.type == MessageType::kSnapshot && !m.snapshot) {
    return Status::InvalidArgument(m.to_string() + " carries no snapshot");
  }
  // Input sanity (docs/security.md). A term no run of elections reaches is
  // corrupt or forged, and following it would leave the group unable to
  // elect anyone (the next campaign's term would overflow).
  if (m.term > kMaxTerm) {
    return Status::InvalidArgument(m.to_string() + " carries term " + num(m.term) + ", beyond any election (" +
                                   num(kMaxTerm) + ")");
  }
  // A node outside the configuration cannot raise our term by much: a
  // removed node or a stranger would otherwise depose the leader with any
  // term it likes. (A node that knows no configuration yet, a joiner before
  // its first snapshot, takes its leader's term, whatever it is.)
  const Membership& members = membership();
  if (m.term > term_ + kMaxTermLeapFromStranger && !members.voters.empty() && !members.contains(m.from)) {
    return Status::InvalidArgument(m.to_string() + " comes from node " + num(m.from) + ", not in " +
                                   members.to_string() + ", with a term far beyond ours (" + num(term_) + ")");
  }

  if (m.term > term_) {
    bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    // §4.2.3 / §9.6: while this node hears from a leader it ignores a candidate
    // with a higher term, so a server that was partitioned, or removed, cannot
    // depose a healthy leader. A transfer's election is exempt: the leader asked.
    if (vote_request && !m.leader_transfer && in_lease()) return Status::Ok();
    if (m.type == MessageType::kPreVote) {
      // A pre-vote never changes anyone's term.
    } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
      // Granted at the term we would campaign in; counted below.
    } else {
      bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                         m.type == MessageType::kSnapshot;
      become_follower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend)) {
      // A leader of an older term is talking to us. With PreVote this node may
      // have a higher term that it can no longer spread by campaigning, so tell
      // the stale leader; it steps down and the next election includes us.
      Message reply;
      reply.type = MessageType::kAppendResponse;
      reply.to = m.from;
      send(std::move(reply));
    } else if (m.type == MessageType::kPreVote) {
      // Refuse explicitly so a pre-candidate with a stale term learns ours.
      Message reply;
      reply.type = MessageType::kPreVoteResponse;
      reply.to = m.from;
      reply.reject = true;
      send(std::move(reply));
    }
    after_input();
    return Status::Ok();
  }

  switch (m.type) {
    case MessageType::kVote:
    case MessageType::kPreVote:
      handle_vote_request(m);
      break;
    case MessageType::kVoteResponse:
    case MessageType::kPreVoteResponse:
      handle_vote_response(m);
      break;
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // Election Safety makes a second leader in our term impossible; a leader
      // that receives one has found a bug, and ignores it (check_invariants and
      // the simulation's checker catch the two leaders).
      if (role_ == Role::kLeader) break;
      if (role_ != Role::kFollower) become_follower(term_, m.from);
      if (m.type == MessageType::kAppend) handle_append(m);
      if (m.type == MessageType::kHeartbeat) handle_heartbeat(m);
      if (m.type == MessageType::kSnapshot) handle_snapshot(m);
      break;
    case MessageType::kAppendResponse:
      if (role_ == Role::kLeader) handle_append_response(m);
      break;
    case MessageType::kHeartbeatResponse:
      if (role_ == Role::kLeader) handle_heartbeat_response(m);
      break;
    case MessageType::kTimeoutNow:
      // §3.10: the leader brought our log up to date and asks us to campaign now,
      // skipping PreVote (which its own lease would make fail).
      if (role_ == Role::kFollower && promotable()) start_election(ElectionKind::kLeaderTransfer);
      break;
  }
  after_input();
  return Status::Ok();
}

void RaftNode::tick() {
  ++now_;
  if (role_ == Role::kLeader) {
    tick_leader();
  } else {
    tick_follower();
  }
  after_input();
}

Result<std::shared_ptr<const Snapshot>> RaftNode::compact(uint64_t index, std::string data) {
  if (index > log_.applied()) {
    return Status::InvalidArgument("cannot snapshot at " + num(index) +
                                   ", past the applied index " + num(log_.applied()));
  }
  if (index <= log_.snapshot_index()) {
    return Status::InvalidArgument("cannot snapshot at " + num(index) +
                                   ", the log is already compacted to " +
                                   num(log_.snapshot_index()));
  }
  auto snap = std::make_shared<Snapshot>();
  snap->metadata.index = index;
  snap->metadata.term = *log_.term(index);
  // The configuration at `index`, which is committed, and not the latest one: an
  // uncommitted configuration after it must stay in the log, where a truncation
  // can still roll it back (canonical/raft #250).
  snap->metadata.membership = configs_.at(index);
  snap->data = std::move(data);
  log_.compact_to(index);
  configs_.compact_to(index);
  snapshot_ = snap;
  after_input();
  return std::shared_ptr<const Snapshot>(snap);
}

bool RaftNode::has_ready() const {
  if (handed_out_.outstanding) return false;
  HardState hs{term_, vote_, log_.committed()};
  SoftState ss{lead_, role_};
  return hs != last_hard_state_ || ss != last_soft_state_ || snapshot_to_apply_ ||
         log_.has_unstable() || log_.has_entries_to_apply() || !msgs_.empty() ||
         reads_.has_releasable(log_.applying()) || !aborted_reads_.empty();
}

Ready RaftNode::ready() {
  if (handed_out_.outstanding) {
    throw std::logic_error("RaftNode::ready() called again before advance()");
  }
  Ready rd;
  HardState hs{term_, vote_, log_.committed()};
  if (hs != last_hard_state_) {
    rd.must_sync = hs.term != last_hard_state_.term || hs.vote != last_hard_state_.vote;
    rd.hard_state = hs;
    last_hard_state_ = hs;
  }
  SoftState ss{lead_, role_};
  if (ss != last_soft_state_) {
    rd.soft_state = ss;
    last_soft_state_ = ss;
  }
  handed_out_ = HandedOut{};
  handed_out_.outstanding = true;
  if (snapshot_to_apply_) {
    rd.snapshot = snapshot_;
    rd.must_sync = true;
    snapshot_to_apply_ = false;
    handed_out_.snapshot = EntryId{snapshot_->metadata.term, snapshot_->metadata.index};
    log_.snapshot_applying(snapshot_->metadata.index);
  }
  rd.entries = log_.take_unstable();
  if (!rd.entries.empty()) {
    rd.truncate_from = rd.entries.front().index;
    rd.must_sync = true;
    handed_out_.last_entry = EntryId{rd.entries.back().term, rd.entries.back().index};
  }
  rd.committed_entries = log_.take_entries_to_apply(config_.max_committed_per_ready);
  handed_out_.applying = log_.applying();
  rd.messages = std::move(msgs_);
  msgs_.clear();
  // Released against the index applied once this Ready's entries are: step 3 of
  // the contract applies them before serving reads.
  rd.read_states = reads_.take_releasable(log_.applying());
  rd.aborted_reads = std::move(aborted_reads_);
  aborted_reads_.clear();
  return rd;
}

void RaftNode::advance() {
  if (!handed_out_.outstanding) throw std::logic_error("RaftNode::advance() without ready()");
  if (handed_out_.snapshot)
    log_.snapshot_stable(handed_out_.snapshot->index, handed_out_.snapshot->term);
  if (handed_out_.last_entry) log_.stable_to(*handed_out_.last_entry);
  log_.applied_to(handed_out_.applying);
  handed_out_ = HandedOut{};
  // The leader counts itself towards a majority only for entries on its own disk
  // (§10.2.1: it may write in parallel with replication, but must not count an
  // entry it could still lose).
  if (role_ == Role::kLeader && maybe_commit() && after_commit_advanced()) broadcast_append();
  after_input();
}

const Progress* RaftNode::progress(NodeId peer) const {
  auto it = progress_.find(peer);
  return it == progress_.end() ? nullptr : &it->second;
}

}  // namespace tally::raft
