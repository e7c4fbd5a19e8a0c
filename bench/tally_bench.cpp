// tally-bench: how quorum settings trade consistency for latency, measured.
//
// Drives a running cluster through the client library (or the simulator with
// --sim) with a YCSB-style workload, for one (R, W) or every pair of a sweep,
// optionally with one node slowed down or cut off from its peers, and reports
// throughput, latency percentiles, errors, and measured staleness next to the
// PBS model's prediction. docs/tally-bench.md explains the output.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench/driver.hpp"
#include "bench/lib/svg.hpp"
#include "tally/version.hpp"

namespace {

using namespace tally;
using namespace tally::bench;

enum Exit : int {
  kOk = 0,
  kError = 1,          // the run failed (cluster unreachable, output not written, ...)
  kUsage = 2,          // bad command line, or options the cluster contradicts
  kInterrupted = 130,  // SIGINT: what was measured so far is still reported
};

// Set by the first SIGINT, which ends the run gracefully (the fault is
// cleared, results are reported); a second one kills as usual. A signal
// handler can only reach static storage; the drivers see it by reference.
std::atomic<bool> interrupted{false};
extern "C" void on_sigint(int) {
  interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);
}

std::vector<std::string> split_endpoints(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The latency CDFs of gets and cas (solid) and puts (dashed) in one figure,
// one colour per configuration.
Plot latency_plot(std::span<const ConfigResult> results) {
  Plot plot = latency_cdf_plot(results, Op::kGet);
  Plot puts = latency_cdf_plot(results, Op::kPut);
  Plot cas = latency_cdf_plot(results, Op::kCas);
  plot.title = "Latency CDF per configuration (get and cas solid, put dashed)";
  plot.x_label = "latency (ms, log scale)";
  plot.y_label = "fraction of operations at most that slow";
  std::vector<Series> series;
  for (size_t i = 0; i < results.size(); ++i) {
    int color = static_cast<int>(i);
    if (!results[i].get_latency_ns.empty()) {
      Series s = plot.series[i];
      s.name += " get";
      s.color = color;
      series.push_back(std::move(s));
    }
    if (!results[i].put_latency_ns.empty()) {
      Series s = puts.series[i];
      s.name += " put";
      s.color = color;
      s.dashed = true;
      series.push_back(std::move(s));
    }
    if (!results[i].cas_latency_ns.empty()) {
      Series s = cas.series[i];
      s.name += " cas";
      s.color = color;
      series.push_back(std::move(s));
    }
  }
  plot.series = std::move(series);
  return plot;
}

// Writes one output file with `write`; false (and a message) if it fails.
template <class Write>
bool write_file(const std::filesystem::path& path, Write write) {
  std::ofstream out(path);
  write(out);
  out.close();
  if (!out) {
    std::fprintf(stderr, "tally-bench: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

bool write_outputs(const std::string& dir, std::span<const ConfigResult> results) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "tally-bench: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return false;
  }
  const std::filesystem::path d(dir);
  bool ok = write_file(d / "results.csv", [&](std::ostream& o) { write_csv(o, results); });
  ok &= write_file(d / "staleness.csv", [&](std::ostream& o) { write_staleness_csv(o, results); });
  ok &= write_file(d / "results.json", [&](std::ostream& o) { write_json(o, results); });
  ok &= write_file(d / "timeline.csv", [&](std::ostream& o) { write_timeline_csv(o, results); });
  ok &= write_file(d / "latency_cdf.svg",
                   [&](std::ostream& o) { write_svg(o, latency_plot(results)); });
  ok &= write_file(d / "staleness.svg",
                   [&](std::ostream& o) { write_svg(o, staleness_plot(results)); });
  ok &= write_file(d / "tradeoff.svg",
                   [&](std::ostream& o) { write_svg(o, tradeoff_plot(results)); });
  if (ok) {
    std::fprintf(stderr,
                 "tally-bench: wrote results.csv, staleness.csv, timeline.csv, results.json, "
                 "latency_cdf.svg, staleness.svg and tradeoff.svg to %s\n",
                 dir.c_str());
  }
  return ok;
}

void print_header(const BenchSettings& s, bool sim, const std::string& with_linearizable) {
  const WorkloadOptions& w = s.workload;
  std::printf(
      "tally-bench: workload %s (%.0f%% get), %s keys over %llu, %zu-byte values, %d in flight, ",
      std::string(workload_name(w.workload)).c_str(), 100 * get_fraction(w.workload),
      std::string(key_distribution_name(w.distribution)).c_str(),
      static_cast<unsigned long long>(w.keys), w.value_size, w.concurrency);
  if (w.rate > 0) {
    std::printf("open loop at %.0f ops/s", w.rate);
  } else {
    std::printf("closed loop");
  }
  std::printf("; %g s warm-up + %g s per configuration; seed %llu\n", w.warmup_s, w.duration_s,
              static_cast<unsigned long long>(w.seed));
  if (sim) {
    std::printf(
        "simulator: %d nodes, network latency %s, disk %s per operation, keyspace %s; times and "
        "ops/s "
        "are SIMULATED seconds\n",
        s.sim_nodes, s.sim_latency.c_str(), s.sim_disk.c_str(), s.keyspace.c_str());
  } else {
    std::string eps;
    for (const auto& e : s.endpoints) eps += (eps.empty() ? "" : ",") + e;
    std::printf("cluster: %s, keyspace %s", eps.c_str(), s.keyspace.c_str());
    if (!with_linearizable.empty()) {
      std::printf(", then linearizable keyspace %s", with_linearizable.c_str());
    }
    std::printf("\n");
  }
  std::printf(
      "PBS: WARS legs from probes during each run: A, S = half a ping; W = a W=1 put less half a "
      "ping; "
      "R = an R=1 get less half a ping\n     (a fault's delay added to the slow node's A and S); "
      "no prediction with a node down. See docs/tally-bench.md\n\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tally-bench: measure what quorum settings (R, W) cost in latency and buy in consistency"};
  app.set_version_flag("--version", "tally-bench " + std::string(tally::kVersion));
  BenchSettings s;
  std::string endpoints = "127.0.0.1:7401";
  std::string workload = "a", distribution = "zipfian", fault = "none", out_dir;
  std::string with_linearizable;
  bool use_sim = false;
  double window_ms = 100;

  app.add_option("-e,--endpoints", endpoints, "comma-separated host:port of nodes (cluster mode)")
      ->envname("TALLY_ENDPOINTS")
      ->capture_default_str();
  app.add_option("--secret-file", s.secret_file,
                 "cluster mode: the cluster secret's file, to create the keyspace and set faults (the nodes "
                 "must run with --enable-fault-injection for --fault)")
      ->envname("TALLY_SECRET_FILE");
  app.add_option("-k,--keyspace", s.keyspace, "keyspace to read and write")->capture_default_str();
  app.add_option(
         "--n", s.n,
         "the keyspace's N: cluster mode creates the keyspace with it if it does not exist (else "
         "checks it); sim mode uses it (default 3)")
      ->check(CLI::Range(1, 16));
  app.add_option("--mode", s.mode,
                 "cluster mode: the keyspace's mode (siblings, lww or linearizable): create it with it "
                 "(with --n) if it does not exist, else check it has it")
      ->check(CLI::IsMember({"siblings", "lww", "linearizable"}));
  app.add_option("--with-linearizable", with_linearizable,
                 "cluster mode: after the run(s) on --keyspace, run the same workload on this "
                 "linearizable keyspace (created with --n if it does not exist) and report it beside them");
  app.add_option("--workload", workload,
                 "a: 50% get 50% put; b: 95/5; c: read only; w: write only; cas: compare-and-set only "
                 "(a get, then a put_if of the next version; linearizable keyspaces)")
      ->capture_default_str();
  app.add_option("--keys", s.workload.keys, "number of distinct keys")->capture_default_str();
  app.add_option("--distribution", distribution,
                 "key popularity: uniform or zipfian (YCSB's, theta 0.99)")
      ->capture_default_str();
  app.add_option("--value-size", s.workload.value_size,
                 "bytes per value (a version prefix included)")
      ->capture_default_str();
  app.add_option("--concurrency", s.workload.concurrency, "requests in flight at most")
      ->capture_default_str();
  app.add_option("--duration", s.workload.duration_s, "measured seconds per configuration")
      ->capture_default_str();
  app.add_option("--warmup", s.workload.warmup_s, "seconds per configuration before measuring")
      ->capture_default_str();
  app.add_option(
         "--rate", s.workload.rate,
         "open loop: operations per second on a fixed timetable, latency measured from each "
         "operation's scheduled start (0: closed loop, each slot sends again when answered)")
      ->capture_default_str();
  app.add_option("--window", window_ms,
                 "the timeline's window in ms: timeline.csv (with --out) gives each window's "
                 "operations and p50, p99 and max latency, where a tail that comes in bursts shows")
      ->capture_default_str();
  app.add_option("--r", s.r, "read quorum (1..N; default: the keyspace's R)")
      ->check(CLI::Range(1, 255));
  app.add_option("--w", s.w, "write quorum (1..N; default: the keyspace's W)")
      ->check(CLI::Range(1, 255));
  app.add_flag("--sweep", s.sweep, "run every (R, W) with R and W in 1..N, instead of --r/--w");
  app.add_option(
         "--fault", fault,
         "during each run, on one node: none; delay:MS (it answers the other nodes' replica "
         "requests MS ms late); down (it ignores its peers, who hold it down). Cleared after each "
         "run")
      ->capture_default_str();
  app.add_option("--fault-node", s.fault_node,
                 "the node that plays the fault (default: the last one)");
  app.add_flag("--sim", use_sim, "run against the deterministic simulator instead of a cluster");
  app.add_option("--sim-nodes", s.sim_nodes, "simulated nodes")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option(
         "--sim-latency", s.sim_latency,
         "simulated one-way network latency: fixed:D, uniform:D-D, exp:D (mean) or "
         "lognormal:D[:SIGMA] (mean; SIGMA the spread of ln, default 0.5); D like 0.5ms, 200us")
      ->capture_default_str();
  app.add_option(
         "--sim-disk", s.sim_disk,
         "time of one simulated disk operation, uniform MIN-MAX; a node's operations queue one "
         "behind another")
      ->capture_default_str();
  app.add_option("--seed", s.workload.seed,
                 "seed of the key and operation choices (and of the simulator)")
      ->capture_default_str();
  app.add_option(
      "--out", out_dir,
      "write results.csv, staleness.csv, timeline.csv, results.json, latency_cdf.svg and "
      "staleness.svg here");
  app.footer(R"(Output: a progress line on stderr; at the end the tables on stdout
(docs/tally-bench.md explains each column). Exit codes: 0 ok; 1 the run failed;
2 bad options; 130 interrupted (what was measured is still reported). Examples:
  tally-bench -e 127.0.0.1:7401 --sweep --fault delay:2 --out results/
  tally-bench --sim --sim-nodes 100 --sim-latency exp:0.5ms --sweep --duration 3 --out sim/)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }

  auto usage = [](const Status& st) {
    std::fprintf(stderr, "tally-bench: %s\n", st.message().c_str());
    return kUsage;
  };
  auto wl = parse_workload(workload);
  if (!wl.ok()) return usage(wl.status());
  s.workload.workload = *wl;
  auto dist = parse_key_distribution(distribution);
  if (!dist.ok()) return usage(dist.status());
  s.workload.distribution = *dist;
  s.workload.window_s = window_ms / 1000;
  auto fs = parse_fault(fault);
  if (!fs.ok()) return usage(fs.status());
  s.fault = *fs;
  if (s.sweep && (s.r > 0 || s.w > 0)) {
    return usage(Status::InvalidArgument("--sweep runs every R and W: leave out --r and --w"));
  }
  if (!with_linearizable.empty() && use_sim) {
    return usage(Status::InvalidArgument("--with-linearizable needs a cluster, not --sim"));
  }
  if (!with_linearizable.empty() && s.workload.workload == Workload::kCas) {
    return usage(Status::InvalidArgument(
        "--with-linearizable runs the workload on --keyspace too, where cas does not apply: run "
        "--workload cas on the linearizable keyspace alone (--keyspace " + with_linearizable + ")"));
  }
  if (!with_linearizable.empty() && with_linearizable == s.keyspace) {
    return usage(Status::InvalidArgument("--with-linearizable names --keyspace itself: give another keyspace"));
  }
  if (!s.fault_node.empty() && s.fault.kind == FaultSpec::Kind::kNone) {
    return usage(Status::InvalidArgument("--fault-node needs --fault delay:MS or down"));
  }
  if (auto g = LoadGenerator::make(s.workload); !g.ok()) return usage(g.status());
  if (use_sim) {
    auto net = parse_sim_latency(s.sim_latency);
    if (!net.ok()) return usage(net.status());
    s.sim_network = *net;
    auto disk = parse_sim_disk(s.sim_disk);
    if (!disk.ok()) return usage(disk.status());
    s.sim_disk_min_us = disk->first;
    s.sim_disk_max_us = disk->second;
  } else {
    s.endpoints = split_endpoints(endpoints);
    if (s.endpoints.empty()) {
      return usage(Status::InvalidArgument("--endpoints: no endpoint given"));
    }
  }

  std::signal(SIGINT, on_sigint);
  ProgressLine progress(stderr);
  auto results =
      use_sim ? run_on_sim(s, progress, interrupted) : run_on_cluster(s, progress, interrupted);
  progress.done();
  if (results.ok() && !with_linearizable.empty() && !interrupted.load()) {
    // The same workload on the linearizable keyspace: one configuration.
    BenchSettings lin = s;
    lin.keyspace = with_linearizable;
    lin.mode = "linearizable";
    lin.sweep = false;
    lin.r = lin.w = 0;
    auto more = run_on_cluster(lin, progress, interrupted);
    progress.done();
    if (more.ok()) {
      for (auto& r : *more) results->push_back(std::move(r));
    } else {
      results = more.status();
    }
  }
  if (!results.ok()) {
    // Options the cluster contradicts are usage errors, said as such.
    if (results.status().code() == Code::kInvalidArgument) return usage(results.status());
    std::fprintf(stderr, "tally-bench: %s\n", results.status().to_string().c_str());
    return kError;
  }

  print_header(s, use_sim, with_linearizable);
  write_text_report(std::cout, *results);
  std::cout.flush();
  int rc = interrupted.load() ? kInterrupted : kOk;
  if (!out_dir.empty() && !write_outputs(out_dir, *results)) rc = kError;
  return rc;
}
