#include "faults_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

namespace tally::faultsuite {

using namespace tally::clustertest;
using namespace tally::testing;
using namespace std::chrono_literals;

bool long_form() { return std::getenv("TALLY_LONG") != nullptr; }

uint64_t run_seed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* s = std::getenv("TALLY_SEED")) return std::stoull(s);
    std::random_device rd;
    return (uint64_t{rd()} << 32) | rd();
  }();
  return seed;
}

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The fault schedule's own timing ("isolated 2 s"): a wait for a moment, not
// for a condition.
void until(Clock::time_point t) { std::this_thread::sleep_until(t); }

std::unique_ptr<FaultCluster> start_cluster(Run& run, const FaultCluster::Options& options) {
  run.seed = run_seed();
  auto c = FaultCluster::create(options);
  if (!c.ok()) {
    (c.status().code() == Code::kUnavailable ? run.skipped : run.error) = c.status().to_string();
    return nullptr;
  }
  Status s = (*c)->start();
  if (!s.ok()) {
    run.error = s.to_string();
    return nullptr;
  }
  return std::move(*c);
}

namespace {

std::vector<std::string> keys_of(const std::vector<Op>& ops) {
  std::set<std::string> keys;
  for (const auto& op : ops) {
    if (op.kind == OpKind::kWrite) keys.insert(op.key);
  }
  return {keys.begin(), keys.end()};
}

}  // namespace

// Waits (30 s at most) until every replica of every key written holds the
// same values, then judges the history against them.
void converge_and_check(Run& run, FaultCluster& c, Clock::time_point since, const std::string& keyspace) {
  auto admin = connect_client(c.endpoints());
  const auto keys = keys_of(run.ops);
  ReplicaState state;
  run.converged = eventually(
      [&] {
        state = read_replicas(*admin, keys, keyspace);
        return state.converged;
      },
      30000ms, 100ms);
  run.convergence_ms = ms_since(since);
  run.not_converged = state.why_not;
  run.lost = check_lost_writes(run.ops, state.values);
  run.stale = check_stale_reads(run.ops);
}

void print_figures(const std::string& scenario, const Run& run, const std::string& more) {
  Counts w = count(run.ops, OpKind::kWrite), r = count(run.ops, OpKind::kRead);
  std::printf(
      "faults: %s (seed %llu): writes %zu (acked %zu, failed %zu, unknown %zu), reads %zu (ok %zu, failed %zu, "
      "unknown %zu); lost %zu (of which to an earlier write %zu), stale reads %zu; converged %s%s%s\n",
      scenario.c_str(), static_cast<unsigned long long>(run.seed), w.ops, w.ok, w.failed, w.unknown, r.ops, r.ok,
      r.failed, r.unknown, run.lost.violations.size(), run.lost.count("lost to an earlier write"),
      run.stale.count("stale"), run.converged ? "yes" : "NO",
      run.convergence_ms < 0 ? "" : (" in " + std::to_string(run.convergence_ms) + " ms").c_str(), more.c_str());
  if (!run.lost.ok()) std::printf("%s", run.lost.describe(run.seed, 3).c_str());
  if (!run.stale.ok()) std::printf("%s", run.stale.describe(run.seed, 3).c_str());
  std::fflush(stdout);
}

bool holds(const ReplicaCopy& copy, const std::string& value) {
  return std::any_of(copy.siblings.begin(), copy.siblings.end(),
                     [&](const ReplicaVersion& v) { return !v.tombstone && v.value == value; });
}

// What every run must show whatever issue 16's fixes change: replicas agree
// after the heal, and nothing acknowledged vanished without a later write
// that may have replaced it, or without an older one coming back (that is
// [pending16]'s), and no value nobody wrote.
void check_holds_today(const Run& run) {
  INFO(run.not_converged);
  CHECK(run.converged);
  INFO(run.lost.describe(run.seed, 3));
  CHECK(run.lost.count("lost") == 0);
  CHECK(run.lost.count("phantom") == 0);
  INFO(run.stale.describe(run.seed, 3));
  CHECK(run.stale.count("phantom") == 0);
  CHECK(run.stale.count("from the future") == 0);
}

// The keyspace names of a status' `keyspaces` field ("default(N=3,...) ks(...)").
std::set<std::string> keyspace_names(const std::string& field) {
  std::set<std::string> out;
  std::istringstream in(field);
  std::string word;
  while (in >> word) out.insert(word.substr(0, word.find('(')));
  return out;
}

}  // namespace tally::faultsuite
