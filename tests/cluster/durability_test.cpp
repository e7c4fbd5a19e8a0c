// What a user is promised about one node, checked on a real tallyd process.
#include <catch2/catch.hpp>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"

using namespace tally;
using namespace tally::clustertest;


TEST_CASE("fsync: every put acknowledged before kill -9 is there after restart", "[cluster]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}}, "fsync");
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());

  // One put through the CLI, exactly as a user types it...
  std::string tally = build_dir() + "/tally -e " + node.endpoint();
  auto put = run(tally + " put cli-key cli-value");
  REQUIRE(put.exit_code == 0);

  // ...and a stream of puts through the library, killed right after the last ack.
  auto client = connect_client(node.endpoint());
  constexpr int kPuts = 300;
  for (int i = 0; i < kPuts; ++i) {
    auto r = client->put("key-" + std::to_string(i), "value-" + std::to_string(i));
    REQUIRE(r.ok());
  }
  node.kill9();
  REQUIRE_FALSE(node.running());

  TallydProcess again(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(again.start().ok());
  REQUIRE(again.wait_serving().ok());
  auto after = connect_client(again.endpoint());
  int missing = 0;
  for (int i = 0; i < kPuts; ++i) {
    auto r = after->get("key-" + std::to_string(i));
    REQUIRE(r.ok());
    if (r->values != std::vector<std::string>{"value-" + std::to_string(i)}) ++missing;
  }
  CHECK(missing == 0);
  auto got = run(tally + " get cli-key");
  CHECK(got.exit_code == 0);
  CHECK(got.out.rfind("cli-value\n", 0) == 0);
}

TEST_CASE("SIGTERM stops tallyd cleanly with exit code 0", "[cluster]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());
  auto client = connect_client(node.endpoint());
  REQUIRE(client->put("k", "v").ok());
  CHECK(node.terminate() == 0);
  CHECK(node.log().find("stopped") != std::string::npos);
}

TEST_CASE("a second tallyd on the same data folder is refused with a clear error", "[cluster]") {
  TempDir dir;
  int port = free_port(), port2 = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  // Same data folder, other port: LevelDB's lock must stop it.
  std::string cfg2 = dir.path + "/other.toml";
  run("sed 's/" + std::to_string(port) + "/" + std::to_string(port2) + "/' " + cfg + " > " + cfg2);
  auto r = run(build_dir() + "/tallyd --config " + cfg2 + " --node n1");
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("cannot open LevelDB") != std::string::npos);
}
