// Time to live on real tallyd processes: `SET k v PX 200` through redis-cli
// reads back, then reads as absent through every node, and is collected from
// every replica; TTL and PTTL answer as Redis does; `tally put --ttl`, the
// client library's ttl option, EXPIRE and PERSIST; and on a linearizable
// keyspace a SET NX with PX is a lease that frees itself.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

// Fast anti-entropy and a one-second grace, so that collection is seen in a test.
struct TtlCluster : LocalCluster {
  TtlCluster()
      : LocalCluster({3, "buffered",
                      "[request]\ntimeout_ms = 3000\n[anti_entropy]\ninterval_ms = 5\ntombstone_grace_s = 1\n",
                      /*resp=*/true}) {
    REQUIRE(start().ok());
  }
  std::string cli(int node, const std::string& args) const {
    return "redis-cli -p " + std::to_string(specs[node].resp_port) + " " + args + " 2>&1";
  }
  // Commands, one per line, through one redis-cli connection: no process
  // start between them.
  std::string pipe(int node, const std::string& lines) const {
    return run("printf '" + lines + "' | redis-cli -p " + std::to_string(specs[node].resp_port) + " 2>&1").out;
  }
};

uint64_t field(Client& c, const std::string& endpoint, const std::string& name) {
  return status_number(c, endpoint, name).value_or(0);
}

}  // namespace

TEST_CASE("SET PX 200 reads back, then reads as absent on every node, and is collected from every replica",
          "[cluster][ttl]") {
  TtlCluster c;
  const auto set_at = std::chrono::steady_clock::now();
  const std::string first = c.pipe(0, "SET k v PX 200\\nGET k\\nPTTL k\\nSET p forever\\nTTL p\\nTTL nope\\nPTTL nope\\n");
  const auto answered_in = std::chrono::steady_clock::now() - set_at;
  INFO(first);
  if (answered_in < 150ms) {
    // OK, the value, its time left (at most 200 ms), then -1 (no expiry) and -2 (absent) twice.
    CHECK_THAT(first, Catch::Matches("OK\nv\n(1[0-9][0-9]|200|[1-9][0-9]|[0-9])\nOK\n-1\n-2\n-2\n"));
  } else {
    WARN("the pipeline took " << std::chrono::duration_cast<std::chrono::milliseconds>(answered_in).count()
                              << " ms: the read-back of a 200 ms value is not judged");
  }
  // Absent through every node once 200 ms have passed (each node judges by its own clock).
  for (int node = 0; node < 3; ++node) {
    INFO("through n" << node + 1);
    CHECK(eventually([&] { return run(c.cli(node, "GET k")).out == "\n"; }, 5s));
    CHECK(run(c.cli(node, "TTL k")).out == "-2\n");
    CHECK(run(c.cli(node, "EXISTS k")).out == "0\n");
  }
  CHECK(std::chrono::steady_clock::now() - set_at >= 200ms);
  CHECK(run(c.cli(1, "GET p")).out == "forever\n");

  // Each replica still stores the value, marked expired, until it is collected
  // like a tombstone: once every replica holds the same record and the grace
  // (1 s here) has passed. Then no replica holds anything of the key.
  auto client = connect_client(c.endpoints());
  auto replicas = client->replicas("k");
  REQUIRE(replicas.ok());
  REQUIRE(replicas->size() == 3);
  CHECK(eventually(
      [&] {
        for (const std::string& node : *replicas) {
          auto copy = client->get_replica("k", node);
          if (!copy.ok() || copy->found) return false;
        }
        return true;
      },
      30s));
  uint64_t collected = 0;
  for (const auto& n : c.nodes) collected += field(*client, n->endpoint(), "tombstones_collected");
  CHECK(collected >= 3);
  // And it stays gone: anti-entropy brings nothing back.
  for (int node = 0; node < 3; ++node) CHECK(run(c.cli(node, "GET k")).out == "\n");
  CHECK(run(c.cli(2, "GET p")).out == "forever\n");
}

TEST_CASE("tally put --ttl, the library's ttl, EXPIRE and PERSIST", "[cluster][ttl]") {
  TtlCluster c;
  const std::string tally = build_dir() + "/tally -e " + c.nodes[0]->endpoint() + " ";
  CommandResult put = run(tally + "put session abc --ttl 60s");
  INFO(put.out);
  REQUIRE(put.exit_code == 0);
  CommandResult got = run(tally + "get session");
  INFO(got.out);
  CHECK(got.exit_code == 0);
  CHECK_THAT(got.out, Catch::Contains("abc\nexpires in: "));
  CommandResult json = run(tally + "--json get session");
  CHECK_THAT(json.out, Catch::Contains("\"ttl_ms\":["));
  // Bad durations are refused before anything is sent.
  CommandResult bad = run(tally + "put session x --ttl 10parsecs");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.out, Catch::Contains("--ttl '10parsecs' is not a duration"));
  CHECK(run(tally + "put session x --ttl 0").exit_code == 2);

  // The library: a value with ttl_ms reads with the time it has left, then is gone.
  auto client = connect_client(c.endpoints());
  WriteOptions o;
  o.ttl_ms = 800;
  REQUIRE(client->put("short", "lived", o).ok());
  auto r = client->get("short");
  REQUIRE(r.ok());
  if (r->found()) {
    REQUIRE(r->ttl_ms.size() == 1);
    CHECK(r->ttl_ms[0] > 0);
    CHECK(r->ttl_ms[0] <= 800);
  }
  CHECK(eventually([&] { auto g = client->get("short"); return g.ok() && !g->found(); }, 5s));
  CHECK(run(tally + "get short").exit_code == 3);
  WriteOptions del_ttl;
  del_ttl.ttl_ms = 5;
  CHECK(client->del("short", del_ttl).code() == Code::kInvalidArgument);

  // EXPIRE and PERSIST rewrite the value with a new time to live.
  CHECK(run(c.cli(0, "SET e v")).out == "OK\n");
  CHECK(run(c.cli(1, "TTL e")).out == "-1\n");
  CHECK(run(c.cli(1, "EXPIRE e 100")).out == "1\n");
  const std::string ttl = run(c.cli(2, "TTL e")).out;
  CHECK((ttl == "100\n" || ttl == "99\n"));
  CHECK(run(c.cli(0, "PERSIST e")).out == "1\n");
  CHECK(run(c.cli(0, "TTL e")).out == "-1\n");
  CHECK(run(c.cli(0, "PEXPIRE e 300")).out == "1\n");
  CHECK(eventually([&] { return run(c.cli(1, "GET e")).out == "\n"; }, 5s));
  CHECK(run(c.cli(1, "EXPIRE e 10")).out == "0\n");  // gone: nothing to expire
}

TEST_CASE("on a linearizable keyspace SET NX PX is a lease: taken once, free again when it runs out",
          "[cluster][ttl][linearizable]") {
  TtlCluster c;
  auto admin = connect_client(c.endpoints());
  REQUIRE(admin->create_keyspace(KeyspaceSpec{"locks", 3, 0, 0, "linearizable"}).ok());
  const std::string port = std::to_string(c.specs[1].resp_port);
  auto in_locks = [&](int node, const std::string& cmd) {
    return run("printf 'TALLY.KEYSPACE locks\\n" + cmd + "\\n' | redis-cli -p " +
               std::to_string(c.specs[node].resp_port) + " 2>&1")
        .out;
  };
  CHECK(in_locks(0, "SET lease alice NX PX 700") == "OK\nOK\n");
  CHECK(in_locks(1, "SET lease bob NX PX 700") == "OK\n\n");  // nil: alice holds it
  const std::string pttl = in_locks(2, "PTTL lease");
  INFO(pttl);
  CHECK_THAT(pttl, Catch::Matches("OK\n[1-7]?[0-9]?[0-9]\n"));
  // Once it ran out, the next NX takes it.
  CHECK(eventually([&] { return in_locks(1, "SET lease bob NX PX 5000") == "OK\nOK\n"; }, 5s));
  CHECK(in_locks(0, "GET lease") == "OK\nbob\n");
  CHECK(in_locks(0, "EXPIRE lease 60") == "OK\n1\n");
  const std::string ttl = in_locks(2, "TTL lease");
  CHECK((ttl == "OK\n60\n" || ttl == "OK\n59\n"));
}
