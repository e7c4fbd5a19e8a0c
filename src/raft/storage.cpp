#include "raft/storage.hpp"

#include <stdexcept>
#include <string>

namespace tally::raft {

uint64_t MemoryStorage::last_index() const { return snapshot_index() + entries_.size(); }

void MemoryStorage::persist(const Ready& ready) {
  if (ready.snapshot) {
    // A snapshot from the leader replaces the whole log: the entries held here
    // either conflict with it or are covered by it (Figure 13, rules 6-7).
    snapshot_ = ready.snapshot;
    entries_.clear();
  }
  uint64_t from = ready.truncate_from;
  if (!ready.entries.empty()) {
    if (from != ready.entries.front().index) {
      throw std::logic_error("MemoryStorage: truncate_from " + std::to_string(from) +
                             " differs from the first entry's index");
    }
    for (size_t i = 0; i < ready.entries.size(); ++i) {
      if (ready.entries[i].index != from + i) {
        throw std::logic_error("MemoryStorage: Ready entries are not contiguous");
      }
    }
  }
  if (from != 0) {
    if (from <= snapshot_index() || from > last_index() + 1) {
      throw std::logic_error("MemoryStorage: append at " + std::to_string(from) + " outside (" +
                             std::to_string(snapshot_index()) + ", " +
                             std::to_string(last_index() + 1) + "]");
    }
    entries_.resize(from - snapshot_index() - 1);
    entries_.insert(entries_.end(), ready.entries.begin(), ready.entries.end());
  }
  if (ready.hard_state) hard_state_ = *ready.hard_state;
}

Status MemoryStorage::compact(std::shared_ptr<const Snapshot> snapshot) {
  uint64_t index = snapshot->metadata.index;
  if (index <= snapshot_index()) {
    return Status::InvalidArgument("snapshot at " + std::to_string(index) +
                                   " is not newer than the stored one at " +
                                   std::to_string(snapshot_index()));
  }
  if (index > last_index()) {
    return Status::InvalidArgument("snapshot at " + std::to_string(index) +
                                   " is past the stored log, which ends at " +
                                   std::to_string(last_index()));
  }
  entries_.erase(entries_.begin(), entries_.begin() + (index - snapshot_index()));
  snapshot_ = std::move(snapshot);
  return Status::Ok();
}

PersistentState MemoryStorage::load() const { return {hard_state_, snapshot_, entries_}; }

}  // namespace tally::raft
