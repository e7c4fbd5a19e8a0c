// The operator's per-replica read (LocalGetService) on node n1 of three,
// against scripted peers and n1's own store on a simulated disk: n1 answers
// for itself from its store, hands the read of another node's copy to that
// node once (never a second hop, never to a node it holds down), and refuses
// what cannot be asked, naming the problem.
#include "node/local_get_service.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"
#include "sim/sim_world.hpp"

namespace tally {
namespace {

constexpr uint32_t kTimeoutMs = 500;

// Peers that answer only when the test says so.
class ScriptedPeers final : public PeerCalls {
 public:
  struct Call {
    ring::NodeId peer;
    wire::Body request;
    uint64_t timeout_us;
    ReplyFn done;
  };
  void call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done) override {
    calls.push_back(Call{peer, std::move(request), timeout_us, std::move(done)});
  }
  bool is_up(ring::NodeId peer) const override { return !down.contains(peer); }
  std::string name_of(ring::NodeId peer) const override { return "n" + std::to_string(peer); }
  // One clock for every node: a deadline is the same time everywhere.
  std::optional<uint64_t> deadline_for(ring::NodeId, uint64_t local_deadline_us) const override {
    return local_deadline_us;
  }

  std::vector<Call> calls;
  std::set<ring::NodeId> down;
};

struct Harness {
  Harness()
      : world(5),
        host(world.add_host("n1", HostPort{"10.0.0.1", 7401})),
        store(host.disk(), Durability::kBuffered,
              [this](std::function<void()> fn) { host.defer(std::move(fn)); }),
        service(view, store, peers, LocalGetOptions{"n1", kTimeoutMs, 64}) {
    std::vector<meta::Member> members;
    for (int i = 1; i <= 3; ++i) {
      members.push_back(meta::Member{static_cast<ring::NodeId>(i),
                                     "n" + std::to_string(i),
                                     "10.0.0." + std::to_string(i) + ":7401",
                                     "z1",
                                     {}});
    }
    auto map = meta::bootstrap(std::move(members), {});
    REQUIRE(map.ok());
    view.map = std::move(*map);
    auto ring = view.map.build_ring();
    REQUIRE(ring.ok());
    view.ring = std::move(*ring);
    view.self = 1;
  }

  // Runs a request through check() and run(); its one reply.
  wire::Body ask(wire::LocalGetRequest request) {
    replies.clear();
    Status bad = service.check(request);
    if (!bad.ok()) return wire::ErrorReply{bad.code(), bad.message()};
    service.run(std::move(request), [this](wire::Body b) { replies.push_back(std::move(b)); });
    world.run_for(5000);
    if (replies.empty()) return wire::PingRequest{};  // no answer yet (a call in flight)
    REQUIRE(replies.size() == 1);
    return replies[0];
  }
  static wire::ErrorReply error(const wire::Body& b) {
    REQUIRE(std::holds_alternative<wire::ErrorReply>(b));
    return std::get<wire::ErrorReply>(b);
  }

  sim::SimWorld world;
  sim::SimHost& host;
  ClusterView view;
  ScriptedPeers peers;
  store::RecordStore store;
  LocalGetService service;
  std::vector<wire::Body> replies;
};

TEST_CASE("local get: the named node itself answers from its own store, tombstones and all",
          "[local-get]") {
  Harness h;
  auto live = quorum::update({}, {}, quorum::ClientWrite::Put("alice", {5, 0, 2}), 2);
  REQUIRE(live.ok());
  auto both = quorum::update(*live, {}, quorum::ClientWrite::Delete({6, 0, 1}), 1);
  REQUIRE(both.ok());
  std::optional<Status> written;
  h.store.update(
      "default", "k", [&](const quorum::DvvSet*) -> Result<quorum::DvvSet> { return *both; },
      [&](Result<store::RecordStore::Record> r) { written = r.status(); });
  h.world.run_for(5000);
  REQUIRE(written.has_value());
  REQUIRE(written->ok());

  wire::Body reply = h.ask({"default", "k", "n1", 0, false});
  REQUIRE(std::holds_alternative<wire::LocalGetReply>(reply));
  const auto& copy = std::get<wire::LocalGetReply>(reply);
  CHECK(copy.answered_by == "n1");
  CHECK(copy.found);
  CHECK(copy.record == *both);
  CHECK(copy.epoch == h.view.epoch());
  CHECK(h.peers.calls.empty());  // no quorum: nobody else asked

  wire::Body absent = h.ask({"default", "other", "n1", 0, false});
  REQUIRE(std::holds_alternative<wire::LocalGetReply>(absent));
  CHECK_FALSE(std::get<wire::LocalGetReply>(absent).found);
  CHECK(std::get<wire::LocalGetReply>(absent).record == quorum::DvvSet{});
}

TEST_CASE("local get: another node's copy is asked of that node, once, and its answer passed back",
          "[local-get]") {
  Harness h;
  CHECK(std::holds_alternative<wire::PingRequest>(h.ask({"default", "k", "n2", 0, false})));
  REQUIRE(h.peers.calls.size() == 1);
  CHECK(h.peers.calls[0].peer == 2);
  CHECK(h.peers.calls[0].timeout_us ==
        uint64_t{kTimeoutMs} * 1000);  // the node's timeout, none asked
  CHECK(h.peers.calls[0].request ==
        wire::Body{wire::LocalGetRequest{"default", "k", "n2", 0, true}});
  h.peers.calls[0].done(wire::Message{0, wire::LocalGetReply{"n2", true, {}, 4}});
  REQUIRE(h.replies.size() == 1);
  CHECK(h.replies[0] == wire::Body{wire::LocalGetReply{"n2", true, {}, 4}});

  // Its silence: a timeout naming it.
  h.ask({"default", "k", "n3", 80, false});
  REQUIRE(h.peers.calls.size() == 2);
  CHECK(h.peers.calls[1].timeout_us == 80'000);
  h.peers.calls[1].done(Status::Timeout("no answer from n3"));
  const auto& late = Harness::error(h.replies.at(0));
  CHECK(late.code == Code::kTimeout);
  CHECK(late.message == "cannot read node n3's copy: no answer within 80 ms");
}

TEST_CASE("local get: a node held down is not asked, and a handed-over read is never handed on",
          "[local-get]") {
  Harness h;
  h.peers.down.insert(3);
  const auto& down = Harness::error(h.ask({"default", "k", "n3", 0, false}));
  CHECK(down.code == Code::kUnavailable);
  CHECK(
      down.message ==
      "node n3 is down (n1's failure detector has not heard from it): its copy cannot be read now");

  const auto& hop = Harness::error(h.ask({"default", "k", "n2", 0, /*forwarded=*/true}));
  CHECK(hop.code == Code::kUnavailable);
  CHECK_THAT(hop.message, Catch::Contains("the nodes disagree about the cluster map"));
  CHECK(h.peers.calls.empty());
}

TEST_CASE(
    "local get: unknown and removed nodes, unknown keyspaces and bad keys are refused by name",
    "[local-get]") {
  Harness h;
  const auto& unknown = Harness::error(h.ask({"default", "k", "n7", 0, false}));
  CHECK(unknown.code == Code::kInvalidArgument);
  CHECK(unknown.message == "no node named 'n7' in the cluster (the nodes are: n1, n2, n3)");

  const auto& keyspace = Harness::error(h.ask({"nope", "k", "n1", 0, false}));
  CHECK(keyspace.code == Code::kUnknownKeyspace);
  CHECK(keyspace.message == "keyspace 'nope' does not exist (there are: default)");
  CHECK(Harness::error(h.ask({"default", "", "n1", 0, false})).message == "key must not be empty");
  const auto& large = Harness::error(h.ask({"default", std::string(65, 'k'), "n1", 0, false}));
  CHECK(large.code == Code::kTooLarge);
  CHECK(large.message == "key is 65 bytes, the limit is 64");

  h.view.map.members[2].state = meta::NodeState::kRemoved;
  const auto& removed = Harness::error(h.ask({"default", "k", "n3", 0, false}));
  CHECK(removed.code == Code::kInvalidArgument);
  CHECK(removed.message == "node n3 was removed from the cluster: it serves no copies");
  CHECK(Harness::error(h.ask({"default", "k", "n9", 0, false})).message ==
        "no node named 'n9' in the cluster (the nodes are: n1, n2, n3 (removed))");
  CHECK(h.peers.calls.empty());
}

}  // namespace
}  // namespace tally
