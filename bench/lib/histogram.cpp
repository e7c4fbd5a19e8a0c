#include "bench/lib/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tally::bench {

namespace {

constexpr uint64_t kSubBuckets = uint64_t{1} << Histogram::kSubBucketBits;  // M

}  // namespace

uint64_t percentile_rank(double p, uint64_t count) {
  if (!(p > 0)) return 1;  // also NaN
  if (p >= 100) return count;
  // The small slack keeps p = 99.9 of 1000 values at rank 999, where floating
  // point would give 999.0000000000001 and round it up to 1000.
  double exact = p / 100.0 * static_cast<double>(count);
  auto rank = static_cast<uint64_t>(std::ceil(exact - 1e-9 * exact));
  return std::clamp<uint64_t>(rank, 1, count);
}

// Values below 2M have a bucket each. A value v >= 2M with highest bit e keeps
// its top kSubBucketBits + 1 bits: sub = v >> shift lies in [M, 2M), where
// shift = e - kSubBucketBits, and the bucket is (shift + 1) * M + (sub - M).
// Consecutive powers of two thus take M buckets each, and the layout continues
// the exact one without a gap: for shift = 0 the formula gives v itself.
size_t Histogram::bucket_index(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  int shift = std::bit_width(value) - 1 - kSubBucketBits;
  uint64_t sub = value >> shift;
  return static_cast<size_t>((static_cast<uint64_t>(shift) + 1) * kSubBuckets +
                             (sub - kSubBuckets));
}

// The largest value that lands in bucket `index` (the inverse of bucket_index).
uint64_t Histogram::bucket_highest(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  uint64_t shift = index / kSubBuckets - 1;
  uint64_t sub = kSubBuckets + index % kSubBuckets;
  // For the very last bucket (sub + 1) << shift is 2^64, which wraps to 0 and
  // minus one gives UINT64_MAX, the right answer.
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(uint64_t value, uint64_t count) {
  if (count == 0) return;
  size_t index = bucket_index(value);
  if (index >= counts_.size()) counts_.resize(index + 1, 0);
  counts_[index] += count;
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  count_ += count;
  sum_ += static_cast<unsigned __int128>(value) * count;
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) return;
  if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size(), 0);
  for (size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::reset() { *this = Histogram(); }

double Histogram::mean() const {
  if (count_ == 0) return 0;
  // Split the sum so that the division keeps a double's full precision.
  auto whole = static_cast<double>(sum_ / count_);
  auto rest = static_cast<double>(sum_ % count_);
  return whole + rest / static_cast<double>(count_);
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  if (!(p > 0)) return min_;
  uint64_t rank = percentile_rank(p, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_highest(i), min_, max_);
  }
  return max_;  // unreachable: the counts sum to count_
}

std::vector<CdfPoint> Histogram::cdf(size_t max_points) const {
  std::vector<CdfPoint> out;
  if (count_ == 0) return out;
  // Thinning keeps a point once at least `step` values lie between it and the
  // previous kept one: at most max_points points, then the last one, which
  // takes the place of the point before it if that would make one too many.
  uint64_t step = max_points == 0 ? 1 : (count_ + max_points - 1) / max_points;
  uint64_t seen = 0;
  uint64_t last_kept = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    seen += counts_[i];
    if (seen - last_kept < step && seen != count_) continue;
    if (seen == count_ && max_points > 0 && out.size() == max_points) out.pop_back();
    last_kept = seen;
    out.push_back({std::clamp(bucket_highest(i), min_, max_),
                   static_cast<double>(seen) / static_cast<double>(count_)});
  }
  return out;
}

}  // namespace tally::bench
