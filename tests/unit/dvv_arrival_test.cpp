// join_before and by_time: an overwrite supersedes what its coordinator held
// when it arrived, and a read's "latest" is the last write to arrive.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

constexpr ReplicaId kA = 1;
constexpr ReplicaId kB = 2;

DvvSet put_at(const DvvSet& s, const VersionVector& ctx, const std::string& v, ActorId r, uint64_t ms) {
  Result<DvvSet> next = update(s, ctx, ClientWrite::Put(v, {ms, 0, node_of(r)}), r);
  REQUIRE(next.ok());
  REQUIRE(validate(*next).ok());
  return *next;
}

using Values = std::vector<std::string>;

constexpr uint64_t kHorizon = 1'000'000;  // far beyond every tag below

Values in_time_order(const DvvSet& s) {
  Values out;
  for (const Sibling* sib : by_time(s)) out.push_back(sib->tombstone ? "<deleted>" : sib->value);
  return out;
}

TEST_CASE("an overwrite with nothing newer than its arrival supersedes everything", "[dvv][arrival]") {
  DvvSet s = put_at({}, {}, "x", kA, 10);
  s = put_at(s, {}, "y", kB, 20);
  CHECK(join_before(s, {30, 0, kA}, kHorizon) == join(s));
  s = put_at(s, join_before(s, {30, 0, kA}, kHorizon), "z", kA, 30);
  CHECK(values(s) == Values{"z"});
}

TEST_CASE("an overwrite applied late keeps the writes that arrived after it", "[dvv][arrival]") {
  // The staged heal: a-old arrived at 10 and was held up; b-new arrived at 20
  // on another coordinator and is on this replica by the time a-old applies.
  DvvSet s = put_at({}, {}, "older", kA, 5);
  s = put_at(s, join(s), "b-new", kB, 20);
  const VersionVector ctx = join_before(s, {10, 0, kA}, kHorizon);
  CHECK(ctx.get(kB) == 0);  // b-new's dot is not covered
  CHECK(ctx.get(kA) == 1);  // what was there before still is
  s = put_at(s, ctx, "a-old", kA, 10);
  // Siblings, and the latest by arrival is b-new.
  CHECK(values(s).size() == 2);
  CHECK(in_time_order(s) == Values{"a-old", "b-new"});
  // With join, as before, b-new would have been lost.
  DvvSet lost = put_at({}, {}, "older", kA, 5);
  lost = put_at(lost, join(lost), "b-new", kB, 20);
  lost = put_at(lost, join(lost), "a-old", kA, 10);
  CHECK(values(lost) == Values{"a-old"});
}

TEST_CASE("a vector cannot skip a dot: a newer sibling shields the older ones of its actor", "[dvv][arrival]") {
  // Actor B minted (B,1) for a write that arrived at 30 and (B,2) for one
  // that arrived at 5 (two requests reaching B out of arrival order).
  DvvSet s = put_at({}, {}, "late-arrival", kB, 30);
  s = put_at(s, {}, "early-arrival", kB, 5);
  REQUIRE(s.siblings.size() == 2);
  const VersionVector ctx = join_before(s, {10, 0, kA}, kHorizon);
  // Covering (B,2) would cover (B,1), which arrived after 10: neither is covered.
  CHECK(ctx.get(kB) == 0);
  s = put_at(s, ctx, "overwrite", kA, 10);
  CHECK(in_time_order(s) == Values{"early-arrival", "overwrite", "late-arrival"});
}

TEST_CASE("by_time orders by tag, ties broken by the tag's node, tombstones included", "[dvv][arrival]") {
  DvvSet s = put_at({}, {}, "b", kB, 50);
  s = put_at(s, {}, "a", kA, 50);
  s = put_at(s, {}, "first", kA, 1);
  Result<DvvSet> del = update(s, {}, ClientWrite::Delete({60, 0, kB}), kB);
  REQUIRE(del.ok());
  CHECK(in_time_order(*del) == Values{"first", "a", "b", "<deleted>"});
  CHECK(by_time(DvvSet{}).empty());
}


TEST_CASE("a sibling tagged beyond the horizon (a clock running ahead) is superseded like an older one",
          "[dvv][arrival]") {
  // n2's clock runs 5 minutes ahead: its write tagged 300,000 ms, while the
  // overwrite arrived (by an honest clock) at 10,000 ms with a 1.5 s timeout.
  DvvSet s = put_at({}, {}, "from-the-future", kB, 300'000);
  const uint64_t horizon = 10'000 + 1'500 + 500;
  CHECK(join_before(s, {10'000, 0, kA}, horizon) == join(s));
  s = put_at(s, join_before(s, {10'000, 0, kA}, horizon), "now", kA, 10'000);
  CHECK(values(s) == Values{"now"});
  // Within the horizon it is shielded: it may really have come later.
  DvvSet t = put_at({}, {}, "a-second-later", kB, 11'000);
  CHECK(join_before(t, {10'000, 0, kA}, horizon).get(kB) == 0);
}

}  // namespace
}  // namespace tally::quorum
