#include "raft/membership.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace tally::raft {

namespace {

void insert_sorted(std::vector<NodeId>& ids, NodeId id) {
  ids.insert(std::lower_bound(ids.begin(), ids.end(), id), id);
}

void erase_id(std::vector<NodeId>& ids, NodeId id) {
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
}

std::string node_name(NodeId id) { return "node " + std::to_string(id); }

}  // namespace

Status validate_conf_change(const Membership& current, const ConfChange& change) {
  if (change.node == kNoNode) return Status::InvalidArgument("node id 0 is reserved");
  switch (change.type) {
    case ConfChangeType::kAddVoter:
    case ConfChangeType::kAddLearner:
      if (current.contains(change.node)) {
        return Status::InvalidArgument(node_name(change.node) + " is already a member (" +
                                       current.to_string() + ")");
      }
      return Status::Ok();
    case ConfChangeType::kPromoteLearner:
      if (!current.is_learner(change.node)) {
        return Status::InvalidArgument(node_name(change.node) + " is not a learner (" +
                                       current.to_string() + ")");
      }
      return Status::Ok();
    case ConfChangeType::kDemoteVoter:
      if (!current.is_voter(change.node)) {
        return Status::InvalidArgument(node_name(change.node) + " is not a voter (" +
                                       current.to_string() + ")");
      }
      if (current.voters.size() == 1) {
        return Status::InvalidArgument("cannot demote " + node_name(change.node) +
                                       ", the last voter");
      }
      return Status::Ok();
    case ConfChangeType::kRemoveNode:
      if (!current.contains(change.node)) {
        return Status::InvalidArgument(node_name(change.node) + " is not a member (" +
                                       current.to_string() + ")");
      }
      if (current.is_voter(change.node) && current.voters.size() == 1) {
        return Status::InvalidArgument("cannot remove " + node_name(change.node) +
                                       ", the last voter");
      }
      return Status::Ok();
  }
  return Status::InvalidArgument("unknown conf change type");
}

Membership apply_conf_change(const Membership& current, const ConfChange& change) {
  if (!validate_conf_change(current, change).ok()) return current;
  Membership next = current;
  switch (change.type) {
    case ConfChangeType::kAddVoter:
      insert_sorted(next.voters, change.node);
      break;
    case ConfChangeType::kAddLearner:
      insert_sorted(next.learners, change.node);
      break;
    case ConfChangeType::kPromoteLearner:
      erase_id(next.learners, change.node);
      insert_sorted(next.voters, change.node);
      break;
    case ConfChangeType::kRemoveNode:
      erase_id(next.voters, change.node);
      erase_id(next.learners, change.node);
      break;
    case ConfChangeType::kDemoteVoter:
      erase_id(next.voters, change.node);
      insert_sorted(next.learners, change.node);
      break;
  }
  return next;
}

void ConfigHistory::reset(uint64_t base_index, Membership base) {
  base_index_ = base_index;
  base_ = std::move(base);
  changes_.clear();
}

void ConfigHistory::append(uint64_t index, const ConfChange& change) {
  if (index <= current_index()) {
    throw std::logic_error("ConfigHistory::append: index " + std::to_string(index) +
                           " is not past " + std::to_string(current_index()));
  }
  changes_.push_back({index, apply_conf_change(current(), change)});
}

void ConfigHistory::truncate_from(uint64_t index) {
  if (index <= base_index_) {
    // The base is the configuration of a snapshot, which only covers committed
    // entries; truncating into it would mean a committed entry was overwritten.
    throw std::logic_error("ConfigHistory::truncate_from(" + std::to_string(index) +
                           ") reaches the base at " + std::to_string(base_index_));
  }
  while (!changes_.empty() && changes_.back().index >= index) changes_.pop_back();
}

void ConfigHistory::compact_to(uint64_t index) {
  if (index <= base_index_) return;
  Membership at_index = at(index);
  changes_.erase(changes_.begin(),
                 std::upper_bound(changes_.begin(), changes_.end(), index,
                                  [](uint64_t i, const Change& c) { return i < c.index; }));
  base_index_ = index;
  base_ = std::move(at_index);
}

const Membership& ConfigHistory::current() const {
  return changes_.empty() ? base_ : changes_.back().membership;
}

uint64_t ConfigHistory::current_index() const {
  return changes_.empty() ? base_index_ : changes_.back().index;
}

const Membership& ConfigHistory::at(uint64_t index) const {
  // The last change at or before `index`; the base if there is none.
  auto it = std::upper_bound(changes_.begin(), changes_.end(), index,
                             [](uint64_t i, const Change& c) { return i < c.index; });
  if (it == changes_.begin()) return base_;
  return std::prev(it)->membership;
}

}  // namespace tally::raft
