// raft_invariants.cpp — internal consistency checks that tests switch on
// (RaftConfig::check_invariants), in the spirit of LogCabin's debug assertions.
// Each check is a fact the protocol relies on; a failure names the first one broken.
#include <string>

#include "raft/raft_node.hpp"

namespace tally::raft {

namespace {

std::string num(uint64_t v) { return std::to_string(v); }

bool sorted_unique(const std::vector<NodeId>& ids) {
  for (size_t i = 1; i < ids.size(); ++i) {
    if (ids[i - 1] >= ids[i]) return false;
  }
  return true;
}

}  // namespace

Status RaftNode::check_invariants() const {
  auto broken = [&](const std::string& what) {
    return Status::Internal("node " + num(config_.id) + " term " + num(term_) + " (" +
                            std::string(role_name(role_)) + "): " + what);
  };

  if (std::string s = log_.check(); !s.empty()) return broken(s);
  if (log_.last_term() > term_) {
    return broken("last log term " + num(log_.last_term()) + " is past the current term");
  }

  // The snapshot kept for followers is the one the log starts after.
  if (snapshot_) {
    if (snapshot_->metadata.index != log_.snapshot_index() ||
        snapshot_->metadata.term != log_.snapshot_term()) {
      return broken("kept snapshot " + num(snapshot_->metadata.index) + " is not the log's base " +
                    num(log_.snapshot_index()));
    }
  } else if (log_.snapshot_index() != 0) {
    return broken("the log is compacted but no snapshot is kept");
  }

  // The configuration is a function of the log: base + every conf entry after it.
  if (configs_.base_index() != log_.snapshot_index()) {
    return broken("configuration base " + num(configs_.base_index()) +
                  " differs from the snapshot index " + num(log_.snapshot_index()));
  }
  Membership derived = configs_.at(configs_.base_index());
  for (uint64_t i = log_.first_index(); i <= log_.last_index(); ++i) {
    const Entry& e = log_.at(i);
    if (e.type == EntryType::kConfChange) derived = apply_conf_change(derived, e.change);
  }
  const Membership& current = configs_.current();
  if (derived != current) {
    return broken("configuration " + current.to_string() + " is not the log's " +
                  derived.to_string());
  }
  if (!sorted_unique(current.voters) || !sorted_unique(current.learners)) {
    return broken("membership lists are not sorted sets");
  }
  for (NodeId l : current.learners) {
    if (current.is_voter(l)) return broken("node " + num(l) + " is both voter and learner");
  }

  switch (role_) {
    case Role::kLeader: {
      if (lead_ != config_.id) return broken("a leader that does not name itself leader");
      if (vote_ != config_.id) return broken("a leader that did not vote for itself");
      // (Once compacted into a snapshot, the no-op is committed and covered.)
      if (term_start_index_ > log_.snapshot_index() && !log_.match_term(term_start_index_, term_)) {
        return broken("no no-op of the leader's term at " + num(term_start_index_));
      }
      // One membership change at a time: at most one conf entry past the commit.
      int uncommitted_changes = 0;
      for (uint64_t i = log_.committed() + 1; i <= log_.last_index(); ++i) {
        if (log_.at(i).type == EntryType::kConfChange) ++uncommitted_changes;
      }
      if (uncommitted_changes > 1) return broken("more than one uncommitted conf change");
      for (const auto& [id, pr] : progress_) {
        if (!current.contains(id)) return broken("progress for non-member " + num(id));
        if (pr.match > log_.last_index() || pr.next <= pr.match ||
            pr.next > log_.last_index() + 1) {
          return broken("progress of " + num(id) + " match " + num(pr.match) + " next " +
                        num(pr.next) + " vs last " + num(log_.last_index()));
        }
      }
      for (NodeId id : current.voters) {
        if (id != config_.id && !progress_.count(id)) return broken("no progress for " + num(id));
      }
      for (NodeId id : current.learners) {
        if (id != config_.id && !progress_.count(id)) return broken("no progress for " + num(id));
      }
      if (transfer_target_ != kNoNode && !current.is_voter(transfer_target_)) {
        return broken("transferring leadership to non-voter " + num(transfer_target_));
      }
      break;
    }
    case Role::kCandidate:
      if (vote_ != config_.id) return broken("a candidate that did not vote for itself");
      [[fallthrough]];
    case Role::kPreCandidate:
      if (lead_ != kNoNode) return broken("a candidate that knows a leader");
      [[fallthrough]];
    case Role::kFollower:
      if (lead_ == config_.id) return broken("a non-leader that names itself leader");
      if (!progress_.empty()) return broken("a non-leader tracking progress");
      if (transfer_target_ != kNoNode) return broken("a non-leader transferring leadership");
      break;
  }
  if (std::string s = reads_.check(log_.committed(), role_ == Role::kLeader); !s.empty()) {
    return broken(s);
  }
  return Status::Ok();
}

}  // namespace tally::raft
