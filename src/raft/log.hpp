// raft/log.hpp — a server's log, in memory, with its durability and apply marks.
//
// The core keeps the whole log after its last snapshot in memory (the metadata log
// is small and compacted by snapshots), so it never reads storage while it runs.
// What is durable is tracked, not stored: entries are handed out in a Ready to be
// persisted, and only after advance() does the log count them as persisted
// (LogCabin's split of append() from the Sync that makes it durable).
//
//   snapshot_index   applied  <=  committed          persisted <= handed_out <= last
//   [  compacted  ] [ ........... entries in memory ............................ ]
//
// persisted: the last index known durable *and* still in this log. A conflict that
// truncates the log pulls it back; it moves forward only for an entry whose term
// still matches (by Log Matching, the prefix before it is then the same too).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.hpp"

namespace tally::raft {

class RaftLog {
 public:
  // A log that starts after (snapshot_index, snapshot_term), holds `entries` (which
  // must be contiguous from snapshot_index + 1), and is entirely durable: what a
  // restarted node reads back from storage.
  void reset(uint64_t snapshot_index, uint64_t snapshot_term, std::vector<Entry> entries,
             uint64_t committed, uint64_t applied);

  uint64_t snapshot_index() const { return snapshot_index_; }
  uint64_t snapshot_term() const { return snapshot_term_; }
  uint64_t first_index() const { return snapshot_index_ + 1; }
  uint64_t last_index() const { return snapshot_index_ + entries_.size(); }
  uint64_t last_term() const;

  // The term of the entry at `index`: the snapshot's term at snapshot_index, nothing
  // below it (compacted) or past the end.
  std::optional<uint64_t> term(uint64_t index) const;
  bool match_term(uint64_t index, uint64_t term) const;
  // The election restriction (§5.4.1): a candidate whose last entry is
  // (last_index, last_term) is at least as up to date as this log.
  bool is_up_to_date(uint64_t last_index, uint64_t last_term) const;

  // The entry at `index`, first_index() <= index <= last_index().
  const Entry& at(uint64_t index) const;
  // Entries [lo, hi] (clamped to the log), at most max_count of them.
  std::vector<Entry> slice(uint64_t lo, uint64_t hi, size_t max_count) const;

  // The index of the first of `entries` (contiguous) that this log lacks or holds
  // with another term; 0 if the log already holds them all.
  uint64_t find_conflict(const std::vector<Entry>& entries) const;
  // The largest index <= `index` whose entry's term is <= `term` (at least the
  // snapshot index). Used on both sides of a rejected append to skip a term's worth
  // of entries per round trip.
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;

  // Appends `entry`, whose index must be last_index() + 1 (the leader's path).
  void append(Entry entry);
  // Replaces every entry from entries.front().index on with `entries` (a follower
  // overwriting a conflicting, uncommitted suffix, Figure 2 receiver rule 3). The
  // first index must be in (committed, last_index() + 1].
  void truncate_and_append(std::vector<Entry> entries);

  uint64_t committed() const { return committed_; }
  // Raises the commit index (never lowers it); `index` must be <= last_index().
  void commit_to(uint64_t index);

  // Drops the entries up to `index` (<= applied), which a snapshot now covers.
  void compact_to(uint64_t index);
  // Discards the whole log in favour of a snapshot at (index, term) that is not yet
  // durable (Figure 13 receiver rules 6-7): the log's entries conflict with it, or
  // it is past them. committed becomes `index`.
  void restore(uint64_t index, uint64_t term);

  // --- durability -------------------------------------------------------------
  uint64_t persisted() const { return persisted_; }
  // True when entries wait to be handed out for persisting.
  bool has_unstable() const { return handed_out_ < last_index(); }
  // The entries not yet handed out, which are handed out now.
  std::vector<Entry> take_unstable();
  // A Ready holding entries up to `last` was persisted: count them as durable
  // unless the log changed under them since (then the term no longer matches).
  void stable_to(EntryId last);
  // The Ready holding the snapshot at (index, term) was persisted.
  void snapshot_stable(uint64_t index, uint64_t term);

  // --- applying ---------------------------------------------------------------
  uint64_t applied() const { return applied_; }
  uint64_t applying() const { return applying_; }
  // True when committed, durable entries wait to be handed out for applying.
  bool has_entries_to_apply() const;
  // Those entries (at most max_count), which are handed out now. Only durable
  // entries are applied, so a crash cannot un-persist an applied entry.
  std::vector<Entry> take_entries_to_apply(size_t max_count);
  // The application restores its state machine from a snapshot at `index`.
  void snapshot_applying(uint64_t index);
  // The application has applied everything handed out so far.
  void applied_to(uint64_t index);

  // Empty when the marks are consistent, otherwise what is wrong.
  std::string check() const;

 private:
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_term_ = 0;
  std::vector<Entry> entries_;  // entries_[i].index == snapshot_index_ + 1 + i
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;     // acknowledged by advance()
  uint64_t applying_ = 0;    // handed out to apply, >= applied_
  uint64_t persisted_ = 0;   // acknowledged by advance()
  uint64_t handed_out_ = 0;  // handed out to persist, >= persisted_
};

}  // namespace tally::raft
