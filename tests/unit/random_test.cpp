// SplitMix64 (raft/random.hpp), the one seeded generator: the published
// sequence for a seed, so that a seed replays the same run everywhere, and the
// ranges and odds of its helpers.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "raft/random.hpp"

namespace tally {
namespace {

TEST_CASE("random: SplitMix64 gives the reference sequence, and the same one for the same seed", "[random]") {
  // The first outputs for seed 0 of Steele, Lea and Flood's reference code.
  SplitMix64 zero(0);
  CHECK(zero.next() == 0xe220a8397b1dcdafULL);
  CHECK(zero.next() == 0x6e789e6aa1b965f4ULL);
  CHECK(zero.next() == 0x06c45d188009454fULL);
  SplitMix64 a(42), b(42);
  for (int i = 0; i < 100; ++i) REQUIRE(a.next() == b.next());
}

TEST_CASE("random: uniform() and between() stay in range and spread evenly", "[random]") {
  SplitMix64 r(7);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 7000; ++i) {
    uint64_t v = r.uniform(7);
    REQUIRE(v < 7);
    ++counts[v];
  }
  for (int c : counts) CHECK((c > 800 && c < 1200));
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 5000; ++i) {
    uint64_t v = r.between(10, 14);
    REQUIRE((v >= 10 && v <= 14));
    ++seen[v - 10];
  }
  for (int c : seen) CHECK((c > 800 && c < 1200));
  CHECK(r.between(3, 3) == 3);
}

TEST_CASE("random: fraction() is in [0, 1) and chance() keeps its odds", "[random]") {
  SplitMix64 r(11);
  int hits_int = 0, hits_double = 0;
  double sum = 0;
  for (int i = 0; i < 100'000; ++i) {
    double f = r.fraction();
    REQUIRE((f >= 0 && f < 1));
    sum += f;
    hits_int += r.chance(30, 100);
    hits_double += r.chance(0.3);
  }
  CHECK(sum / 100'000 == Approx(0.5).margin(0.01));
  CHECK(hits_int / 100'000.0 == Approx(0.3).margin(0.01));
  CHECK(hits_double / 100'000.0 == Approx(0.3).margin(0.01));
  SplitMix64 never(1);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(never.chance(0.0));
    REQUIRE_FALSE(never.chance(0, 5));
  }
}

}  // namespace
}  // namespace tally
