// The seeded Raft simulation (tests/sim/raft_sim_cluster.hpp): 1,000 seeds by
// default, 20,000 with TALLY_LONG set (or TALLY_SEEDS=n of them), or just one with
// TALLY_SEED=n (add TALLY_TRACE=1 to print every event of it).
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "raft_sim_cluster.hpp"

namespace tally::raft::sim {
namespace {

constexpr const char* kTestName =
    "raft sim: 5 voters and learners stay safe and live under partitions, crashes, message "
    "faults and membership changes";

TEST_CASE(kTestName, "[raft][sim]") {
  std::vector<uint64_t> seeds;
  SimOptions options;
  if (const char* one = std::getenv("TALLY_SEED")) {
    seeds.push_back(std::stoull(one));
    options.trace = std::getenv("TALLY_TRACE") != nullptr;
  } else {
    uint64_t count = std::getenv("TALLY_LONG") ? 20000 : 1000;
    if (const char* n = std::getenv("TALLY_SEEDS")) count = std::stoull(n);
    for (uint64_t s = 1; s <= count; ++s) seeds.push_back(s);
  }

  auto start = std::chrono::steady_clock::now();
  uint64_t events = 0, committed = 0, elections = 0, snapshots = 0, changes = 0, reads = 0;
  std::vector<uint64_t> failed;
  uint64_t ran = 0;
  for (uint64_t seed : seeds) {
    ++ran;
    Simulation sim(seed, options);
    try {
      sim.run();
    } catch (const Violation& v) {
      failed.push_back(seed);
      std::cout << "raft sim: seed " << seed << " FAILED: " << v.what()
                << "  replay: TALLY_SEED=" << seed << " build/tests/sim_tests \"" << kTestName
                << "\"\n";
      if (failed.size() >= 3) break;  // enough to work on
      continue;
    }
    events += sim.events();
    committed += sim.committed();
    elections += sim.elections();
    snapshots += sim.snapshots_installed();
    changes += sim.conf_changes_applied();
    reads += sim.reads_served();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "raft sim: " << ran << " seeds in " << secs << " s: " << events << " events, "
            << committed << " entries committed, " << elections << " leaders elected, " << snapshots
            << " snapshots installed, " << changes << " conf changes applied, " << reads
            << " reads served\n";
  INFO("failing seeds: " << failed.size() << " (replay commands above)");
  REQUIRE(failed.empty());
}

}  // namespace
}  // namespace tally::raft::sim
