// Separate hosts, simulated (issue 20): every other cluster test runs its
// nodes on 127.0.0.1 beside one shared folder; this one gives each node a
// host of its own. Three tallyd nodes, each in a network namespace with its
// own address on a bridge and its own folder holding what that host's disk
// would: its copy of the config (written as an operator writes it, the
// founding nodes named by their addresses), its copy of the secret and its
// data. A fifth namespace is the client's host; the client knows only n1's
// address and learns the others from the cluster map. Shown there: puts and
// gets at chosen R and W (the tally CLI, redis-cli and the client library),
// a kill -9 the cluster serves through and the restarted node catching up, a
// fourth host joining with `tallyd --join` and the data following it, and the
// client carrying on without the one node it was told about.
//
// Needs root (FaultNet); otherwise it passes with a warning that says it
// skipped. The namespaces take a FaultNet slot of their own (held by a lock
// file), so this test and the fault suite can run at once.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/fault_net.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPort = 7400;      // every node's, each on its own address
constexpr int kRespPort = 6379;  // Redis's own port: no other node shares the address
constexpr int kFounders = 3;     // n1..n3 found the cluster
constexpr int kJoiner = 3;       // n4's host (a FaultNet index)
constexpr int kClientHost = 4;   // the client's host

// One simulated machine: a network namespace and the folder that stands for
// its disk.
struct Host {
  std::string name;     // the node it runs ("n2"), or "client"
  std::string address;  // its address on the bridge
  std::string dir;      // its disk: tally.toml, secret, data/, tallyd.log
  std::string netns;
  std::string endpoint() const { return address + ":" + std::to_string(kPort); }
};

// The founding nodes' config, as an operator writes it and copies to every
// host: each node by the address it listens on, `data_dir` and `secret_file`
// relative to the file's own folder (so on each host, that host's).
std::string founders_config(const std::vector<Host>& hosts) {
  std::string toml =
      "[cluster]\n"
      "secret_file = \"secret\"\n"
      "voters = [\"n1\", \"n2\", \"n3\"]\n";
  for (int i = 0; i < kFounders; ++i) {
    toml += "\n[[nodes]]\nid = \"" + hosts[i].name + "\"\nlisten = \"" + hosts[i].endpoint() +
            "\"\nresp_listen = \"" + hosts[i].address + ":" + std::to_string(kRespPort) +
            "\"\ndata_dir = \"data\"\n";
  }
  return toml;
}

// A node added later names only itself; `tallyd --join` finds the cluster.
std::string joiner_config(const Host& host) {
  return "[cluster]\nsecret_file = \"secret\"\n\n[[nodes]]\nid = \"" + host.name +
         "\"\nlisten = \"" + host.endpoint() + "\"\nresp_listen = \"" + host.address + ":" +
         std::to_string(kRespPort) + "\"\ndata_dir = \"data\"\n";
}

// Lays out `host`'s disk: its config (when given) and its copy of the secret.
void provision(const Host& host, const std::string& config) {
  std::filesystem::create_directories(host.dir);
  if (!config.empty()) std::ofstream(host.dir + "/tally.toml") << config;
  std::filesystem::copy_file(secret_file(), host.dir + "/secret");
  ::chmod((host.dir + "/secret").c_str(), 0600);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE(
    "hosts: nodes on separate hosts serve a client that knows one address, through a kill -9 and a "
    "join",
    "[cluster][hosts]") {
  const auto began = Clock::now();
  auto made = FaultNet::create(5);
  if (!made.ok() && made.status().code() == Code::kUnavailable) {
    WARN("SKIPPED: separate hosts are simulated with network namespaces: "
         << made.status().to_string());
    return;
  }
  INFO(made.status().to_string());
  REQUIRE(made.ok());
  // Declared first, so that it goes last: the nodes are stopped before their
  // namespaces are removed, whichever REQUIRE ends the test.
  std::unique_ptr<FaultNet> net = std::move(*made);
  TempDir machines;
  std::vector<Host> hosts;
  for (int i = 0; i < net->size(); ++i) {
    const std::string name = i == kClientHost ? "client" : "n" + std::to_string(i + 1);
    hosts.push_back({name, net->address(i), machines.path + "/" + name, net->netns(i)});
  }
  const Host& client_host = hosts[kClientHost];
  const std::string seed = hosts[0].endpoint();  // all the client is told

  std::vector<std::unique_ptr<TallydProcess>> nodes;
  auto make_node = [&](int i, const std::string& config, const std::string& join) {
    provision(hosts[i], config);
    auto p = std::make_unique<TallydProcess>(hosts[i].dir + "/tally.toml", hosts[i].name, kPort,
                                             hosts[i].dir + "/tallyd.log", join);
    p->set_flags({});  // as an operator starts it: no fault injection
    p->place_in(hosts[i].netns, hosts[i].address);
    nodes.push_back(std::move(p));
  };
  const std::string config = founders_config(hosts);
  for (int i = 0; i < kFounders; ++i) make_node(i, config, "");
  provision(client_host, "");
  auto logs = [&] {
    std::string all;
    for (size_t i = 0; i < nodes.size(); ++i)
      all += "---- " + hosts[i].name + "\n" + nodes[i]->log();
    return all;
  };

  // The tally CLI and redis-cli on the client's host.
  auto cli = [&](const std::string& args) {
    return run("ip netns exec " + client_host.netns + " " + build_dir() + "/tally --secret-file " +
               client_host.dir + "/secret -e " + seed + " " + args);
  };
  // Checks a command's exit code, showing what it printed when it differs.
  auto exits = [](const CommandResult& r, int code) {
    INFO(r.out);
    CHECK(r.exit_code == code);
  };
  auto redis_cli = [&](const std::string& args) {
    return run("ip netns exec " + client_host.netns + " redis-cli -h " + hosts[0].address + " -p " +
               std::to_string(kRespPort) + " " + args);
  };

  for (auto& n : nodes) {
    Status s = n->start();
    INFO(s.to_string());
    REQUIRE(s.ok());
  }
  // Every node's config copy names the founders by address and nothing else:
  // the nodes find each other over the bridge.
  CHECK_THAT(config, !Catch::Contains("127.0.0.1"));
  CommandResult probe;
  const bool ready = eventually(
      [&] {
        probe = cli("put ready yes -w 3");
        return probe.exit_code == 0;
      },
      20000ms, 100ms);
  INFO(probe.out << "\n" << logs());
  REQUIRE(ready);
  const double ready_s = seconds_since(began);

  // ---- puts and gets at chosen R and W, by the CLI and redis-cli ------------
  CommandResult r = cli("put user:1 alice -w 3");
  exits(r, 0);
  r = cli("get user:1 -r 3");
  exits(r, 0);
  CHECK_THAT(r.out, Catch::Contains("alice"));
  r = cli("get user:1 -r 1");
  exits(r, 0);
  CHECK_THAT(r.out, Catch::Contains("alice"));
  r = cli("get user:1 -r 4");
  exits(r, 1);  // R beyond N=3: a clear error, not a read
  CHECK_THAT(r.out, Catch::Contains("R=4"));
  r = cli("ring user:1");
  exits(r, 0);
  for (const char* n : {"n1", "n2", "n3"}) CHECK_THAT(r.out, Catch::Contains(n));
  // Contrast: nothing listens on the client host's own loopback.
  r = run("ip netns exec " + client_host.netns + " " + build_dir() +
          "/tally -e 127.0.0.1:" + std::to_string(kPort) + " get user:1");
  exits(r, 5);
  r = redis_cli("SET user:2 bob");
  CHECK_THAT(r.out, Catch::Contains("OK"));
  r = cli("get user:2 -r 3");
  CHECK_THAT(r.out, Catch::Contains("bob"));

  // The client library, on the client's host, told only n1's address.
  ClientOptions options;
  options.endpoints = {seed};
  options.secret_file = client_host.dir + "/secret";
  std::unique_ptr<Client> client;
  bool in_client_netns = false;
  Status inside = net->run_inside(kClientHost, [&] {
    struct stat self {
    }, host{};
    in_client_netns = ::stat("/proc/thread-self/ns/net", &self) == 0 &&
                      ::stat(("/run/netns/" + client_host.netns).c_str(), &host) == 0 &&
                      self.st_dev == host.st_dev && self.st_ino == host.st_ino;
    auto c = Client::connect(options);
    if (c.ok()) client = std::move(*c);
  });
  INFO(inside.to_string());
  REQUIRE(inside.ok());
  REQUIRE(in_client_netns);
  REQUIRE(client);
  std::vector<std::string> keys;
  for (int i = 0; i < 24; ++i) {
    const std::string key = "key-" + std::to_string(i);
    auto put = client->put(key, "value-" + std::to_string(i), {.w = 2});
    INFO(key << ": " << put.status().to_string());
    REQUIRE(put.ok());
    keys.push_back(key);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto got = client->get(keys[i], {.r = 2});
    REQUIRE(got.ok());
    CHECK(got->values == std::vector<std::string>{"value-" + std::to_string(i)});
  }
  const double rw_s = seconds_since(began);

  // ---- kill -9 of n3: the cluster serves W=2 and R=2; W=3 fails and says why
  nodes[2]->kill9();
  r = cli("put while-down during -w 2");
  exits(r, 0);
  r = cli("get while-down -r 2");
  exits(r, 0);
  CHECK_THAT(r.out, Catch::Contains("during"));
  r = cli("put refused x -w 3");
  exits(r, 4);  // quorum not reached
  CHECK_THAT(r.out, Catch::Contains("n3"));
  for (int i = 0; i < 4; ++i) {
    auto put = client->put("down-" + std::to_string(i), "d" + std::to_string(i), {.w = 2});
    INFO(put.status().to_string());
    CHECK(put.ok());
  }

  // n3 comes back on its own disk and catches up on what it missed (its
  // peers' hints for it, or anti-entropy).
  Status restarted = nodes[2]->start();
  INFO(restarted.to_string() << "\n" << logs());
  REQUIRE(restarted.ok());
  CommandResult copy;
  const bool caught_up = eventually(
      [&] {
        copy = cli("get while-down --replica n3");
        return copy.exit_code == 0 && copy.out.find("during") != std::string::npos;
      },
      15000ms, 100ms);
  INFO(copy.out);
  REQUIRE(caught_up);
  REQUIRE(eventually(
      [&] {
        for (int i = 0; i < 4; ++i) {
          auto copy = client->get_replica("down-" + std::to_string(i), "n3");
          if (!copy.ok() || !copy->found) return false;
        }
        return true;
      },
      15000ms, 100ms));
  r = cli("put after-restart back -w 3");
  exits(r, 0);
  const double restart_s = seconds_since(began);

  // ---- a fourth host joins: `tallyd --join` with a config naming only itself
  make_node(kJoiner, joiner_config(hosts[kJoiner]), seed);
  Status joined = nodes[kJoiner]->start();
  INFO(joined.to_string());
  REQUIRE(joined.ok());
  r = cli("cluster status --wait --wait-timeout 30");
  INFO(r.out << "\n" << logs());
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.out, Catch::Contains("ring settled"));
  auto info = client->cluster_info();
  REQUIRE(info.ok());
  REQUIRE(info->member("n4"));
  CHECK(info->member("n4")->state == "normal");
  CHECK(info->member("n4")->address == hosts[kJoiner].endpoint());
  // The data followed the ring: n4 holds every key it is now a replica of,
  // written before it joined, as soon as it serves.
  int on_n4 = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto replicas = client->replicas(keys[i]);
    REQUIRE(replicas.ok());
    if (std::find(replicas->begin(), replicas->end(), "n4") == replicas->end()) continue;
    ++on_n4;
    auto copy = client->get_replica(keys[i], "n4");
    INFO(keys[i] << ": " << copy.status().to_string());
    REQUIRE(copy.ok());
    CHECK(copy->found);
    auto got = client->get(keys[i], {.r = 3});
    REQUIRE(got.ok());
    CHECK(got->values == std::vector<std::string>{"value-" + std::to_string(i)});
  }
  CHECK(on_n4 >= 6);  // with 4 nodes and N=3, about 3/4 of the keys
  r = cli("ring");
  CHECK_THAT(r.out, Catch::Contains("n4"));
  const double join_s = seconds_since(began);

  // ---- the one node the client was told about dies: the client knows the
  // others from the map and carries on at W=2 and R=2.
  nodes[0]->kill9();
  for (size_t i = 0; i < 8; ++i) {
    auto put = client->put("after-seed-" + std::to_string(i), "s", {.w = 2});
    INFO(put.status().to_string());
    CHECK(put.ok());
    auto got = client->get(keys[i], {.r = 2});
    INFO(got.status().to_string());
    REQUIRE(got.ok());
    CHECK(got->values == std::vector<std::string>{"value-" + std::to_string(i)});
  }
  // The CLI, a fresh process told only n1's address, cannot start and says so.
  r = cli("get user:1");
  exits(r, 5);
  const double total_s = seconds_since(began);
  std::printf(
      "hosts: ready %.1f s, R/W %.1f s, kill -9 and catch-up %.1f s, join %.1f s, total %.1f s\n",
      ready_s, rw_s, restart_s, join_s, total_s);
}

TEST_CASE(
    "hosts: tallyd refuses a cluster config whose listen address is a wildcard, naming the node",
    "[cluster][hosts]") {
  // Peers and clients are given each node's listen address: 0.0.0.0 would
  // send them to whatever listens on their own host.
  TempDir dir;
  NodeSpec n1{"n1", free_port(), 0, "0.0.0.0"}, n2{"n2", free_port()};
  const std::string config = write_config(dir.path, {n1, n2});
  CommandResult r = run(build_dir() + "/tallyd --config " + config + " --node n2");
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out,
             Catch::Contains("node n1 listens on 0.0.0.0:") && Catch::Contains("not a wildcard"));
  // A node joining names only itself: the same holds.
  NodeSpec joiner{"n3", free_port(), 0, "0.0.0.0"};
  r = run(build_dir() + "/tallyd --config " + write_config(dir.path, {joiner}) +
          " --join 127.0.0.1:" + std::to_string(n2.port));
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("node n3 listens on 0.0.0.0:"));
}
