// What simulation tests share: seeds (how many to run, how to replay one),
// the per-key state of a sequential writer whose values carry their number,
// and a schedule of partitions and power-loss crashes.
//
//   TALLY_SEED=1234 build/tests/sim_tests "<test name>"   runs only seed 1234
//   TALLY_LONG=1 ...                                       runs the long count
#pragma once

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "sim/sim_cluster.hpp"

namespace tally::simtest {

inline std::vector<uint64_t> seeds(uint64_t normal, uint64_t long_count, uint64_t first = 1) {
  if (const char* one = std::getenv("TALLY_SEED")) return {std::strtoull(one, nullptr, 10)};
  uint64_t n = std::getenv("TALLY_LONG") ? long_count : normal;
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < n; ++i) out.push_back(first + i);
  return out;
}

inline std::string replay_hint(uint64_t seed, const std::string& test) {
  return "replay: TALLY_SEED=" + std::to_string(seed) + " build/tests/sim_tests \"" + test + "\"";
}

// The sequence number a writer put into a value ("k3#17" -> 17).
inline uint64_t seq_of(const std::string& v) { return std::stoull(v.substr(v.find('#') + 1)); }

// One key of a sequential writer: the node it goes through, the next value's
// number, the newest acknowledged one, and every value ever sent.
struct KeyState {
  std::string key;
  int node = 0;
  uint64_t next_seq = 1;
  uint64_t last_acked = 0;
  std::string context;  // of the last acknowledged put
  std::set<std::string> issued;
  bool busy = false;  // a request in flight (for writers that wait for it)
};

// Runs `world` to `until_us` with a fault every 100-400 ms, healed 50-500 ms
// later: half of them a random split of the cluster's nodes in two, half a
// power-loss crash of one node (restarted at the heal).
inline void partitions_and_crashes(sim::SimWorld& world, sim::SimCluster& cluster, uint64_t until_us) {
  uint64_t t = world.now_us();
  while (t < until_us) {
    t += world.rng().between(100'000, 400'000);
    world.run_until(t);
    const uint64_t heal_after = world.rng().between(50'000, 500'000);
    if (world.rng().chance(0.5)) {
      std::vector<int> a, b;
      for (int i = 0; i < cluster.size(); ++i) (world.rng().chance(0.5) ? a : b).push_back(cluster.host(i).index());
      world.partition({a, b});
      world.schedule(heal_after, [&world] { world.heal(); });
    } else {
      const int victim = static_cast<int>(world.rng().uniform(cluster.size()));
      if (cluster.node(victim)) {
        cluster.crash(victim, sim::CrashKind::kPowerLoss);
        world.schedule(heal_after, [&cluster, victim] {
          if (!cluster.node(victim)) cluster.restart(victim);
        });
      }
    }
  }
}

}  // namespace tally::simtest
