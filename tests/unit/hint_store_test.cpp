// HintStore's key order: hints are keyed by their node first, and
// after_target(t) sorts after every hint for t and before every hint for the
// nodes after it, so hint replay can skip a node that is down in one step.
#include "store/hint_store.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"
#include "sim/sim_world.hpp"

namespace tally::store {
namespace {

quorum::DvvSet version(const std::string& value) {
  auto r = quorum::update({}, {}, quorum::ClientWrite::Put(value, {1, 0, 1}), 1);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("hint store: after_target sorts after every hint for its node and before the next node's",
          "[hint_store]") {
  const std::string longest(255, 'z');  // the longest keyspace name, of its largest letter
  for (uint32_t t : {1u, 3u, 255u, 256u, 65535u, 0x01000000u}) {
    const std::string after = HintStore::after_target(t);
    for (const std::string& ks : {std::string("a"), std::string("default"), longest}) {
      for (const std::string& key : {std::string("k"), std::string(300, '\xff'), std::string(1, '\0')}) {
        CHECK(HintStore::hint_key(t, ks, key) < after);
        CHECK(after < HintStore::hint_key(t + 1, ks, key));
        CHECK(after < HintStore::hint_key(t + 1, "a", ""));
      }
    }
  }
}

TEST_CASE("hint store: a listing after after_target(t) holds no hint for t", "[hint_store]") {
  sim::SimWorld world(3);
  sim::SimHost& host = world.add_host("n1", HostPort{"10.0.0.1", 7401});
  RecordStore records(host.disk(), Durability::kBuffered, [&host](std::function<void()> fn) { host.defer(std::move(fn)); });
  HintStore hints(records, 1000, [](const std::string&, const quorum::DvvSet& a, const quorum::DvvSet& b) {
    return quorum::sync(a, b);
  });
  for (uint32_t target : {3u, 5u}) {
    for (int i = 0; i < 10; ++i) {
      hints.add(target, "default", "key" + std::to_string(i), version("v"), [](Status s) { REQUIRE(s.ok()); });
    }
  }
  world.run_for(1'000'000);
  REQUIRE(hints.count() == 20);
  std::optional<std::vector<std::pair<std::string, Hint>>> listed;
  hints.list(HintStore::after_target(3), 100, [&](auto r) {
    REQUIRE(r.ok());
    listed = std::move(*r);
  });
  world.run_for(1'000'000);
  REQUIRE(listed.has_value());
  REQUIRE(listed->size() == 10);
  for (const auto& [dkey, hint] : *listed) CHECK(hint.target == 5);
}

}  // namespace
}  // namespace tally::store
