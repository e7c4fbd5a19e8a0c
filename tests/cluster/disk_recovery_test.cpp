// The store does not die of a transient error (docs/operations.md, "A failing
// disk"): on a real tallyd, "too many open files" (its file limit lowered
// with prlimit while it runs) and a full disk (its data folder on a small
// tmpfs) make writes fail with an error that names the cause while it lasts;
// reads go on; once the cause is gone the node reopens its database by itself,
// takes writes again, and holds every write it acknowledged.
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMiB = 1 << 20;

// 1 MiB that does not compress: LevelDB's tables hold it at full size.
std::string random_value(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string v(kMiB, '\0');
  for (size_t i = 0; i < v.size(); i += 8) {
    const uint64_t x = rng();
    std::memcpy(v.data() + i, &x, std::min<size_t>(8, v.size() - i));
  }
  return v;
}

// The lowest descriptor number `pid` does not use: with its file limit at
// that, it can open no file at all.
size_t lowest_free_fd(pid_t pid) {
  std::set<size_t> used;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') used.insert(std::stoul(e->d_name));
    }
    ::closedir(d);
  }
  size_t fd = 0;
  while (used.count(fd)) ++fd;
  return fd;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The node's `store` field ("ok", or "failing for ...: why").
std::string store_state(Client& client, const std::string& endpoint) {
  auto st = client.status(endpoint);
  return st.ok() ? st->field("store") : "status failed: " + st.status().to_string();
}

uint64_t recoveries(Client& client, const std::string& endpoint) {
  auto st = client.status(endpoint);
  return st.ok() ? std::stoull(st->field("store_recoveries")) : 0;
}

// Puts 1 MiB values under new keys "fill-<i>" until one fails (at most
// `limit`); records the acknowledged ones. Returns the failure, or Ok if none
// failed.
Status fill_until_failure(Client& client, std::vector<int>& acked, int limit) {
  static int next = 0;
  for (int n = 0; n < limit; ++n) {
    const int i = next++;
    auto r = client.put("fill-" + std::to_string(i), random_value(i));
    if (!r.ok()) return r.status();
    acked.push_back(i);
  }
  return Status::Ok();
}

// Every acknowledged value is there, byte for byte.
void check_acked(Client& client, const std::vector<int>& acked) {
  int wrong = 0;
  std::string first;
  for (int i : acked) {
    auto r = client.get("fill-" + std::to_string(i));
    if (!r.ok() || r->values != std::vector<std::string>{random_value(i)}) {
      if (wrong++ == 0) {
        first = "fill-" + std::to_string(i) + ": " +
                (r.ok() ? std::to_string(r->values.size()) + " values" : r.status().to_string());
      }
    }
  }
  INFO(wrong << " of " << acked.size() << " acknowledged values wrong, first " << first);
  CHECK(wrong == 0);
}

// While the cause lasts: status says the store is failing with `cause`,
// writes fail with it, reads go on; the reopen attempts (backing off up to
// 0.5 s) are turned down by the probe before the database is closed, so it
// stays open for reads.
void check_failing(Client& client, const std::string& endpoint, const std::string& cause) {
  CHECK(eventually([&] { return store_state(client, endpoint).rfind("failing", 0) == 0; }, 5000ms));
  CHECK_THAT(store_state(client, endpoint), Catch::Contains(cause));
  auto refused = client.put("during", "x");
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains(cause));
  CHECK(client.get("fill-0").ok());
  CHECK_FALSE(eventually([&] { return store_state(client, endpoint) == "ok"; }, 2500ms));
  CHECK_THAT(store_state(client, endpoint),
             Catch::Contains("reopen attempt") && Catch::Contains(" yet: "));
  CHECK(client.get("fill-1").ok());
}

// A tmpfs of `mib` MiB mounted on `path` for the life of the object.
struct Tmpfs {
  Tmpfs(const std::string& path, int mib) : path(path) {
    ::mkdir(path.c_str(), 0700);
    const std::string opts = "size=" + std::to_string(mib) + "m";
    mounted = ::mount("tmpfs", path.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted) why = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted) ::umount2(path.c_str(), MNT_DETACH);
  }
  std::string path;
  bool mounted = false;
  std::string why;
};

}  // namespace

TEST_CASE(
    "too many open files: writes fail while it lasts, the store reopens by itself once the limit "
    "is raised",
    "[cluster][disk]") {
  LocalCluster c({1, "fsync"});
  REQUIRE(c.start().ok());
  TallydProcess& node = *c.nodes[0];
  auto client = connect_client(node.endpoint());  // connected before the limit drops
  std::vector<int> acked;
  REQUIRE(fill_until_failure(*client, acked, 3).ok());
  REQUIRE(store_state(*client, node.endpoint()) == "ok");

  // No file can be opened from now on. LevelDB needs one when its 32 MiB
  // write buffer is full and it starts a new log.
  const std::string pid = std::to_string(node.pid());
  auto soft = run("prlimit --pid " + pid + " --nofile --output SOFT --noheadings");
  REQUIRE(soft.exit_code == 0);
  const std::string original = std::to_string(std::stoull(soft.out));
  REQUIRE(
      run("prlimit --pid " + pid + " --nofile=" + std::to_string(lowest_free_fd(node.pid())) + ":")
          .exit_code == 0);
  const auto limited = Clock::now();
  Status failed = fill_until_failure(*client, acked, 100);
  REQUIRE_FALSE(failed.ok());
  const auto first_failure = Clock::now();
  INFO(failed.to_string());
  CHECK_THAT(failed.message(), Catch::Contains("Too many open files"));

  check_failing(*client, node.endpoint(), "Too many open files");

  REQUIRE(run("prlimit --pid " + pid + " --nofile=" + original + ":").exit_code == 0);
  const auto raised = Clock::now();
  REQUIRE(eventually([&] { return store_state(*client, node.endpoint()) == "ok"; }, 15000ms));
  const double recovered_in = seconds_since(raised);
  WARN("too many open files: writes failed from "
       << std::chrono::duration<double>(first_failure - limited).count()
       << " s after the limit dropped for "
       << std::chrono::duration<double>(raised - first_failure).count()
       << " s; the store took writes again " << recovered_in << " s after the limit was raised");
  CHECK(recoveries(*client, node.endpoint()) == 1);
  // After the reopen the node reads its dot floor back before it takes puts:
  // `serving` reads yes a moment after `store` reads ok.
  REQUIRE(node.wait_serving(5000ms).ok());
  auto after = client->put("after", "y");
  INFO("the put after the reopen: " << after.status().to_string());
  REQUIRE(after.ok());
  check_acked(*client, acked);
  CHECK_THAT(node.log(), Catch::Contains("store failing"));
  CHECK_THAT(node.log(), Catch::Contains("store recovered"));
}

TEST_CASE(
    "a full disk: writes fail while it lasts, the store reopens by itself once space is freed, "
    "nothing "
    "acknowledged is lost",
    "[cluster][disk]") {
  if (::geteuid() != 0) {
    WARN("skipped: mounting a small tmpfs for the data folder needs root");
    return;
  }
  LocalCluster c({1, "fsync"});
  // The node's data folder (dir/n1) on a 64 MiB file system, 40 MiB of it
  // taken by a file the operator will delete.
  Tmpfs fs(c.dir.path + "/n1", 64);
  if (!fs.mounted) {
    WARN("skipped: cannot mount a tmpfs on " << fs.path << ": " << fs.why);
    return;
  }
  const std::string filler = fs.path + "/operator-filler";
  REQUIRE(run("dd if=/dev/zero of=" + filler + " bs=1M count=40 status=none").exit_code == 0);
  REQUIRE(c.start().ok());
  TallydProcess& node = *c.nodes[0];
  auto client = connect_client(node.endpoint());

  std::vector<int> acked;
  const auto started = Clock::now();
  Status failed = fill_until_failure(*client, acked, 60);
  REQUIRE_FALSE(failed.ok());
  const auto first_failure = Clock::now();
  INFO(failed.to_string());
  CHECK_THAT(failed.message(), Catch::Contains("No space left on device"));
  CHECK(acked.size() >= 10);

  check_failing(*client, node.endpoint(), "No space left on device");

  REQUIRE(::unlink(filler.c_str()) == 0);
  const auto freed = Clock::now();
  REQUIRE(eventually([&] { return store_state(*client, node.endpoint()) == "ok"; }, 15000ms));
  const double recovered_in = seconds_since(freed);
  WARN("full disk: " << acked.size() << " MiB acknowledged in "
                     << std::chrono::duration<double>(first_failure - started).count()
                     << " s, then writes failed for "
                     << std::chrono::duration<double>(freed - first_failure).count()
                     << " s until space was freed; the store took writes again " << recovered_in
                     << " s after");
  CHECK(recoveries(*client, node.endpoint()) == 1);
  // After the reopen the node reads its dot floor back before it takes puts:
  // `serving` reads yes a moment after `store` reads ok.
  REQUIRE(node.wait_serving(5000ms).ok());
  auto after = client->put("after", "y");
  INFO("the put after the reopen: " << after.status().to_string());
  REQUIRE(after.ok());
  check_acked(*client, acked);

  // What was acknowledged is on disk: a kill -9 and a restart keep it.
  node.kill9();
  REQUIRE(node.start().ok());
  auto again = connect_client(node.endpoint());
  check_acked(*again, acked);
  auto read_back = again->get("after");
  REQUIRE(read_back.ok());
  CHECK(read_back->values == std::vector<std::string>{"y"});
}
