// Ownership diffs, checked against brute force: a position is in a listed range iff its
// replica sets differ between the two rings.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "raft/random.hpp"
#include "ring/ownership_diff.hpp"
#include "ring/ring.hpp"

using namespace tally::ring;

namespace {

Ring build(const std::vector<NodeTokens>& nodes) {
  auto r = Ring::build(nodes);
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::set<NodeId> as_set(const PreferenceList& l) { return {l.begin(), l.end()}; }

// A ring of random nodes and tokens; tokens are drawn from a small range so that rings
// share and straddle each other's tokens.
std::vector<NodeTokens> random_nodes(tally::SplitMix64& rng, int zones) {
  std::vector<NodeTokens> nodes;
  const int count = static_cast<int>(rng.next() % 8);
  std::set<uint64_t> used;
  for (int i = 0; i < count; ++i) {
    NodeTokens n{static_cast<NodeId>(1 + rng.next() % 12), "z" + std::to_string(rng.next() % zones), {}};
    if (std::any_of(nodes.begin(), nodes.end(), [&](const NodeTokens& m) { return m.id == n.id; }))
      continue;
    for (int t = 0; t < 1 + static_cast<int>(rng.next() % 5); ++t) {
      uint64_t token = rng.next() % 1000 * (uint64_t{1} << 54);  // coarse grid, wraps past 0
      if (used.insert(token).second) n.tokens.push_back(token);
    }
    if (!n.tokens.empty()) nodes.push_back(n);
  }
  return nodes;
}

// Brute force: which changes contain p (must be at most one), and do they agree with
// the preference lists of the two rings at p?
void check_position(const Ring& a, const Ring& b, const std::vector<RangeChange>& diff, uint64_t p,
                    int n) {
  const PreferenceList was = a.preference_list(p, n), now = b.preference_list(p, n);
  const RangeChange* hit = nullptr;
  for (const RangeChange& c : diff) {
    if (c.range.contains(p)) {
      REQUIRE(hit == nullptr);  // ranges do not overlap
      hit = &c;
    }
  }
  INFO("position " << p << ", n " << n);
  REQUIRE((hit != nullptr) == (as_set(was) != as_set(now)));
  if (hit == nullptr) return;
  REQUIRE(as_set(hit->before) == as_set(was));
  REQUIRE(as_set(hit->after) == as_set(now));
  std::set<NodeId> lost, gained;
  for (NodeId x : was) {
    if (!now.contains(x)) lost.insert(x);
  }
  for (NodeId x : now) {
    if (!was.contains(x)) gained.insert(x);
  }
  REQUIRE(as_set(hit->lost) == lost);
  REQUIRE(as_set(hit->gained) == gained);
}

}  // namespace

TEST_CASE("ownership diff lists exactly the positions whose replica sets differ (brute force)",
          "[ring][diff]") {
  tally::SplitMix64 rng(31);
  for (int trial = 0; trial < 400; ++trial) {
    const int zones = 1 + trial % 4;
    auto before_nodes = random_nodes(rng, zones);
    // Half the time the second ring is the first one edited (a join, a leave, a token
    // moved), otherwise an unrelated ring.
    auto after_nodes = before_nodes;
    if (trial % 2 == 0 && !after_nodes.empty()) {
      after_nodes.erase(after_nodes.begin() + rng.next() % after_nodes.size());
    } else if (trial % 4 == 1) {
      after_nodes = random_nodes(rng, zones);
    }
    if (trial % 3 == 0) {
      NodeTokens extra{50, "z" + std::to_string(rng.next() % (zones + 1)), {rng.next()}};
      after_nodes.push_back(extra);
    }
    Ring a = build(before_nodes), b = build(after_nodes);
    std::vector<uint64_t> probes;
    for (const Ring* r : {&a, &b}) {
      for (uint64_t t : r->tokens()) {
        probes.insert(probes.end(), {t - 1, t, t + 1});
      }
    }
    for (int i = 0; i < 200; ++i) probes.push_back(rng.next());
    probes.insert(probes.end(), {0, ~uint64_t{0}});
    for (int n = 1; n <= 4; ++n) {
      auto diff = ownership_diff(a, b, n);
      REQUIRE(diff.ok());
      for (uint64_t p : probes) check_position(a, b, *diff, p, n);
      // Maximal: consecutive listed ranges that touch (the last and the first too)
      // differ in their sets.
      for (size_t i = 0; diff->size() >= 2 && i < diff->size(); ++i) {
        const RangeChange &x = (*diff)[i], &y = (*diff)[(i + 1) % diff->size()];
        if (x.range.end == y.range.start) {
          REQUIRE((as_set(x.before) != as_set(y.before) || as_set(x.after) != as_set(y.after)));
        }
      }
    }
  }
}

TEST_CASE("ownership diff of a ring with itself is empty", "[ring][diff]") {
  tally::SplitMix64 rng(32);
  Ring a = build({{1, "a", {rng.next(), rng.next()}}, {2, "b", {rng.next()}}, {3, "a", {rng.next(), rng.next()}}});
  for (int n = 1; n <= 4; ++n) CHECK(ownership_diff(a, a, n)->empty());
}

TEST_CASE("ownership diff from the empty ring gains the whole ring in one range", "[ring][diff]") {
  Ring a = build({{1, "a", {100, 200}}, {2, "a", {300}}});
  auto diff = ownership_diff(Ring(), a, 3);
  REQUIRE(diff.ok());
  REQUIRE(diff->size() == 1);
  const RangeChange& c = (*diff)[0];
  CHECK(c.range.start == c.range.end);  // the whole ring
  CHECK(c.before.empty());
  CHECK(as_set(c.gained) == std::set<NodeId>{1, 2});
  auto back = ownership_diff(a, Ring(), 3);
  REQUIRE(back->size() == 1);
  CHECK(as_set((*back)[0].lost) == std::set<NodeId>{1, 2});
}

TEST_CASE("ownership diff merges a change that runs through position 0 into one range",
          "[ring][diff]") {
  // Node 3 joins with tokens either side of 0. Its token max - 50 cuts the range
  // (max - 100, 50] that it takes over into two pieces, one each side of the list's
  // start; they are one change.
  const uint64_t max = ~uint64_t{0};
  Ring a = build({{1, "a", {max - 100}}, {2, "a", {1000}}, {4, "a", {5000}}});
  Ring b =
      build({{1, "a", {max - 100}}, {2, "a", {1000}}, {4, "a", {5000}}, {3, "a", {max - 50, 50}}});
  auto diff = ownership_diff(a, b, 1);
  REQUIRE(diff.ok());
  REQUIRE(diff->size() == 1);
  CHECK((*diff)[0].range == TokenRange{max - 100, 50});
  CHECK((*diff)[0].lost[0] == 2);
  CHECK((*diff)[0].gained[0] == 3);
}

TEST_CASE("ownership diff rejects a replication factor out of range", "[ring][diff]") {
  CHECK(ownership_diff(Ring(), Ring(), 0).status().code() == tally::Code::kInvalidArgument);
  CHECK(ownership_diff(Ring(), Ring(), kMaxReplicas + 1).status().code() ==
        tally::Code::kInvalidArgument);
}
