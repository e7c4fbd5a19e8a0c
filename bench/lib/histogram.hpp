// bench/lib/histogram.hpp — a log-linear latency histogram, HdrHistogram's layout.
//
// Values are unsigned 64-bit integers (tally-bench records nanoseconds). Each
// power-of-two range [2^e, 2^(e+1)) is cut into 1024 equal buckets, and values
// below 2048 get a bucket each, so a bucket is never wider than 1/1024 of the
// values it holds. Percentiles are reported as the highest value of their bucket
// (clamped to the exact max): never below the true value, and above it by less
// than 2^-10 of it, i.e. relative error < 0.098% (three significant digits).
// min, max, count and mean are exact.
//
// Memory: 8 KiB of counters per power of two actually reached, allocated as
// values arrive: about 150 KiB for latencies up to 1 s, 450 KiB at most (a value
// near 2^64). Recording is O(1) and never allocates once the largest value has
// been seen. Not thread-safe: keep one histogram per thread and merge().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tally::bench {

// One point of a cumulative distribution: `fraction` of the recorded values are
// <= `value` (within the histogram's resolution).
struct CdfPoint {
  uint64_t value = 0;
  double fraction = 0;
};

// The 1-based rank of the value percentile(p) reports among `count` sorted
// values: the nearest-rank definition, ceil(p/100 * count), at least 1 and at
// most count. p is clamped to [0, 100]; `count` must be > 0. Exposed so that an
// exact computation over a sorted vector can use the same definition.
uint64_t percentile_rank(double p, uint64_t count);

class Histogram {
 public:
  // log2 of the buckets per power of two: 2^10 = 1024.
  static constexpr int kSubBucketBits = 10;
  // The bound on percentile()'s relative error: reported - true < true * this.
  static constexpr double kMaxRelativeError = 1.0 / (1 << kSubBucketBits);

  // Adds `count` occurrences of `value` (count 0 does nothing).
  void record(uint64_t value, uint64_t count = 1);

  // Adds every value `other` holds, as if each had been recorded here.
  void merge(const Histogram& other);

  // Forgets every value.
  void reset();

  // Number of values recorded.
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // The smallest and largest values recorded, exactly; 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }

  // The exact arithmetic mean; 0 when empty.
  double mean() const;

  // The value at percentile p (p in [0, 100], clamped): the nearest-rank
  // percentile (see percentile_rank) to within kMaxRelativeError, never below
  // it. percentile(0) is min() and percentile(100) is max(), exactly. 0 when
  // empty. O(buckets in use).
  uint64_t percentile(double p) const;

  // The cumulative distribution, for plotting: one point per non-empty bucket,
  // in increasing value order, the last being (max(), 1.0). When that is more
  // than `max_points` points (and max_points > 0), points are thinned to at
  // most max_points, consecutive kept points being at least 1/max_points of the
  // values apart; the last point is always kept. Empty when the histogram is.
  std::vector<CdfPoint> cdf(size_t max_points = 0) const;

 private:
  static size_t bucket_index(uint64_t value);
  static uint64_t bucket_highest(size_t index);

  std::vector<uint64_t> counts_;  // grown to the highest bucket index used, plus one
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;  // exact: 2^64 values of 2^64 - 1 still fit
};

}  // namespace tally::bench
