// Deadlines across hops (docs/architecture.md, "Late writes") on simulated
// machines whose monotonic clocks start hours apart: a write handed from a
// node that is not a replica to one that is arrives within its deadline as
// the receiver reads it, and a request whose deadline is already past is
// refused without being applied.
#include <catch2/catch.hpp>

#include "node/node.hpp"
#include "sim/sim_cluster.hpp"
#include "store/record_store.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

struct Setup {
  SimWorld world{23};
  SimCluster cluster{world, 5, Durability::kFsync};
  std::vector<std::unique_ptr<SimClient>> clients;  // client i talks to node i

  Setup() {
    for (int i = 0; i < 5; ++i) {
      auto& h = world.add_host("c" + std::to_string(i), HostPort{"10.0.1." + std::to_string(i + 1), 9000});
      clients.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[i].listen, 2'000'000));
    }
    world.run_for(1'000'000);  // heartbeats: everyone up, clock offsets estimated
  }

  Result<wire::Message> call(int client, wire::Body body) {
    std::optional<Result<wire::Message>> out;
    clients[client]->request(std::move(body), [&](Result<wire::Message> r) { out = std::move(r); });
    for (int i = 0; i < 1000 && !out; ++i) world.run_for(10'000);
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  // A counter from node i's status.
  uint64_t counter(int i, const std::string& name) {
    auto r = call(i, wire::StatusRequest{});
    REQUIRE(r.ok());
    const auto* s = std::get_if<wire::StatusReply>(&r->body);
    REQUIRE(s);
    for (const auto& [k, v] : s->fields) {
      if (k == name) return std::stoull(v);
    }
    FAIL("no status field " << name);
    return 0;
  }
};

}  // namespace

TEST_CASE("late writes: forwards between machines with unrelated monotonic clocks are applied in time",
          "[sim][late]") {
  Setup s;
  REQUIRE(s.world.host(0).now_us() != s.world.host(1).now_us());  // the clocks really differ
  int acked = 0;
  for (int k = 0; k < 40; ++k) {
    wire::RequestOptions o;
    o.w = 2;
    o.timeout_ms = 500;
    auto r = s.call(0, wire::PutRequest{"default", "key" + std::to_string(k), "v", "", o});
    REQUIRE(r.ok());
    INFO("key" << k << ": " << (std::holds_alternative<wire::ErrorReply>(r->body)
                                    ? std::get<wire::ErrorReply>(r->body).message
                                    : std::string("ok")));
    CHECK(std::holds_alternative<wire::PutReply>(r->body));
    acked += std::holds_alternative<wire::PutReply>(r->body);
  }
  CHECK(acked == 40);
  CHECK(s.counter(0, "forwarded") > 0);  // some keys have no replica on node 0
  for (int i = 0; i < 5; ++i) CHECK(s.counter(i, "late_writes") == 0);
}

TEST_CASE("late writes: a forward that arrives after its deadline is refused and not applied", "[sim][late]") {
  Setup s;
  // A key none of whose replicas is node 0, found by asking where writes go.
  std::string key;
  for (int k = 0; key.empty(); ++k) {
    const std::string candidate = "late" + std::to_string(k);
    Node* n0 = s.cluster.node(0);
    if (!n0->ring().preference_list(ring::key_position("default", candidate), 3).contains(n0->id())) key = candidate;
  }
  // Every message now takes 500 ms (heartbeats still come every 100 ms, so
  // the failure detectors hold everyone up) and the request's timeout is
  // 300 ms: the forward reaches the replica 200 ms after its deadline.
  s.world.faults().latency_shape = LatencyShape::kFixed;
  s.world.faults().mean_latency_us = 500'000;
  wire::RequestOptions o;
  o.w = 1;
  o.timeout_ms = 300;
  o.overwrite = true;
  std::optional<Result<wire::Message>> out;
  s.clients[0]->request(wire::PutRequest{"default", key, "too-late", "", o},
                        [&](Result<wire::Message> r) { out = std::move(r); });
  s.world.run_for(6'000'000);
  s.world.faults().mean_latency_us = 500;
  s.world.run_for(2'000'000);
  REQUIRE(out.has_value());
  CHECK((!out->ok() || std::holds_alternative<wire::ErrorReply>((*out)->body)));  // never acknowledged
  uint64_t late = 0;
  for (int i = 0; i < 5; ++i) late += s.counter(i, "late_writes");
  CHECK(late >= 1);
  for (int i = 0; i < 5; ++i) {
    INFO("node " << i);
    CHECK_FALSE(s.cluster.host(i).sim_disk().visible().contains(store::RecordStore::data_key("default", key)));
  }
}
