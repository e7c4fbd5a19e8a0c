#include "raft/log.hpp"

#include <algorithm>
#include <stdexcept>

namespace tally::raft {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::logic_error("RaftLog: " + what); }

std::string num(uint64_t v) { return std::to_string(v); }

}  // namespace

void RaftLog::reset(uint64_t snapshot_index, uint64_t snapshot_term, std::vector<Entry> entries,
                    uint64_t committed, uint64_t applied) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != snapshot_index + 1 + i) {
      fail("entries are not contiguous from snapshot index " + num(snapshot_index));
    }
  }
  snapshot_index_ = snapshot_index;
  snapshot_term_ = snapshot_term;
  entries_ = std::move(entries);
  committed_ = committed;
  applied_ = applying_ = applied;
  persisted_ = handed_out_ = last_index();
}

uint64_t RaftLog::last_term() const {
  return entries_.empty() ? snapshot_term_ : entries_.back().term;
}

std::optional<uint64_t> RaftLog::term(uint64_t index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return entries_[index - snapshot_index_ - 1].term;
}

bool RaftLog::match_term(uint64_t index, uint64_t t) const {
  auto mine = term(index);
  return mine && *mine == t;
}

bool RaftLog::is_up_to_date(uint64_t last_index_other, uint64_t last_term_other) const {
  return last_term_other > last_term() ||
         (last_term_other == last_term() && last_index_other >= last_index());
}

const Entry& RaftLog::at(uint64_t index) const {
  if (index <= snapshot_index_ || index > last_index()) {
    fail("entry " + num(index) + " is outside (" + num(snapshot_index_) + ", " + num(last_index()) +
         "]");
  }
  return entries_[index - snapshot_index_ - 1];
}

std::vector<Entry> RaftLog::slice(uint64_t lo, uint64_t hi, size_t max_count) const {
  std::vector<Entry> out;
  lo = std::max(lo, first_index());
  hi = std::min(hi, last_index());
  for (uint64_t i = lo; i <= hi && out.size() < max_count; ++i) out.push_back(at(i));
  return out;
}

uint64_t RaftLog::find_conflict(const std::vector<Entry>& entries) const {
  for (const Entry& e : entries) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

uint64_t RaftLog::find_conflict_by_term(uint64_t index, uint64_t t) const {
  uint64_t i = std::min(index, last_index());
  while (i > snapshot_index_ && *term(i) > t) --i;
  return i;
}

void RaftLog::append(Entry entry) {
  if (entry.index != last_index() + 1) {
    fail("append of index " + num(entry.index) + " after last index " + num(last_index()));
  }
  if (entry.term < last_term()) fail("append of term " + num(entry.term) + " after a later term");
  entries_.push_back(std::move(entry));
}

void RaftLog::truncate_and_append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  uint64_t first = entries.front().index;
  if (first <= committed_) {
    // Figure 2 only ever overwrites uncommitted entries; getting here means two
    // leaders disagree about a committed entry (State Machine Safety is gone).
    fail("truncation at " + num(first) + " would remove committed entries (commit " +
         num(committed_) + ")");
  }
  if (first > last_index() + 1) fail("append at " + num(first) + " leaves a gap");
  entries_.resize(first - snapshot_index_ - 1);
  persisted_ = std::min(persisted_, first - 1);
  handed_out_ = std::min(handed_out_, first - 1);
  for (Entry& e : entries) append(std::move(e));
}

void RaftLog::commit_to(uint64_t index) {
  if (index <= committed_) return;
  if (index > last_index()) {
    fail("commit " + num(index) + " is past the last index " + num(last_index()));
  }
  committed_ = index;
}

void RaftLog::compact_to(uint64_t index) {
  if (index <= snapshot_index_) return;
  if (index > applied_) fail("compaction to " + num(index) + " past applied " + num(applied_));
  snapshot_term_ = *term(index);
  entries_.erase(entries_.begin(), entries_.begin() + (index - snapshot_index_));
  snapshot_index_ = index;
}

void RaftLog::restore(uint64_t index, uint64_t t) {
  if (index <= committed_) fail("restore to " + num(index) + " <= commit " + num(committed_));
  entries_.clear();
  snapshot_index_ = index;
  snapshot_term_ = t;
  committed_ = index;
  // Nothing of this log is durable until the Ready holding the snapshot is: the
  // old entries on disk are about to be replaced by it.
  persisted_ = 0;
  handed_out_ = index;
}

std::vector<Entry> RaftLog::take_unstable() {
  std::vector<Entry> out;
  if (handed_out_ < snapshot_index_) handed_out_ = snapshot_index_;
  for (uint64_t i = handed_out_ + 1; i <= last_index(); ++i) out.push_back(at(i));
  handed_out_ = last_index();
  return out;
}

void RaftLog::stable_to(EntryId last) {
  if (match_term(last.index, last.term)) persisted_ = std::max(persisted_, last.index);
}

void RaftLog::snapshot_stable(uint64_t index, uint64_t t) {
  if (index == snapshot_index_ && t == snapshot_term_) persisted_ = std::max(persisted_, index);
}

bool RaftLog::has_entries_to_apply() const {
  if (applying_ < snapshot_index_) return false;  // the snapshot must be applied first
  return std::min(committed_, persisted_) > applying_;
}

std::vector<Entry> RaftLog::take_entries_to_apply(size_t max_count) {
  if (!has_entries_to_apply()) return {};
  std::vector<Entry> out = slice(applying_ + 1, std::min(committed_, persisted_), max_count);
  if (!out.empty()) applying_ = out.back().index;
  return out;
}

void RaftLog::snapshot_applying(uint64_t index) { applying_ = std::max(applying_, index); }

void RaftLog::applied_to(uint64_t index) {
  if (index > applying_) fail("applied " + num(index) + " past applying " + num(applying_));
  applied_ = std::max(applied_, index);
}

std::string RaftLog::check() const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].index != snapshot_index_ + 1 + i) return "log indexes are not contiguous";
    uint64_t prev_term = i == 0 ? snapshot_term_ : entries_[i - 1].term;
    if (entries_[i].term < prev_term) return "log terms decrease at " + num(entries_[i].index);
  }
  if (committed_ < snapshot_index_) return "commit is below the snapshot index";
  if (committed_ > last_index()) return "commit " + num(committed_) + " past last index";
  if (applied_ > applying_ || applying_ > committed_) {
    return "applied " + num(applied_) + " / applying " + num(applying_) + " / commit " +
           num(committed_) + " out of order";
  }
  if (persisted_ > handed_out_ || handed_out_ > last_index()) {
    return "persisted " + num(persisted_) + " / handed out " + num(handed_out_) + " / last " +
           num(last_index()) + " out of order";
  }
  return "";
}

}  // namespace tally::raft
