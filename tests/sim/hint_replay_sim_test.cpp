// Hinted handoff at the speed of the nodes, not of a timer: a node that comes
// back gets the hints kept for it round after round with no pause between
// rounds, and a node that stays down does not hold up the hints of one that
// came back.
#include <catch2/catch.hpp>
#include <utility>
#include <vector>

#include "sim/sim_cluster.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

constexpr uint64_t kMs = 1000;

struct Setup {
  SimWorld world{23};
  SimCluster cluster;
  std::unique_ptr<SimClient> client;  // talks to n1

  explicit Setup(int nodes)
      : cluster(world, nodes, Durability::kBuffered, [](ClusterConfig& c) {
          c.max_hints = 100'000;
          // Every write is acknowledged, however the simulated disk's draws
          // fall: the hints held do not depend on which writes timed out.
          c.request_timeout_ms = 5000;
          c.anti_entropy.background = false;  // the drain times are the hints' alone
        }) {
    auto& h = world.add_host("c1", HostPort{"10.0.1.1", 9000});
    client = std::make_unique<SimClient>(h, cluster.config().nodes[0].listen, 5'000'000);
    world.run_for(500 * kMs);  // heartbeats: everyone up
  }

  uint64_t hints() {
    uint64_t total = 0;
    for (int i = 0; i < cluster.size(); ++i) {
      if (cluster.node(i)) total += cluster.node(i)->hints().count();
    }
    return total;
  }

  // Writes `keys` keys at W=`w` through n1, all in flight at once; returns
  // how many were acknowledged.
  int write(int keys, int w) {
    int answered = 0, acked = 0;
    wire::RequestOptions o;
    o.w = static_cast<uint8_t>(w);
    for (int i = 0; i < keys; ++i) {
      client->request(wire::PutRequest{"default", "key" + std::to_string(i), "v", "", o},
                      [&](Result<wire::Message> r) {
                        ++answered;
                        if (r.ok() && std::holds_alternative<wire::PutReply>(r->body)) ++acked;
                      });
    }
    for (int i = 0; i < 2000 && answered < keys; ++i) world.run_for(10 * kMs);
    REQUIRE(answered == keys);
    // A request that asked a replica that is down before the failure
    // detector said so keeps its hint only at its timeout (1 s): wait until
    // the count holds still for longer than that.
    uint64_t before = hints();
    for (int i = 0; i < 20; ++i) {
      world.run_for(1500 * kMs);
      if (hints() == before) break;
      before = hints();
    }
    return acked;
  }

  // Runs until `done()` or `limit_ms` of virtual time; the time it took.
  template <class Fn>
  uint64_t run_until(Fn done, uint64_t limit_ms) {
    const uint64_t start = world.now_us();
    while (!done() && world.now_us() - start < limit_ms * kMs) world.run_for(kMs);
    return (world.now_us() - start) / kMs;
  }
};

}  // namespace

TEST_CASE("hints: a node that comes back gets 2,000 hints without a pause between rounds", "[sim][hints]") {
  Setup s(3);
  s.cluster.crash(2, CrashKind::kProcess);
  s.world.run_for(1500 * kMs);  // n1 and n2 hold n3 down
  REQUIRE(s.write(2000, 2) == 2000);
  REQUIRE(s.hints() == 2000);
  s.cluster.restart(2);
  uint64_t took_ms = s.run_until([&] { return s.hints() == 0; }, 30'000);
  INFO("drained in " << took_ms << " ms of virtual time");
  CHECK(s.hints() == 0);
  // Rounds of 256 waiting 200 ms apart would need about 1.6 s after the
  // failure detector saw n3 again (64 a round, as before, 6.2 s).
  CHECK(took_ms < 1200);
}

TEST_CASE("hints: a node that stays down does not hold up the hints of one that came back", "[sim][hints]") {
  Setup s(5);
  s.cluster.crash(2, CrashKind::kProcess);  // n3: stays down
  s.cluster.crash(4, CrashKind::kProcess);  // n5: comes back
  s.world.run_for(1500 * kMs);
  REQUIRE(s.write(3000, 1) == 3000);
  const uint64_t held = s.hints();
  REQUIRE(held > 3000);
  s.cluster.restart(4);
  // Every hint left at the end is n3's. The time it takes to get there is the
  // time n5's hints took: n3's sort first (hints are keyed by their node), so
  // without the skip each round of n3's hints would wait a replay interval
  // before n5's turn came.
  std::vector<std::pair<uint64_t, uint64_t>> timeline;  // (ms since restart, hints held)
  for (uint64_t ms = 0; ms <= 5000; ms += 10) {
    timeline.emplace_back(ms, s.hints());
    s.world.run_for(10 * kMs);
  }
  const uint64_t left = timeline.back().second;
  uint64_t took_ms = 0;
  for (const auto& [ms, held_now] : timeline) {
    if (held_now == left) {
      took_ms = ms;
      break;
    }
  }
  INFO("n5's hints drained in " << took_ms << " ms of virtual time; " << left << " of " << held
                                << " hints left, all n3's");
  CHECK(left < held);
  CHECK(left > 0);
  CHECK(took_ms < 800);
}
