// Single-node durability under crashes, message loss and duplication: every
// acknowledged write survives, and a read never goes back past a write that
// was acknowledged before it started.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "net/codec.hpp"
#include "sim/sim_cluster.hpp"
#include "sim_support.hpp"

using namespace tally;
using namespace tally::sim;
using simtest::KeyState;
using simtest::seq_of;

namespace {

struct Outcome {
  uint64_t trace_hash = 0;
  uint64_t acked = 0;
  uint64_t crashes = 0;
  std::vector<std::string> violations;
};

class Workload {
 public:
  Workload(SimWorld& world, SimCluster& cluster, int keys_per_node) : world_(world), cluster_(cluster) {
    for (int n = 0; n < cluster.size(); ++n) {
      auto& h = world.add_host("c" + std::to_string(n), HostPort{"10.0.1." + std::to_string(n + 1), 9000});
      clients_.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[n].listen, 50'000));
      for (int k = 0; k < keys_per_node; ++k) {
        KeyState ks;
        ks.key = "k" + std::to_string(n) + "-" + std::to_string(k);
        ks.node = n;
        keys_.push_back(ks);
      }
    }
  }

  void start(uint64_t until_us) {
    until_us_ = until_us;
    for (size_t i = 0; i < keys_.size(); ++i) next_op(i);
  }

  void next_op(size_t i) {
    if (world_.now_us() >= until_us_) return;
    world_.schedule(world_.rng().between(200, 3000), [this, i] {
      if (world_.rng().chance(0.6)) {
        put(i);
      } else {
        get(i);
      }
    });
  }

  void put(size_t i) {
    KeyState& ks = keys_[i];
    uint64_t seq = ks.next_seq++;
    std::string value = ks.key + "#" + std::to_string(seq);
    ks.issued.insert(value);
    wire::PutRequest req{"default", ks.key, value, ks.context, {}};
    clients_[ks.node]->request(std::move(req), [this, i, seq](Result<wire::Message> r) {
      KeyState& k = keys_[i];
      if (r.ok() && std::holds_alternative<wire::ErrorReply>(r->body)) {
        world_.trace("put error: " + std::get<wire::ErrorReply>(r->body).message);
      }
      if (r.ok()) {
        if (auto* p = std::get_if<wire::PutReply>(&r->body)) {
          k.last_acked = std::max(k.last_acked, seq);
          k.context = p->context;
          ++acked_;
        }
      }
      next_op(i);
    });
  }

  void get(size_t i) {
    KeyState& ks = keys_[i];
    uint64_t floor = ks.last_acked;  // acknowledged before this read started
    wire::GetRequest req{"default", ks.key, {}};
    clients_[ks.node]->request(std::move(req), [this, i, floor](Result<wire::Message> r) {
      if (r.ok()) {
        if (auto* g = std::get_if<wire::GetReply>(&r->body)) check_read(keys_[i], *g, floor, "read");
      }
      next_op(i);
    });
  }

  void check_read(const KeyState& ks, const wire::GetReply& g, uint64_t floor, const char* what) {
    uint64_t newest = 0;
    for (const auto& v : g.values) {
      if (!ks.issued.count(v)) violations_.push_back(std::string(what) + " of " + ks.key + " returned '" + v + "', which nobody wrote");
      else newest = std::max(newest, seq_of(v));
    }
    if (newest < floor) {
      violations_.push_back(std::string(what) + " of " + ks.key + " returned seq " + std::to_string(newest) +
                            " but seq " + std::to_string(floor) + " was acknowledged before it");
    }
  }

  // After healing: read every key once more, with no faults.
  void final_check() {
    for (size_t i = 0; i < keys_.size(); ++i) {
      wire::GetRequest req{"default", keys_[i].key, {}};
      uint64_t floor = keys_[i].last_acked;
      clients_[keys_[i].node]->request(std::move(req), [this, i, floor](Result<wire::Message> r) {
        if (!r.ok()) {
          violations_.push_back("final read of " + keys_[i].key + " failed: " + r.status().to_string());
        } else if (auto* g = std::get_if<wire::GetReply>(&r->body)) {
          check_read(keys_[i], *g, floor, "final read");
        }
      });
    }
  }

  uint64_t acked_ = 0;
  std::vector<std::string> violations_;

 private:
  SimWorld& world_;
  SimCluster& cluster_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::vector<KeyState> keys_;
  uint64_t until_us_ = 0;
};

Outcome run(uint64_t seed, Durability durability, CrashKind crash_kind) {
  SimWorld world(seed);
  world.faults().drop = 0.01;
  world.faults().duplicate = 0.01;
  SimCluster cluster(world, 3, durability);
  Workload load(world, cluster, 3);
  constexpr uint64_t kRunUs = 2'000'000;
  load.start(kRunUs);
  Outcome out;
  // Faults: every 50-300 ms a random node crashes and comes back 5-100 ms later.
  uint64_t t = 0;
  while (t < kRunUs) {
    t += world.rng().between(50'000, 300'000);
    int victim = static_cast<int>(world.rng().uniform(3));
    uint64_t down = world.rng().between(5'000, 100'000);
    world.run_until(t);
    if (cluster.node(victim)) {
      cluster.crash(victim, crash_kind);
      ++out.crashes;
      world.schedule(down, [&cluster, victim] { cluster.restart(victim); });
    }
  }
  world.run_until(kRunUs + 500'000);  // restarts happen; in-flight requests finish or time out
  world.faults().drop = 0;
  world.faults().duplicate = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.node(i)) cluster.restart(i);
  }
  world.run_for(100'000);
  load.final_check();
  world.run_for(500'000);
  out.trace_hash = world.trace_hash();
  out.acked = load.acked_;
  out.violations = load.violations_;
  return out;
}

}  // namespace

TEST_CASE("fsync: no acknowledged write is lost and reads never go back, across power-loss crashes",
          "[sim][durability]") {
  const std::string name =
      "fsync: no acknowledged write is lost and reads never go back, across power-loss crashes";
  uint64_t total_acked = 0;
  for (uint64_t seed : simtest::seeds(100, 5000)) {
    Outcome o = run(seed, Durability::kFsync, CrashKind::kPowerLoss);
    total_acked += o.acked;
    if (!o.violations.empty()) {
      FAIL("seed " << seed << ": " << o.violations.front() << " (" << o.violations.size()
                   << " violations)\n" << simtest::replay_hint(seed, name));
    }
    REQUIRE(o.crashes > 0);
  }
  REQUIRE(total_acked > 0);
}

TEST_CASE("buffered: acknowledged writes survive process crashes", "[sim][durability]") {
  const std::string name = "buffered: acknowledged writes survive process crashes";
  for (uint64_t seed : simtest::seeds(30, 1000, 1000)) {
    Outcome o = run(seed, Durability::kBuffered, CrashKind::kProcess);
    if (!o.violations.empty()) {
      FAIL("seed " << seed << ": " << o.violations.front() << "\n" << simtest::replay_hint(seed, name));
    }
  }
}

TEST_CASE("buffered: the checker catches the writes a power loss takes (it can fail)",
          "[sim][durability]") {
  // durability = "buffered" promises nothing across a power loss; if the checker
  // found no lost write here, it would be blind. (Hints reach a node that comes
  // back within a few rounds, so fewer seeds lose a write than when hints
  // trickled in at 64 each 200 ms: 40 seeds, where 20 once found ten.)
  size_t seeds_with_loss = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Outcome o = run(seed, Durability::kBuffered, CrashKind::kPowerLoss);
    if (!o.violations.empty()) ++seeds_with_loss;
  }
  WARN("buffered power loss: " << seeds_with_loss << " of 40 seeds lost an acknowledged write");
  REQUIRE(seeds_with_loss >= 5);
}

TEST_CASE("the same seed replays the same run; another seed makes another run", "[sim][determinism]") {
  Outcome a = run(42, Durability::kFsync, CrashKind::kPowerLoss);
  Outcome b = run(42, Durability::kFsync, CrashKind::kPowerLoss);
  Outcome c = run(43, Durability::kFsync, CrashKind::kPowerLoss);
  REQUIRE(a.acked > 100);
  REQUIRE(a.trace_hash == b.trace_hash);
  REQUIRE(a.acked == b.acked);
  REQUIRE(a.trace_hash != c.trace_hash);
}
