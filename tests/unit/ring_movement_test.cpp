// Data moves only towards a joining node and only away from a leaving one, for the
// placement rule itself (random tokens, any zones), as ring/placement.hpp argues.
#include <catch2/catch.hpp>
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

std::vector<NodeTokens> random_nodes(tally::SplitMix64& rng, int count, int zones, int tokens) {
  std::vector<NodeTokens> nodes;
  for (int i = 0; i < count; ++i) {
    NodeTokens n{static_cast<NodeId>(i + 1), "z" + std::to_string(rng.next() % zones), {}};
    for (int t = 0; t < tokens; ++t) n.tokens.push_back(rng.next());
    nodes.push_back(n);
  }
  return nodes;
}

}  // namespace

TEST_CASE("a joining node only takes replicas: every changed range gains it and loses one node",
          "[ring][movement]") {
  tally::SplitMix64 rng(21);
  for (int trial = 0; trial < 300; ++trial) {
    const int zones = 1 + trial % 5;
    auto nodes = random_nodes(rng, 1 + static_cast<int>(rng.next() % 10), zones, 1 + trial % 6);
    Ring before = build(nodes);
    // The newcomer's zone is an existing one or, one time in three, a new one.
    const std::string zone = trial % 3 == 0 ? "new" : "z" + std::to_string(rng.next() % zones);
    NodeTokens joining{100, zone, {}};
    for (int t = 0; t < 1 + trial % 6; ++t) joining.tokens.push_back(rng.next());
    nodes.push_back(joining);
    Ring after = build(nodes);
    for (int n = 1; n <= 5; ++n) {
      INFO("trial " << trial << ", zones " << before.zone_count() << " -> " << after.zone_count()
                    << ", nodes " << before.node_count() << ", n " << n);
      auto diff = ownership_diff(before, after, n);
      REQUIRE(diff.ok());
      REQUIRE_FALSE(diff->empty());  // a membership change always moves something
      for (const RangeChange& c : *diff) {
        REQUIRE(c.gained.size() == 1);
        REQUIRE(c.gained[0] == 100);
        // Only when the ring had fewer than n nodes does nobody give the range up.
        REQUIRE(c.lost.size() == (before.node_count() >= n ? 1 : 0));
      }
    }
  }
}

TEST_CASE("a leaving node only gives replicas away: every changed range loses it, gains one",
          "[ring][movement]") {
  tally::SplitMix64 rng(22);
  for (int trial = 0; trial < 300; ++trial) {
    const int zones = 1 + trial % 5;
    auto nodes = random_nodes(rng, 2 + static_cast<int>(rng.next() % 10), zones, 1 + trial % 6);
    Ring before = build(nodes);
    const NodeId gone = nodes[rng.next() % nodes.size()].id;
    std::vector<NodeTokens> rest;
    for (const NodeTokens& n : nodes) {
      if (n.id != gone) rest.push_back(n);
    }
    Ring after = build(rest);
    for (int n = 1; n <= 5; ++n) {
      INFO("trial " << trial << ", zones " << before.zone_count() << " -> " << after.zone_count()
                    << ", nodes " << before.node_count() << ", n " << n);
      auto diff = ownership_diff(before, after, n);
      REQUIRE(diff.ok());
      REQUIRE_FALSE(diff->empty());  // a membership change always moves something
      for (const RangeChange& c : *diff) {
        REQUIRE(c.lost.size() == 1);
        REQUIRE(c.lost[0] == gone);
        REQUIRE(c.gained.size() == (after.node_count() >= n ? 1 : 0));
      }
    }
  }
}
