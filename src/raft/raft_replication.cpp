// raft_replication.cpp — log replication (§5.3), the commit rule (§5.4.2),
// snapshots (§7 / dissertation ch. 5) and membership changes (dissertation §4.1),
// from both the leader's and the follower's side.
#include <algorithm>
#include <string>
#include <utility>

#include "raft/raft_node.hpp"

namespace tally::raft {

void RaftNode::send(Message m) {
  m.from = config_.id;
  // Responses that grant a pre-vote carry the future term they were asked for;
  // everything else carries ours.
  if (m.term == 0) m.term = term_;
  msgs_.push_back(std::move(m));
}

void RaftNode::append_entry(Entry entry) {
  bool conf = entry.type == EntryType::kConfChange;
  uint64_t index = entry.index;
  ConfChange change = entry.change;
  log_.append(std::move(entry));
  if (conf) {
    // §4.1: the new configuration is used from the moment it is in the log.
    configs_.append(index, change);
    sync_progress_with_membership();
  }
}

Result<EntryId> RaftNode::propose(std::string data) {
  if (data.empty()) {
    return Status::InvalidArgument("empty proposals are reserved for leaders' no-ops");
  }
  if (role_ != Role::kLeader) return not_leader();
  if (transfer_target_ != kNoNode) {
    return Status::Aborted("leadership is being transferred to node " +
                           std::to_string(transfer_target_));
  }
  EntryId id{term_, log_.last_index() + 1};
  append_entry(Entry{id.term, id.index, EntryType::kNormal, std::move(data), {}});
  broadcast_append();
  after_input();
  return id;
}

Result<EntryId> RaftNode::propose_conf_change(ConfChange change, std::string context) {
  if (role_ != Role::kLeader) return not_leader();
  if (transfer_target_ != kNoNode) {
    return Status::Aborted("leadership is being transferred to node " +
                           std::to_string(transfer_target_));
  }
  // One change at a time (§4.1): the next may start only once the previous is
  // committed, or two successive changes could produce disjoint majorities.
  if (configs_.current_index() > log_.committed()) {
    return Status::Unavailable("the membership change at index " +
                               std::to_string(configs_.current_index()) +
                               " is not committed yet; one change at a time");
  }
  // The 2015 correction to §4.1 (Ongaro, raft-dev): a new leader may hold an
  // uncommitted change from an earlier term that it does not know is superseded;
  // until it commits an entry of its own term, a change it makes can pair with a
  // competing one into two configurations with no common majority, and a
  // committed entry can be lost. Its no-op commits first.
  if (log_.committed() < term_start_index_) {
    return Status::Unavailable("the leader has not yet committed an entry of its term " +
                               std::to_string(term_) + " (its no-op at index " +
                               std::to_string(term_start_index_) + ")");
  }
  if (Status s = validate_conf_change(configs_.current(), change); !s.ok()) return s;
  EntryId id{term_, log_.last_index() + 1};
  append_entry(Entry{id.term, id.index, EntryType::kConfChange, std::move(context), change});
  broadcast_append();
  after_input();
  return id;
}

void RaftNode::sync_progress_with_membership() {
  if (role_ != Role::kLeader) return;
  const Membership& members = configs_.current();
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = members.contains(it->first) ? std::next(it) : progress_.erase(it);
  }
  auto track = [&](NodeId id) {
    if (id == config_.id || progress_.count(id)) return;
    Progress pr;
    pr.next = log_.last_index() + 1;  // probe from the end; rejections walk back
    pr.last_heard = now_;             // a grace period before CheckQuorum counts it
    progress_.emplace(id, pr);
  };
  for (NodeId v : members.voters) track(v);
  for (NodeId l : members.learners) track(l);
  if (transfer_target_ != kNoNode && !members.is_voter(transfer_target_)) abort_transfer();
}

bool RaftNode::send_append(NodeId to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.is_paused(config_.max_inflight_appends)) return false;
  pr.next = std::min(pr.next, log_.last_index() + 1);
  uint64_t prev = pr.next - 1;
  if (prev < log_.snapshot_index()) {
    // The entries this follower needs are compacted away: send the snapshot.
    Message m;
    m.type = MessageType::kSnapshot;
    m.to = to;
    m.snapshot = snapshot_;
    send(std::move(m));
    pr.become_snapshot(snapshot_->metadata.index);
    return true;
  }
  std::vector<Entry> entries =
      log_.slice(pr.next, log_.last_index(), config_.max_entries_per_append);
  if (entries.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *log_.term(prev);
  m.commit = log_.committed();
  uint64_t last = entries.empty() ? prev : entries.back().index;
  bool had_entries = !entries.empty();
  m.entries = std::move(entries);
  send(std::move(m));
  pr.sent(last, had_entries);
  return true;
}

void RaftNode::broadcast_append() {
  for (auto& [id, pr] : progress_) send_append(id, true);
}

void RaftNode::broadcast_heartbeat() {
  for (auto& [id, pr] : progress_) {
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    // Never tell a follower to commit past what it is known to hold: its log
    // beyond `match` may still differ from ours.
    m.commit = std::min(pr.match, log_.committed());
    m.context = reads_.round();
    send(std::move(m));
  }
}

bool RaftNode::maybe_commit() {
  const Membership& members = configs_.current();
  uint64_t replicated = quorum_value(members, [&](NodeId v) -> uint64_t {
    if (v == config_.id) return log_.persisted();
    auto it = progress_.find(v);
    return it == progress_.end() ? 0 : it->second.match;
  });
  // §5.4.2 / Figure 8: only an entry of the current term is committed by counting
  // replicas; earlier entries are committed with it, by Log Matching.
  if (replicated <= log_.committed() || log_.term(replicated) != term_) return false;
  log_.commit_to(replicated);
  return true;
}

bool RaftNode::after_commit_advanced() {
  if (log_.committed() >= term_start_index_ && reads_.has_awaiting_commit()) {
    start_reads(reads_.take_awaiting_commit());
  }
  // Dissertation §4.2.2: a leader removed from the configuration keeps leading
  // (without counting itself) until the change is committed, then steps down.
  const Membership& members = configs_.current();
  if (!members.is_voter(config_.id) && log_.committed() >= configs_.current_index()) {
    // Tell the followers the new commit index, and hand over to the most up to
    // date voter at once (§3.10) rather than leave the group to an election timeout.
    broadcast_append();
    NodeId successor = kNoNode;
    for (const auto& [id, pr] : progress_) {
      if (members.is_voter(id) && pr.match == log_.last_index()) {
        successor = id;
        break;
      }
    }
    if (successor != kNoNode) {
      Message m;
      m.type = MessageType::kTimeoutNow;
      m.to = successor;
      send(std::move(m));
    }
    become_follower(term_, kNoNode);
    return false;
  }
  return true;
}

void RaftNode::handle_append_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.last_heard = now_;
  if (m.reject) {
    uint64_t hint = m.reject_hint;
    if (m.log_term > 0) hint = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.maybe_decrease(m.index, hint)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      send_append(m.from, true);
    }
    return;
  }
  bool was_paused = pr.is_paused(config_.max_inflight_appends);
  bool updated = pr.maybe_update(m.index);
  if (pr.state == ProgressState::kProbe && updated) {
    pr.become_replicate();
  } else if (pr.state == ProgressState::kSnapshot && pr.match >= pr.pending_snapshot) {
    pr.become_replicate();
  }
  if (updated && maybe_commit()) {
    if (!after_commit_advanced()) return;  // stepped down: pr is gone
    broadcast_append();                    // tell everyone the new commit index
  } else if (was_paused) {
    // This follower missed any commit broadcast while it was paused; an append,
    // even empty, carries the commit index.
    send_append(m.from, true);
  }
  while (send_append(m.from, false)) {
  }
  if (m.from == transfer_target_ && pr.match == log_.last_index()) {
    Message timeout;
    timeout.type = MessageType::kTimeoutNow;
    timeout.to = m.from;
    send(std::move(timeout));
  }
}

void RaftNode::handle_heartbeat_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.last_heard = now_;
  pr.read_ack = std::max(pr.read_ack, m.context);
  // The follower is alive: a probe or append it never answered was lost. Unblock
  // the pipeline so the next append goes out (and finds the gap, if any).
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && !pr.inflight.empty() &&
      pr.inflight.size() >= config_.max_inflight_appends) {
    pr.inflight.pop_front();
  }
  if (pr.match < log_.last_index()) send_append(m.from, true);
  confirm_reads();
}

void RaftNode::handle_append(const Message& m) {
  lead_ = m.from;
  election_elapsed_ = 0;
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index is already the leader's (Leader
    // Completeness); say so, rather than re-examine an old, duplicated append.
    reply.index = log_.committed();
    send(std::move(reply));
    return;
  }
  if (!log_.match_term(m.index, m.log_term)) {
    // Figure 2 receiver rule 2. The hint lets the leader skip, per round trip,
    // every entry whose term cannot match (end of §5.3).
    uint64_t hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
    reply.index = m.index;
    reply.reject = true;
    reply.reject_hint = hint;
    reply.log_term = *log_.term(hint);
    send(std::move(reply));
    return;
  }
  uint64_t conflict = log_.find_conflict(m.entries);
  if (conflict != 0) {
    // Rule 3-4: overwrite from the first conflicting entry. A configuration entry
    // in the overwritten suffix no longer counts: fall back to the one before it.
    if (conflict <= log_.last_index()) configs_.truncate_from(conflict);
    std::vector<Entry> suffix(m.entries.begin() + (conflict - m.entries.front().index),
                              m.entries.end());
    for (const Entry& e : suffix) {
      if (e.type == EntryType::kConfChange) configs_.append(e.index, e.change);
    }
    log_.truncate_and_append(std::move(suffix));
  }
  // Rule 5: commit no further than the last entry this message vouches for; our
  // log past it may still differ from the leader's.
  uint64_t last_new = m.index + m.entries.size();
  log_.commit_to(std::min(m.commit, last_new));
  reply.index = last_new;
  send(std::move(reply));
}

void RaftNode::handle_heartbeat(const Message& m) {
  lead_ = m.from;
  election_elapsed_ = 0;
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message reply;
  reply.type = MessageType::kHeartbeatResponse;
  reply.to = m.from;
  reply.context = m.context;
  send(std::move(reply));
}

void RaftNode::handle_snapshot(const Message& m) {
  lead_ = m.from;
  election_elapsed_ = 0;
  const SnapshotMetadata& meta = m.snapshot->metadata;
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = m.from;
  if (meta.index <= log_.committed()) {
    // Nothing new: we already hold (and committed) everything it covers.
    reply.index = log_.committed();
  } else if (log_.match_term(meta.index, meta.term)) {
    // Figure 13 rule 6: our log holds the snapshot's last entry, so everything up
    // to it is the leader's. Keep the entries after it; commit what it covers.
    log_.commit_to(meta.index);
    reply.index = log_.committed();
  } else {
    // Rule 7: the snapshot is past our log, or our entry at its index conflicts.
    // Discard the whole log. Keeping a conflicting entry here is the InstallSnapshot
    // livelock of hashicorp/raft #697: every later append would be rejected at it.
    log_.restore(meta.index, meta.term);
    configs_.reset(meta.index, meta.membership);
    snapshot_ = m.snapshot;
    snapshot_to_apply_ = true;
    reply.index = meta.index;
  }
  send(std::move(reply));
}

}  // namespace tally::raft
