// sync(): the three semilattice laws on random reachable states, and the read
// merge / read repair decisions built on it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"
#include "tests/unit/dvv_history.hpp"

namespace tally::quorum {
namespace {

// States sampled along a few random histories of 3 replicas and 20 clients. Only
// states of one history are ever synced together: two separate histories mint
// the same dots for different writes, which no real cluster does.
std::vector<std::vector<DvvSet>> sample_states(uint64_t seed) {
  std::vector<std::vector<DvvSet>> pools;
  for (uint64_t h = 0; h < 4; ++h) {
    test::RandomHistory history(seed + h, {11, 22, 33}, 20);
    SplitMix64 pick(seed ^ (h << 32));
    std::vector<DvvSet> pool{DvvSet{}};
    for (int i = 0; i < 400; ++i) {
      history.step();
      if (i % 5 == 0) pool.push_back(history.replicas()[pick.uniform(3)].state);
    }
    pools.push_back(std::move(pool));
  }
  return pools;
}

TEST_CASE("sync is commutative, associative and idempotent on reachable states", "[dvv][sync]") {
  const auto pools = sample_states(0x5eed);
  SplitMix64 rng(42);
  size_t with_siblings = 0;  // states with 2+ concurrent siblings
  size_t diverged = 0;       // pairs whose merge differs from both inputs
  for (const auto& pool : pools) {
    for (const DvvSet& a : pool) {
      REQUIRE(validate(a).ok());
      CHECK(sync(a, a) == a);  // idempotent
      with_siblings += a.siblings.size() >= 2;
      for (const DvvSet& b : pool) {
        const DvvSet ab = sync(a, b);
        REQUIRE(ab == sync(b, a));  // commutative
        REQUIRE(validate(ab).ok());
        diverged += !(ab == a) && !(ab == b);
      }
    }
    for (int i = 0; i < 5000; ++i) {
      const DvvSet& a = pool[rng.uniform(pool.size())];
      const DvvSet& b = pool[rng.uniform(pool.size())];
      const DvvSet& c = pool[rng.uniform(pool.size())];
      REQUIRE(sync(sync(a, b), c) == sync(a, sync(b, c)));  // associative
    }
  }
  // The laws were exercised on concurrent states, not only on ordered ones.
  CHECK(with_siblings > 20);
  CHECK(diverged > 100);
}

TEST_CASE("sync keeps a sibling the other side has not seen and drops one it superseded",
          "[dvv][sync]") {
  const DvvSet base = *update({}, {}, ClientWrite::Put("x", {}), 1);
  // Replica 2 received x, then a write that saw x replaced it.
  const DvvSet replaced = *update(base, join(base), ClientWrite::Put("x2", {}), 2);
  // Replica 3 got a concurrent write that never saw x.
  const DvvSet concurrent = *update({}, {}, ClientWrite::Put("z", {}), 3);

  CHECK(values(sync(base, replaced)) == std::vector<std::string>{"x2"});
  CHECK(values(sync(base, concurrent)) == std::vector<std::string>{"x", "z"});
  CHECK(values(sync(sync(base, concurrent), replaced)) == std::vector<std::string>{"x2", "z"});
  CHECK(sync(base, concurrent).clock == VersionVector{{{1, 1}, {3, 1}}});
}

TEST_CASE("sync_all of the replies is the fold of sync, and empty for no replies", "[dvv][sync]") {
  const DvvSet a = *update({}, {}, ClientWrite::Put("a", {}), 1);
  const DvvSet b = *update(a, join(a), ClientWrite::Put("b", {}), 2);
  const DvvSet c = *update({}, {}, ClientWrite::Put("c", {}), 3);
  const std::vector<DvvSet> replies{a, b, c};
  CHECK(sync_all(replies) == sync(sync(a, b), c));
  CHECK(values(sync_all(replies)) == std::vector<std::string>{"b", "c"});
  CHECK(sync_all({}) == DvvSet{});
}

TEST_CASE("needs_repair is true exactly for the replies that miss part of the merge",
          "[dvv][sync]") {
  const DvvSet old = *update({}, {}, ClientWrite::Put("old", {}), 1);
  const DvvSet newer = *update(old, join(old), ClientWrite::Put("new", {}), 1);
  const DvvSet other = *update({}, {}, ClientWrite::Put("other", {}), 2);
  const DvvSet empty;

  // Two replicas current, one behind by a superseded value, one that never got
  // the key: the last two need the merge.
  const DvvSet merged = sync_all(std::vector<DvvSet>{newer, newer, old, empty});
  CHECK_FALSE(needs_repair(newer, merged));
  CHECK(needs_repair(old, merged));
  CHECK(needs_repair(empty, merged));

  // A reply holding a concurrent sibling nobody else has: the others need it,
  // and it needs theirs.
  const DvvSet merged2 = sync_all(std::vector<DvvSet>{newer, other});
  CHECK(needs_repair(newer, merged2));
  CHECK(needs_repair(other, merged2));
  CHECK_FALSE(needs_repair(merged2, merged2));
  // A reply above the merge (it saw a later write) needs nothing from it.
  const DvvSet ahead = *update(merged2, join(merged2), ClientWrite::Put("later", {}), 2);
  CHECK_FALSE(needs_repair(ahead, merged2));
}

}  // namespace
}  // namespace tally::quorum
