// Nodes talk over one connection per pair (node/peer_link.cpp): after start-up
// and after each node restarts (with writes in flight as the connections
// change hands), and writes that need every replica still go through.
#include <catch2/catch.hpp>

#include "sim/sim_cluster.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

struct Setup {
  SimWorld world{7};
  SimCluster cluster{world, 3, Durability::kFsync};
  std::unique_ptr<SimClient> client;

  Setup() {
    auto& h = world.add_host("c0", HostPort{"10.0.1.1", 9000});
    client = std::make_unique<SimClient>(h, cluster.config().nodes[0].listen, 2'000'000);
    world.run_for(1'000'000);  // heartbeats: every pair has talked
  }

  // "n1-n2: 1 ..." for every pair, as each end sees it.
  std::string links() {
    std::string out;
    for (int a = 0; a < 3; ++a) {
      for (int b = a + 1; b < 3; ++b) {
        out += "n" + std::to_string(a + 1) + "-n" + std::to_string(b + 1) + ": " +
               std::to_string(cluster.host(a).links_to(cluster.host(b))) + "/" +
               std::to_string(cluster.host(b).links_to(cluster.host(a))) + " ";
      }
    }
    return out;
  }

  bool put_all(const std::string& key) {
    wire::RequestOptions o;
    o.w = 3;
    std::optional<Result<wire::Message>> out;
    client->request(wire::PutRequest{"default", key, "v", "", o}, [&](Result<wire::Message> r) { out = r; });
    for (int i = 0; i < 300 && !out; ++i) world.run_for(10'000);
    return out && out->ok() && std::holds_alternative<wire::PutReply>((*out)->body);
  }
};

constexpr const char* kOnePerPair = "n1-n2: 1/1 n1-n3: 1/1 n2-n3: 1/1 ";

}  // namespace

TEST_CASE("peer connections: one per pair of nodes, kept through restarts", "[sim][peers]") {
  Setup s;
  CHECK(s.links() == kOnePerPair);
  CHECK(s.put_all("a"));

  // The node with the smallest id opens the pair's connection. A restart of
  // any node breaks its connections; the others reconnect on their own until
  // heartbeats have crossed again, then settle on one per pair, closing a
  // connection they opened once no call waits on it. Writes keep coming
  // meanwhile (through n1, so they stall while n1 is down).
  for (int node : {0, 1, 2}) {
    s.cluster.crash(node, node == 1 ? CrashKind::kPowerLoss : CrashKind::kProcess);
    s.world.run_for(300'000);
    s.cluster.restart(node);
    for (int i = 0; i < 20; ++i) {
      wire::RequestOptions o;
      o.w = 2;
      s.client->request(wire::PutRequest{"default", "busy" + std::to_string(i), "v", "", o},
                        [](Result<wire::Message>) {});
      s.world.run_for(50'000);
    }
    s.world.run_for(2'000'000);
    INFO("after restarting n" << node + 1);
    CHECK(s.links() == kOnePerPair);
    CHECK(s.put_all("b" + std::to_string(node)));
  }
}
