// meta_bench: how fast the metadata group commits a change, and how fast it
// recovers from losing its leader, on real tallyd processes on this machine.
//
//   build/bench/meta_bench [--nodes 5] [--changes 200] [--trials 20]
//
// 1. Commit latency: `--changes` keyspace alterations sent one after another
//    straight to the leader (durability fsync: every Raft Ready is fsynced).
// 2. Failover: `--trials` times, kill -9 the leader, then time until a change
//    sent to the survivors is committed by a new leader; restart the old one
//    and let it catch up before the next trial. All nodes are voters.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tally/client.hpp"
#include "testing/bench_tools.hpp"
#include "testing/cluster_harness.hpp"

using namespace tally;
using namespace tally::clustertest;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int leader_index(Client& c, const std::vector<NodeSpec>& specs) {
  auto info = c.cluster_info(true);
  if (!info.ok()) return -1;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].id == info->leader) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: meta_bench [--nodes N] [--changes N] [--trials N]\n"
                  "Starts N tallyd voters (fsync) from BUILD (default build), measures metadata commit\n"
                  "latency and the time to a new leader's first commit after kill -9 of the leader.\n");
      return 0;
    }
  }
  const int n = std::atoi(option(argc, argv, "--nodes", "5"));
  const int changes = std::atoi(option(argc, argv, "--changes", "200"));
  const int trials = std::atoi(option(argc, argv, "--trials", "20"));
  if (n < 3 || changes < 1 || trials < 0) {
    std::fprintf(stderr, "meta_bench: --nodes must be at least 3, --changes at least 1\n");
    return 2;
  }

  std::string voters;
  for (int i = 1; i <= n; ++i) voters += (i > 1 ? ", \"n" : "\"n") + std::to_string(i) + "\"";
  LocalCluster cluster({n, "fsync", "[cluster]\nvoters = [" + voters + "]\n"});
  if (Status st = cluster.start(); !st.ok()) {
    std::fprintf(stderr, "meta_bench: %s\n", st.to_string().c_str());
    return 1;
  }
  const std::vector<NodeSpec>& specs = cluster.specs;
  std::vector<std::unique_ptr<TallydProcess>>& nodes = cluster.nodes;
  auto client = connect_client(cluster.endpoints());
  int leader = -1;
  for (int i = 0; i < 100 && leader < 0; ++i) {
    leader = leader_index(*client, specs);
    if (leader < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (leader < 0) {
    std::fprintf(stderr, "meta_bench: no metadata leader\n");
    return 1;
  }

  // 1. Commit latency, at the leader.
  auto at_leader = connect_client(nodes[leader]->endpoint());
  std::vector<double> commit_ms;
  for (int i = 0; i < changes; ++i) {
    KeyspaceSpec spec{"default"};
    spec.r = 1 + i % 2;
    auto t = Clock::now();
    auto r = at_leader->alter_keyspace(spec);
    if (!r.ok()) {
      std::fprintf(stderr, "meta_bench: change %d: %s\n", i, r.status().to_string().c_str());
      return 1;
    }
    commit_ms.push_back(ms_since(t));
  }
  std::printf("metadata commit (%d voters, fsync, %d changes at the leader): p50 %.2f ms  p90 %.2f ms  "
              "p99 %.2f ms  max %.2f ms\n",
              n, changes, percentile(commit_ms, 50), percentile(commit_ms, 90), percentile(commit_ms, 99),
              percentile(commit_ms, 100));

  // 2. Failover.
  std::vector<double> failover_ms;
  for (int t = 0; t < trials; ++t) {
    leader = leader_index(*client, specs);
    if (leader < 0) {
      std::fprintf(stderr, "meta_bench: trial %d: no leader\n", t);
      return 1;
    }
    std::string survivors;
    for (int i = 0; i < n; ++i) {
      if (i != leader) survivors += (survivors.empty() ? "" : ",") + nodes[i]->endpoint();
    }
    ClientOptions o;
    o.endpoints = {survivors};
    o.request_timeout_ms = 10000;
    o.secret_file = secret_file();
    auto c = Client::connect(o);
    nodes[leader]->kill9();
    auto killed = Clock::now();
    auto made = (*c)->create_keyspace(KeyspaceSpec{"failover" + std::to_string(t)});
    double took = ms_since(killed);
    if (!made.ok()) {
      std::fprintf(stderr, "meta_bench: trial %d: %s\n", t, made.status().to_string().c_str());
      return 1;
    }
    failover_ms.push_back(took);
    std::printf("  trial %2d: killed %s, a new leader committed after %.1f ms\n", t + 1, specs[leader].id.c_str(),
                took);
    Status st = nodes[leader]->start();
    if (!st.ok()) {
      std::fprintf(stderr, "meta_bench: restart: %s\n", st.to_string().c_str());
      return 1;
    }
    // Let it catch up, and the group settle, before the next kill.
    auto back = connect_client(nodes[leader]->endpoint());
    for (int i = 0; i < 200; ++i) {
      auto s = back->status();
      if (s.ok() && s->field("ring_epoch") == std::to_string(made->epoch) && s->field("meta_role") == "follower") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  if (trials > 0) {
    std::printf("failover (%d voters, %d trials, kill -9 of the leader to a new leader's first commit): "
                "p50 %.1f ms  max %.1f ms\n",
                n, trials, percentile(failover_ms, 50), percentile(failover_ms, 100));
  }
  return 0;
}
