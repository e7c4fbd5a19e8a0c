// Preference lists: the placement rule, zone spread, and sloppy lists with fallbacks.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/random.hpp"
#include "ring/ring.hpp"

using namespace tally::ring;

namespace {

// Nodes 1..count with random tokens, node i in zone "z<i % zones>".
std::vector<NodeTokens> random_nodes(tally::SplitMix64& rng, int count, int zones, int tokens) {
  std::vector<NodeTokens> nodes;
  for (int i = 0; i < count; ++i) {
    NodeTokens n{static_cast<NodeId>(i + 1), "z" + std::to_string(i % zones), {}};
    for (int t = 0; t < tokens; ++t) n.tokens.push_back(rng.next());
    nodes.push_back(n);
  }
  return nodes;
}

Ring build(const std::vector<NodeTokens>& nodes) {
  auto r = Ring::build(nodes);
  REQUIRE(r.ok());
  return std::move(r).value();
}

// The placement rule as docs/ring.md states it, computed independently of the ring's
// walk: list the distinct nodes in clockwise order from the position; with Z zones,
// take the first node of each of the first min(N, Z) zones met, plus (when Z < N) the
// first N - Z other nodes met; report them in clockwise order.
std::vector<NodeId> reference_list(const std::vector<NodeTokens>& nodes, uint64_t pos, int n) {
  std::vector<std::pair<uint64_t, size_t>> all;
  std::set<std::string> zones;
  for (size_t i = 0; i < nodes.size(); ++i) {
    zones.insert(nodes[i].zone);
    for (uint64_t t : nodes[i].tokens) all.emplace_back(t, i);
  }
  std::sort(all.begin(), all.end());
  size_t start =
      std::lower_bound(all.begin(), all.end(), std::make_pair(pos, size_t{0})) - all.begin();
  std::vector<size_t> order;
  for (size_t k = 0; k < all.size(); ++k) {
    size_t node = all[(start + k) % all.size()].second;
    if (std::find(order.begin(), order.end(), node) == order.end()) order.push_back(node);
  }
  const int z = static_cast<int>(zones.size());
  std::set<std::string> seen;
  std::set<size_t> chosen;
  int zone_firsts = 0, others = 0;
  for (size_t node : order) {
    if (seen.insert(nodes[node].zone).second) {
      if (zone_firsts < std::min(n, z)) chosen.insert(node), ++zone_firsts;
    } else if (others < n - std::min(n, z)) {
      chosen.insert(node), ++others;
    }
  }
  std::vector<NodeId> out;
  for (size_t node : order) {
    if (chosen.count(node)) out.push_back(nodes[node].id);
  }
  return out;
}

std::vector<NodeId> to_vector(const PreferenceList& l) { return {l.begin(), l.end()}; }

std::set<std::string> zones_of(const Ring& ring, const PreferenceList& l) {
  std::set<std::string> zones;
  for (NodeId id : l) zones.insert(ring.find(id)->zone);
  return zones;
}

// Positions worth probing: every token, its neighbours, and random ones.
std::vector<uint64_t> probe_positions(const Ring& ring, tally::SplitMix64& rng, int random) {
  std::vector<uint64_t> out;
  for (uint64_t t : ring.tokens()) {
    out.push_back(t);
    out.push_back(t + 1);
    out.push_back(t - 1);
  }
  for (int i = 0; i < random; ++i) out.push_back(rng.next());
  return out;
}

}  // namespace

TEST_CASE("on a one-zone ring the preference list is the first N distinct nodes clockwise",
          "[ring]") {
  tally::SplitMix64 rng(1);
  for (int trial = 0; trial < 30; ++trial) {
    auto nodes = random_nodes(rng, 2 + trial % 9, 1, 1 + trial % 7);
    Ring ring = build(nodes);
    for (int n = 1; n <= 4; ++n) {
      for (uint64_t p : probe_positions(ring, rng, 50)) {
        auto got = to_vector(ring.preference_list(p, n));
        REQUIRE(got == reference_list(nodes, p, n));
        std::set<NodeId> distinct(got.begin(), got.end());
        REQUIRE(distinct.size() == got.size());
        REQUIRE(static_cast<int>(got.size()) == std::min(n, ring.node_count()));
      }
    }
  }
}

TEST_CASE("preference lists follow the zone placement rule on random zoned rings", "[ring]") {
  tally::SplitMix64 rng(2);
  for (int trial = 0; trial < 200; ++trial) {
    const int zones = 1 + trial % 6;
    auto nodes = random_nodes(rng, zones + static_cast<int>(rng.next() % 10), zones, 1 + trial % 5);
    Ring ring = build(nodes);
    for (int n = 1; n <= 6; ++n) {
      for (uint64_t p : probe_positions(ring, rng, 20)) {
        INFO("trial " << trial << " zones " << zones << " n " << n << " position " << p);
        REQUIRE(to_vector(ring.preference_list(p, n)) == reference_list(nodes, p, n));
      }
    }
  }
}

TEST_CASE("with 3 zones and N=3 every preference list spans 3 zones, even with unequal zones",
          "[ring]") {
  tally::SplitMix64 rng(3);
  // Zone sizes 1, 3 and 8: the walk must pass many tokens of the big zone.
  std::vector<NodeTokens> nodes;
  NodeId id = 1;
  for (auto [zone, count] : {std::pair{"a", 1}, std::pair{"b", 3}, std::pair{"c", 8}}) {
    for (int i = 0; i < count; ++i) {
      NodeTokens n{id++, zone, {}};
      for (int t = 0; t < 16; ++t) n.tokens.push_back(rng.next());
      nodes.push_back(n);
    }
  }
  Ring ring = build(nodes);
  for (const ReplicaRange& r : ring.replica_ranges(3)) {
    REQUIRE(r.replicas.size() == 3);
    REQUIRE(zones_of(ring, r.replicas).size() == 3);
  }
  for (uint64_t p : probe_positions(ring, rng, 20000)) {
    REQUIRE(zones_of(ring, ring.preference_list(p, 3)).size() == 3);
  }
}

TEST_CASE("with 2 zones and N=3 every preference list uses both zones", "[ring]") {
  tally::SplitMix64 rng(4);
  for (int big : {1, 4, 9}) {  // zone a has one node, zone b has `big`
    std::vector<NodeTokens> nodes = {{1, "a", {rng.next(), rng.next()}}};
    for (int i = 0; i < big; ++i)
      nodes.push_back({static_cast<NodeId>(i + 2), "b", {rng.next(), rng.next()}});
    Ring ring = build(nodes);
    for (uint64_t p : probe_positions(ring, rng, 5000)) {
      auto list = ring.preference_list(p, 3);
      REQUIRE(list.size() == std::min(3, ring.node_count()));
      REQUIRE(zones_of(ring, list).size() == 2);
      REQUIRE(list.contains(1));  // the lone node of zone a is in every list
    }
  }
}

TEST_CASE("with more zones than N the replicas are in N distinct zones", "[ring]") {
  tally::SplitMix64 rng(5);
  Ring ring = build(random_nodes(rng, 15, 5, 8));
  for (uint64_t p : probe_positions(ring, rng, 5000)) {
    auto list = ring.preference_list(p, 3);
    REQUIRE(list.size() == 3);
    REQUIRE(zones_of(ring, list).size() == 3);
  }
}

TEST_CASE("a ring with fewer nodes than N lists every node", "[ring]") {
  tally::SplitMix64 rng(6);
  Ring ring = build(random_nodes(rng, 2, 2, 4));
  for (uint64_t p : probe_positions(ring, rng, 100)) {
    auto list = ring.preference_list(p, 3);
    REQUIRE(list.size() == 2);
    REQUIRE(list.contains(1));
    REQUIRE(list.contains(2));
  }
}

namespace {

// Checks the invariants every sloppy list must keep, whatever is down.
void check_sloppy(const Ring& ring, uint64_t p, int n, const std::set<NodeId>& down) {
  auto up = [&](NodeId id) { return down.count(id) == 0; };
  SloppyPreferenceList s = ring.sloppy_preference_list(p, n, up);
  REQUIRE(s.primaries == ring.preference_list(p, n));
  std::set<NodeId> members, replaced;
  int up_primaries = 0;
  for (const SloppyReplica& r : s.replicas) {
    REQUIRE(up(r.node));                     // only up nodes take writes
    REQUIRE(members.insert(r.node).second);  // no node twice
    if (r.is_fallback()) {
      REQUIRE_FALSE(s.primaries.contains(r.node));       // a fallback is not a primary
      REQUIRE(s.primaries.contains(r.stands_in_for));    // it names the primary it replaces
      REQUIRE_FALSE(up(r.stands_in_for));                // which is down
      REQUIRE(replaced.insert(r.stands_in_for).second);  // one stand-in per primary
    } else {
      REQUIRE(s.primaries.contains(r.node));
      ++up_primaries;
    }
  }
  // Every up primary is kept, and down primaries are replaced as far as up nodes allow.
  int down_primaries = 0;
  for (NodeId id : s.primaries) down_primaries += up(id) ? 0 : 1;
  REQUIRE(up_primaries == s.primaries.size() - down_primaries);
  const int spare = ring.node_count() - static_cast<int>(down.size()) - up_primaries;
  REQUIRE(static_cast<int>(replaced.size()) == std::min(down_primaries, spare));
}

}  // namespace

TEST_CASE("sloppy list with every node up is the preference list, without fallbacks", "[ring]") {
  tally::SplitMix64 rng(7);
  Ring ring = build(random_nodes(rng, 8, 2, 8));
  for (uint64_t p : probe_positions(ring, rng, 200)) {
    auto s = ring.sloppy_preference_list(p, 3, [](NodeId) { return true; });
    REQUIRE(s.replicas.size() == 3);
    for (int i = 0; i < 3; ++i) REQUIRE(s.replicas[i] == SloppyReplica{s.primaries[i], kNoNode});
  }
}

TEST_CASE("sloppy list replaces each down primary by one up fallback that names it", "[ring]") {
  tally::SplitMix64 rng(8);
  for (int trial = 0; trial < 60; ++trial) {
    const int zones = 1 + trial % 4;
    Ring ring = build(random_nodes(rng, 3 + trial % 9, zones, 4));
    std::set<NodeId> down;
    for (int k = 0; k < 1 + trial % 4; ++k) down.insert(1 + rng.next() % ring.node_count());
    for (int n = 1; n <= 4; ++n) {
      for (uint64_t p : probe_positions(ring, rng, 30)) check_sloppy(ring, p, n, down);
    }
  }
}

TEST_CASE("sloppy fallback for a down node keeps the 3-zone spread when its zone has an up node",
          "[ring]") {
  tally::SplitMix64 rng(9);
  Ring ring = build(random_nodes(rng, 9, 3, 8));  // zones of 3 nodes each
  for (uint64_t p : probe_positions(ring, rng, 500)) {
    const NodeId victim = ring.preference_list(p, 3)[1];
    auto s = ring.sloppy_preference_list(p, 3, [&](NodeId id) { return id != victim; });
    REQUIRE(s.replicas.size() == 3);
    PreferenceList members;
    for (const SloppyReplica& r : s.replicas) members.push_back(r.node);
    REQUIRE(zones_of(ring, members).size() == 3);
    REQUIRE(s.replicas[1].stands_in_for == victim);
    REQUIRE(ring.find(s.replicas[1].node)->zone == ring.find(victim)->zone);
  }
}

TEST_CASE("sloppy list falls back to any up node when a whole zone is down", "[ring]") {
  tally::SplitMix64 rng(10);
  Ring ring = build(random_nodes(rng, 9, 3, 8));  // z0 = nodes 1, 4, 7
  auto up = [](NodeId id) { return id % 3 != 1; };
  for (uint64_t p : probe_positions(ring, rng, 500)) {
    auto s = ring.sloppy_preference_list(p, 3, up);
    REQUIRE(s.replicas.size() == 3);
    int fallbacks = 0;
    for (const SloppyReplica& r : s.replicas) {
      REQUIRE(up(r.node));
      fallbacks += r.is_fallback();
    }
    REQUIRE(fallbacks == 1);
  }
}

TEST_CASE("sloppy list is short when too few nodes are up to stand in", "[ring]") {
  tally::SplitMix64 rng(11);
  Ring ring = build(random_nodes(rng, 4, 1, 4));
  for (uint64_t p : probe_positions(ring, rng, 100)) {
    auto s = ring.sloppy_preference_list(p, 3, [](NodeId id) { return id == 2; });
    REQUIRE(s.replicas.size() == 1);
    REQUIRE(s.replicas[0].node == 2);
    auto none = ring.sloppy_preference_list(p, 3, [](NodeId) { return false; });
    REQUIRE(none.replicas.empty());
    REQUIRE(none.primaries.size() == 3);
  }
}
