// Long random histories: the DVV set agrees with an exact model of causal
// history, and its size grows with the replicas, not with the clients.
#include "tests/unit/dvv_history.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

TEST_CASE("every replica's DVV set holds exactly the live writes of its causal history",
          "[dvv][history]") {
  for (uint64_t seed : {1ULL, 2ULL, 3ULL, 0xdeadbeefULL}) {
    INFO("seed " << seed);
    test::RandomHistory history(seed, {7, 8, 9}, 30);
    for (int i = 0; i < 1500; ++i) {
      history.step();
      for (const test::Replica& r : history.replicas()) {
        const std::string problem = history.check(r);
        INFO("step " << i << ", replica " << r.id);
        REQUIRE(problem.empty());
      }
    }
    // After anti-entropy every replica holds the same state, and no write was
    // lost that nobody superseded (check() compares against the model).
    history.converge();
    const DvvSet& first = history.replicas().front().state;
    for (const test::Replica& r : history.replicas()) {
      CHECK(r.state == first);
      CHECK(history.check(r).empty());
    }
    CHECK(history.rejected_writes() == 0);
  }
}

TEST_CASE("clocks and contexts never have more entries than there are coordinating replicas",
          "[dvv][history]") {
  const std::vector<ReplicaId> ids{101, 202, 303};
  test::RandomHistory history(99, ids, 400);
  size_t max_entries = 0;
  for (int i = 0; i < 6000; ++i) {
    history.step();
    for (const test::Replica& r : history.replicas()) {
      max_entries = std::max(max_entries, r.state.clock.entries.size());
    }
  }
  for (const test::Client& c : history.clients()) {
    max_entries = std::max(max_entries, c.context.entries.size());
  }
  CHECK(max_entries == ids.size());
  // With client-id vector clocks (Riak before 1.0) the clock would have grown to
  // one entry per writing client: that is what this history would have cost.
  CHECK(history.distinct_writing_clients() > 300);
  CHECK(history.writes() > 2000);
}

}  // namespace
}  // namespace tally::quorum
