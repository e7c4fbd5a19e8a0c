// update() on scripted histories: what a client of a siblings-mode keyspace sees.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

constexpr ReplicaId kA = 1;
constexpr ReplicaId kB = 2;

HlcTimestamp tag(uint64_t ms, ReplicaId node = kA) { return {ms, 0, node}; }

DvvSet put(const DvvSet& s, const VersionVector& ctx, const std::string& v, ReplicaId r) {
  Result<DvvSet> next = update(s, ctx, ClientWrite::Put(v, tag(1, r)), r);
  REQUIRE(next.ok());
  REQUIRE(validate(*next).ok());
  return *next;
}

using Values = std::vector<std::string>;

TEST_CASE("two writes without context become two siblings", "[dvv]") {
  DvvSet s = put({}, {}, "x", kA);
  s = put(s, {}, "y", kA);
  CHECK(values(s) == Values{"x", "y"});
  CHECK(s.siblings[0].dot == Dot{kA, 1});
  CHECK(s.siblings[1].dot == Dot{kA, 2});
  CHECK(join(s) == VersionVector{{{kA, 2}}});
}

TEST_CASE("a write with the context of a read replaces every sibling the read returned", "[dvv]") {
  DvvSet s = put({}, {}, "x", kA);
  s = put(s, {}, "y", kA);
  const VersionVector ctx = join(s);
  s = put(s, ctx, "merged", kA);
  CHECK(values(s) == Values{"merged"});
  CHECK(s.siblings[0].dot == Dot{kA, 3});
}

TEST_CASE("a stale context does not remove a sibling written after the read", "[dvv]") {
  DvvSet s = put({}, {}, "x", kA);
  const VersionVector stale = join(s);  // the client read {x}
  s = put(s, {}, "y", kA);              // someone else writes y meanwhile
  s = put(s, stale, "x2", kA);          // the client replaces what it saw: x only
  CHECK(values(s) == Values{"y", "x2"});
}

TEST_CASE("a context read on another replica supersedes what it saw there", "[dvv]") {
  // Replica B holds a value A has not received yet; the client read it from B.
  const DvvSet on_b = put({}, {}, "from-b", kB);
  DvvSet on_a = put({}, {}, "from-a", kA);
  on_a = put(on_a, join(on_b), "new", kA);
  // A kept its own concurrent value and learnt B's dot, so syncing B in later
  // removes from-b instead of resurrecting it.
  CHECK(values(on_a) == Values{"from-a", "new"});
  CHECK(on_a.clock.get(kB) == 1);
  CHECK(values(sync(on_a, on_b)) == Values{"from-a", "new"});
}

TEST_CASE("a delete supersedes what its context saw and leaves only a tombstone", "[dvv]") {
  DvvSet s = put({}, {}, "x", kA);
  s = put(s, {}, "y", kA);
  Result<DvvSet> deleted = update(s, join(s), ClientWrite::Delete(tag(2)), kA);
  REQUIRE(deleted.ok());
  CHECK(values(*deleted).empty());
  CHECK(only_tombstones(*deleted));
  REQUIRE(deleted->siblings.size() == 1);
  CHECK(deleted->siblings[0].tombstone);
  // A replica that still holds x learns of the delete through sync: x stays dead.
  CHECK(values(sync(s, *deleted)).empty());
}

TEST_CASE("a delete with a stale context keeps the concurrent write alive", "[dvv]") {
  DvvSet s = put({}, {}, "x", kA);
  const VersionVector ctx = join(s);
  s = put(s, {}, "y", kA);
  Result<DvvSet> deleted = update(s, ctx, ClientWrite::Delete(tag(2)), kA);
  REQUIRE(deleted.ok());
  CHECK(values(*deleted) == Values{"y"});
  CHECK_FALSE(only_tombstones(*deleted));
}

TEST_CASE("only_tombstones is false for a key never written", "[dvv]") {
  CHECK_FALSE(only_tombstones(DvvSet{}));
  CHECK(values(DvvSet{}).empty());
}

TEST_CASE("a malformed context is refused and names the problem", "[dvv]") {
  const DvvSet s = put({}, {}, "x", kA);
  Result<DvvSet> unsorted =
      update(s, VersionVector{{{kB, 1}, {kA, 1}}}, ClientWrite::Put("y", tag(1)), kA);
  CHECK(unsorted.status().code() == Code::kInvalidArgument);
  CHECK_THAT(unsorted.status().message(), Catch::Contains("sorted"));
  Result<DvvSet> zero = update(s, VersionVector{{{kA, 0}}}, ClientWrite::Put("y", tag(1)), kA);
  CHECK(zero.status().code() == Code::kInvalidArgument);
  Result<DvvSet> overflow =
      update(s, VersionVector{{{kA, UINT64_MAX}}}, ClientWrite::Put("y", tag(1)), kA);
  CHECK(overflow.status().code() == Code::kInvalidArgument);
  CHECK_THAT(overflow.status().message(), Catch::Contains("overflow"));
}

TEST_CASE("validate rejects states that break the DVV set invariants", "[dvv]") {
  const DvvSet ok = put(put({}, {}, "x", kA), {}, "y", kB);
  CHECK(validate(ok).ok());

  DvvSet unsorted = ok;
  std::swap(unsorted.siblings[0], unsorted.siblings[1]);
  CHECK(validate(unsorted).code() == Code::kCorruption);

  DvvSet uncovered = ok;
  uncovered.siblings[1].dot.counter = 7;
  CHECK(validate(uncovered).code() == Code::kCorruption);
  CHECK_THAT(validate(uncovered).message(), Catch::Contains("not covered"));

  DvvSet zero_clock = ok;
  zero_clock.clock.entries.push_back({9, 0});
  CHECK(validate(zero_clock).code() == Code::kCorruption);
}

TEST_CASE("version vector order: descends, dominates, concurrent", "[dvv]") {
  const VersionVector a{{{1, 2}, {2, 1}}};
  const VersionVector b{{{1, 1}}};
  const VersionVector c{{{2, 3}}};
  CHECK(descends(a, b));
  CHECK(dominates(a, b));
  CHECK_FALSE(descends(b, a));
  CHECK(descends(a, a));
  CHECK_FALSE(dominates(a, a));
  CHECK(concurrent(a, c));
  CHECK_FALSE(concurrent(a, b));
  CHECK(descends(a, VersionVector{}));
  CHECK(pointwise_max(a, c) == VersionVector{{{1, 2}, {2, 3}}});
  CHECK(pointwise_max(b, c) == VersionVector{{{1, 1}, {2, 3}}});
}

}  // namespace
}  // namespace tally::quorum
