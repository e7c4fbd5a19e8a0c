// Last-writer-wins: the highest HLC tag is kept, everything else is dropped.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"
#include "tests/unit/dvv_history.hpp"

namespace tally::quorum {
namespace {

using Values = std::vector<std::string>;

HlcTimestamp tag(uint64_t ms, uint32_t logical, ReplicaId node) { return {ms, logical, node}; }

DvvSet lww_put(const DvvSet& s, const std::string& v, HlcTimestamp ts, ReplicaId r) {
  Result<DvvSet> next = lww_update(s, ClientWrite::Put(v, ts), r);
  REQUIRE(next.ok());
  return *next;
}

TEST_CASE("lww keeps only the write with the highest tag, in any arrival order", "[dvv][lww]") {
  DvvSet s = lww_put({}, "old", tag(100, 0, 1), 1);
  s = lww_put(s, "new", tag(200, 0, 2), 1);
  CHECK(values(s) == Values{"new"});
  // A write that arrives late with a lower tag loses (and is lost).
  s = lww_put(s, "late", tag(150, 0, 3), 1);
  CHECK(values(s) == Values{"new"});
  // The coordinator still counted it: the clock moved.
  CHECK(s.clock.get(1) == 3);
}

TEST_CASE("lww breaks equal wall times by the logical counter, then the node id", "[dvv][lww]") {
  DvvSet s = lww_put({}, "a", tag(100, 1, 1), 1);
  s = lww_put(s, "b", tag(100, 0, 9), 1);
  CHECK(values(s) == Values{"a"});
  s = lww_put(s, "c", tag(100, 1, 2), 1);
  CHECK(values(s) == Values{"c"});
}

TEST_CASE("lww loses one of two concurrent writes: the documented trade-off", "[dvv][lww]") {
  const DvvSet on_a = lww_put({}, "from-a", tag(100, 0, 1), 1);
  const DvvSet on_b = lww_put({}, "from-b", tag(100, 0, 2), 2);
  CHECK(values(lww_sync(on_a, on_b)) == Values{"from-b"});
  // In siblings mode the same two writes are both kept.
  CHECK(values(sync(on_a, on_b)).size() == 2);
}

TEST_CASE("an lww delete with the highest tag wins over older values", "[dvv][lww]") {
  DvvSet s = lww_put({}, "x", tag(100, 0, 1), 1);
  Result<DvvSet> deleted = lww_update(s, ClientWrite::Delete(tag(101, 0, 1)), 1);
  REQUIRE(deleted.ok());
  CHECK(only_tombstones(*deleted));
  CHECK(only_tombstones(lww_sync(s, *deleted)));
}

TEST_CASE("lww_resolve keeps the highest-tag sibling of a siblings-mode state", "[dvv][lww]") {
  DvvSet s = *update({}, {}, ClientWrite::Put("mid", tag(150, 0, 1)), 1);
  s = *update(s, {}, ClientWrite::Put("high", tag(300, 0, 1)), 1);
  s = *update(s, {}, ClientWrite::Put("low", tag(100, 0, 1)), 1);
  const DvvSet r = lww_resolve(s);
  CHECK(values(r) == Values{"high"});
  CHECK(r.clock == s.clock);
  CHECK(lww_resolve(DvvSet{}).siblings.empty());
}

TEST_CASE("lww_sync is commutative, associative and idempotent on lww states", "[dvv][lww]") {
  SplitMix64 rng(7);
  std::vector<DvvSet> replicas(3);
  std::vector<DvvSet> pool{DvvSet{}};
  HlcTimestamp highest;
  for (int i = 0; i < 600; ++i) {
    const size_t r = rng.uniform(3);
    if (rng.chance(50, 100)) {
      // Tags collide on the wall time often, so the tie-breaks are exercised.
      const HlcTimestamp ts = tag(rng.uniform(20), rng.uniform(3), r + 1);
      highest = std::max(highest, ts);
      replicas[r] = lww_put(replicas[r], "v" + std::to_string(i), ts, r + 1);
    } else {
      replicas[r] = lww_sync(replicas[r], replicas[rng.uniform(3)]);
    }
    if (i % 6 == 0) pool.push_back(replicas[r]);
  }
  for (const DvvSet& a : pool) {
    CHECK(lww_sync(a, a) == a);
    for (const DvvSet& b : pool) REQUIRE(lww_sync(a, b) == lww_sync(b, a));
  }
  for (int i = 0; i < 3000; ++i) {
    const DvvSet& a = pool[rng.uniform(pool.size())];
    const DvvSet& b = pool[rng.uniform(pool.size())];
    const DvvSet& c = pool[rng.uniform(pool.size())];
    REQUIRE(lww_sync(lww_sync(a, b), c) == lww_sync(a, lww_sync(b, c)));
  }
  // The merge of every replica holds the highest tag ever written.
  const DvvSet all = lww_sync_all(replicas);
  REQUIRE(all.siblings.size() == 1);
  CHECK(all.siblings[0].timestamp == highest);
}

TEST_CASE("lww_needs_repair flags the replicas behind the merge", "[dvv][lww]") {
  const DvvSet old = lww_put({}, "old", tag(100, 0, 1), 1);
  const DvvSet current = lww_put(old, "new", tag(200, 0, 1), 1);
  const DvvSet merged = lww_sync_all(std::vector<DvvSet>{old, current, DvvSet{}});
  CHECK(values(merged) == Values{"new"});
  CHECK(lww_needs_repair(old, merged));
  CHECK(lww_needs_repair(DvvSet{}, merged));
  CHECK_FALSE(lww_needs_repair(current, merged));
}

}  // namespace
}  // namespace tally::quorum
