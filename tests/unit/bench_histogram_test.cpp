// The benchmark's latency histogram (bench/lib/histogram.hpp): its error bound
// against exact percentiles, and merge.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bench/lib/histogram.hpp"
#include "raft/random.hpp"

using namespace tally::bench;
using tally::SplitMix64;

namespace {

// Latency-like values: log-uniform from 1 us to 100 ms, in nanoseconds.
std::vector<uint64_t> latencies(uint64_t seed, size_t n) {
  SplitMix64 rng(seed);
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(static_cast<uint64_t>(std::pow(10.0, 3 + 5 * rng.fraction())));
  }
  return out;
}

uint64_t exact_percentile(std::vector<uint64_t> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  return sorted[percentile_rank(p, sorted.size()) - 1];
}

const std::vector<double> kPercentiles = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100};

}  // namespace

TEST_CASE("histogram percentiles are within 2^-10 above the exact nearest-rank percentile",
          "[bench][histogram]") {
  for (uint64_t seed : {1, 2, 3}) {
    std::vector<uint64_t> values = latencies(seed, 20'000);
    Histogram h;
    for (uint64_t v : values) h.record(v);
    for (double p : kPercentiles) {
      uint64_t exact = exact_percentile(values, p);
      uint64_t reported = h.percentile(p);
      INFO("seed " << seed << " p" << p << ": exact " << exact << ", reported " << reported);
      CHECK(reported >= exact);
      CHECK(static_cast<double>(reported - exact) <
            static_cast<double>(exact) * Histogram::kMaxRelativeError);
    }
  }
}

TEST_CASE("histogram min, max, count and mean are exact; p0 is min and p100 is max",
          "[bench][histogram]") {
  std::vector<uint64_t> values = latencies(7, 5'000);
  values.push_back(123'456'789'012);  // a lone outlier far above the rest
  Histogram h;
  long double sum = 0;
  for (uint64_t v : values) {
    h.record(v);
    sum += v;
  }
  CHECK(h.count() == values.size());
  CHECK(h.min() == *std::min_element(values.begin(), values.end()));
  CHECK(h.max() == 123'456'789'012);
  CHECK(h.percentile(100) == h.max());
  CHECK(h.percentile(0) == h.min());
  CHECK(h.mean() == Approx(static_cast<double>(sum / values.size())).epsilon(1e-12));
}

TEST_CASE("values below 2048 are recorded exactly, and the extremes of uint64 fit",
          "[bench][histogram]") {
  Histogram h;
  for (uint64_t v = 0; v < 2048; ++v) h.record(v);
  for (double p : {10.0, 50.0, 90.0}) {
    CHECK(h.percentile(p) == percentile_rank(p, 2048) - 1);
  }
  Histogram big;
  big.record(UINT64_MAX);
  big.record(UINT64_MAX - 1, 3);
  CHECK(big.count() == 4);
  CHECK(big.max() == UINT64_MAX);
  CHECK(big.percentile(50) == UINT64_MAX);  // the bucket's top, clamped to max
  CHECK(big.mean() == Approx(static_cast<double>(UINT64_MAX)));
}

TEST_CASE("an empty histogram reports zeros and an empty CDF", "[bench][histogram]") {
  Histogram h;
  CHECK(h.empty());
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  CHECK(h.percentile(99) == 0);
  CHECK(h.cdf().empty());
  h.record(5, 0);  // recording nothing leaves it empty
  CHECK(h.empty());
}

TEST_CASE("merging two histograms equals recording both sets of values", "[bench][histogram]") {
  std::vector<uint64_t> a = latencies(11, 8'000);
  std::vector<uint64_t> b = latencies(12, 3'000);
  b.push_back(7);  // a new minimum, from the smaller histogram
  Histogram ha, hb, both;
  for (uint64_t v : a) ha.record(v), both.record(v);
  for (uint64_t v : b) hb.record(v), both.record(v);
  Histogram merged = hb;  // the smaller one first: merge must grow it
  merged.merge(ha);
  CHECK(merged.count() == both.count());
  CHECK(merged.min() == both.min());
  CHECK(merged.max() == both.max());
  CHECK(merged.mean() == both.mean());
  for (double p : kPercentiles) CHECK(merged.percentile(p) == both.percentile(p));
  std::vector<CdfPoint> mc = merged.cdf(), bc = both.cdf();
  CHECK(mc.size() == bc.size());
  CHECK(std::equal(mc.begin(), mc.end(), bc.begin(), bc.end(),
                   [](const CdfPoint& x, const CdfPoint& y) {
                     return x.value == y.value && x.fraction == y.fraction;
                   }));
  Histogram empty;
  merged.merge(empty);
  CHECK(merged.count() == both.count());
  empty.merge(both);
  CHECK(empty.min() == both.min());
}

TEST_CASE("the CDF rises to (max, 1), and thinning keeps at most the points asked for",
          "[bench][histogram]") {
  std::vector<uint64_t> values = latencies(5, 50'000);
  Histogram h;
  for (uint64_t v : values) h.record(v);
  std::vector<CdfPoint> full = h.cdf();
  REQUIRE(full.size() > 500);
  auto not_rising = [](const CdfPoint& a, const CdfPoint& b) {
    return b.value <= a.value || b.fraction <= a.fraction;
  };
  CHECK(std::adjacent_find(full.begin(), full.end(), not_rising) == full.end());
  CHECK(full.back().value == h.max());
  CHECK(full.back().fraction == 1.0);
  // A point says what share of values are at most its value.
  for (size_t i : {size_t{0}, full.size() / 3, full.size() / 2}) {
    auto at_most =
        std::count_if(values.begin(), values.end(), [&](uint64_t v) { return v <= full[i].value; });
    CHECK(full[i].fraction == Approx(static_cast<double>(at_most) / values.size()));
  }
  for (size_t max_points : {1, 7, 100, 400}) {
    std::vector<CdfPoint> thin = h.cdf(max_points);
    CHECK(thin.size() <= max_points);
    CHECK(thin.size() >= std::min<size_t>(max_points, 2) - 1);
    CHECK(thin.back().value == h.max());
    CHECK(thin.back().fraction == 1.0);
  }
  CHECK(h.cdf(100).size() >= 90);
}
