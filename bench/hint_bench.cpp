// hint_bench: how fast hints drain to a node that comes back, on real tallyd
// processes on this machine.
//
//   build/bench/hint_bench [--keys 10000] [--durability buffered|fsync]
//
// Three nodes (N=3). n3 is killed with -9 and, once n1 and n2 hold it down,
// --keys keys are written at W=2 through n1 and n2: each coordinator keeps a
// hint for n3. n3 is restarted; the time from its first answer to the moment
// n1 and n2 both hold no hint is the drain time. The run fails unless n1 and
// n2 count at least as many hints delivered as they held.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/bench_tools.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using Clock = std::chrono::steady_clock;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "hint_bench: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: hint_bench [--keys N] [--durability buffered|fsync]\n"
                  "Starts 3 tallyd (from BUILD, default build), writes N keys at W=2 while n3 is down,\n"
                  "restarts n3 and measures how long n1 and n2 take to hand it their hints.\n");
      return 0;
    }
  }
  const long keys = std::atol(option(argc, argv, "--keys", "10000"));
  const std::string durability = option(argc, argv, "--durability", "buffered");
  if (keys < 1 || (durability != "buffered" && durability != "fsync")) {
    return fail("--keys must be at least 1 and --durability buffered or fsync");
  }

  LocalCluster cluster({3, durability, "[hints]\nmax_hints = " + std::to_string(keys * 2) + "\n"});
  if (Status st = cluster.start(); !st.ok()) return fail(st.to_string());
  auto& nodes = cluster.nodes;
  auto watcher = connect_client(cluster.endpoints());
  const std::string n1 = nodes[0]->endpoint(), n2 = nodes[1]->endpoint(), n3 = nodes[2]->endpoint();

  nodes[2]->kill9();
  if (Status st = wait_for_peer_state({n1, n2}, "n3", /*up=*/false); !st.ok()) return fail(st.to_string());

  // The writes, pipelined through a client that knows only n1 and n2.
  ClientOptions o;
  o.endpoints = {n1 + "," + n2};
  auto writer = AsyncClient::connect(o);
  if (!writer.ok()) return fail(writer.status().to_string());
  WriteOptions w;
  w.w = 2;
  auto t_write = Clock::now();
  std::vector<std::future<Result<std::string>>> pending;
  long failed = 0;
  for (long i = 0; i < keys; ++i) {
    pending.push_back((*writer)->put("hint-" + std::to_string(i), std::string(100, 'v'), w));
    if (pending.size() == 256 || i + 1 == keys) {
      for (auto& f : pending) failed += f.get().ok() ? 0 : 1;
      pending.clear();
    }
  }
  double write_s = std::chrono::duration<double>(Clock::now() - t_write).count();
  if (failed) return fail(std::to_string(failed) + " writes failed");
  auto hints = [&] { return status_number(*watcher, n1, "hints_pending") + status_number(*watcher, n2, "hints_pending"); };
  if (!eventually([&] { return hints() >= keys; }, std::chrono::seconds(10))) {
    return fail("expected " + std::to_string(keys) + " hints, n1 and n2 hold " + std::to_string(hints()));
  }
  const long held = hints();
  std::printf("wrote %ld keys at W=2 with n3 down in %.2f s; n1 and n2 hold %ld hints for n3\n", keys, write_s, held);

  if (Status st = nodes[2]->start(); !st.ok()) return fail("restarting n3: " + st.to_string());
  auto back = Clock::now();
  if (!eventually([&] { return hints() == 0; }, std::chrono::seconds(120), std::chrono::milliseconds(5))) {
    return fail("hints not drained within 120 s: " + std::to_string(hints()) + " left");
  }
  double drain_s = std::chrono::duration<double>(Clock::now() - back).count();
  long delivered = status_number(*watcher, n1, "hints_delivered") + status_number(*watcher, n2, "hints_delivered");
  std::printf("n3 answered again; %ld hints drained in %.3f s (%.0f hints/s, durability %s); "
              "hints_delivered on n1+n2: %ld\n",
              held, drain_s, static_cast<double>(held) / drain_s, durability.c_str(), delivered);
  if (delivered < held) return fail("fewer hints delivered than were held");
  return 0;
}
