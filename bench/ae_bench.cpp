// ae_bench: how long a replica whose data folder was wiped takes to get its
// keys back from anti-entropy alone, on real tallyd processes on this machine.
//
//   build/bench/ae_bench [--keys 10000] [--rate-kb 8192] [--interval-ms 100] [--repair]
//
// Four nodes (N=3; n4 is a learner of the metadata group, so wiping it
// breaks no Raft promise). --keys keys of 100 bytes are written at W=3, n4
// is killed with -9, its data folder removed and n4 restarted. The time from
// its first answer until its anti-entropy trees hold as many keys as before
// is the repair time. Background anti-entropy runs with --interval-ms and
// --rate-kb ([anti_entropy] interval_ms and rate_kb_per_sec); with --repair,
// `tally repair --node n4` is also asked for at once. Nothing reads.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tally/client.hpp"
#include "testing/bench_tools.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using Clock = std::chrono::steady_clock;

namespace {

// The keys in a node's trees, from `anti_entropy: T trees, K keys`; -1 while building.
long keys_held(Client& c, const std::string& endpoint) {
  auto st = c.status(endpoint);
  if (!st.ok()) return -1;
  std::string v = st->field("anti_entropy");
  auto comma = v.find(", ");
  return comma == std::string::npos ? -1 : std::atol(v.c_str() + comma + 2);
}

int fail(const std::string& why) {
  std::fprintf(stderr, "ae_bench: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (has_flag(argc, argv, "--help") || has_flag(argc, argv, "-h")) {
    std::printf(
        "usage: ae_bench [--keys N] [--rate-kb KIB_PER_S] [--interval-ms MS] [--repair]\n"
        "Starts 4 tallyd (from BUILD, default build), writes N keys at W=3, wipes n4's data "
        "folder,\n"
        "restarts it and measures how long anti-entropy alone takes to give it its keys back.\n");
    return 0;
  }
  const long keys = std::atol(option(argc, argv, "--keys", "10000"));
  const long rate_kb = std::atol(option(argc, argv, "--rate-kb", "8192"));
  const long interval_ms = std::atol(option(argc, argv, "--interval-ms", "100"));
  const bool repair = has_flag(argc, argv, "--repair");
  if (keys < 1 || rate_kb < 0 || interval_ms < 1) {
    return fail("--keys and --interval-ms must be at least 1, --rate-kb at least 0");
  }

  LocalCluster cluster({4, "buffered",
                        "[anti_entropy]\ninterval_ms = " + std::to_string(interval_ms) +
                            "\nrate_kb_per_sec = " + std::to_string(rate_kb) + "\n"});
  if (Status st = cluster.start(); !st.ok()) return fail(st.to_string());
  auto& n4 = *cluster.nodes[3];
  auto watcher = connect_client(cluster.endpoints());

  ClientOptions o;
  o.endpoints = {cluster.nodes[0]->endpoint() + "," + cluster.nodes[1]->endpoint() + "," +
                 cluster.nodes[2]->endpoint()};
  auto writer = AsyncClient::connect(o);
  if (!writer.ok()) return fail(writer.status().to_string());
  WriteOptions w;
  w.w = 3;
  std::vector<std::future<Result<std::string>>> pending;
  long failed = 0;
  for (long i = 0; i < keys; ++i) {
    pending.push_back((*writer)->put("ae-" + std::to_string(i), std::string(100, 'v'), w));
    if (pending.size() == 256 || i + 1 == keys) {
      for (auto& f : pending) failed += f.get().ok() ? 0 : 1;
      pending.clear();
    }
  }
  if (failed) return fail(std::to_string(failed) + " writes failed");
  // n4's share, once its trees hold still.
  long before = -1;
  eventually(
      [&] {
        long now = keys_held(*watcher, n4.endpoint());
        bool still = now > 0 && now == before;
        before = now;
        return still;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(500));
  if (before <= 0) return fail("n4 holds no keys");
  std::printf("wrote %ld keys at W=3; n4 holds %ld of them\n", keys, before);

  n4.kill9();
  std::filesystem::remove_all(cluster.dir.path + "/n4");
  if (Status st = n4.start(); !st.ok()) return fail("restarting n4: " + st.to_string());
  auto back = Clock::now();
  if (repair) {
    auto started = watcher->repair(n4.endpoint(), "", true);
    for (int i = 0; i < 100 && !started.ok() && started.status().code() == Code::kUnavailable;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // trees still building
      started = watcher->repair(n4.endpoint(), "", true);
    }
    if (!started.ok()) return fail("repair: " + started.status().to_string());
  }
  if (!eventually([&] { return keys_held(*watcher, n4.endpoint()) >= before; },
                  std::chrono::seconds(600), std::chrono::milliseconds(5))) {
    return fail("n4 holds " + std::to_string(keys_held(*watcher, n4.endpoint())) + " of " +
                std::to_string(before) + " keys after 600 s");
  }
  const double took = std::chrono::duration<double>(Clock::now() - back).count();
  long repaired = status_number(*watcher, n4.endpoint(), "ae_keys_repaired");
  std::printf(
      "n4 (data folder wiped) got %ld keys back in %.2f s (%.0f keys/s) by anti-entropy%s; "
      "interval %ld ms, rate limit %ld KiB/s; ae_keys_repaired on n4: %ld, read_repairs: %ld\n",
      before, took, before / took, repair ? " (tally repair --node n4)" : " in the background",
      interval_ms, rate_kb, repaired, status_number(*watcher, n4.endpoint(), "read_repairs"));
  return 0;
}
