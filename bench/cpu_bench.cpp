// cpu_bench: server CPU per operation, the way a Redis user would load a
// cluster, on real tallyd processes on this machine.
//
//   build/bench/cpu_bench [--durability buffered|fsync] [--requests 100000]
//                         [--clients 50] [--value-bytes 100] [--keys 100000]
//                         [--runs 1]
//
// Three nodes (N=3, R=2, W=2), each with a RESP port. For each run,
// redis-benchmark sends SETs, then GETs, to n1's RESP port (`-t set` then
// `-t get`, random keys out of --keys). Before and after each, the user and
// system CPU time of the three tallyd processes is read from
// /proc/PID/stat; their sum divided by the requests is the server CPU per
// operation. Prints one line per run and test: requests per second, p50 and
// p99 latency as redis-benchmark measured them, CPU µs per operation, and
// records written per disk batch (per fsync under durability fsync: group
// commit at work; from the nodes' status); then the medians over the runs.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "testing/bench_tools.hpp"
#include "testing/cluster_harness.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "cpu_bench: %s\n", why.c_str());
  return 1;
}

// utime + stime of a process, in seconds; -1 if it cannot be read.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  // The command name (field 2) is in parentheses and may hold spaces: count
  // fields from the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string w; rest >> w;) fields.push_back(w);
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  if (fields.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / ticks;
}

// Records written and disk batches (fsyncs under durability fsync) of every
// node, summed; {-1, -1} if a status cannot be read.
std::pair<double, double> cluster_batches(const LocalCluster& c, Client& client) {
  double writes = 0, batches = 0;
  for (const auto& n : c.nodes) {
    auto w = clustertest::status_number(client, n->endpoint(), std::string("store_writes"));
    auto b = clustertest::status_number(client, n->endpoint(), std::string("store_batches"));
    if (!w || !b) return {-1, -1};
    writes += static_cast<double>(*w);
    batches += static_cast<double>(*b);
  }
  return {writes, batches};
}

double cluster_cpu(const LocalCluster& c) {
  double sum = 0;
  for (const auto& n : c.nodes) {
    const double s = cpu_seconds(n->pid());
    if (s < 0) return -1;
    sum += s;
  }
  return sum;
}

// One row of redis-benchmark's --csv output, by column name.
std::map<std::string, double> parse_csv(const std::string& out) {
  auto cells = [](const std::string& line) {
    std::vector<std::string> v;
    std::string cur;
    bool quoted = false;
    for (char ch : line) {
      if (ch == '"') {
        quoted = !quoted;
      } else if (ch == ',' && !quoted) {
        v.push_back(cur);
        cur.clear();
      } else if (ch != '\r') {
        cur += ch;
      }
    }
    v.push_back(cur);
    return v;
  };
  std::istringstream in(out);
  std::vector<std::string> header;
  std::map<std::string, double> row;
  for (std::string line; std::getline(in, line);) {
    auto v = cells(line);
    if (!v.empty() && v[0] == "test") {
      header = v;
    } else if (!header.empty() && v.size() == header.size()) {
      for (size_t i = 1; i < v.size(); ++i) row[header[i]] = std::atof(v[i].c_str());
    }
  }
  return row;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
    std::printf(
        "usage: cpu_bench [--durability buffered|fsync] [--requests N] [--clients C] [--value-bytes D]\n"
        "                 [--keys K] [--runs R]\n"
        "Server CPU per SET and GET (user+system time of the 3 tallyd processes / requests),\n"
        "with redis-benchmark against one node's RESP port; N=3 R=2 W=2.\n");
    return 0;
  }
  const std::string durability = option(argc, argv, "--durability", "buffered");
  const long requests = std::atol(option(argc, argv, "--requests", "100000"));
  const long clients = std::atol(option(argc, argv, "--clients", "50"));
  const long value_bytes = std::atol(option(argc, argv, "--value-bytes", "100"));
  const long keys = std::atol(option(argc, argv, "--keys", "100000"));
  const long runs = std::atol(option(argc, argv, "--runs", "1"));
  if (durability != "buffered" && durability != "fsync") return fail("--durability: buffered or fsync");
  if (requests <= 0 || clients <= 0 || value_bytes < 0 || keys <= 0 || runs <= 0) {
    return fail("--requests, --clients, --keys and --runs must be positive");
  }
  if (run("command -v redis-benchmark").exit_code != 0) return fail("redis-benchmark not found (make deps)");

  LocalCluster c({3, durability, "", true});
  Status s = c.start();
  if (!s.ok()) return fail("cluster did not start: " + s.to_string());
  const int port = c.specs[0].resp_port;

  std::printf("3 nodes, %s, N=3 R=2 W=2; redis-benchmark -c %ld -d %ld -r %ld -n %ld on n1's RESP port\n",
              durability.c_str(), clients, value_bytes, keys, requests);
  auto client = connect_client(c.endpoints());
  std::printf("%-4s %-4s %10s %9s %9s %12s %14s\n", "run", "test", "rps", "p50 ms", "p99 ms", "cpu us/op",
              "writes/batch");
  std::map<std::string, std::vector<double>> rps, p50, p99, cpu;
  for (long r = 1; r <= runs; ++r) {
    for (const char* test : {"set", "get"}) {
      const auto batches_before = cluster_batches(c, *client);
      const double before = cluster_cpu(c);
      const std::string cmd = "timeout 600 redis-benchmark -h 127.0.0.1 -p " + std::to_string(port) + " -t " + test +
                              " -n " + std::to_string(requests) + " -c " + std::to_string(clients) + " -d " +
                              std::to_string(value_bytes) + " -r " + std::to_string(keys) + " --csv";
      CommandResult out = run(cmd);
      const double after = cluster_cpu(c);
      const auto batches_after = cluster_batches(c, *client);
      const double batch_writes = batches_after.second > batches_before.second && batches_before.first >= 0
                                      ? (batches_after.first - batches_before.first) /
                                            (batches_after.second - batches_before.second)
                                      : 0;      if (out.exit_code != 0) return fail(std::string(test) + ": redis-benchmark failed: " + out.out);
      if (before < 0 || after < 0) return fail("cannot read /proc/PID/stat of the nodes");
      auto row = parse_csv(out.out);
      if (!row.count("rps")) return fail(std::string(test) + ": no CSV row in: " + out.out);
      const double us = (after - before) * 1e6 / static_cast<double>(requests);
      std::printf("%-4ld %-4s %10.0f %9.3f %9.3f %12.1f %14.1f\n", r, test, row["rps"], row["p50_latency_ms"],
                  row["p99_latency_ms"], us, batch_writes);
      rps[test].push_back(row["rps"]);
      p50[test].push_back(row["p50_latency_ms"]);
      p99[test].push_back(row["p99_latency_ms"]);
      cpu[test].push_back(us);
    }
  }
  for (const char* test : {"set", "get"}) {
    std::printf("median %-4s %10.0f %9.3f %9.3f %12.1f\n", test, median(rps[test]), median(p50[test]),
                median(p99[test]), median(cpu[test]));
  }
  return 0;
}
