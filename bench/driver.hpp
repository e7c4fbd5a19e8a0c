// bench/driver.hpp — the two ways tally-bench reaches a cluster, and what they share.
//
// run_on_cluster drives running tallyd nodes through the client library
// (AsyncClient); run_on_sim runs the same LoadGenerator against real Node
// objects in the deterministic simulator (src/sim), where time is virtual.
// Both run the load phase, then each (R, W) of the plan with the fault applied
// to one node for the run and cleared after it, and return one ConfigResult
// per configuration, PBS prediction included.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/driver_core.hpp"
#include "sim/sim_world.hpp"

namespace tally::bench {

struct BenchSettings {
  WorkloadOptions workload;
  std::string keyspace = "default";
  // The keyspace's N. Cluster: checked against the keyspace, or used to create
  // it when it does not exist (0: it must exist). Sim: 0 means 3.
  int n = 0;
  // Cluster: the keyspace's mode ("siblings", "lww" or "linearizable") to
  // create it with, or to check it has; empty: any (siblings if created). A
  // linearizable keyspace runs one configuration, without R and W.
  std::string mode;
  int r = 0, w = 0;  // 0: the keyspace's default
  bool sweep = false;
  FaultSpec fault;
  std::string fault_node;  // empty: the last member

  std::vector<std::string> endpoints;  // "host:port" of nodes (cluster mode)
  // The cluster secret's file (cluster mode): creating the keyspace and
  // setting faults are administrators' requests. The nodes must run with
  // --enable-fault-injection for --fault.
  std::string secret_file;

  int sim_nodes = 5;
  sim::NetworkFaults sim_network;  // the latency model, parsed from --sim-latency
  std::string sim_latency = "uniform:0.05ms-1ms";
  // Each simulated disk operation takes a uniform time in [min, max]; a
  // node's operations complete one after another (src/sim/sim_disk.hpp).
  uint64_t sim_disk_min_us = 20;
  uint64_t sim_disk_max_us = 200;
  std::string sim_disk = "20us-200us";
};

// The progress line on stderr: on a terminal one line rewritten in place,
// elsewhere one line per update. Updates come at most about once a second of
// wall time, so callers may call update() as often as they like.
class ProgressLine {
 public:
  explicit ProgressLine(std::FILE* out);

  // `config`: what is running ("R=2 W=2 (3/9)"); `clock_s`: the driver's clock
  // (virtual in the simulator), to compute ops/s; `note` follows the figures.
  // `force` prints now, however recent the last update.
  void update(std::string_view config, const Progress& progress, double clock_s,
              std::string_view note = {}, bool force = false);
  // Ends the line (a terminal keeps the last update on screen).
  void done();
  // A line of its own ("starting 100 simulated nodes"), ending any update's.
  void note(std::string_view text);

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool tty_;
  bool open_ = false;  // a line is on screen without its newline
  Clock::time_point last_print_{};
  std::string last_config_;
  double last_clock_s_ = 0;
  uint64_t last_completed_ = 0;
  double rate_ = 0;
};

// Runs the plan against the cluster at settings.endpoints. `stop` (set by
// SIGINT) ends the current phase early and skips the rest; the fault is
// cleared either way. Errors: the cluster cannot be reached, the keyspace is
// missing or has another N or mode (kInvalidArgument), R, W or a sweep asked
// of a linearizable keyspace or workload cas of one that is not
// (kInvalidArgument), the fault node is unknown
// (kInvalidArgument), setting the fault fails, every key failed to load.
Result<std::vector<ConfigResult>> run_on_cluster(const BenchSettings& settings,
                                                 ProgressLine& progress,
                                                 const std::atomic<bool>& stop);

// The same against a simulated cluster of settings.sim_nodes nodes. Times,
// throughput included, are in simulated seconds.
Result<std::vector<ConfigResult>> run_on_sim(const BenchSettings& settings, ProgressLine& progress,
                                             const std::atomic<bool>& stop);

// Parses --sim-latency: "fixed:D", "uniform:D-D", "exp:D" (mean) or
// "lognormal:D[:SIGMA]" (mean, and the spread of ln(latency), default 0.5),
// where D is a number with a unit, us, ms or s ("0.5ms"). InvalidArgument
// saying what is wrong otherwise.
Result<sim::NetworkFaults> parse_sim_latency(std::string_view text);

// Parses --sim-disk, "MIN-MAX" with units as above ("20us-200us"): the range
// of one simulated disk operation's time, in microseconds.
Result<std::pair<uint64_t, uint64_t>> parse_sim_disk(std::string_view text);

}  // namespace tally::bench
