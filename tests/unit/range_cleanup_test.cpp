// RangeCleanup on one node with its store on a simulated disk and a cluster
// view set by hand: after a ring change it drops the records of keys it no
// longer owns once the ring has been still for the grace, and only then; it
// takes a new mint epoch first when a dropped record holds a dot of its own
// (durable no later than the drop), and a write it coordinates afterwards in
// that range is minted under the new epoch.
#include "node/range_cleanup.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/record_codec.hpp"
#include "node/replica_service.hpp"
#include "quorum/dvv.hpp"
#include "sim/sim_world.hpp"

namespace tally {
namespace {

constexpr uint64_t kMs = 1000;
constexpr uint64_t kGraceMs = 500;

class NoPeers final : public PeerCalls {
 public:
  void call(ring::NodeId, wire::Body, uint64_t, ReplyFn done) override { done(Status::Unavailable("no peers")); }
  bool is_up(ring::NodeId) const override { return false; }
  std::string name_of(ring::NodeId peer) const override { return "n" + std::to_string(peer); }
  // One clock for every node: a deadline is the same time everywhere.
  std::optional<uint64_t> deadline_for(ring::NodeId, uint64_t local_deadline_us) const override {
    return local_deadline_us;
  }
};

meta::ClusterMap map_of(int nodes, uint64_t epoch) {
  std::vector<meta::Member> members;
  for (int i = 1; i <= nodes; ++i) {
    members.push_back(meta::Member{static_cast<ring::NodeId>(i), "n" + std::to_string(i),
                                   "10.0.0." + std::to_string(i) + ":7401", "z1", {}});
  }
  auto map = meta::bootstrap(std::move(members), {});
  REQUIRE(map.ok());
  map->epoch = epoch;
  map->ring_epoch = epoch;
  return *map;
}

// Node n1 of a 3-node ring (N=3: it owns every key) that can be switched to a
// 5-node ring (it owns about 3/5 of them).
struct Harness {
  Harness()
      : world(5),
        host(world.add_host("n1", HostPort{"10.0.0.1", 7401})),
        store(host.disk(), Durability::kFsync, [this](std::function<void()> fn) { host.defer(std::move(fn)); }),
        replica(host, Logger("test", LogLevel::kError), view, store, peers, stats, drain,
                ReplicaOptions{.hint_replay_interval_us = 3'600'000'000}),
        cleanup(host, Logger("test", LogLevel::kError), view, store, replica, stats,
                CleanupOptions{.grace_us = kGraceMs * kMs, .batch = 16, .check_interval_us = 50 * kMs}) {
    set_map(map_of(3, 1));
    view.self = 1;
    replica.start();
    cleanup.start();
    settle(5);
    REQUIRE(replica.ready());
  }

  void set_map(meta::ClusterMap map) {
    view.map = std::move(map);
    auto ring = view.map.build_ring();
    REQUIRE(ring.ok());
    view.ring = std::move(*ring);
  }
  const meta::Keyspace& ks() const { return *view.map.keyspace("default"); }
  bool owned(const std::string& key) const { return view.replicas_of(ks(), key).contains(1); }
  void settle(uint64_t ms) { world.run_for(ms * kMs); }

  // Stores a write of `key` minted by `actor` as this node's copy.
  void write(const std::string& key, quorum::ActorId actor) {
    auto rec = quorum::update({}, {}, quorum::ClientWrite::Put("v", {}), actor);
    REQUIRE(rec.ok());
    std::optional<Status> done;
    replica.apply_locally("default", key, *rec, [&done](Status s) { done = s; });
    settle(5);
    REQUIRE(done.has_value());
    REQUIRE(done->ok());
  }
  bool held(const std::string& key) const {
    return host.sim_disk().visible().count(store::RecordStore::data_key("default", key)) > 0;
  }

  sim::SimWorld world;
  sim::SimHost& host;
  ClusterView view;
  store::RecordStore store;
  NoPeers peers;
  NodeStats stats;
  WriteDrain drain;
  ReplicaService replica;
  RangeCleanup cleanup;
};

// Keys that n1 owns in the 3-node ring (all) and does not in the 5-node one.
std::vector<std::string> keys_moving_away(int count) {
  std::vector<std::string> out;
  const meta::ClusterMap five = map_of(5, 2);
  auto ring = five.build_ring();
  REQUIRE(ring.ok());
  for (int i = 0; static_cast<int>(out.size()) < count; ++i) {
    std::string k = "key" + std::to_string(i);
    if (!ring->preference_list(ring::key_position("default", k), 3).contains(1)) out.push_back(k);
  }
  return out;
}

TEST_CASE("range cleanup: records of keys moved away are dropped once the ring has been still for the grace",
          "[range_cleanup][mint-epoch]") {
  Harness h;
  const auto away = keys_moving_away(40);
  for (const auto& k : away) h.write(k, quorum::actor_id(2, 0));  // minted by n2: no dot of ours
  h.write("kept", quorum::actor_id(1, 0));
  h.settle(2 * kGraceMs);
  for (const auto& k : away) REQUIRE(h.held(k));  // n1 owns everything in a 3-node ring

  h.set_map(map_of(5, 2));
  REQUIRE_FALSE(h.owned(away[0]));
  const bool kept_owned = h.owned("kept");
  h.settle(kGraceMs / 2);
  for (const auto& k : away) CHECK(h.held(k));  // not before the grace
  h.settle(kGraceMs * 2);
  for (const auto& k : away) CHECK_FALSE(h.held(k));
  CHECK(h.held("kept") == kept_owned);
  CHECK(h.stats.get(Counter::kDropped) == away.size() + (kept_owned ? 0 : 1));
  CHECK(h.cleanup.cleaned_ring_epoch() == 2);
  // Only "kept" could hold a dot of ours: no epoch was needed for the rest.
  CHECK(h.replica.mint_epochs().last == h.replica.mint_epochs().base + (kept_owned ? 0u : 1u));
}

TEST_CASE("range cleanup: a record holding our dot is dropped only after a new mint epoch, durable first",
          "[range_cleanup][mint-epoch]") {
  Harness h;
  const auto away = keys_moving_away(5);
  for (const auto& k : away) h.write(k, quorum::actor_id(1, 0));
  const uint64_t position = ring::key_position("default", away[0]);
  const uint32_t base = h.replica.mint_epochs().base;
  CHECK(h.replica.actor_for("default", position) == quorum::actor_id(1, base));

  h.set_map(map_of(5, 2));
  h.settle(3 * kGraceMs);
  for (const auto& k : away) CHECK_FALSE(h.held(k));
  REQUIRE(h.replica.mint_epochs().last == base + 1);
  // Every position n1 gave away mints under the new epoch from now on; those
  // it kept still under the base.
  CHECK(h.replica.actor_for("default", position) == quorum::actor_id(1, base + 1));
  const auto ring = h.view.ring.replica_ranges(3);
  for (const auto& rr : ring) {
    const uint64_t p = rr.range.end;
    CHECK(quorum::epoch_of(h.replica.actor_for("default", p)) == (rr.replicas.contains(1) ? base : base + 1));
  }
  // On disk, and read back by a node that restarts.
  const auto& durable = h.host.sim_disk().durable();
  REQUIRE(durable.count("fe"));
  auto stored = codec::decode_mint_epochs(durable.at("fe"));
  REQUIRE(stored.ok());
  CHECK(*stored == h.replica.mint_epochs());

  // The ring moves back: n1 owns the keys again, and a write it mints for one
  // carries the new epoch: never a dot it minted (and forgot) before.
  h.set_map(map_of(3, 3));
  REQUIRE(h.owned(away[0]));
  const quorum::ActorId actor = h.replica.actor_for("default", position);
  CHECK(actor == quorum::actor_id(1, base + 1));
  auto fresh = quorum::update(h.replica.fresh_record(actor), {}, quorum::ClientWrite::Put("again", {}), actor);
  REQUIRE(fresh.ok());
  CHECK(fresh->siblings[0].dot != quorum::Dot{quorum::actor_id(1, 0), 1});
  CHECK(fresh->siblings[0].dot != quorum::Dot{quorum::actor_id(1, base), 1});
}

TEST_CASE("range cleanup: nothing is dropped while a movement runs, while behind, or once the ring moved again",
          "[range_cleanup]") {
  Harness h;
  const auto away = keys_moving_away(10);
  for (const auto& k : away) h.write(k, quorum::actor_id(2, 0));
  meta::ClusterMap five = map_of(5, 2);
  five.movement = meta::Movement{};
  h.set_map(five);
  h.settle(3 * kGraceMs);
  for (const auto& k : away) CHECK(h.held(k));  // a movement in progress

  five.movement.reset();
  h.set_map(five);
  h.view.newest_heard = 9;  // a newer map is on its way
  h.settle(3 * kGraceMs);
  for (const auto& k : away) CHECK(h.held(k));

  h.view.newest_heard = 2;
  h.settle(kGraceMs / 2);
  h.set_map(map_of(3, 4));  // back to owning everything before the grace ran out
  h.settle(3 * kGraceMs);
  for (const auto& k : away) CHECK(h.held(k));
  CHECK(h.stats.get(Counter::kDropped) == 0);
  CHECK(h.replica.mint_epochs().last == h.replica.mint_epochs().base);
}

TEST_CASE("range cleanup: a node restarted with its mint epochs on disk mints under them", "[range_cleanup][mint-epoch]") {
  Harness h;
  const auto away = keys_moving_away(3);
  h.write(away[0], quorum::actor_id(1, 0));
  h.set_map(map_of(5, 2));
  h.settle(3 * kGraceMs);
  REQUIRE(h.replica.mint_epochs().last == h.replica.mint_epochs().base + 1);
  const codec::MintEpochs before = h.replica.mint_epochs();
  // A clean stop (every write through), then a second ReplicaService on the
  // same store stands for the node after a restart.
  std::optional<Status> marked;
  h.replica.mark_clean_stop([&marked](Status st) { marked = st; });
  h.settle(5);
  REQUIRE(marked.has_value());
  REQUIRE(marked->ok());
  ReplicaService again(h.host, Logger("test", LogLevel::kError), h.view, h.store, h.peers, h.stats, h.drain,
                       ReplicaOptions{.hint_replay_interval_us = 3'600'000'000});
  CHECK_FALSE(again.ready());
  again.start();
  h.settle(5);
  REQUIRE(again.ready());
  CHECK(again.mint_epochs() == before);
  again.stop();

  // No clean stop this time (a crash): a dot of ours may be lost here and
  // held elsewhere, so the node takes a new epoch, the highest yet, for
  // every position, before it is ready.
  ReplicaService crashed(h.host, Logger("test", LogLevel::kError), h.view, h.store, h.peers, h.stats, h.drain,
                         ReplicaOptions{.hint_replay_interval_us = 3'600'000'000});
  crashed.start();
  h.settle(5);
  REQUIRE(crashed.ready());
  CHECK(crashed.mint_epochs().base == before.last + 1);
  CHECK(crashed.mint_epochs().last == before.last + 1);
  CHECK(crashed.mint_epochs().keyspaces.empty());
  CHECK(crashed.actor_for("default", ring::key_position("default", away[0])) == quorum::actor_id(1, before.last + 1));
  crashed.stop();
}

TEST_CASE("mint epochs: an empty store draws a random base and keeps it; a wiped one draws another; "
          "records from before mint epochs keep epoch 0",
          "[range_cleanup][mint-epoch]") {
  Harness h;
  const codec::MintEpochs first = h.replica.mint_epochs();
  CHECK(first.base > 0);
  CHECK(first.last == first.base);
  auto restart = [&h] {
    auto r = std::make_unique<ReplicaService>(h.host, Logger("test", LogLevel::kError), h.view, h.store, h.peers,
                                              h.stats, h.drain,
                                              ReplicaOptions{.hint_replay_interval_us = 3'600'000'000});
    r->start();
    h.settle(5);
    REQUIRE(r->ready());
    r->mark_clean_stop([](Status) {});  // a clean stop: the next start keeps the epochs
    h.settle(5);
    r->stop();
    return r->mint_epochs();
  };
  h.replica.mark_clean_stop([](Status) {});
  h.settle(5);
  CHECK(restart() == first);  // kept across a restart

  // Wiped: the disk loses everything, the node starts empty again.
  std::vector<std::string> keys;
  for (const auto& [k, v] : h.host.sim_disk().visible()) keys.push_back(k);
  store::WriteBatch wipe;
  for (const auto& k : keys) wipe.erase(k);
  std::optional<Status> wiped;
  h.host.disk().write(std::move(wipe), true, [&wiped](Status s) { wiped = s; });
  h.settle(5);
  REQUIRE(wiped.has_value());
  const codec::MintEpochs after_wipe = restart();
  CHECK(after_wipe.base > 0);
  CHECK(after_wipe.base != first.base);

  // A store with records but no mint epochs on record (written before they
  // existed): its own dots were minted as epoch 0, and it goes on so.
  std::vector<std::string> now;
  for (const auto& [k, v] : h.host.sim_disk().visible()) now.push_back(k);
  store::WriteBatch clear;
  for (const auto& k : now) clear.erase(k);
  h.host.disk().write(std::move(clear), true, [](Status) {});
  h.settle(5);
  h.write("legacy", quorum::actor_id(1, 0));
  // No clean stop on record either (older nodes wrote none): the first start
  // steps over epoch 0 as after a crash; its own dots stay epoch 0's.
  const codec::MintEpochs legacy = restart();
  CHECK(legacy.base == 1);
  CHECK(legacy.last == 1);
}

}  // namespace
}  // namespace tally
