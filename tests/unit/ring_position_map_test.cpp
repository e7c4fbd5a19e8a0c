// PositionMap: the step function over ring positions the mint epochs are kept
// in. Checked against a brute-force model on a small set of probe positions
// (every breakpoint and its neighbours), across random wrapping ranges.
#include "ring/position_map.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace tally::ring {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST_CASE("position map: every position maps to 0 until a range is assigned", "[ring][position_map]") {
  PositionMap m;
  CHECK(m.at(0) == 0);
  CHECK(m.at(kMax) == 0);
  CHECK(m.max() == 0);
  CHECK(m.breakpoints() == std::vector<std::pair<uint64_t, uint32_t>>{{0, 0}});
}

TEST_CASE("position map: a range holds its end and not its start", "[ring][position_map]") {
  PositionMap m;
  m.assign(TokenRange{100, 200}, 7);
  CHECK(m.at(100) == 0);
  CHECK(m.at(101) == 7);
  CHECK(m.at(200) == 7);
  CHECK(m.at(201) == 0);
  CHECK(m.max() == 7);
}

TEST_CASE("position map: a wrapping range covers the end of the ring and 0", "[ring][position_map]") {
  PositionMap m;
  m.assign(TokenRange{kMax - 10, 5}, 3);
  CHECK(m.at(kMax - 10) == 0);
  CHECK(m.at(kMax - 9) == 3);
  CHECK(m.at(kMax) == 3);
  CHECK(m.at(0) == 3);
  CHECK(m.at(5) == 3);
  CHECK(m.at(6) == 0);
  // (2^64-1, 5]: only 0..5, the range that starts at the last position.
  PositionMap n;
  n.assign(TokenRange{kMax, 5}, 4);
  CHECK(n.at(kMax) == 0);
  CHECK(n.at(0) == 4);
  CHECK(n.at(5) == 4);
}

TEST_CASE("position map: start == end is the whole ring, and a later value replaces an earlier one",
          "[ring][position_map]") {
  PositionMap m;
  m.assign(TokenRange{10, 20}, 1);
  m.assign(TokenRange{42, 42}, 2);
  CHECK(m.breakpoints() == std::vector<std::pair<uint64_t, uint32_t>>{{0, 2}});
  m.assign(TokenRange{15, 30}, 3);
  CHECK(m.at(15) == 2);
  CHECK(m.at(16) == 3);
  CHECK(m.at(30) == 3);
  CHECK(m.at(31) == 2);
}

TEST_CASE("position map: neighbours with one value are merged, and breakpoints round-trip",
          "[ring][position_map]") {
  PositionMap m;
  m.assign(TokenRange{100, 200}, 5);
  m.assign(TokenRange{200, 300}, 5);
  CHECK(m.breakpoints() == std::vector<std::pair<uint64_t, uint32_t>>{{0, 0}, {101, 5}, {301, 0}});
  m.assign(TokenRange{0, 100}, 5);
  CHECK(m.breakpoints() == std::vector<std::pair<uint64_t, uint32_t>>{{0, 0}, {1, 5}, {301, 0}});
  PositionMap back;
  REQUIRE(PositionMap::from_breakpoints(m.breakpoints(), &back));
  CHECK(back == m);
  // Not from 0, out of order, or repeating a value: refused.
  CHECK_FALSE(PositionMap::from_breakpoints({}, &back));
  CHECK_FALSE(PositionMap::from_breakpoints({{1, 0}}, &back));
  CHECK_FALSE(PositionMap::from_breakpoints({{0, 0}, {5, 1}, {3, 2}}, &back));
  CHECK_FALSE(PositionMap::from_breakpoints({{0, 1}, {5, 1}}, &back));
  CHECK(back == m);  // untouched by the refusals
}

TEST_CASE("position map: agrees with a brute-force model through random wrapping assignments",
          "[ring][position_map]") {
  std::mt19937_64 rng(20261207);
  for (int round = 0; round < 200; ++round) {
    // Tokens drawn from a few values near 0, near the end and in between, so
    // ranges often touch, nest and wrap.
    std::vector<uint64_t> tokens{0, 1, 2, 50, 51, 100, kMax / 2, kMax / 2 + 1, kMax - 2, kMax - 1, kMax};
    auto token = [&] { return tokens[rng() % tokens.size()]; };
    PositionMap m;
    std::vector<std::pair<TokenRange, uint32_t>> history;
    for (int i = 0; i < 12; ++i) {
      TokenRange r{token(), token()};
      const uint32_t v = static_cast<uint32_t>(rng() % 4);
      m.assign(r, v);
      history.emplace_back(r, v);
    }
    std::vector<uint64_t> probes;
    for (uint64_t t : tokens) {
      for (uint64_t d : {uint64_t{0}, uint64_t{1}, kMax}) probes.push_back(t + d);  // t, t+1, t-1 (wrapping)
    }
    for (uint64_t p : probes) {
      uint32_t want = 0;
      for (const auto& [r, v] : history) {
        if (r.contains(p)) want = v;
      }
      INFO("round " << round << ", position " << p);
      CHECK(m.at(p) == want);
    }
    // Stored form: from 0, increasing, neighbours differ.
    const auto points = m.breakpoints();
    PositionMap back;
    REQUIRE(PositionMap::from_breakpoints(points, &back));
    CHECK(back == m);
  }
}

}  // namespace
}  // namespace tally::ring
