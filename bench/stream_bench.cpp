// stream_bench: how fast a joining node streams its ranges in, and what the
// move costs the foreground, on real tallyd processes on this machine.
//
//   build/bench/stream_bench [--mib 1024] [--value-bytes 4096] [--rate-mb 0]
//                            [--durability buffered|fsync]
//
// Three nodes (N=3, W=2). --mib MiB of values are loaded (keys of
// --value-bytes each); then a foreground client does puts and gets of 100-byte
// values at R=2/W=2, one at a time, for 5 s (steady state), and goes on while
// a fourth node joins (--rate-mb: its streaming limit, 0 = none) until the
// join completes. Prints the bytes the joiner received, the time, MiB/s, and
// the foreground's p50/p99 for both periods.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tally/client.hpp"
#include "testing/bench_tools.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/temp_dir.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using Clock = std::chrono::steady_clock;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "stream_bench: %s\n", why.c_str());
  return 1;
}

// Latencies in microseconds, by operation.
struct Latencies {
  std::vector<double> put, get;
  uint64_t errors = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Puts and gets one at a time until `stop`, into `into` (swapped by the caller).
void foreground(const std::string& endpoints, std::atomic<bool>& stop, std::mutex& mu, Latencies*& into) {
  auto c = connect_client(endpoints);
  WriteOptions w;
  w.w = 2;
  ReadOptions r;
  r.r = 2;
  const std::string value(100, 'f');
  for (long i = 0; !stop; ++i) {
    const std::string key = "fg-" + std::to_string(i % 10000);
    auto t0 = Clock::now();
    bool ok = c->put(key, value, w).ok();
    auto t1 = Clock::now();
    bool ok2 = c->get(key, r).ok();
    auto t2 = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    into->put.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    into->get.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    into->errors += !ok + !ok2;
  }
}

void report(const char* what, const Latencies& l) {
  std::printf("  %-22s %7zu puts p50 %6.2f ms p99 %6.2f ms | %7zu gets p50 %6.2f ms p99 %6.2f ms | %llu errors\n",
              what, l.put.size(), percentile(l.put, 0.5) / 1000, percentile(l.put, 0.99) / 1000, l.get.size(),
              percentile(l.get, 0.5) / 1000, percentile(l.get, 0.99) / 1000,
              static_cast<unsigned long long>(l.errors));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: stream_bench [--mib 1024] [--value-bytes 4096] [--rate-mb 0] [--durability buffered|fsync]\n"
                  "Starts 3 tallyd (from BUILD, default build), loads MIB MiB at W=2, then joins a 4th node\n"
                  "while a client does R=2/W=2 puts and gets, and reports the streaming rate and the\n"
                  "foreground latencies before and during the move.\n");
      return 0;
    }
  }
  const long mib = std::atol(option(argc, argv, "--mib", "1024"));
  const long value_bytes = std::atol(option(argc, argv, "--value-bytes", "4096"));
  const long rate_mb = std::atol(option(argc, argv, "--rate-mb", "0"));
  const std::string durability = option(argc, argv, "--durability", "buffered");
  if (mib < 1 || value_bytes < 1 || rate_mb < 0 || (durability != "buffered" && durability != "fsync")) {
    return fail("--mib and --value-bytes must be at least 1, --rate-mb at least 0, --durability buffered or fsync");
  }
  const std::string streaming = "[streaming]\nrate_mb_per_s = " + std::to_string(rate_mb) + "\n";
  LocalCluster cluster({3, durability, streaming});
  if (Status st = cluster.start(); !st.ok()) return fail(st.to_string());
  const std::string endpoints = cluster.endpoints();
  auto watcher = connect_client(endpoints);

  // The data set, pipelined.
  const long keys = mib * (1L << 20) / value_bytes;
  ClientOptions o;
  o.endpoints = {endpoints};
  auto writer = AsyncClient::connect(o);
  if (!writer.ok()) return fail(writer.status().to_string());
  WriteOptions w;
  w.w = 2;
  const std::string value(static_cast<size_t>(value_bytes), 'v');
  auto t_load = Clock::now();
  std::vector<std::future<Result<std::string>>> pending;
  long failed = 0;
  for (long i = 0; i < keys; ++i) {
    pending.push_back((*writer)->put("data-" + std::to_string(i), value, w));
    if (pending.size() == 128 || i + 1 == keys) {
      for (auto& f : pending) failed += f.get().ok() ? 0 : 1;
      pending.clear();
    }
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  std::printf("loaded %ld keys of %ld bytes (%ld MiB, N=3) in %.1f s, %ld failed\n", keys, value_bytes, mib, load_s,
              failed);

  // Steady state.
  Latencies steady, moving;
  Latencies* into = &steady;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::thread fg([&] { foreground(endpoints, stop, mu, into); });
  std::this_thread::sleep_for(std::chrono::seconds(5));  // a measuring period, not a synchronization

  // The join.
  NodeSpec n4{"n4", free_port()};
  TempDir dir4;
  TallydProcess p4(write_config(dir4.path, {n4}, durability, streaming), "n4", n4.port, dir4.path + "/n4.log",
                   cluster.nodes[0]->endpoint());
  {
    std::lock_guard<std::mutex> lock(mu);
    into = &moving;
  }
  auto t_join = Clock::now();
  if (Status st = p4.start(); !st.ok()) {
    stop = true;
    fg.join();
    return fail("n4: " + st.to_string());
  }
  bool joined = eventually(
      [&] {
        auto info = watcher->cluster_info();
        return info.ok() && info->member("n4") && info->member("n4")->state == "normal";
      },
      std::chrono::seconds(3600), std::chrono::milliseconds(20));
  const double join_s = std::chrono::duration<double>(Clock::now() - t_join).count();
  stop = true;
  fg.join();
  if (!joined) return fail("n4 did not become normal within an hour");
  const long bytes = status_number(*watcher, p4.endpoint(), "streamed_in_bytes");
  const long recs = status_number(*watcher, p4.endpoint(), "streamed_in");
  std::printf("n4 joined in %.2f s: received %ld records, %.1f MiB (%.1f MiB/s over the whole join; "
              "rate limit %s)\n",
              join_s, recs, static_cast<double>(bytes) / (1 << 20),
              static_cast<double>(bytes) / (1 << 20) / join_s,
              rate_mb ? (std::to_string(rate_mb) + " MiB/s").c_str() : "none");
  if (std::getenv("STREAM_BENCH_LOG")) std::printf("%s\n", p4.log().c_str());
  std::printf("foreground, one client, R=2 W=2, 100-byte values:\n");
  report("steady (5 s)", steady);
  report("during the join", moving);
  return 0;
}
