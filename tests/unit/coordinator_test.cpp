// The coordinator against a scripted PeerLink: no network and no other
// nodes, only this node's store on a simulated disk, and peers whose answers
// each test hands in, one by one, in the order it chooses. What is checked:
// W and R counting, timeouts, forwarding, read-repair decisions and hints
// under sloppy quorums.
#include "node/coordinator.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/codec.hpp"
#include "node/replica_service.hpp"
#include "quorum/dvv.hpp"
#include "sim/sim_world.hpp"

namespace tally {
namespace {

constexpr uint64_t kMs = 1000;
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

  // Answers call `i` (once) with a reply body, or with a failure.
  void answer(size_t i, wire::Body reply) { take(i)(wire::Message{0, std::move(reply)}); }
  void fail(size_t i, Status why) { take(i)(std::move(why)); }

  // The calls made to `peer` so far, by index.
  std::vector<size_t> to(ring::NodeId peer) const {
    std::vector<size_t> out;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].peer == peer) out.push_back(i);
    }
    return out;
  }

  std::vector<Call> calls;
  std::set<ring::NodeId> down;

 private:
  ReplyFn take(size_t i) {
    REQUIRE(i < calls.size());
    REQUIRE(calls[i].done);
    return std::exchange(calls[i].done, nullptr);
  }
};

// A coordinator on node n1 of a cluster of `nodes` nodes (keyspace `default`
// N=3 R=2 W=2, and `last` in lww mode), its store on a simulated disk.
struct Harness {
  explicit Harness(int nodes = 3, bool start_replica = true, Durability durability = Durability::kBuffered)
      : world(11),
        host(world.add_host("n1", HostPort{"10.0.0.1", 7401})),
        store(host.disk(), durability, [this](std::function<void()> fn) { host.defer(std::move(fn)); }),
        replica(host, Logger("test", LogLevel::kError), view, store, peers, stats, drain,
                ReplicaOptions{.hint_replay_interval_us = 3'600'000'000}),  // hints stay put unless a test replays
        paxos(view, store, stats, drain),
        coordinator(CoordinatorContext{host, Logger("test", LogLevel::kError), view, peers, store, replica, stats,
                                       drain,
                                       [this](uint64_t epoch, ring::NodeId from) {
                                         epochs_seen.emplace_back(epoch, from);
                                       },
                                       [](ring::NodeId, std::function<void()> then) { then(); }, paxos},
                    CoordinatorOptions{"n1", kTimeoutMs, 64, 1024}) {
    std::vector<meta::Member> members;
    for (int i = 1; i <= nodes; ++i) {
      members.push_back(meta::Member{static_cast<ring::NodeId>(i), "n" + std::to_string(i),
                                     "10.0.0." + std::to_string(i) + ":7401", "z1", {}});
    }
    meta::Keyspace lww{"last", 3, 2, 2, meta::ConflictMode::kLww};
    auto map = meta::bootstrap(std::move(members), {lww});
    REQUIRE(map.ok());
    view.map = std::move(*map);
    auto ring = view.map.build_ring();
    REQUIRE(ring.ok());
    view.ring = std::move(*ring);
    view.self = 1;
    // Reads the dot floor and the mint epochs: a node coordinates no write before.
    if (!start_replica) return;
    replica.start();
    world.run_for(5 * kMs);
    REQUIRE(replica.ready());
  }

  const meta::Keyspace& ks(const std::string& name = "default") const { return *view.map.keyspace(name); }

  // A key of `default` whose replicas do (or do not) include n1.
  std::string key(bool n1_replica) const {
    for (int i = 0;; ++i) {
      std::string k = "key" + std::to_string(i);
      if (view.replicas_of(ks(), k).contains(1) == n1_replica) return k;
    }
  }

  // Runs a request through check() and run(), collecting its replies.
  void run(wire::Body request) {
    auto k = coordinator.check(request);
    REQUIRE(k.ok());
    coordinator.run(std::move(request), *k, [this](wire::Body b) { replies.push_back(std::move(b)); });
  }
  void put(const std::string& key, const std::string& value, wire::RequestOptions opt = {}) {
    run(wire::PutRequest{"default", key, value, "", opt});
  }
  void get(const std::string& key, wire::RequestOptions opt = {}, const std::string& keyspace = "default") {
    run(wire::GetRequest{keyspace, key, opt});
  }
  // Lets the disk and timers run for `ms` of virtual time.
  void settle(uint64_t ms = 5) { world.run_for(ms * kMs); }

  // Stores `value`, minted by node `by`, as n1's own copy of `key`.
  quorum::DvvSet write_local(const std::string& key, const std::string& value, ring::NodeId by = 1,
                             uint64_t ms = 1) {
    quorum::DvvSet record = version(value, by, ms);
    std::optional<Status> done;
    replica.apply_locally("default", key, record, [&done](Status s) { done = s; });
    settle();
    REQUIRE(done.has_value());
    REQUIRE(done->ok());
    return record;
  }
  static quorum::DvvSet version(const std::string& value, ring::NodeId by, uint64_t ms = 1) {
    auto r = quorum::update({}, {}, quorum::ClientWrite::Put(value, {ms, 0, by}), by);
    REQUIRE(r.ok());
    return *r;
  }

  const wire::ErrorReply& error(size_t i = 0) const {
    REQUIRE(replies.size() > i);
    REQUIRE(std::holds_alternative<wire::ErrorReply>(replies[i]));
    return std::get<wire::ErrorReply>(replies[i]);
  }
  size_t hints() const { return replica.hints().count(); }

  sim::SimWorld world;
  sim::SimHost& host;
  ClusterView view;
  ScriptedPeers peers;
  NodeStats stats;
  WriteDrain drain;
  store::RecordStore store;
  ReplicaService replica;
  PaxosAcceptor paxos;
  Coordinator coordinator;
  std::vector<wire::Body> replies;
  std::vector<std::pair<uint64_t, ring::NodeId>> epochs_seen;
};

wire::RequestOptions with_w(int w) {
  wire::RequestOptions o;
  o.w = static_cast<uint8_t>(w);
  return o;
}
wire::RequestOptions with_r(int r) {
  wire::RequestOptions o;
  o.r = static_cast<uint8_t>(r);
  return o;
}

TEST_CASE("coordinator: a W=2 put is acknowledged by the first replica's ack, not before it", "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(2));
  h.settle();
  // Our own copy is durable (1 of 2): the other two replicas got the write.
  REQUIRE(h.peers.calls.size() == 2);
  for (const auto& c : h.peers.calls) {
    REQUIRE(std::holds_alternative<wire::ReplicaWrite>(c.request));
    CHECK(std::get<wire::ReplicaWrite>(c.request).record.clock.entries.size() == 1);
  }
  CHECK(h.replies.empty());
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  // The late third answer changes nothing, and nobody needs a hint.
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  h.settle();
  CHECK(h.replies.size() == 1);
  CHECK(h.hints() == 0);
  CHECK(h.drain.in_flight() == 0);
}

TEST_CASE("coordinator: before it has read its dot floor and mint epochs a node coordinates no write",
          "[coordinator][mint-epoch]") {
  Harness h(3, /*start_replica=*/false);
  h.put(h.key(true), "v");
  h.settle();
  REQUIRE(h.replies.size() == 1);
  const auto* e = std::get_if<wire::ErrorReply>(&h.replies[0]);
  REQUIRE(e);
  CHECK(e->code == Code::kUnavailable);
  CHECK_THAT(e->message, Catch::Contains("coordinates no writes"));
  CHECK(h.peers.calls.empty());
  // Once read, the same write goes through, minted by n1 under the base
  // epoch it drew for its empty store (not 0: it may be a wiped node).
  h.replica.start();
  h.settle();
  h.replies.clear();
  h.put(h.key(true), "v");
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  const quorum::ActorId actor = std::get<wire::ReplicaWrite>(h.peers.calls[0].request).record.siblings[0].dot.replica;
  CHECK(quorum::node_of(actor) == 1);
  CHECK(quorum::epoch_of(actor) == h.replica.mint_epochs().base);
  CHECK(h.replica.mint_epochs().base > 0);
}

TEST_CASE("coordinator: a write in a range this node gave away and regained is minted under its new epoch",
          "[coordinator][mint-epoch]") {
  Harness h;
  const std::string key = h.key(true);
  std::optional<Status> durable;
  REQUIRE(h.replica.new_mint_epoch({{"default", {ring::TokenRange{7, 7}}}}, [&](Status s) { durable = s; }).ok());
  h.put(key, "v");
  h.settle();
  REQUIRE(durable.has_value());
  CHECK(durable->ok());
  REQUIRE(h.peers.calls.size() == 2);
  const auto& record = std::get<wire::ReplicaWrite>(h.peers.calls[0].request).record;
  const uint32_t epoch = h.replica.mint_epochs().base + 1;
  CHECK(record.siblings[0].dot == quorum::Dot{quorum::actor_id(1, epoch), 1});
  CHECK(record.clock.entries == std::vector<std::pair<quorum::ActorId, uint64_t>>{{quorum::actor_id(1, epoch), 1}});
}

TEST_CASE("coordinator: a W=3 put waits for every replica", "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(3));
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  CHECK(h.replies.empty());
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
}

TEST_CASE("coordinator: a W=1 put is acknowledged once our own copy is durable, and still sent on",
          "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(1));
  CHECK(h.peers.calls.empty());  // nothing leaves before our copy is durable (dots are never minted twice)
  CHECK(h.replies.empty());
  h.settle();
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  CHECK(h.peers.calls.size() == 2);
}

TEST_CASE("coordinator: under fsync the write goes to the other replicas while our copy is on its way to disk",
          "[coordinator]") {
  Harness h(3, true, Durability::kFsync);
  const std::string key = h.key(true);
  const std::string dkey = store::RecordStore::data_key("default", key);
  h.put(key, "v", with_w(2));
  // Step the world until the replica writes are out: our copy is not durable yet.
  for (int i = 0; i < 1000 && h.peers.calls.size() < 2; ++i) h.world.run_for(10);
  REQUIRE(h.peers.calls.size() == 2);
  CHECK_FALSE(h.host.sim_disk().durable().contains(dkey));
  CHECK(h.drain.in_flight() == 1);
  // Two durable copies elsewhere are W=2: the client is answered, and the
  // round ends only once our own copy is durable too.
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  h.settle();
  CHECK(h.host.sim_disk().durable().contains(dkey));
  CHECK(h.drain.in_flight() == 0);
  CHECK(h.hints() == 0);
}

TEST_CASE("coordinator: under fsync a W=1 put is acknowledged by the first durable copy, ours or another's",
          "[coordinator]") {
  Harness h(3, true, Durability::kFsync);
  h.put(h.key(true), "v", with_w(1));
  for (int i = 0; i < 1000 && h.peers.calls.size() < 2; ++i) h.world.run_for(10);
  REQUIRE(h.peers.calls.size() == 2);
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});  // before ours was durable
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  h.settle();
  CHECK(h.drain.in_flight() == 1);  // n3 has not answered
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  CHECK(h.drain.in_flight() == 0);
}

TEST_CASE("coordinator: replicas that refuse make the put fail at once, naming them, and get hints",
          "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(2));
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  h.peers.answer(0, wire::ErrorReply{Code::kIoError, "disk full"});
  CHECK(h.replies.empty());  // the other one may still ack
  h.peers.fail(1, Status::Unavailable("connection lost"));
  const auto& e = h.error();
  CHECK(e.code == Code::kQuorumNotReached);
  CHECK(e.message.find("1 of W=2") != std::string::npos);
  CHECK(e.message.find("disk full") != std::string::npos);
  CHECK(h.stats.get(Counter::kQuorumFailures) == 1);
  h.settle();
  CHECK(h.hints() == 2);  // both primaries that lack the write
}

TEST_CASE("coordinator: silent replicas time the put out after the request's timeout, with hints kept",
          "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(2));
  h.world.run_for((kTimeoutMs - 10) * kMs);
  CHECK(h.replies.empty());
  h.world.run_for(20 * kMs);
  const auto& e = h.error();
  CHECK(e.code == Code::kQuorumNotReached);
  CHECK(e.message.find("1 of W=2") != std::string::npos);
  CHECK(e.message.find("within 500 ms") != std::string::npos);
  CHECK(e.message.find("n2: timeout") != std::string::npos);
  h.settle();
  CHECK(h.hints() == 2);
  CHECK(h.drain.in_flight() == 0);
  // An answer after the timeout is ignored.
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  CHECK(h.replies.size() == 1);
}

TEST_CASE("coordinator: a replica the failure detector holds down is not asked, and gets a hint",
          "[coordinator]") {
  Harness h;
  h.peers.down = {3};
  h.put(h.key(true), "v", with_w(2));
  h.settle();
  REQUIRE(h.peers.calls.size() == 1);
  CHECK(h.peers.calls[0].peer == 2);
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  h.settle();
  CHECK(h.hints() == 1);
}

TEST_CASE("coordinator: with two of three replicas down a W=2 put fails without waiting", "[coordinator]") {
  Harness h;
  h.peers.down = {2, 3};
  h.put(h.key(true), "v", with_w(2));
  h.settle();
  CHECK(h.peers.calls.empty());
  const auto& e = h.error();
  CHECK(e.code == Code::kQuorumNotReached);
  CHECK(e.message.find("n2: down") != std::string::npos);
}

TEST_CASE("coordinator: a sloppy put asks a fallback for a down primary, and its ack counts", "[coordinator]") {
  Harness h(5);
  std::string key = h.key(true);
  auto primaries = h.view.replicas_of(h.ks(), key);
  ring::NodeId down = primaries[0] == 1 ? primaries[1] : primaries[0];
  h.peers.down = {down};
  wire::RequestOptions opt = with_w(3);
  opt.sloppy = true;
  h.put(key, "v", opt);
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  std::optional<size_t> fallback;
  for (size_t i = 0; i < h.peers.calls.size(); ++i) {
    const auto& c = h.peers.calls[i];
    CHECK(c.peer != down);
    const auto& w = std::get<wire::ReplicaWrite>(c.request);
    if (w.hint_for != 0) {
      CHECK(w.hint_for == down);
      CHECK_FALSE(primaries.contains(c.peer));
      fallback = i;
    }
  }
  REQUIRE(fallback.has_value());
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  h.settle();
  CHECK(h.hints() == 0);  // the fallback keeps it; the coordinator need not
}

TEST_CASE("coordinator: a node that is not a replica forwards the write to the first replica that is up",
          "[coordinator]") {
  Harness h(5);
  std::string key = h.key(false);
  auto primaries = h.view.replicas_of(h.ks(), key);
  h.peers.down = {primaries[0]};
  h.put(key, "v");
  REQUIRE(h.peers.calls.size() == 1);
  CHECK(h.peers.calls[0].peer == primaries[1]);
  const auto& fwd = std::get<wire::PutRequest>(h.peers.calls[0].request);
  CHECK(fwd.options.forwarded);
  CHECK(fwd.value == "v");
  CHECK(h.stats.get(Counter::kForwarded) == 1);
  h.peers.answer(0, wire::PutReply{"ctx", 7});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::get<wire::PutReply>(h.replies[0]).context == "ctx");
  CHECK(h.drain.in_flight() == 0);
}

TEST_CASE("coordinator: a forwarded write is never forwarded twice", "[coordinator]") {
  Harness h(5);
  wire::RequestOptions opt;
  opt.forwarded = true;
  h.put(h.key(false), "v", opt);
  CHECK(h.peers.calls.empty());
  const auto& e = h.error();
  CHECK(e.code == Code::kUnavailable);
  CHECK(e.message.find("node n1 is not a replica of the key") != std::string::npos);
  CHECK(e.message.find("disagree about the ring") != std::string::npos);
}

TEST_CASE("coordinator: a forward whose connection drops reports an unknown outcome", "[coordinator]") {
  Harness h(5);
  h.put(h.key(false), "v");
  REQUIRE(h.peers.calls.size() == 1);
  h.peers.fail(0, Status::Unavailable("connection reset"));
  const auto& e = h.error();
  CHECK(e.code == Code::kIoError);
  CHECK(e.message.find("may or may not have been applied") != std::string::npos);
}

TEST_CASE("coordinator: an R=2 get answers with our copy and one replica's, then repairs the stale one",
          "[coordinator]") {
  Harness h;
  std::string key = h.key(true);
  quorum::DvvSet v = h.write_local(key, "a");
  h.get(key, with_r(2));
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  auto to2 = h.peers.to(2), to3 = h.peers.to(3);
  h.peers.answer(to2[0], wire::ReplicaReadReply{true, v, h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::get<wire::GetReply>(h.replies[0]).values == std::vector<std::string>{"a"});
  CHECK(h.peers.calls.size() == 2);  // no repair before every replica answered
  h.peers.answer(to3[0], wire::ReplicaReadReply{false, {}, h.view.epoch()});
  // n3 had nothing: it gets the merged state, n2 (up to date) does not.
  REQUIRE(h.peers.calls.size() == 3);
  CHECK(h.peers.calls[2].peer == 3);
  CHECK(std::get<wire::ReplicaWrite>(h.peers.calls[2].request).record == v);
  CHECK(h.stats.get(Counter::kReadRepairs) == 1);
}

TEST_CASE("coordinator: a get returns concurrent versions as siblings and repairs our own copy",
          "[coordinator]") {
  Harness h;
  std::string key = h.key(true);
  h.write_local(key, "a", 1);
  h.get(key, with_r(3));
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  h.peers.answer(h.peers.to(2)[0], wire::ReplicaReadReply{true, Harness::version("b", 2), h.view.epoch()});
  CHECK(h.replies.empty());  // R=3
  h.peers.answer(h.peers.to(3)[0], wire::ReplicaReadReply{false, {}, h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  auto values = std::get<wire::GetReply>(h.replies[0]).values;
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<std::string>{"a", "b"});
  CHECK(h.stats.get(Counter::kReadRepairs) == 3);  // n1 lacks b, n2 lacks a, n3 lacks both
  h.settle();
  auto mine = h.peers.calls.size();
  CHECK(mine == 4);  // repairs to n2 and n3 went out; ours was applied locally
}

TEST_CASE("coordinator: a get with blocking repair answers only after the stale replica took the merge",
          "[coordinator]") {
  Harness h;
  std::string key = h.key(true);
  quorum::DvvSet v = h.write_local(key, "a");
  wire::RequestOptions opt = with_r(2);
  opt.blocking_repair = true;
  h.peers.down = {3};
  h.get(key, opt);
  h.settle();
  REQUIRE(h.peers.calls.size() == 1);
  h.peers.answer(0, wire::ReplicaReadReply{false, {}, h.view.epoch()});
  REQUIRE(h.peers.calls.size() == 2);  // the repair of n2, before any answer
  CHECK(std::get<wire::ReplicaWrite>(h.peers.calls[1].request).record == v);
  CHECK(h.replies.empty());
  h.peers.answer(1, wire::ReplicaWriteReply{h.view.epoch()});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::get<wire::GetReply>(h.replies[0]).values == std::vector<std::string>{"a"});
}

TEST_CASE("coordinator: a get that cannot reach R fails without waiting for the timeout, naming who did not answer", "[coordinator]") {
  Harness h;
  h.peers.down = {2, 3};
  h.get(h.key(true), with_r(2));
  h.settle();  // our own copy is read: far less than the 500 ms timeout
  CHECK(h.peers.calls.empty());
  const auto& e = h.error();
  CHECK(e.code == Code::kQuorumNotReached);
  CHECK(e.message.find("n2") != std::string::npos);
  CHECK(e.message.find("n3") != std::string::npos);
  CHECK(h.stats.get(Counter::kQuorumFailures) == 1);
}

TEST_CASE("coordinator: an lww get answers only the newest version", "[coordinator]") {
  Harness h;
  std::string key = h.key(true);
  h.get(key, with_r(3), "last");
  h.settle();
  REQUIRE(h.peers.calls.size() == 2);
  h.peers.answer(h.peers.to(2)[0], wire::ReplicaReadReply{true, Harness::version("old", 2, 10), 1});
  h.peers.answer(h.peers.to(3)[0], wire::ReplicaReadReply{true, Harness::version("new", 3, 20), 1});
  REQUIRE(h.replies.size() == 1);
  CHECK(std::get<wire::GetReply>(h.replies[0]).values == std::vector<std::string>{"new"});
}

TEST_CASE("coordinator: a replica answering from a newer epoch is reported", "[coordinator]") {
  Harness h;
  h.put(h.key(true), "v", with_w(2));
  h.settle();
  h.peers.answer(h.peers.to(2)[0], wire::ReplicaWriteReply{h.view.epoch() + 5});
  REQUIRE(h.epochs_seen.size() == 1);
  CHECK(h.epochs_seen[0] == std::pair<uint64_t, ring::NodeId>{h.view.epoch() + 5, 2});
}

TEST_CASE("coordinator: check refuses what cannot run, naming the problem", "[coordinator]") {
  Harness h;
  auto k = h.coordinator.check(wire::GetRequest{"nope", "k", {}});
  REQUIRE_FALSE(k.ok());
  CHECK(k.status().code() == Code::kUnknownKeyspace);
  CHECK(k.status().message().find("there are: ") != std::string::npos);
  k = h.coordinator.check(wire::GetRequest{"default", "", {}});
  CHECK(k.status().code() == Code::kInvalidArgument);
  k = h.coordinator.check(wire::GetRequest{"default", std::string(65, 'k'), {}});
  CHECK(k.status().code() == Code::kTooLarge);
  k = h.coordinator.check(wire::PutRequest{"default", "k", std::string(1025, 'v'), "", {}});
  CHECK(k.status().code() == Code::kTooLarge);
  CHECK(k.status().message().find("value is 1025 bytes") != std::string::npos);
  k = h.coordinator.check(wire::PutRequest{"default", "k", "v", "", with_w(4)});
  CHECK(k.status().code() == Code::kInvalidArgument);
  CHECK(k.status().message().find("W=4 is out of range 1..N=3") != std::string::npos);
  k = h.coordinator.check(wire::GetRequest{"default", "k", with_r(3)});
  CHECK(k.ok());
}

// ---- late writes (docs/architecture.md, "Late writes") ----

// n1's own copy of `key`, read from its store.
std::optional<quorum::DvvSet> local_copy(Harness& h, const std::string& key) {
  std::optional<quorum::DvvSet> got;
  bool done = false;
  h.store.get("default", key, [&](Result<std::optional<quorum::DvvSet>> r) {
    REQUIRE(r.ok());
    got = *r;
    done = true;
  });
  h.settle();
  REQUIRE(done);
  return got;
}

TEST_CASE("coordinator: a forwarded write that arrives past its deadline is refused, not applied",
          "[coordinator][late]") {
  Harness h;
  const std::string key = h.key(true);
  wire::RequestOptions opt;
  opt.forwarded = true;
  opt.overwrite = true;
  opt.deadline_us = h.host.now_us();  // it is over as it arrives
  h.settle(3);
  h.put(key, "late", opt);
  h.settle();
  const auto& e = h.error();
  CHECK(e.code == Code::kTimeout);
  CHECK_THAT(e.message, Catch::Contains("after its deadline") && Catch::Contains("not applied"));
  CHECK(h.peers.calls.empty());
  CHECK(h.stats.get(Counter::kLateWrites) == 1);
  CHECK_FALSE(local_copy(h, key).has_value());
}

TEST_CASE("coordinator: a write whose turn at the key comes after its deadline is dropped, not minted",
          "[coordinator][late]") {
  Harness h;
  const std::string key = h.key(true);
  h.put(key, "first", with_w(1));  // holds the key while its disk write runs
  wire::RequestOptions opt = with_w(1);
  opt.forwarded = true;
  opt.deadline_us = h.host.now_us() + 1;  // alive on arrival, over by its turn
  h.put(key, "second", opt);
  h.settle();
  REQUIRE(h.replies.size() == 2);
  // The second's refusal may come first: it is decided when its turn comes.
  const size_t err = std::holds_alternative<wire::ErrorReply>(h.replies[0]) ? 0 : 1;
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[1 - err]));
  const auto& e = h.error(err);
  CHECK(e.code == Code::kTimeout);
  CHECK_THAT(e.message, Catch::Contains("turn at the key came after its deadline"));
  CHECK(h.stats.get(Counter::kLateWrites) == 1);
  auto copy = local_copy(h, key);
  REQUIRE(copy.has_value());
  CHECK(quorum::values(*copy) == std::vector<std::string>{"first"});
}

TEST_CASE("coordinator: a forwarded overwrite supersedes only what arrived before it", "[coordinator][late]") {
  Harness h;
  const std::string key = h.key(true);
  // n1 already holds b-new, a write that arrived (on n2) 20 ms ago.
  const uint64_t now = h.host.wall_ms();
  h.write_local(key, "b-new", 2, now - 20);
  wire::RequestOptions opt = with_w(1);
  opt.forwarded = true;
  opt.overwrite = true;
  opt.arrival_ms = now - 30;  // a-old arrived first, and was held up on its way
  opt.arrival_node = 3;
  h.put(key, "a-old", opt);
  h.settle();
  REQUIRE(h.replies.size() == 1);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[0]));
  auto copy = local_copy(h, key);
  REQUIRE(copy.has_value());
  std::vector<std::string> by_time;
  for (const auto* sib : quorum::by_time(*copy)) by_time.push_back(sib->value);
  CHECK(by_time == std::vector<std::string>{"a-old", "b-new"});  // b-new kept, and still the newest
  // An overwrite that arrived after b-new supersedes it.
  opt.arrival_ms = now - 10;
  h.put(key, "c-newest", opt);
  h.settle();
  copy = local_copy(h, key);
  REQUIRE(copy.has_value());
  CHECK(quorum::values(*copy) == std::vector<std::string>{"c-newest"});
}

TEST_CASE("coordinator: a forward without a deadline (no clock estimate) is bounded by its arrival's wall time",
          "[coordinator][late]") {
  Harness h;
  const std::string key = h.key(true);
  h.write_local(key, "b-new", 2, h.host.wall_ms() - 100);
  wire::RequestOptions opt = with_w(1);
  opt.forwarded = true;
  opt.overwrite = true;
  opt.arrival_node = 3;
  // Arrived at its first node longer ago than the timeout and the HLC's
  // allowed skew: held up between nodes, it is refused, not applied.
  opt.arrival_ms = h.host.wall_ms() - kTimeoutMs - quorum::HybridClock::kDefaultMaxOffsetMs - 1;
  h.put(key, "a-old", opt);
  h.settle();
  REQUIRE(h.replies.size() == 1);
  CHECK(h.error().code == Code::kTimeout);
  CHECK_THAT(h.error().message, Catch::Contains("past its timeout"));
  auto copy = local_copy(h, key);
  REQUIRE(copy.has_value());
  CHECK(quorum::values(*copy) == std::vector<std::string>{"b-new"});
  // One that arrived within that bound is taken.
  opt.arrival_ms = h.host.wall_ms() - 50;
  h.put(key, "c", opt);
  h.settle();
  REQUIRE(h.replies.size() == 2);
  CHECK(std::holds_alternative<wire::PutReply>(h.replies[1]));
}

TEST_CASE("coordinator: a forward carries the arrival tag and the deadline", "[coordinator][late]") {
  Harness h(5);
  const uint64_t arrived = h.host.now_us();
  h.put(h.key(false), "v");
  REQUIRE(h.peers.calls.size() == 1);
  const auto& fwd = std::get<wire::PutRequest>(h.peers.calls[0].request);
  CHECK(fwd.options.deadline_us == arrived + uint64_t{kTimeoutMs} * 1000);  // the scripted peers share our clock
  CHECK(fwd.options.arrival_ms == h.host.wall_ms());
  CHECK(fwd.options.arrival_node == 1);
}

TEST_CASE("coordinator: a forward with every replica held down fails at once, sending nothing",
          "[coordinator][late]") {
  Harness h(5);
  const std::string key = h.key(false);
  for (ring::NodeId p : h.view.replicas_of(h.ks(), key)) h.peers.down.insert(p);
  h.put(key, "v");
  CHECK(h.peers.calls.empty());
  const auto& e = h.error();
  CHECK(e.code == Code::kUnavailable);
  CHECK_THAT(e.message, Catch::Contains("every replica of the key is down") && Catch::Contains("not sent"));
}

TEST_CASE("coordinator: a get lists siblings oldest first by tag and says when the newest is a delete",
          "[coordinator][late]") {
  Harness h;
  const std::string key = h.key(true);
  // Dot order (n2 before n3) is the opposite of arrival order here.
  quorum::DvvSet two = *quorum::update(Harness::version("zzz-old", 3, 5), {},
                                       quorum::ClientWrite::Put("aaa-new", {50, 0, 2}), 2);
  std::optional<Status> done;
  h.replica.apply_locally("default", key, two, [&](Status s) { done = s; });
  h.settle();
  REQUIRE(done.has_value());
  h.get(key, with_r(1));
  h.settle();
  REQUIRE(h.replies.size() == 1);
  const auto& got = std::get<wire::GetReply>(h.replies[0]);
  CHECK(got.values == std::vector<std::string>{"zzz-old", "aaa-new"});
  CHECK_FALSE(got.latest_deleted);
  // A delete that arrived last, concurrent with both.
  quorum::DvvSet deleted = *quorum::update(two, {}, quorum::ClientWrite::Delete({60, 0, 3}), 3);
  done.reset();
  h.replica.apply_locally("default", key, deleted, [&](Status s) { done = s; });
  h.settle();
  REQUIRE(done.has_value());
  h.replies.clear();
  h.get(key, with_r(1));
  h.settle();
  REQUIRE(h.replies.size() == 1);
  const auto& after = std::get<wire::GetReply>(h.replies[0]);
  CHECK(after.values == std::vector<std::string>{"zzz-old", "aaa-new"});
  CHECK(after.latest_deleted);
}

TEST_CASE("hint replay: a hint older than the tombstone grace is dropped unsent, a younger one handed over",
          "[coordinator][hints]") {
  Harness h;
  ReplicaService replayer(h.host, Logger("test", LogLevel::kError), h.view, h.store, h.peers, h.stats, h.drain,
                          ReplicaOptions{.hint_replay_interval_us = 10 * kMs, .hint_max_age_ms = 60'000});
  std::vector<std::string> keys;  // two keys n2 replicates
  for (int i = 0; keys.size() < 2; ++i) {
    std::string k = "hinted" + std::to_string(i);
    if (h.view.replicas_of(h.ks(), k).contains(2)) keys.push_back(k);
  }
  const uint64_t now = h.host.wall_ms();
  int kept = 0;
  replayer.keep_hint(2, "default", keys[0], Harness::version("old", 1, now - 120'000), [&](Status s) { kept += s.ok(); });
  replayer.keep_hint(2, "default", keys[1], Harness::version("new", 1, now - 1'000), [&](Status s) { kept += s.ok(); });
  h.settle();
  REQUIRE(kept == 2);
  replayer.start();
  h.settle(50);
  // Only the young hint went out.
  REQUIRE(h.peers.calls.size() == 1);
  CHECK(std::get<wire::ReplicaWrite>(h.peers.calls[0].request).key == keys[1]);
  CHECK(h.stats.get(Counter::kHintsExpired) == 1);
  h.peers.answer(0, wire::ReplicaWriteReply{h.view.epoch()});
  h.settle(50);
  CHECK(replayer.hints().count() == 0);
  CHECK(h.stats.get(Counter::kHintsDelivered) == 1);
  replayer.stop();
}

}  // namespace
}  // namespace tally
