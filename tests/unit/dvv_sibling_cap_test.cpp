// The sibling cap: writers that never send a context add one sibling per write
// (Riak's "sibling explosion"). Past the cap a write is refused with an error
// that says so; no value is ever dropped to make room.
#include <catch2/catch.hpp>
#include <string>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

constexpr ReplicaId kA = 1;

DvvSet blind_writes(size_t n, size_t cap) {
  DvvSet s;
  for (size_t i = 0; i < n; ++i) {
    Result<DvvSet> next = update(s, {}, ClientWrite::Put("v" + std::to_string(i), {}), kA, cap);
    REQUIRE(next.ok());
    s = *next;
  }
  return s;
}

TEST_CASE("a blind write that would exceed max_siblings is refused with kTooLarge", "[dvv][cap]") {
  const DvvSet full = blind_writes(5, 5);
  REQUIRE(full.siblings.size() == 5);
  Result<DvvSet> over = update(full, {}, ClientWrite::Put("one too many", {}), kA, 5);
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == Code::kTooLarge);
  // The message names the count and the limit.
  CHECK_THAT(over.status().message(), Catch::Contains("6 siblings"));
  CHECK_THAT(over.status().message(), Catch::Contains("limit of 5"));
}

TEST_CASE("the default cap is 100 siblings", "[dvv][cap]") {
  const DvvSet full = blind_writes(kDefaultMaxSiblings, kDefaultMaxSiblings);
  CHECK(update(full, {}, ClientWrite::Put("x", {}), kA).status().code() == Code::kTooLarge);
  CHECK(update(full, join(full), ClientWrite::Put("x", {}), kA).ok());
}

TEST_CASE("a write with a context resolves a full key", "[dvv][cap]") {
  const DvvSet full = blind_writes(5, 5);
  Result<DvvSet> resolved = update(full, join(full), ClientWrite::Put("merged", {}), kA, 5);
  REQUIRE(resolved.ok());
  CHECK(values(*resolved) == std::vector<std::string>{"merged"});
}

TEST_CASE("a key above its cap still accepts a write that removes a sibling", "[dvv][cap]") {
  // sync never refuses (its siblings were acknowledged), so a key can sit above
  // the cap, or the cap can be lowered under it.
  const DvvSet big = blind_writes(8, 100);
  // This write saw 3 of the 8 siblings: 8 - 3 + 1 = 6, still above 5, but fewer.
  VersionVector saw_three{{{kA, 3}}};
  Result<DvvSet> fewer = update(big, saw_three, ClientWrite::Put("x", {}), kA, 5);
  REQUIRE(fewer.ok());
  CHECK(fewer->siblings.size() == 6);
  // One that adds a sibling to it is refused.
  CHECK(update(big, {}, ClientWrite::Put("x", {}), kA, 5).status().code() == Code::kTooLarge);
}

}  // namespace
}  // namespace tally::quorum
