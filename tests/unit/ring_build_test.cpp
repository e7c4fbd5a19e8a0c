// Building a ring from (node, zone, tokens) triples: validation and basic queries.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ring/ring.hpp"

using namespace tally::ring;
using tally::Code;

TEST_CASE("ring build rejects malformed membership with an error naming the culprit", "[ring]") {
  auto fails = [](std::vector<NodeTokens> nodes, const std::string& needle) {
    auto r = Ring::build(std::move(nodes));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    INFO(r.status().to_string());
    CHECK(r.status().message().find(needle) != std::string::npos);
  };
  fails({{0, "a", {1}}}, "node id 0");
  fails({{1, "a", {1}}, {1, "b", {2}}}, "node 1 is listed twice");
  fails({{3, "", {1}}}, "node 3 has an empty zone");
  fails({{4, "a", {}}}, "node 4 has no tokens");
  fails({{1, "a", {5, 7}}, {2, "a", {7}}}, "token 7 is held by node 1 and by node 2");
  fails({{1, "a", {5, 5}}}, "token 5 is held by node 1 twice");
}

TEST_CASE("the empty ring has no nodes and gives empty preference lists", "[ring]") {
  auto r = Ring::build({});
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(r->node_count() == 0);
  CHECK(r->preference_list(123, 3).empty());
  CHECK(r->sloppy_preference_list(123, 3, [](NodeId) { return true; }).replicas.empty());
  CHECK(r->replica_ranges(3).empty());
  CHECK(Ring().preference_list(0, 1).empty());
}

TEST_CASE("ring build sorts nodes and tokens and counts zones", "[ring]") {
  auto r = Ring::build({{7, "b", {300, 100}}, {2, "a", {200}}, {5, "b", {50}}});
  REQUIRE(r.ok());
  CHECK(r->node_count() == 3);
  CHECK(r->zone_count() == 2);
  CHECK(r->token_count() == 4);
  CHECK(r->tokens() == std::vector<uint64_t>{50, 100, 200, 300});
  CHECK(r->nodes()[0].id == 2);
  CHECK(r->nodes()[2].id == 7);
  REQUIRE(r->find(7) != nullptr);
  CHECK(r->find(7)->tokens == std::vector<uint64_t>{100, 300});
  CHECK(r->find(3) == nullptr);
}

TEST_CASE("a position belongs to the first token at or after it, wrapping past the last",
          "[ring]") {
  auto r = Ring::build({{1, "a", {100}}, {2, "a", {200}}, {3, "a", {300}}});
  REQUIRE(r.ok());
  CHECK(r->preference_list(100, 1)[0] == 1);  // a token owns itself: (prev, token]
  CHECK(r->preference_list(101, 1)[0] == 2);
  CHECK(r->preference_list(200, 1)[0] == 2);
  CHECK(r->preference_list(300, 1)[0] == 3);
  CHECK(r->preference_list(301, 1)[0] == 1);  // past the last token: wraps to the first
  CHECK(r->preference_list(0, 1)[0] == 1);
  CHECK(r->preference_list(~uint64_t{0}, 1)[0] == 1);
}

TEST_CASE("replica ranges tile the ring once, and ownership sums to min(N, nodes)", "[ring]") {
  auto r = Ring::build({{1, "a", {100, 1000}}, {2, "a", {200}}, {3, "b", {300, 5000}}});
  REQUIRE(r.ok());
  auto ranges = r->replica_ranges(2);
  REQUIRE(ranges.size() == 5);
  double covered = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    covered += ranges[i].range.fraction();
    CHECK(ranges[i].range.end == r->tokens()[i]);
    CHECK(ranges[i].range.start == r->tokens()[(i + ranges.size() - 1) % ranges.size()]);
    CHECK(ranges[i].replicas == r->preference_list(ranges[i].range.end, 2));
  }
  CHECK(covered == Approx(1.0));
  for (int n : {1, 2, 3, 5}) {
    double sum = 0;
    for (const Ownership& o : r->ownership(n)) sum += o.replicated;
    CHECK(sum == Approx(std::min(n, 3)));
  }
}

TEST_CASE("a ring with a single token gives that node the whole ring", "[ring]") {
  auto r = Ring::build({{9, "a", {12345}}});
  REQUIRE(r.ok());
  auto ranges = r->replica_ranges(3);
  REQUIRE(ranges.size() == 1);
  CHECK(ranges[0].range.start == ranges[0].range.end);
  CHECK(ranges[0].range.fraction() == 1.0);
  CHECK(r->ownership(3)[0].replicated == 1.0);
  CHECK(r->preference_list(0, 3) == r->preference_list(99999, 3));
  CHECK(r->preference_list(0, 3).size() == 1);
}
