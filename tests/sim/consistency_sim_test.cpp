// The rows of docs/consistency.md that need a scripted scenario rather than
// random faults: what R=W=1 does not promise, and what blocking read repair does.
#include <catch2/catch.hpp>

#include "sim/sim_cluster.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

struct Setup {
  SimWorld world{11};
  SimCluster cluster;
  std::vector<std::unique_ptr<SimClient>> clients;  // client i talks to node i

  explicit Setup(uint32_t max_hints)
      : cluster(world, 3, Durability::kFsync, [max_hints](ClusterConfig& c) { c.max_hints = max_hints; }) {
    for (int i = 0; i < 3; ++i) {
      auto& h = world.add_host("c" + std::to_string(i), HostPort{"10.0.1." + std::to_string(i + 1), 9000});
      clients.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[i].listen, 2'000'000));
    }
    world.run_for(500'000);  // heartbeats: everyone up
  }

  // `then` runs the moment the reply arrives, before anything else happens.
  Result<wire::Message> call(int client, wire::Body body, std::function<void()> then = nullptr) {
    std::optional<Result<wire::Message>> out;
    clients[client]->request(std::move(body), [&](Result<wire::Message> r) {
      out = std::move(r);
      if (then) then();
    });
    for (int i = 0; i < 1000 && !out; ++i) world.run_for(10'000);
    REQUIRE(out.has_value());
    return std::move(*out);
  }
  bool put(int client, const std::string& value, int w) {
    wire::RequestOptions o;
    o.w = static_cast<uint8_t>(w);
    auto r = call(client, wire::PutRequest{"default", "k", value, "", o});
    return r.ok() && std::holds_alternative<wire::PutReply>(r->body);
  }
  std::vector<std::string> get(int client, int r, bool blocking = false,
                               std::function<void()> then = nullptr) {
    wire::RequestOptions o;
    o.r = static_cast<uint8_t>(r);
    o.blocking_repair = blocking;
    auto res = call(client, wire::GetRequest{"default", "k", o}, std::move(then));
    REQUIRE(res.ok());
    auto* g = std::get_if<wire::GetReply>(&res->body);
    REQUIRE(g);
    return g->values;
  }
  // Node 0 alone on one side, with its client; nodes 1 and 2 on the other.
  void isolate_node0() { world.partition({{0, 3}, {1, 2, 4, 5}}); }
};

}  // namespace

TEST_CASE("R=W=1 gives no read-your-writes: a read elsewhere can miss an acknowledged write",
          "[sim][consistency]") {
  Setup s(100000);
  s.isolate_node0();
  s.world.run_for(1'500'000);  // the failure detectors notice
  REQUIRE(s.put(0, "v1", 1));  // acknowledged by node 0 alone
  CHECK(s.get(1, 1).empty());  // stale: nodes 1 and 2 never saw it
  s.world.heal();
  s.world.run_for(2'000'000);  // hints handed over
  CHECK(s.get(1, 1) == std::vector<std::string>{"v1"});  // eventually consistent
}

TEST_CASE("R+W>N: a quorum read sees a write acknowledged by a quorum", "[sim][consistency]") {
  Setup s(100000);
  REQUIRE(s.put(0, "v1", 2));
  for (int c = 0; c < 3; ++c) CHECK(s.get(c, 2) == std::vector<std::string>{"v1"});
}

// Node 0 alone has v1; a quorum read through it returns v1 (node 1 answers,
// node 2 cannot be reached), and node 0 is cut off the instant that answer
// arrives. Do the other two nodes now have v1?
std::vector<std::vector<std::string>> read_then_lose_node0(bool blocking) {
  Setup s(0);  // no hints: only read repair can spread the write
  s.isolate_node0();
  s.world.run_for(1'500'000);
  REQUIRE(s.put(0, "v1", 1));
  s.world.heal();
  s.world.run_for(1'500'000);
  // Background repair waits for every replica (or the timeout): node 2's
  // silence holds it back until node 0 is gone, whatever the message timing.
  s.world.cut(0, 2);
  REQUIRE(s.get(0, 2, blocking, [&s] { s.isolate_node0(); }) == std::vector<std::string>{"v1"});
  s.world.run_for(1'500'000);
  return {s.get(1, 2), s.get(2, 2)};
}

TEST_CASE("blocking read repair: after a quorum read returned a value, later quorum reads return it",
          "[sim][consistency]") {
  auto later = read_then_lose_node0(/*blocking=*/true);
  CHECK(later[0] == std::vector<std::string>{"v1"});
  CHECK(later[1] == std::vector<std::string>{"v1"});
}

TEST_CASE("background read repair: a later quorum read can go back in time", "[sim][consistency]") {
  // The contrast that shows the test above can fail: repair sent after the
  // answer is lost with node 0, and the other two never saw v1.
  auto later = read_then_lose_node0(/*blocking=*/false);
  CHECK(later[0].empty());
  CHECK(later[1].empty());
}

TEST_CASE("siblings: two writers without a context make two siblings; a put with the context replaces both",
          "[sim][consistency]") {
  Setup s(100000);
  auto put = [&](int client, const std::string& value, const std::string& context) {
    auto r = s.call(client, wire::PutRequest{"default", "k", value, context, {}});
    REQUIRE(r.ok());
    REQUIRE(std::holds_alternative<wire::PutReply>(r->body));
  };
  put(0, "apples", "");
  put(1, "pears", "");  // through another coordinator, without a context
  auto r = s.call(2, wire::GetRequest{"default", "k", {}});
  REQUIRE(r.ok());
  auto g = std::get<wire::GetReply>(r->body);
  std::sort(g.values.begin(), g.values.end());
  CHECK(g.values == std::vector<std::string>{"apples", "pears"});
  put(2, "fruit", g.context);
  for (int c = 0; c < 3; ++c) CHECK(s.get(c, 2) == std::vector<std::string>{"fruit"});
}
