#include "raft/read_index.hpp"

namespace tally::raft {

std::vector<uint64_t> ReadIndexQueue::take_awaiting_commit() {
  std::vector<uint64_t> out;
  out.swap(awaiting_commit_);
  return out;
}

uint64_t ReadIndexQueue::add(uint64_t request_ctx, uint64_t index) {
  unconfirmed_.push_back({request_ctx, index, ++round_});
  return round_;
}

void ReadIndexQueue::confirm_through(uint64_t round) {
  while (!unconfirmed_.empty() && unconfirmed_.front().round <= round) {
    confirmed_.push_back({unconfirmed_.front().request_ctx, unconfirmed_.front().index});
    unconfirmed_.pop_front();
  }
}

bool ReadIndexQueue::has_releasable(uint64_t applied) const {
  return !confirmed_.empty() && confirmed_.front().index <= applied;
}

std::vector<ReadState> ReadIndexQueue::take_releasable(uint64_t applied) {
  std::vector<ReadState> out;
  while (has_releasable(applied)) {
    out.push_back(confirmed_.front());
    confirmed_.pop_front();
  }
  return out;
}

std::vector<uint64_t> ReadIndexQueue::abort_unconfirmed() {
  std::vector<uint64_t> out = take_awaiting_commit();
  for (const Pending& p : unconfirmed_) out.push_back(p.request_ctx);
  unconfirmed_.clear();
  return out;
}

std::string ReadIndexQueue::check(uint64_t committed, bool is_leader) const {
  if (!is_leader && (!awaiting_commit_.empty() || !unconfirmed_.empty())) {
    return "a non-leader holds unconfirmed reads";
  }
  uint64_t prev_index = 0;
  for (const Pending& p : unconfirmed_) {
    if (p.index > committed) return "a read index is past the commit index";
    if (p.index < prev_index) return "read indexes decrease";
    prev_index = p.index;
  }
  prev_index = 0;
  for (const ReadState& r : confirmed_) {
    if (r.index > committed) return "a confirmed read index is past the commit index";
    if (r.index < prev_index) return "confirmed read indexes decrease";
    prev_index = r.index;
  }
  return "";
}

}  // namespace tally::raft
