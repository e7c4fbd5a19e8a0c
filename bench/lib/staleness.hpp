// bench/lib/staleness.hpp — measured staleness: did a read see the latest write?
//
// tally-bench puts values that carry a version number (encode_value), one
// writer per key or otherwise versions that grow with each write of a key. The
// driver records every acknowledged put (key, version, time of the ack) and
// every successful get (key, time it started, version(s) it returned), and
// analyze() then answers, per read:
//
//   - which versions of the key had been acknowledged before the read started
//     (ack time strictly before the read's start: an ack in the same
//     microsecond may not have happened yet, so it is not held against the read);
//   - the latest of them, L, and t, the time from L's ack to the read's start;
//   - stale: the read returned an older version than L (or nothing at all).
//     A version newer than L is fresh: a write still in flight may be visible.
//     With siblings, the read is as fresh as its newest sibling;
//   - versions behind (k-staleness): how many acknowledged versions newer than
//     the one returned there were. 0 for a fresh read.
//
// The result is t-visibility as PBS defines it (pbs.hpp): P(stale) by t, in
// buckets, and the distribution of versions behind. Reads of a key with no
// write acknowledged before them are counted apart and not judged.
//
// Analysis is offline, over every event, because a read must be judged against
// writes other threads acknowledged: record on one tracker per thread (a
// tracker is not thread-safe), merge() them at the end, then analyze(). Memory:
// 24 bytes per recorded event.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.hpp"

namespace tally::bench {

// ---- versioned values -------------------------------------------------------------

// The value tally-bench puts: "v<version>:" then lowercase letters up to
// `value_size` bytes in all. The letters are a function of the version, varied
// so that storage compression does not shrink the value. A value is never cut
// short: if value_size is below the prefix's length, the value is the prefix.
// Versions start at 1; 0 means "not found" to the tracker and decode rejects it.
std::string encode_value(uint64_t version, size_t value_size);

// The version a value written by encode_value carries. Corruption, quoting the
// value's first bytes, if it does not start with "v<decimal digits>:" (a value
// some other program wrote), if the number overflows 64 bits, or if it is 0.
Result<uint64_t> decode_version(std::string_view value);

// ---- the tracker --------------------------------------------------------------------

// The bucket edges tally-bench uses by default, in microseconds:
// 0, 1, 2, 5, 10, 20, 50, 100 ms. Bucket i holds reads with
// edges[i] <= t < edges[i+1]; the last bucket is open-ended.
inline constexpr std::array<uint64_t, 8> kDefaultBucketEdgesUs = {0,      1'000,  2'000,  5'000,
                                                                  10'000, 20'000, 50'000, 100'000};

// Reads whose t fell in [from_us, to_us).
struct StalenessBucket {
  uint64_t from_us = 0;
  uint64_t to_us = 0;  // UINT64_MAX for the last, open-ended bucket
  uint64_t reads = 0;
  uint64_t stale = 0;

  // stale / reads; 0 when there were no reads.
  double stale_fraction() const;
};

struct StalenessTable {
  std::vector<StalenessBucket> buckets;  // one per edge, in order
  // k -> number of judged reads that were k acknowledged versions behind; k = 0
  // are the fresh reads. Only k with at least one read appear.
  std::map<uint64_t, uint64_t> versions_behind;
  uint64_t reads_judged = 0;    // reads with at least one write acked before them
  uint64_t reads_unjudged = 0;  // reads of a key with no write acked before them
  uint64_t stale_reads = 0;     // judged reads that were stale

  // stale_reads / reads_judged; 0 when no read was judged.
  double stale_fraction() const;

  // The share of judged reads that returned one of the latest k acknowledged
  // versions (fewer than k versions behind): the measured counterpart of the
  // paper's k-staleness, consistent_within_k() in pbs.hpp. 1 when no read was
  // judged; k = 0 gives 0.
  double fraction_within(uint64_t k) const;
};

class StalenessTracker {
 public:
  // An acknowledged put of `version` (>= 1) to key `key`, the ack received at
  // `ack_us` (microseconds on the clock reads use). Record failed puts nowhere:
  // a read that sees one counts as fresh.
  void record_write(uint64_t key, uint64_t version, uint64_t ack_us);

  // A successful get of `key` started at `start_us`, returning `version` (0 if
  // the key was not found).
  void record_read(uint64_t key, uint64_t start_us, uint64_t version);

  // A get that returned siblings: judged by the newest of `versions` (none: not
  // found).
  void record_read_siblings(uint64_t key, uint64_t start_us, std::span<const uint64_t> versions);

  // Appends `other`'s events to this tracker's.
  void merge(const StalenessTracker& other);

  size_t write_count() const { return writes_.size(); }
  size_t read_count() const { return reads_.size(); }

  // Judges every recorded read (see the top of this file) and buckets them by t
  // at `edges_us`. InvalidArgument unless the edges are non-empty, start at 0
  // and strictly increase. O(events log events) time; copies the events.
  Result<StalenessTable> analyze(std::span<const uint64_t> edges_us = kDefaultBucketEdgesUs) const;

 private:
  struct WriteEvent {
    uint64_t key;
    uint64_t version;
    uint64_t ack_us;
  };
  struct ReadEvent {
    uint64_t key;
    uint64_t start_us;
    uint64_t version;
  };

  std::vector<WriteEvent> writes_;
  std::vector<ReadEvent> reads_;
};

}  // namespace tally::bench
