// The metadata group on real tallyd processes: keyspaces made with the CLI and
// used by the data path on every node, a node joining with --join and showing
// up everywhere with a new epoch, leaving and removal, and the metadata leader
// killed with -9.
#include <catch2/catch.hpp>
#include <chrono>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

using Clock = std::chrono::steady_clock;

struct Cluster : LocalCluster {
  explicit Cluster(int n, const std::string& extra = "") : LocalCluster({n, "fsync", extra}) {
    REQUIRE(start().ok());
  }
  std::string cli(const std::string& args) {
    return build_dir() + "/tally -e " + nodes[0]->endpoint() + " " + args + " 2>&1";
  }
  // A status field of node i.
  std::string field(int i, const std::string& name) {
    auto c = connect_client(nodes[i]->endpoint());
    auto st = c->status();
    return st.ok() ? st->field(name) : "";
  }
};

}  // namespace

TEST_CASE("cluster: keyspaces created with the CLI are used by the data path on every node", "[cluster][meta]") {
  Cluster c(5);
  CommandResult create = run(c.cli("keyspace create users -n 2 -r 1 -w 2"));
  INFO(create.out);
  REQUIRE(create.exit_code == 0);
  CHECK_THAT(create.out, Catch::Contains("created users"));
  // Every node takes writes to it at once (a node that has not applied the
  // change yet fetches the map), and holds them to its N=2.
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    INFO("node " << i + 1);
    auto client = connect_client(c.nodes[i]->endpoint());
    WriteOptions w;
    w.keyspace = "users";
    auto put = client->put("u" + std::to_string(i), "v", w);
    INFO(put.status().to_string());
    REQUIRE(put.ok());
    w.w = 3;
    auto too_many = client->put("u" + std::to_string(i), "v", w);
    CHECK(too_many.status().message() == "W=3 is out of range 1..N=2 of keyspace 'users'");
    ReadOptions r;
    r.keyspace = "users";
    auto got = client->get("u" + std::to_string(i), r);
    REQUIRE(got.ok());
    CHECK(got->values == std::vector<std::string>{"v"});
  }
  // alter: the new defaults reach every node.
  REQUIRE(run(c.cli("keyspace alter users -w 1 --mode lww")).exit_code == 0);
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    INFO("node " << i + 1);
    CHECK(eventually([&] {
      return c.field(static_cast<int>(i), "keyspaces").find("users(N=2,R=1,W=1,lww)") != std::string::npos;
    }));
  }
  CommandResult list = run(c.cli("--json keyspace list"));
  CHECK_THAT(list.out, Catch::Contains("{\"name\":\"users\",\"n\":2,\"r\":1,\"w\":1,\"mode\":\"lww\"}"));
  // Errors name the problem; drop takes the keyspace away everywhere.
  CommandResult dup = run(c.cli("keyspace create users"));
  CHECK(dup.exit_code == 1);
  CHECK_THAT(dup.out, Catch::Contains("keyspace 'users' already exists"));
  CommandResult big = run(c.cli("keyspace create wide -n 3 -r 4"));
  CHECK(big.exit_code == 1);
  CHECK_THAT(big.out, Catch::Contains("r=4 is out of range 1..n=3"));
  CommandResult nothing = run(c.cli("keyspace alter users"));
  CHECK(nothing.exit_code == 2);
  CHECK_THAT(nothing.out, Catch::Contains("nothing to change"));
  REQUIRE(run(c.cli("keyspace drop users")).exit_code == 0);
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    auto client = connect_client(c.nodes[i]->endpoint());
    WriteOptions w;
    w.keyspace = "users";
    CHECK(eventually([&] { return client->put("k", "v", w).status().code() == Code::kUnknownKeyspace; }));
  }
  CHECK_THAT(run(c.cli("keyspace drop default")).out, Catch::Contains("cannot be dropped"));
}

TEST_CASE("cluster: a node joining with --join appears in the status and the ring of every node, with a new epoch",
          "[cluster][meta]") {
  Cluster c(5);
  auto client = connect_client(c.endpoints());
  auto before = client->cluster_info();
  REQUIRE(before.ok());
  // The newcomer's own config names only itself.
  NodeSpec n6{"n6", free_port()};
  TempDir dir6;
  std::string config6 = write_config(dir6.path, {n6}, "fsync");
  TallydProcess p6(config6, "n6", n6.port, dir6.path + "/n6.log", c.nodes[1]->endpoint());
  REQUIRE(p6.start().ok());
  ClusterInfo info;
  REQUIRE(eventually([&] {
    auto i = client->cluster_info();
    if (!i.ok() || !i->member("n6") || i->member("n6")->state != "normal") return false;
    info = *i;
    return true;
  }));
  INFO(p6.log());
  CHECK(info.epoch > before->epoch);
  CHECK(info.member("n6")->raft == "learner");
  CHECK(info.member("n6")->id == 6);
  CHECK(info.member("n6")->tokens.size() == 32);
  // Every node, the newcomer included, routes by the ring with six nodes.
  std::vector<std::string> endpoints;
  for (auto& p : c.nodes) endpoints.push_back(p->endpoint());
  endpoints.push_back(p6.endpoint());
  for (const auto& ep : endpoints) {
    INFO(ep);
    auto node = connect_client(ep);
    CHECK(eventually([&] {
      auto st = node->status();
      return st.ok() && st->field("ring_epoch") == std::to_string(info.epoch) &&
             st->field("ring").rfind("6 nodes", 0) == 0;
    }));
  }
  CommandResult status = run(c.cli("cluster status"));
  CHECK_THAT(status.out, Catch::Contains("n6"));
  CHECK_THAT(status.out, Catch::Contains("epoch " + std::to_string(info.epoch)));
  // It serves requests, and a restart keeps its id (no second join).
  auto via6 = connect_client(p6.endpoint());
  REQUIRE(via6->put("joined", "yes").ok());
  REQUIRE(p6.terminate() == 0);
  REQUIRE(p6.start().ok());
  CHECK(eventually([&] {
    auto g = via6->get("joined");
    return g.ok() && g->values == std::vector<std::string>{"yes"};
  }));
  auto after = client->cluster_info();
  REQUIRE(after.ok());
  CHECK(after->members.size() == 6);
  // Promote it to a voter of the metadata group.
  CommandResult promote = run(c.cli("cluster promote n6"));
  INFO(promote.out);
  CHECK(promote.exit_code == 0);
  CHECK(client->cluster_info()->member("n6")->raft == "voter");
}

TEST_CASE("cluster: a node leaves, then is removed from the ring and the metadata group everywhere",
          "[cluster][meta]") {
  Cluster c(5);
  CommandResult early = run(c.cli("node remove n5"));
  CHECK(early.exit_code == 1);
  CHECK_THAT(early.out, Catch::Contains("have it leave first"));
  CHECK_THAT(run(c.cli("node leave n9")).out, Catch::Contains("no node named 'n9'"));
  REQUIRE(run(c.cli("node leave n5")).exit_code == 0);
  // Its ranges stream to the others; --wait returns once they are in.
  CommandResult settled = run(c.cli("cluster status --wait --wait-timeout 60"));
  INFO(settled.out);
  REQUIRE(settled.exit_code == 0);
  CHECK_THAT(settled.out, Catch::Contains("ring settled"));
  CHECK(connect_client(c.nodes[0]->endpoint())->cluster_info()->member("n5")->state == "left");
  CommandResult removed = run(c.cli("node remove n5"));
  INFO(removed.out);
  REQUIRE(removed.exit_code == 0);
  auto client = connect_client(c.nodes[0]->endpoint());
  auto info = client->cluster_info();
  REQUIRE(info.ok());
  CHECK(info->member("n5")->state == "removed");
  CHECK(info->member("n5")->raft == "none");
  for (int i = 0; i < 4; ++i) {
    CHECK(eventually([&] { return c.field(i, "ring").rfind("4 nodes", 0) == 0; }));
  }
  // Demote refuses what it cannot do, and says why.
  CommandResult demote = run(c.cli("cluster demote n4"));
  CHECK(demote.exit_code == 1);
  CHECK_THAT(demote.out, Catch::Contains("not a voter"));
}

TEST_CASE("cluster: kill -9 of the metadata leader; a new leader commits and the old one rejoins as a follower",
          "[cluster][meta]") {
  Cluster c(5, "[cluster]\nvoters = [\"n1\", \"n2\", \"n3\", \"n4\", \"n5\"]\n");
  auto client = connect_client(c.endpoints());
  auto info = client->cluster_info();
  REQUIRE(info.ok());
  REQUIRE(!info->leader.empty());
  int old = std::stoi(info->leader.substr(1)) - 1;
  c.nodes[old]->kill9();
  auto killed = Clock::now();
  // A change through the survivors commits once a new leader is in place.
  std::string others;
  for (int i = 0; i < 5; ++i) {
    if (i != old) others += (others.empty() ? "" : ",") + c.nodes[i]->endpoint();
  }
  auto survivors = connect_client(others);
  auto made = survivors->create_keyspace(KeyspaceSpec{"after_failover"});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  INFO(made.status().to_string());
  REQUIRE(made.ok());
  WARN("a new metadata leader committed " << took << " ms after kill -9 of the old one");
  auto now = survivors->cluster_info();
  REQUIRE(now.ok());
  CHECK(now->leader != info->leader);
  CHECK(now->term > info->term);
  // The old leader comes back as a follower and catches up.
  REQUIRE(c.nodes[old]->start().ok());
  auto back = connect_client(c.nodes[old]->endpoint());
  CHECK(eventually([&] {
    auto st = back->status();
    return st.ok() && st->field("meta_role") == "follower" && st->field("ring_epoch") == std::to_string(made->epoch);
  }));
}
