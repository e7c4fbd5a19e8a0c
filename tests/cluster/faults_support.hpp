// What the fault suite's scenarios (faults_test.cpp) share: the result every
// scenario reports, starting a cluster or saying why it cannot, judging a
// history once the replicas converged, and printing the figures.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/fault_cluster.hpp"
#include "testing/history.hpp"

namespace tally::faultsuite {

using Clock = std::chrono::steady_clock;

// TALLY_LONG: the long schedules (make check-long, make check-faults).
bool long_form();
// TALLY_SEED, or a random seed drawn once for the whole process.
uint64_t run_seed();
int64_t ms_since(Clock::time_point t);
// The fault schedule's own timing ("isolated 2 s"): a wait for a moment, not
// for a condition.
void until(Clock::time_point t);

// What every scenario reports.
struct Run {
  std::string skipped;  // why this machine cannot run it
  std::string error;    // why it did not run as scripted
  uint64_t seed = 0;
  std::vector<testing::Op> ops;
  testing::CheckResult lost, stale;
  bool converged = false;
  int64_t convergence_ms = -1;  // from the heal (or the load's end) to every replica agreeing
  std::string not_converged;
};

// Catch2 v2 has no SKIP: a scenario this machine cannot run passes with a
// warning that says why.
#define SKIP_IF_UNAVAILABLE(run)                                                                  \
  if (!(run).skipped.empty()) {                                                                   \
    WARN("SKIPPED: the fault suite needs network namespaces and iptables: " << (run).skipped);    \
    return;                                                                                       \
  }                                                                                               \
  INFO("seed " << (run).seed << " (TALLY_SEED=" << (run).seed << " replays its choices)");      \
  INFO((run).error);                                                                              \
  REQUIRE((run).error.empty())

// A started cluster, or nullptr with run.skipped (this machine cannot) or
// run.error (it did not start) set. Sets run.seed.
std::unique_ptr<clustertest::FaultCluster> start_cluster(Run& run, const clustertest::FaultCluster::Options& options = {});
// Waits (30 s at most) until every replica of every key written holds the
// same values, then judges run.ops against them (lost writes, stale reads).
void converge_and_check(Run& run, clustertest::FaultCluster& c, Clock::time_point since,
                        const std::string& keyspace = "");
// One line of figures, and the first violations of each check.
void print_figures(const std::string& scenario, const Run& run, const std::string& more = "");
// Whether a replica's copy holds `value` as a live sibling.
bool holds(const ReplicaCopy& copy, const std::string& value);
// What every run must show whatever issue 16's fixes change (CHECKs).
void check_holds_today(const Run& run);
// The keyspace names of a status' `keyspaces` field ("default(N=3,...) ks(...)").
std::set<std::string> keyspace_names(const std::string& field);

}  // namespace tally::faultsuite
