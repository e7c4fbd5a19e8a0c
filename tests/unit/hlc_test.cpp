// HybridClock: the send and receive rules of Kulkarni et al. (2014), monotonic
// under a physical clock that steps back, and the max-offset guard.
#include "quorum/hlc.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

#include "tests/unit/dvv_history.hpp"

namespace tally::quorum {
namespace {

TEST_CASE("now follows physical time when it moves forward", "[hlc]") {
  HybridClock clock(3);
  CHECK(clock.now(1000) == HlcTimestamp{1000, 0, 3});
  CHECK(clock.now(1005) == HlcTimestamp{1005, 0, 3});
  // Within one millisecond the logical counter orders events.
  CHECK(clock.now(1005) == HlcTimestamp{1005, 1, 3});
  CHECK(clock.now(1006) == HlcTimestamp{1006, 0, 3});
}

TEST_CASE("now never goes backwards when the physical clock does", "[hlc]") {
  HybridClock clock(1);
  const HlcTimestamp t1 = clock.now(5000);
  const HlcTimestamp t2 = clock.now(4000);  // NTP stepped the clock back a second
  const HlcTimestamp t3 = clock.now(4001);
  CHECK(t1 < t2);
  CHECK(t2 < t3);
  CHECK(t3 == HlcTimestamp{5000, 2, 1});  // l holds at the largest time seen
  CHECK(clock.now(5001) == HlcTimestamp{5001, 0, 1});
}

TEST_CASE("tags are strictly increasing under random physical times and receives", "[hlc]") {
  SplitMix64 rng(2024);
  HybridClock clock(1, 1000);
  HlcTimestamp prev = clock.last();
  uint64_t physical = 1'000'000;
  uint64_t highest_physical = physical;
  for (int i = 0; i < 20000; ++i) {
    // The physical clock jitters, mostly forward, sometimes back.
    physical = physical + rng.uniform(5) - (rng.chance(20, 100) ? rng.uniform(40) : 0);
    highest_physical = std::max(highest_physical, physical);
    HlcTimestamp next;
    if (rng.chance(30, 100)) {
      const HlcTimestamp received{physical + rng.uniform(900) - 400,
                                  static_cast<uint32_t>(rng.uniform(5)), 2};
      Result<HlcTimestamp> r = clock.update(received, physical);
      REQUIRE(r.ok());
      REQUIRE(received < *r);
      next = *r;
    } else {
      next = clock.now(physical);
    }
    REQUIRE(prev < next);
    // Close to physical time: never ahead of the largest physical time seen by
    // more than the largest offset received (499 ms here).
    REQUIRE(next.wall_ms <= highest_physical + 499);
    prev = next;
  }
}

TEST_CASE("a receive orders after both the local clock and the received tag", "[hlc]") {
  SECTION("received tag ahead: continue from its logical counter") {
    HybridClock clock(1);
    clock.now(100);
    Result<HlcTimestamp> t = clock.update({150, 4, 2}, 120);
    REQUIRE(t.ok());
    CHECK(*t == HlcTimestamp{150, 5, 1});
  }
  SECTION("equal l on both sides: one more than the larger counter") {
    HybridClock clock(1);
    clock.now(200);
    clock.now(200);  // (200, 1)
    CHECK(*clock.update({200, 7, 2}, 150) == HlcTimestamp{200, 8, 1});
    CHECK(*clock.update({200, 0, 2}, 150) == HlcTimestamp{200, 9, 1});
  }
  SECTION("local l ahead of the message: count on locally") {
    HybridClock clock(1);
    clock.now(300);
    CHECK(*clock.update({250, 9, 2}, 100) == HlcTimestamp{300, 1, 1});
  }
  SECTION("physical time ahead of both: reset the counter") {
    HybridClock clock(1);
    clock.now(300);
    CHECK(*clock.update({250, 9, 2}, 400) == HlcTimestamp{400, 0, 1});
  }
}

TEST_CASE("a received tag further ahead than max_offset_ms is refused and changes nothing",
          "[hlc]") {
  HybridClock clock(1, 500);
  clock.now(10'000);
  const HlcTimestamp before = clock.last();
  Result<HlcTimestamp> far = clock.update({10'501, 0, 7}, 10'000);
  REQUIRE_FALSE(far.ok());
  CHECK(far.status().code() == Code::kInvalidArgument);
  CHECK_THAT(far.status().message(), Catch::Contains("501 ms ahead"));
  CHECK_THAT(far.status().message(), Catch::Contains("node 7"));
  CHECK(clock.last() == before);
  // Exactly at the bound is accepted.
  Result<HlcTimestamp> edge = clock.update({10'500, 0, 7}, 10'000);
  REQUIRE(edge.ok());
  CHECK(edge->wall_ms == 10'500);
  // A tag far in the past is never a problem.
  CHECK(clock.update({1, 0, 7}, 10'000).ok());
}

TEST_CASE("a logical counter at its limit moves the wall component instead of wrapping", "[hlc]") {
  HybridClock clock(1);
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  Result<HlcTimestamp> t = clock.update({1000, kMax, 2}, 1000);
  REQUIRE(t.ok());
  CHECK(*t == HlcTimestamp{1001, 0, 1});
  CHECK(HlcTimestamp{1000, kMax, 2} < *t);
  CHECK(clock.now(1000) == HlcTimestamp{1001, 1, 1});
}

}  // namespace
}  // namespace tally::quorum
