// Linearizable keyspaces under the fault suite's real faults (network
// namespaces, iptables, SIGSTOP, kill -9): eight clients increment ten
// counters by compare-and-set while nodes are isolated, paused and killed.
// Every history must be linearizable (testing/linearizability.hpp), and each
// counter must hold exactly its acknowledged increments, give or take the
// increments whose outcome is unknown. 12 s of faults in `make test`, 60 s in
// `make check-faults` (TALLY_LONG).
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "testing/cluster_harness.hpp"
#include "testing/fault_workload.hpp"
#include "testing/linearizability.hpp"
#include "tests/cluster/faults_support.hpp"

using namespace std::chrono_literals;
using namespace tally;
using namespace tally::clustertest;
using namespace tally::faultsuite;
using testing::Op;
using testing::OpKind;
using testing::Outcome;

namespace {

struct CounterRun : Run {
  testing::CheckResult linearizable;
  std::map<std::string, long> final_value;
  std::map<std::string, long> acked, unknown;  // increments per counter
  size_t reads = 0, cas = 0, cas_applied = 0, cas_unknown = 0, cas_failed = 0;
  size_t isolations = 0, pauses = 0, kills = 0;
};

const CounterRun& cas_counters() {
  static const CounterRun run = [] {
    CounterRun run;
    auto c = start_cluster(run);
    if (!c) return run;
    auto admin = connect_client(c->endpoints());
    auto made = admin->create_keyspace(KeyspaceSpec{"lin", 3, 0, 0, "linearizable"});
    if (!made.ok()) {
      run.error = "create keyspace: " + made.status().to_string();
      return run;
    }
    testing::HistoryRecorder history;
    Workload load(history);
    const std::string tag = std::to_string(run.seed % 100000);
    std::vector<std::string> counters;
    for (int k = 0; k < 10; ++k) counters.push_back("ctr-" + tag + "-" + std::to_string(k));
    for (int i = 0; i < 8; ++i) {
      load.add_counter_client(i, c->host(i % c->size()), FaultCluster::kRespPort, counters, run.seed + i, "lin");
    }
    // Faults in turn: a node isolated, a node paused, a node killed -9 and
    // restarted, each for 1.5 s with 1 s of calm between.
    std::mt19937_64 rng(run.seed);
    const auto end = Clock::now() + (long_form() ? 60s : 12s);
    Status s;
    for (int round = 0; Clock::now() < end && s.ok(); ++round) {
      until(Clock::now() + 1s);
      const int victim = static_cast<int>(rng() % c->size());
      const auto t = Clock::now();
      switch (round % 3) {
        case 0:
          s = c->net->isolate(victim);
          ++run.isolations;
          until(t + 1500ms);
          if (s.ok()) s = c->net->heal_all();
          break;
        case 1:
          c->nodes[victim]->pause();
          ++run.pauses;
          until(t + 1500ms);
          c->nodes[victim]->resume();
          break;
        case 2:
          c->nodes[victim]->kill9();
          ++run.kills;
          until(t + 1500ms);
          s = c->nodes[victim]->start();
          break;
      }
    }
    load.stop();
    if (s.ok()) s = c->net->heal_all();
    if (!s.ok()) {
      run.error = s.to_string();
      return run;
    }
    // The final values, read linearizably (recorded: they are part of the history).
    RespClient reader(c->host(0), FaultCluster::kRespPort, kClientTimeout);
    reader.on_connect({"TALLY.KEYSPACE", "lin"});
    for (const auto& key : counters) {
      Op got;
      for (int attempt = 0; attempt < 20; ++attempt) {
        got = recorded_get(reader, history, 99, key);
        if (got.outcome == Outcome::kOk) break;
      }
      run.final_value[key] = got.outcome != Outcome::kOk ? -1 : got.read.empty() ? 0 : std::stol(got.read.front());
    }
    run.ops = history.ops();
    for (const Op& op : run.ops) {
      if (op.kind == OpKind::kRead) ++run.reads;
      if (op.kind != OpKind::kCas) continue;
      ++run.cas;
      if (op.outcome == Outcome::kOk && op.applied) ++run.cas_applied, ++run.acked[op.key];
      if (op.outcome == Outcome::kUnknown) ++run.cas_unknown, ++run.unknown[op.key];
      if (op.outcome == Outcome::kFailed) ++run.cas_failed;
    }
    run.linearizable = testing::check_linearizable(run.ops);
    std::printf("faults: CAS counters (%s): %zu ops (%zu reads, %zu CAS: %zu applied, %zu unknown, %zu failed); "
                "%zu isolations, %zu pauses, %zu kill -9; linearizable: %s\n",
                long_form() ? "60 s" : "12 s", run.ops.size(), run.reads, run.cas, run.cas_applied, run.cas_unknown,
                run.cas_failed, run.isolations, run.pauses, run.kills, run.linearizable.ok() ? "yes" : "NO");
    std::fflush(stdout);
    return run;
  }();
  return run;
}

}  // namespace

TEST_CASE("faults: CAS counters under isolation, pauses and kill -9 give a linearizable history",
          "[cluster][faults][linearizable]") {
  const auto& run = cas_counters();
  SKIP_IF_UNAVAILABLE(run);
  INFO((run.linearizable.violations.empty() ? "" : run.linearizable.violations.front()));
  CHECK(run.linearizable.ok());
  CHECK(run.cas_applied > 20);  // the workload did make progress under the faults
  CHECK(run.kills >= 1);
}

TEST_CASE("faults: each CAS counter holds its acknowledged increments, none lost and none applied twice",
          "[cluster][faults][linearizable]") {
  const auto& run = cas_counters();
  SKIP_IF_UNAVAILABLE(run);
  for (const auto& [key, value] : run.final_value) {
    const long acked = run.acked.count(key) ? run.acked.at(key) : 0;
    const long unknown = run.unknown.count(key) ? run.unknown.at(key) : 0;
    INFO(key << ": final " << value << ", acknowledged increments " << acked << ", unknown " << unknown);
    CHECK(value >= acked);
    CHECK(value <= acked + unknown);
  }
}
