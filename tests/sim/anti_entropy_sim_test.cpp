// Anti-entropy on whole simulated clusters: a replica whose store was wiped
// gets every key of its ranges back from anti-entropy alone (nobody reads),
// and a key deleted while one replica was down loses its tombstone on every
// replica once that replica is back, and stays deleted.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "sim/sim_cluster.hpp"
#include "store/record_store.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

constexpr uint64_t kMs = 1000;

struct Setup {
  SimWorld world;
  SimCluster cluster;
  std::vector<std::unique_ptr<SimClient>> clients;  // one per node

  Setup(uint64_t seed, int nodes)
      : world(seed), cluster(world, nodes, Durability::kBuffered, [](ClusterConfig& c) {
          c.anti_entropy.interval_ms = 5;
          c.anti_entropy.tombstone_grace_s = 1;
        }) {
    for (int i = 0; i < nodes; ++i) {
      auto& h = world.add_host("c" + std::to_string(i + 1),
                               HostPort{"10.0.1." + std::to_string(i + 1), 9000});
      clients.push_back(
          std::make_unique<SimClient>(h, cluster.config().nodes[i].listen, 5'000'000));
    }
    world.run_for(1000 * kMs);  // heartbeats, and every tree built
  }

  // Sends `make(i)` for i in [0, count) through node `via`, all at once;
  // how many were answered with `Reply`.
  template <class Reply, class Make>
  int send(int via, int count, Make make) {
    int answered = 0, ok = 0;
    for (int i = 0; i < count; ++i) {
      clients[via]->request(make(i), [&](Result<wire::Message> r) {
        ++answered;
        if (r.ok() && std::holds_alternative<Reply>(r->body)) ++ok;
      });
    }
    for (int i = 0; i < 3000 && answered < count; ++i) world.run_for(10 * kMs);
    REQUIRE(answered == count);
    return ok;
  }

  // Node i's record of `key` as its disk holds it, or nullopt.
  std::optional<quorum::DvvSet> on_disk(int i, const std::string& key) {
    const auto& d = cluster.host(i).sim_disk().visible();
    auto it = d.find(store::RecordStore::data_key("default", key));
    if (it == d.end()) return std::nullopt;
    auto r = codec::decode_record(it->second);
    REQUIRE(r.ok());
    return *r;
  }

  bool holds_replica(int node, const std::string& key) {
    const auto& view_ring = cluster.node(0)->ring();
    auto list = view_ring.preference_list(ring::key_position("default", key), 3);
    return list.contains(static_cast<ring::NodeId>(node + 1));
  }

  uint64_t counter(int i, std::string_view name) {
    uint64_t v = 0;
    cluster.node(i)->submit(wire::StatusRequest{}, [&](wire::Body b) {
      for (const auto& [k, val] : std::get<wire::StatusReply>(b).fields) {
        if (k == name) v = std::stoull(val);
      }
    });
    return v;
  }

  template <class Fn>
  uint64_t run_until(Fn done, uint64_t limit_ms) {
    const uint64_t start = world.now_us();
    while (!done() && world.now_us() - start < limit_ms * kMs) world.run_for(10 * kMs);
    return (world.now_us() - start) / kMs;
  }
};

std::string key(int i) { return "key" + std::to_string(i); }

wire::RequestOptions at(int r, int w) {
  wire::RequestOptions o;
  o.r = static_cast<uint8_t>(r);
  o.w = static_cast<uint8_t>(w);
  return o;
}

}  // namespace

TEST_CASE(
    "anti-entropy: a replica whose store was wiped gets every key of its ranges back, with no "
    "reads",
    "[sim][anti_entropy]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    Setup s(seed, 4);
    constexpr int kKeys = 600;
    REQUIRE(s.send<wire::PutReply>(0, kKeys, [](int i) {
      return wire::PutRequest{"default", key(i), "v" + std::to_string(i), "", at(0, 3)};
    }) == kKeys);
    std::vector<std::string> n3_keys;
    for (int i = 0; i < kKeys; ++i) {
      if (s.holds_replica(2, key(i))) n3_keys.push_back(key(i));
    }
    REQUIRE(n3_keys.size() > kKeys / 2);
    for (const auto& k : n3_keys) REQUIRE(s.on_disk(2, k).has_value());

    // n3 loses its records, hints and dot floor (not its Raft state: it is a voter).
    s.cluster.crash(2, CrashKind::kProcess);
    for (const char* prefix : {"d", "h", "f"}) s.cluster.host(2).sim_disk().wipe(prefix);
    s.cluster.restart(2);
    auto missing = [&] {
      size_t n = 0;
      for (const auto& k : n3_keys) n += !s.on_disk(2, k).has_value();
      return n;
    };
    REQUIRE(missing() == n3_keys.size());
    const uint64_t took_ms = s.run_until([&] { return missing() == 0; }, 60'000);
    INFO("n3 got " << n3_keys.size() << " keys back in " << took_ms << " ms of virtual time");
    CHECK(missing() == 0);
    // What it got back is what the others hold, and it came by anti-entropy.
    for (const auto& k : n3_keys) {
      auto mine = s.on_disk(2, k);
      REQUIRE(mine.has_value());
      for (int other : {0, 1, 3}) {
        if (s.holds_replica(other, k)) CHECK(*mine == *s.on_disk(other, k));
      }
    }
    CHECK(s.counter(2, "ae_keys_repaired") >= n3_keys.size());
    CHECK(s.counter(2, "read_repairs") == 0);
  }
}

TEST_CASE(
    "anti-entropy: a key deleted while a replica was down loses its tombstone everywhere and stays "
    "deleted",
    "[sim][anti_entropy][tombstones]") {
  for (uint64_t seed : {1, 2, 3}) {
    INFO("seed " << seed);
    Setup s(seed, 3);
    constexpr int kKeys = 200;
    REQUIRE(s.send<wire::PutReply>(0, kKeys, [](int i) {
      return wire::PutRequest{"default", key(i), "old", "", at(0, 3)};
    }) == kKeys);
    s.cluster.crash(2, CrashKind::kProcess);  // n3 misses the deletes
    s.world.run_for(1500 * kMs);
    REQUIRE(s.send<wire::DeleteReply>(0, kKeys, [](int i) {
      return wire::DeleteRequest{"default", key(i), "", at(0, 2)};
    }) == kKeys);
    const std::optional<quorum::DvvSet> tomb7 = s.on_disk(0, key(7));
    // While n3 is down nothing can be collected: n3 was never seen holding the tombstones.
    s.world.run_for(5000 * kMs);
    CHECK(s.counter(0, "tombstones_collected") == 0);
    CHECK(s.counter(0, "tombstones_held") == kKeys);
    for (int i = 0; i < kKeys; ++i)
      REQUIRE(s.on_disk(2, key(i)).has_value());  // n3 still has "old"

    s.cluster.restart(2);
    auto tombstones = [&] {
      uint64_t held = 0;
      for (int n = 0; n < 3; ++n) held += s.counter(n, "tombstones_held");
      return held;
    };
    const uint64_t took_ms = s.run_until([&] { return tombstones() == 0; }, 60'000);
    INFO("tombstones gone in " << took_ms << " ms of virtual time");
    CHECK(tombstones() == 0);
    uint64_t collected = 0;
    for (int n = 0; n < 3; ++n) collected += s.counter(n, "tombstones_collected");
    CHECK(collected == 3 * kKeys);
    // Anti-entropy keeps running: nothing comes back.
    s.world.run_for(10'000 * kMs);
    for (int n = 0; n < 3; ++n) {
      for (int i = 0; i < kKeys; ++i) {
        INFO("n" << n + 1 << " " << key(i));
        CHECK_FALSE(s.on_disk(n, key(i)).has_value());
      }
    }
    // Reads at R=1 through every node find nothing.
    for (int n = 0; n < 3; ++n) {
      int found = 0, answered = 0;
      for (int i = 0; i < kKeys; ++i) {
        s.clients[n]->request(wire::GetRequest{"default", key(i), at(1, 0)},
                              [&](Result<wire::Message> r) {
                                ++answered;
                                REQUIRE(r.ok());
                                auto* g = std::get_if<wire::GetReply>(&r->body);
                                REQUIRE(g);
                                found += !g->values.empty();
                              });
      }
      s.run_until([&] { return answered == kKeys; }, 10'000);
      CHECK(answered == kKeys);
      CHECK(found == 0);
    }
    // A write after the collection lives even where the old tombstone
    // comes back (a late hint, say): n1 mints its dot above its dot floor,
    // so n3's copy of the tombstone, whose clock covers n1's old dots, does
    // not take the new write for one it has seen superseded.
    REQUIRE(tomb7.has_value());
    REQUIRE(s.send<wire::ReplicaWriteReply>(2, 1, [&](int) {
      return wire::ReplicaWrite{"default", key(7), *tomb7, 0,
                                s.cluster.node(2)->cluster_map().epoch};
    }) == 1);
    REQUIRE(s.send<wire::PutReply>(0, 1, [](int) {
      return wire::PutRequest{"default", key(7), "new", "", at(0, 3)};
    }) == 1);
    s.world.run_for(5000 * kMs);  // anti-entropy runs
    for (int n = 0; n < 3; ++n) {
      INFO("n" << n + 1);
      auto r = s.on_disk(n, key(7));
      REQUIRE(r.has_value());
      CHECK(quorum::values(*r) == std::vector<std::string>{"new"});
    }
  }
}
