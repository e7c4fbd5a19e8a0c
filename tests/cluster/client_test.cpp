// The client library and the CLI against real nodes: the embedding example
// (it links only the public library), routing around a killed node, and the
// CLI's help and usage errors for every command.
#include <catch2/catch.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

struct Nodes : LocalCluster {
  explicit Nodes(int n) : LocalCluster({n, "buffered"}) { REQUIRE(start().ok()); }
};

}  // namespace

TEST_CASE("the example program, linked with the client library alone, works sync and async", "[cluster][client]") {
  Nodes c(3);
  CommandResult r = run(build_dir() + "/example_client " + c.nodes[0]->endpoint() + "," + c.nodes[1]->endpoint());
  INFO(r.out);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("sync: put, get, put with context, del, get: ok"));
  CHECK_THAT(r.out, Catch::Contains("async: 100 puts (callbacks), 100 gets and 100 deletes (futures): ok"));
  CHECK(run(build_dir() + "/example_client").exit_code == 2);
}

TEST_CASE("a client whose only endpoint is killed carries on through the other nodes", "[cluster][client]") {
  Nodes c(5);
  // The client is given one node; it learns the others from the cluster map.
  ClientOptions o;
  o.endpoints = {c.nodes[0]->endpoint()};
  auto sync = Client::connect(o);
  auto async = AsyncClient::connect(o);
  REQUIRE(sync.ok());
  REQUIRE(async.ok());
  for (int i = 0; i < 20; ++i) REQUIRE((*sync)->put("before" + std::to_string(i), "v").ok());
  REQUIRE((*async)->put("warm", "v").get().ok());
  c.nodes[0]->kill9();
  int failures = 0;
  std::string first_error;
  for (int i = 0; i < 50; ++i) {
    std::string key = "after" + std::to_string(i);
    auto put = (*sync)->put(key, "v");
    auto got = (*sync)->get("before" + std::to_string(i % 20));
    if (!put.ok() || !got.ok() || got->values != std::vector<std::string>{"v"}) {
      ++failures;
      if (first_error.empty()) first_error = put.ok() ? got.status().to_string() : put.status().to_string();
    }
  }
  INFO(first_error);
  CHECK(failures == 0);
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  std::atomic<int> async_failures{0};
  for (int i = 0; i < 50; ++i) {
    (*async)->put("async" + std::to_string(i), "v", {}, [&](Result<std::string> r) {
      if (!r.ok()) ++async_failures;
      std::lock_guard<std::mutex> lock(mu);
      ++answered;
      cv.notify_one();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return answered == 50; }));
  CHECK(async_failures == 0);
}

TEST_CASE("every CLI command has --help; bad arguments are usage errors that say what is wrong",
          "[cluster][cli]") {
  std::string tally = build_dir() + "/tally";
  for (std::string cmd : {"put", "get", "del", "status", "ring", "cluster", "cluster status", "cluster promote",
                          "cluster demote", "node", "node join", "node leave", "node remove", "keyspace",
                          "keyspace create", "keyspace list", "keyspace alter", "keyspace drop"}) {
    INFO(cmd);
    CommandResult r = run(tally + " " + cmd + " --help");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Usage:"));
  }
  struct Bad {
    std::string args;
    std::string says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"get", "key is required"},
           {"put k v -w 0", "-w"},
           {"get k -r x", "-r"},
           {"frobnicate", "frobnicate"},
           {"keyspace create", "name is required"},
           {"keyspace create ks --mode maybe", "maybe"},
           {"node join n9", "address is required"},
           {"cluster", "subcommand"},
       }) {
    INFO(b.args);
    CommandResult r = run(tally + " -e 127.0.0.1:1 " + b.args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains(b.says));
  }
}

TEST_CASE("a client learns a newer map from the epoch its replies carry, and routes by it", "[cluster][client]") {
  Nodes c(3);
  auto admin = connect_client(c.nodes[0]->endpoint());
  // A client that never refreshes on a timer, and knows one node.
  ClientOptions o;
  o.endpoints = {c.nodes[0]->endpoint()};
  o.ring_refresh_ms = 0;
  auto client = Client::connect(o);
  REQUIRE(client.ok());
  REQUIRE((*client)->put("warm", "v").ok());  // it fetches the map (epoch 1)
  // A keyspace with one replica per key, made after the client took its map.
  REQUIRE(admin->create_keyspace(KeyspaceSpec{"single", 1, 1, 1}).ok());
  auto forwarded = [&] {
    long total = 0;
    for (auto& p : c.nodes) total += std::stol(connect_client(p->endpoint())->status()->field("forwarded"));
    return total;
  };
  WriteOptions w;
  w.keyspace = "single";
  // The first puts go where the old map says (n1, which forwards two in three);
  // their replies carry the new epoch, and the client fetches the new map.
  for (int i = 0; i < 5; ++i) REQUIRE((*client)->put("first" + std::to_string(i), "v", w).ok());
  // The client fetches that map in the background: wait until it routes by
  // it, that is, until a put of a key whose one replica is not n1 (where the
  // old map sends every put of the keyspace) is not forwarded.
  int probes = 0;
  bool routed = eventually(
      [&] {
        std::string key = "probe" + std::to_string(probes++);
        auto where = admin->replicas(key, "single");
        REQUIRE(where.ok());
        if (where->front() == "n1") return false;
        long forwarded_before = forwarded();
        REQUIRE((*client)->put(key, "v", w).ok());
        return forwarded() == forwarded_before;
      },
      std::chrono::seconds(5));
  INFO("probe puts: " << probes);
  REQUIRE(routed);
  long before = forwarded();
  for (int i = 0; i < 30; ++i) REQUIRE((*client)->put("k" + std::to_string(i), "v", w).ok());
  // Now every put went straight to its key's one replica: none was forwarded.
  CHECK(forwarded() == before);
}
