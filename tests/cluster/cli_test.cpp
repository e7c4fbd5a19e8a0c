// The tally command as a user meets it: round trips, siblings and contexts,
// exit codes, --json, TALLY_ENDPOINTS, usage errors.
#include <catch2/catch.hpp>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"
#include "testing/wait.hpp"

using namespace tally::clustertest;

TEST_CASE("tally put/get/del round-trip with documented exit codes", "[cluster][cli]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());
  std::string tally = build_dir() + "/tally -e " + node.endpoint();

  CHECK(run(tally + " put k hello").exit_code == 0);
  auto got = run(tally + " get k");
  CHECK(got.exit_code == 0);
  CHECK(got.out.rfind("hello\ncontext: ", 0) == 0);

  // Two writes without a context are concurrent: both are kept, as siblings.
  CHECK(run(tally + " put k world").exit_code == 0);
  got = run(tally + " --json get k");
  CHECK(got.exit_code == 0);
  CHECK(got.out.find("\"values\":[\"hello\",\"world\"]") != std::string::npos);
  auto ctx_at = got.out.find("\"context\":\"") + 11;
  std::string ctx = got.out.substr(ctx_at, got.out.find('"', ctx_at) - ctx_at);
  // A put with the context the get returned replaces both.
  CHECK(run(tally + " put k resolved --context " + ctx).exit_code == 0);
  got = run(tally + " get k");
  CHECK(got.out.rfind("resolved\n", 0) == 0);

  // Value from stdin and from a file.
  CHECK(run("printf 'from stdin' | " + tally + " put s").exit_code == 0);
  CHECK(run(tally + " get s").out.rfind("from stdin\n", 0) == 0);
  CHECK(run("printf 'from file' > " + dir.path + "/v && " + tally + " put f -f " + dir.path + "/v").exit_code == 0);
  CHECK(run(tally + " get f").out.rfind("from file\n", 0) == 0);
  // A folder is not a file: refused, and nothing is stored.
  auto folder = run(tally + " put d -f " + dir.path);
  CHECK(folder.exit_code == 2);
  CHECK_THAT(folder.out, Catch::Contains("is a directory"));
  CHECK(run(tally + " get d").exit_code == 3);

  CHECK(run(tally + " del k").exit_code == 0);
  auto gone = run(tally + " get k");
  CHECK(gone.exit_code == 3);
  CHECK(gone.out.find("not found: k") != std::string::npos);

  // The endpoint can come from the environment.
  CHECK(run("TALLY_ENDPOINTS=" + node.endpoint() + " " + build_dir() + "/tally get s").exit_code == 0);

  auto status = run(tally + " status");
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("node:            n1") != std::string::npos);

  auto bad_w = run(tally + " put k v -w 2");
  CHECK(bad_w.exit_code == 1);
  CHECK(bad_w.out.find("W=2 is out of range 1..N=1") != std::string::npos);
  auto bad_ks = run(tally + " -k nope get k");
  CHECK(bad_ks.out.find("keyspace 'nope' does not exist") != std::string::npos);
}

TEST_CASE("tally reports unreachable nodes and bad usage with distinct exit codes", "[cluster][cli]") {
  std::string tally = build_dir() + "/tally";
  int port = free_port();  // nobody listens there
  auto r = run(tally + " -e 127.0.0.1:" + std::to_string(port) + " get k");
  CHECK(r.exit_code == 5);
  CHECK(r.out.find("cannot connect to 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  auto usage = run(tally + " get");
  CHECK(usage.exit_code == 2);
  CHECK(usage.out.find("key is required") != std::string::npos);
  auto zero = run(tally + " put k v -w 0");
  CHECK(zero.exit_code == 2);
  auto bad_ep = run(tally + " -e nonsense get k");
  CHECK(bad_ep.exit_code == 2);
  CHECK(bad_ep.out.find("bad address 'nonsense'") != std::string::npos);
  auto help = run(tally + " put --help");
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--context") != std::string::npos);
  CHECK(run(tally + " frobnicate").exit_code == 2);
}

TEST_CASE("tally fails over to the next endpoint when the first is down", "[cluster][cli]") {
  TempDir dir;
  int dead = free_port(), port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());
  std::string tally = build_dir() + "/tally -e 127.0.0.1:" + std::to_string(dead) + "," + node.endpoint();
  CHECK(run(tally + " put k v").exit_code == 0);
  CHECK(run(tally + " get k").out.rfind("v\n", 0) == 0);
}

TEST_CASE("a client whose node was killed between requests carries on with the next endpoint",
          "[cluster][client]") {
  TempDir dir;
  std::vector<NodeSpec> specs = {{"n1", free_port()}, {"n2", free_port()}, {"n3", free_port()}};
  std::string cfg = write_config(dir.path, specs);
  std::vector<std::unique_ptr<TallydProcess>> nodes;
  for (const auto& s : specs) {
    nodes.push_back(std::make_unique<TallydProcess>(cfg, s.id, s.port, dir.path + "/" + s.id + ".log"));
    REQUIRE(nodes.back()->start().ok());
  }
  auto client = connect_client(nodes[0]->endpoint() + "," + nodes[1]->endpoint() + "," + nodes[2]->endpoint());
  REQUIRE(client->put("before", "v").ok());  // connected to n1
  nodes[0]->kill9();
  // The others' failure detectors mark n1 down, so none sends it anything.
  tally::Status seen = wait_for_peer_state({nodes[1]->endpoint(), nodes[2]->endpoint()}, "n1", false);
  INFO(seen.to_string());
  REQUIRE(seen.ok());
  // Not even a put (which is never retried once sent) fails: the dead
  // connection is noticed before anything is sent on it.
  for (int i = 0; i < 20; ++i) {
    auto r = client->put("after-" + std::to_string(i), "v");
    INFO(r.status().to_string());
    REQUIRE(r.ok());
  }
  auto got = client->get("before");
  REQUIRE(got.ok());
  CHECK(got->values == std::vector<std::string>{"v"});
}

TEST_CASE("tally ring shows each node's share and warns when zones of unequal size skew it", "[cluster][cli]") {
  // n1, n2, n4 in z1 and n3 alone in z2: with N=3 every key has a replica in
  // each zone first, so n3 holds a replica of every key and the three nodes
  // of z1 share the other two (66.7% each; the mean is 75%).
  TempDir dir;
  const std::string lo = "127.0.0.1";
  std::vector<NodeSpec> specs{{"n1", free_port(), 0, lo, "z1"}, {"n2", free_port(), 0, lo, "z1"},
                              {"n3", free_port(), 0, lo, "z2"}, {"n4", free_port(), 0, lo, "z1"}};
  std::string cfg = write_config(dir.path, specs);
  std::vector<std::unique_ptr<TallydProcess>> nodes;
  for (const auto& sp : specs) {
    nodes.push_back(std::make_unique<TallydProcess>(cfg, sp.id, sp.port, dir.path + "/" + sp.id + ".log"));
    REQUIRE(nodes.back()->start().ok());
  }
  const std::string tally = build_dir() + "/tally -e " + nodes[0]->endpoint();
  CommandResult ring = run(tally + " ring");
  REQUIRE(ring.exit_code == 0);
  INFO(ring.out);
  CHECK_THAT(ring.out, Catch::Contains("n3           32      100.00%"));
  CHECK_THAT(ring.out, Catch::Contains("warning: keyspace default is not spread evenly: n3 holds a replica of "
                                       "100.0% of its keys"));
  CHECK_THAT(ring.out, Catch::Contains("the zones hold unequal numbers of nodes (z1: 3, z2: 1)"));
  CommandResult json = run(tally + " --json ring");
  CHECK_THAT(json.out, Catch::Contains("\"warning\":\"warning: keyspace default is not spread evenly"));

  // One zone of four: every node holds 75%, and nothing is said.
  TempDir even_dir;
  std::vector<NodeSpec> even{{"n1", free_port()}, {"n2", free_port()}, {"n3", free_port()}, {"n4", free_port()}};
  std::string even_cfg = write_config(even_dir.path, even);
  std::vector<std::unique_ptr<TallydProcess>> even_nodes;
  for (const auto& sp : even) {
    even_nodes.push_back(
        std::make_unique<TallydProcess>(even_cfg, sp.id, sp.port, even_dir.path + "/" + sp.id + ".log"));
    REQUIRE(even_nodes.back()->start().ok());
  }
  CommandResult flat = run(build_dir() + "/tally -e " + even_nodes[0]->endpoint() + " ring");
  REQUIRE(flat.exit_code == 0);
  INFO(flat.out);
  CHECK_THAT(flat.out, !Catch::Contains("warning"));
}
