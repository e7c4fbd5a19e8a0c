// The Redis protocol on real tallyd processes, driven by Redis' own tools:
// redis-cli reads and writes, and redis-benchmark's SET/GET run completes
// without an error. (redis-tools is one of the packages `make deps` installs.)
#include <catch2/catch.hpp>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

// A generous quorum timeout: the benchmark shares this machine's two cores
// with three nodes, and a slow moment is not what these tests are about.
struct RespCluster : LocalCluster {
  RespCluster() : LocalCluster({3, "buffered", "[request]\ntimeout_ms = 5000\n", /*resp=*/true}) {
    REQUIRE(start().ok());
  }
  std::string cli(int node, const std::string& args) {
    return "redis-cli -p " + std::to_string(specs[node].resp_port) + " " + args + " 2>&1";
  }
};

}  // namespace

TEST_CASE("redis-cli sets and gets through any node, and tally sees the same data", "[cluster][redis]") {
  RespCluster c;
  CommandResult set = run(c.cli(0, "SET greeting hello"));
  INFO(set.out);
  REQUIRE(set.exit_code == 0);
  CHECK(set.out == "OK\n");
  // Through another node, and through tally's own client.
  CHECK(run(c.cli(1, "GET greeting")).out == "hello\n");
  auto client = connect_client(c.nodes[2]->endpoint());
  auto got = client->get("greeting");
  REQUIRE(got.ok());
  CHECK(got->values == std::vector<std::string>{"hello"});
  // SET overwrites (no sibling); DEL counts; EXISTS; MSET/MGET; INFO; an unknown command.
  CHECK(run(c.cli(2, "SET greeting bonjour")).out == "OK\n");
  CHECK(run(c.cli(0, "TALLY.SIBLINGS greeting")).out == "bonjour\n");
  CHECK(run(c.cli(0, "MSET a 1 b 2")).out == "OK\n");
  CHECK(run(c.cli(1, "MGET a b nope")).out == "1\n2\n\n");
  CHECK(run(c.cli(1, "EXISTS a b nope")).out == "2\n");
  CHECK(run(c.cli(2, "DEL a nope")).out == "1\n");
  CHECK_THAT(run(c.cli(0, "INFO")).out, Catch::Contains("node:n1"));
  CHECK_THAT(run(c.cli(0, "FLUSHALL")).out, Catch::Contains("ERR unknown command 'FLUSHALL'"));
  CHECK(run(c.cli(0, "PING")).out == "PONG\n");
  // Per-connection quorums: R=W=3 works with three nodes up; R=4 is refused by the node.
  std::string port = std::to_string(c.specs[0].resp_port);
  CommandResult q = run("printf 'TALLY.QUORUM 3 3\nSET q 1\nGET q\nTALLY.QUORUM 4 4\nGET q\n' | redis-cli -p " + port + " 2>&1");
  INFO(q.out);
  CHECK_THAT(q.out, Catch::StartsWith("OK\nOK\n1\nOK\n"));
  CHECK_THAT(q.out, Catch::Contains("R=4 is out of range 1..N=3"));
}

TEST_CASE("redis-benchmark -t set,get -n 100000 -c 50 -d 100 -r 100000 completes without errors",
          "[cluster][redis]") {
  RespCluster c;
  CommandResult bench = run("redis-benchmark -p " + std::to_string(c.specs[0].resp_port) +
                            " -t set,get -n 100000 -c 50 -d 100 -r 100000 -q 2>&1");
  INFO(bench.out);
  REQUIRE(bench.exit_code == 0);
  CHECK_THAT(bench.out, Catch::Contains("SET: "));
  CHECK_THAT(bench.out, Catch::Contains("GET: "));
  CHECK_THAT(bench.out, !Catch::Contains("ERR"));
  CHECK_THAT(bench.out, !Catch::Contains("rror"));
  WARN(bench.out);
  // The node counted no protocol errors.
  auto client = connect_client(c.nodes[0]->endpoint());
  auto st = client->status();
  REQUIRE(st.ok());
  CHECK(st->field("protocol_errors") == "0");
  CHECK(st->field("quorum_failures") == "0");
}
