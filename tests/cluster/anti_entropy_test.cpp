// Anti-entropy on real tallyd processes: a node whose data folder was wiped
// gets its keys back from anti-entropy alone, and a key deleted while a
// replica was down has its tombstone collected on every replica once that
// replica is back, and stays deleted.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

// Background exchanges every 5 ms and a one-second tombstone grace: the same
// code as the defaults, on a test's time scale.
const std::string kFastAntiEntropy = "[anti_entropy]\ninterval_ms = 5\ntombstone_grace_s = 1\n";

uint64_t field(Client& c, const std::string& endpoint, const std::string& name) {
  return status_number(c, endpoint, name).value_or(~uint64_t{0});
}

// The keys in a node's anti-entropy trees, from `anti_entropy: T trees, K keys`.
uint64_t keys_held(Client& c, const std::string& endpoint) {
  auto st = c.status(endpoint);
  if (!st.ok()) return ~uint64_t{0};
  const std::string v = st->field("anti_entropy");
  auto comma = v.find(", ");
  if (comma == std::string::npos) return ~uint64_t{0};
  return std::stoull(v.substr(comma + 2));
}

}  // namespace

TEST_CASE("anti-entropy: a node whose data folder was wiped gets its keys back with no reads",
          "[cluster][anti_entropy]") {
  LocalCluster cluster({.nodes = 5, .durability = "buffered", .extra = kFastAntiEntropy});
  REQUIRE(cluster.start().ok());
  auto client = connect_client(cluster.endpoints());
  constexpr int kKeys = 1000;
  int for_n5 = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "key-" + std::to_string(i);
    WriteOptions o;
    o.w = 3;
    REQUIRE(client->put(k, "value-" + std::to_string(i), o).ok());
    auto replicas = client->replicas(k);
    REQUIRE(replicas.ok());
    for_n5 += std::count(replicas->begin(), replicas->end(), "n5");
  }
  REQUIRE(for_n5 > 100);
  auto& n5 = *cluster.nodes[4];
  REQUIRE(eventually([&] { return keys_held(*client, n5.endpoint()) == uint64_t(for_n5); }, 10s));

  // n5 (a learner of the metadata group) loses its whole data folder.
  n5.kill9();
  std::filesystem::remove_all(cluster.dir.path + "/n5");
  REQUIRE(n5.start().ok());
  CHECK(field(*client, n5.endpoint(), "records_written") < uint64_t(for_n5));
  INFO("n5's status: " << client->status(n5.endpoint())->field("anti_entropy"));
  CHECK(eventually([&] { return keys_held(*client, n5.endpoint()) == uint64_t(for_n5); }, 60s));
  CHECK(field(*client, n5.endpoint(), "ae_keys_repaired") >= uint64_t(for_n5));
  for (const auto& node : cluster.nodes)
    CHECK(field(*client, node->endpoint(), "read_repairs") == 0);
  // What it holds is what was written: read through n5 alone, at R=1.
  auto via_n5 = connect_client(n5.endpoint());
  int wrong = 0;
  for (int i = 0; i < kKeys; i += 10) {
    ReadOptions o;
    o.r = 1;
    auto r = via_n5->get("key-" + std::to_string(i), o);
    if (!r.ok() || r->values != std::vector<std::string>{"value-" + std::to_string(i)}) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE(
    "anti-entropy: a key deleted while a replica was down loses its tombstone everywhere and stays "
    "deleted",
    "[cluster][anti_entropy][tombstones]") {
  LocalCluster cluster({.nodes = 3, .durability = "buffered", .extra = kFastAntiEntropy});
  REQUIRE(cluster.start().ok());
  auto client = connect_client(cluster.endpoints());
  constexpr int kKeys = 100;
  for (int i = 0; i < kKeys; ++i) {
    WriteOptions o;
    o.w = 3;
    REQUIRE(client->put("key-" + std::to_string(i), "old", o).ok());
  }
  auto& n3 = *cluster.nodes[2];
  n3.kill9();
  REQUIRE(
      wait_for_peer_state({cluster.nodes[0]->endpoint(), cluster.nodes[1]->endpoint()}, "n3", false)
          .ok());
  auto via_n1 = connect_client(cluster.nodes[0]->endpoint());
  for (int i = 0; i < kKeys; ++i) {
    WriteOptions o;
    o.w = 2;
    REQUIRE(via_n1->del("key-" + std::to_string(i), o).ok());
  }
  // n3 has not been seen holding the tombstones: none can go.
  REQUIRE(eventually(
      [&] { return field(*client, cluster.nodes[0]->endpoint(), "tombstones_held") == kKeys; }));
  REQUIRE(eventually(
      [&] { return field(*client, cluster.nodes[0]->endpoint(), "ae_ranges_compared") > 200; },
      10s));
  CHECK(field(*client, cluster.nodes[0]->endpoint(), "tombstones_collected") == 0);

  REQUIRE(n3.start().ok());
  auto all_gone = [&] {
    for (const auto& node : cluster.nodes) {
      if (field(*client, node->endpoint(), "tombstones_held") != 0) return false;
      if (keys_held(*client, node->endpoint()) != 0) return false;
    }
    return true;
  };
  CHECK(eventually(all_gone, 60s));
  for (const auto& node : cluster.nodes) {
    INFO(node->endpoint());
    CHECK(field(*client, node->endpoint(), "tombstones_collected") == kKeys);
  }
  // Anti-entropy keeps running; nothing comes back, at R=1 through any node.
  const uint64_t compared = field(*client, cluster.nodes[2]->endpoint(), "ae_ranges_compared");
  REQUIRE(eventually(
      [&] {
        return field(*client, cluster.nodes[2]->endpoint(), "ae_ranges_compared") > compared + 400;
      },
      20s));
  for (const auto& node : cluster.nodes) {
    auto c = connect_client(node->endpoint());
    int found = 0;
    for (int i = 0; i < kKeys; ++i) {
      ReadOptions o;
      o.r = 1;
      auto r = c->get("key-" + std::to_string(i), o);
      REQUIRE(r.ok());
      found += r->found();
    }
    INFO(node->endpoint());
    CHECK(found == 0);
    CHECK(keys_held(*client, node->endpoint()) == 0);
  }
}

TEST_CASE("tally repair: a progress line, --json, and clear errors", "[cluster][anti_entropy]") {
  LocalCluster cluster(
      {.nodes = 3, .durability = "buffered", .extra = "[anti_entropy]\nbackground = false\n"});
  REQUIRE(cluster.start().ok());
  auto client = connect_client(cluster.endpoints());
  for (int i = 0; i < 50; ++i) REQUIRE(client->put("key-" + std::to_string(i), "v").ok());
  const std::string tally = build_dir() + "/tally -e " + cluster.endpoints();
  auto r = run(tally + " repair");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("range comparisons on 3 nodes") != std::string::npos);
  auto j = run(tally + " repair --node n2 --json");
  CHECK(j.exit_code == 0);
  CHECK(j.out.find("\"node\":\"n2\"") != std::string::npos);
  CHECK(j.out.find("\"ranges_skipped\":0") != std::string::npos);
  CHECK(j.out.find("\"n1\"") == std::string::npos);
  auto bad = run(tally + " repair --node n9");
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.find("no node named 'n9'") != std::string::npos);
  auto bad_ks = run(tally + " repair -k nosuch");
  CHECK(bad_ks.exit_code != 0);
  CHECK(bad_ks.out.find("nosuch") != std::string::npos);
}
