// The quorum data path under faults, on five simulated nodes (N=3, R=2, W=2):
// partitions, power-loss crashes, message loss, duplication and reordering,
// and the ring changing under it (nodes joining, leaving and being removed,
// one movement at a time), with clients racing on a few keys. Checked after
// every run, on the ring as it ends:
//   - no acknowledged write is lost: each is in the final value set, or was
//     superseded by a write that read it (and that write is itself present,
//     a delete, or superseded in turn);
//   - no read returns a value that nobody wrote;
//   - no quorum read (R=2) misses a write acknowledged (W=2) before it began,
//     or what superseded it: R + W > N holds across ring movements;
//   - after the faults heal and repair runs, every replica of a key in the
//     final ring holds the same versions, and with the first check, every
//     acknowledged write that survives;
//   - version vectors never hold more entries than the key has had replicas.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <set>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "ring/ring.hpp"
#include "sim/sim_cluster.hpp"
#include "sim_support.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

constexpr int kNodes = 5;
constexpr int kKeys = 6;

struct WriteRecord {
  std::string key;
  bool is_delete = false;
  bool acked = false;
  std::set<std::string> read_set;  // values the context it carried had seen
  uint64_t acked_us = 0;           // when the client had its acknowledgement
};

// A quorum read: R=2 of N=3 after writes acknowledged by W=2 must see them
// (or what superseded them), whatever the ring did in between.
struct ReadRecord {
  std::string key;
  uint64_t started_us = 0;
  std::set<std::string> values;
};

struct Outcome {
  uint64_t trace_hash = 0;
  uint64_t acked = 0, writes = 0, reads = 0, siblings_seen = 0;
  uint64_t joins = 0, leaves = 0, removes = 0;
  uint64_t dropped_checked = 0;  // (node, key) pairs off the final ring found dropped
  uint64_t mint_epochs = 0;      // epochs taken by nodes before dropping records with their dots
  std::vector<std::string> violations;
};

class Checker {
 public:
  std::map<std::string, WriteRecord> writes;  // by value (values are unique)
  std::set<std::string> observed;             // values some read returned
  std::vector<ReadRecord> reads;
  std::vector<std::string> violations;

  void saw(const std::string& key, const std::vector<std::string>& values) {
    for (const auto& v : values) {
      auto it = writes.find(v);
      if (it == writes.end() || it->second.key != key) {
        violations.push_back("a read of " + key + " returned '" + v + "', which nobody wrote there");
      }
      observed.insert(v);
    }
  }

  // Is the write of `v` accounted for, given the final values of its key?
  bool accounted(const std::string& v, const std::set<std::string>& final_values, int depth = 0) {
    if (final_values.count(v)) return true;
    if (depth > 64) return false;
    for (const auto& [w, rec] : writes) {
      if (!rec.read_set.count(v)) continue;
      // A write that supersedes `v` counts if it certainly happened: it was
      // acknowledged, or some read returned it. A delete leaves nothing a read
      // can return, so an unacknowledged one that read `v` counts as well: the
      // checker cannot tell whether it was applied (a known blind spot).
      bool applied = rec.acked || final_values.count(w) || observed.count(w) || rec.is_delete;
      if (!applied) continue;
      if (rec.is_delete || accounted(w, final_values, depth + 1)) return true;
    }
    return false;
  }
};

class Clients {
 public:
  Clients(SimWorld& world, SimCluster& cluster, Checker& checker) : world_(world), checker_(checker) {
    for (int i = 0; i < kNodes; ++i) {
      auto& h = world.add_host("c" + std::to_string(i), HostPort{"10.0.1." + std::to_string(i + 1), 9000});
      clients_.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[i].listen, 3'000'000));
    }
  }

  void start(uint64_t until_us) {
    until_us_ = until_us;
    for (size_t c = 0; c < clients_.size(); ++c) next(c);
  }

  uint64_t reads = 0, siblings_seen = 0;

 private:
  void next(size_t c) {
    if (world_.now_us() >= until_us_) return;
    world_.schedule(world_.rng().between(500, 5000), [this, c] { op(c); });
  }

  std::string fresh_value(size_t c) { return "c" + std::to_string(c) + "-" + std::to_string(++seq_); }

  void op(size_t c) {
    std::string key = "k" + std::to_string(world_.rng().uniform(kKeys));
    uint64_t dice = world_.rng().uniform(100);
    if (dice < 15) {  // a blind write: no context, so it supersedes nothing
      write(c, key, false, {}, {});
      return;
    }
    // Read, then (usually) write with the read's context.
    const uint64_t started = world_.now_us();
    clients_[c]->request(wire::GetRequest{"default", key, {}}, [this, c, key, dice, started](Result<wire::Message> r) {
      auto* g = r.ok() ? std::get_if<wire::GetReply>(&r->body) : nullptr;
      if (!g) return next(c);
      ++reads;
      if (g->values.size() > 1) ++siblings_seen;
      checker_.saw(key, g->values);
      std::set<std::string> seen(g->values.begin(), g->values.end());
      checker_.reads.push_back(ReadRecord{key, started, seen});
      if (dice < 80) {
        write(c, key, false, g->context, seen);
      } else if (dice < 90 && !g->context.empty()) {
        // Only deletes with a context: a blind delete removes whatever its
        // coordinator holds, which the checker cannot know (tested on the
        // real cluster instead).
        write(c, key, true, g->context, seen);
      } else {
        next(c);
      }
    });
  }

  void write(size_t c, const std::string& key, bool is_delete, const std::string& context,
             std::set<std::string> read_set) {
    std::string value = is_delete ? "del-" + fresh_value(c) : fresh_value(c);
    checker_.writes[value] = WriteRecord{key, is_delete, false, std::move(read_set)};
    wire::Body body = is_delete ? wire::Body(wire::DeleteRequest{"default", key, context, {}})
                                : wire::Body(wire::PutRequest{"default", key, value, context, {}});
    clients_[c]->request(std::move(body), [this, c, value](Result<wire::Message> r) {
      if (r.ok() && (std::holds_alternative<wire::PutReply>(r->body) ||
                     std::holds_alternative<wire::DeleteReply>(r->body))) {
        checker_.writes[value].acked = true;
        checker_.writes[value].acked_us = world_.now_us();
      }
      next(c);
    });
  }

  SimWorld& world_;
  Checker& checker_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  uint64_t until_us_ = 0;
  uint64_t seq_ = 0;
};

// A key's record as stored on node i (nullopt if absent).
std::optional<quorum::DvvSet> stored(SimCluster& cluster, int i, const std::string& key) {
  const auto& disk = cluster.host(i).sim_disk().visible();
  auto it = disk.find(store::RecordStore::data_key("default", key));
  if (it == disk.end()) return std::nullopt;
  auto rec = codec::decode_record(it->second);
  return rec.ok() ? std::optional<quorum::DvvSet>(*rec) : std::nullopt;
}

// Joins, leaves and removes, as an operator would make them: one at a time,
// through any node (which hands it to the metadata leader). Only nodes that
// are not metadata voters leave (n1-n3 are), so the group keeps its quorum.
class Membership {
 public:
  Membership(SimWorld& world, SimCluster& cluster) : world_(world), cluster_(cluster) {
    auto& h = world.add_host("admin", HostPort{"10.0.3.1", 9000});
    for (int i = 0; i < 3; ++i) admins_.push_back(std::make_unique<SimClient>(h, cluster.listen(i), 2'000'000));
  }

  // The map of the running node that knows the newest one.
  std::optional<meta::ClusterMap> newest() {
    std::optional<meta::ClusterMap> best;
    for (int i = 0; i < cluster_.size(); ++i) {
      if (cluster_.node(i) && (!best || cluster_.node(i)->meta().map().epoch > best->epoch)) {
        best = cluster_.node(i)->meta().map();
      }
    }
    return best;
  }

  // No movement in progress, and every node started to join is on the ring.
  bool settled() {
    auto map = newest();
    if (!map || map->movement) return false;
    for (int i = 0; i < cluster_.size(); ++i) {
      if (!map->member_named("n" + std::to_string(i + 1))) return false;  // still asking to join
    }
    return true;
  }

  // One change, if the map allows one now; `max_hosts` bounds joins.
  void step(int max_hosts) {
    auto map = newest();
    if (!map || map->movement || busy_) return;
    for (const auto& m : map->members) {
      if (m.state == meta::NodeState::kLeft) return change(wire::MetaOp::kRemove, m.name);
    }
    std::vector<std::string> leavers;
    int normal = 0;
    for (const auto& m : map->members) {
      if (m.state != meta::NodeState::kNormal) continue;
      ++normal;
      if (m.id > 3) leavers.push_back(m.name);
    }
    if (cluster_.size() < max_hosts && (leavers.empty() || normal < 5 || world_.rng().chance(0.5))) {
      ++joins;
      cluster_.add_joiner(static_cast<int>(world_.rng().uniform(3)));
    } else if (!leavers.empty() && normal > 3) {
      change(wire::MetaOp::kLeave, leavers[world_.rng().uniform(leavers.size())]);
    }
  }

  uint64_t joins = 0, leaves = 0, removes = 0;
  uint64_t leaves_asked = 0;  // a leave may apply though its answer was lost

 private:
  void change(wire::MetaOp op, const std::string& node) {
    if (op == wire::MetaOp::kLeave) ++leaves_asked;
    wire::MetaChangeRequest req;
    req.op = op;
    req.node = node;
    busy_ = true;
    admins_[world_.rng().uniform(admins_.size())]->request(std::move(req), [this, op](Result<wire::Message> r) {
      busy_ = false;
      if (r.ok() && std::holds_alternative<wire::MetaChangeReply>(r->body)) {
        ++(op == wire::MetaOp::kLeave ? leaves : removes);
      }
    });
  }

  SimWorld& world_;
  SimCluster& cluster_;
  std::vector<std::unique_ptr<SimClient>> admins_;
  bool busy_ = false;
};

Outcome run(uint64_t seed) {
  SimWorld world(seed);
  world.faults().drop = 0.02;
  world.faults().duplicate = 0.02;
  world.faults().max_latency_us = 3000;
  // Copies of ranges that moved away are dropped as soon as the ring is
  // still (no grace), so that runs drop them between and after movements.
  SimCluster cluster(world, kNodes, Durability::kFsync, [](ClusterConfig& c) { c.cleanup_grace_s = 0; });
  Checker checker;
  Clients clients(world, cluster, checker);
  Membership membership(world, cluster);
  constexpr uint64_t kRunUs = 3'000'000;
  clients.start(kRunUs);

  // Faults: a partition, a crash or a ring change every 100-400 ms; each
  // fault heals 50-500 ms later.
  uint64_t t = 0;
  size_t crashes = 0;
  while (t < kRunUs) {
    t += world.rng().between(100'000, 400'000);
    world.run_until(t);
    uint64_t heal_after = world.rng().between(50'000, 500'000);
    const int hosts = cluster.size();
    uint64_t dice = world.rng().uniform(100);
    if (dice < 35) {
      membership.step(kNodes + 3);
    } else if (dice < 60) {
      std::vector<int> a, b;
      for (int i = 0; i < hosts; ++i) (world.rng().chance(0.5) ? a : b).push_back(cluster.host(i).index());
      world.partition({a, b});
      world.schedule(heal_after, [&world] { world.heal(); });
    } else {
      int victim = static_cast<int>(world.rng().uniform(hosts));
      if (cluster.node(victim)) {
        cluster.crash(victim, CrashKind::kPowerLoss);
        ++crashes;
        world.schedule(heal_after, [&cluster, victim] {
          if (!cluster.node(victim)) cluster.restart(victim);
        });
      }
    }
  }
  world.run_until(kRunUs + 3'500'000);  // let requests finish or time out
  world.heal();
  world.faults().drop = 0;
  world.faults().duplicate = 0;
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.node(i)) cluster.restart(i);
  }
  // The movement in progress completes (its receivers stream what is
  // left), and a node still asking to join gets in.
  Outcome out;
  for (int waited = 0; waited < 300 && !membership.settled(); ++waited) world.run_for(100'000);
  if (!membership.settled()) {
    out.violations.push_back("the ring did not settle within 30 s of the faults healing");
  }
  world.run_for(3'000'000);  // failure detectors see everyone; hints are handed over

  // Repair: a blocking read of every key at R=N, through a node on the final
  // ring, then the final values.
  int serving = 0;
  {
    auto map = membership.newest();
    for (int i = 0; i < cluster.size(); ++i) {
      const meta::Member* m = map ? map->member_named("n" + std::to_string(i + 1)) : nullptr;
      if (m && m->state == meta::NodeState::kNormal && cluster.node(i)) {
        serving = i;
        break;
      }
    }
  }
  auto& repair_host = world.add_host("repair", HostPort{"10.0.2.1", 9000});
  SimClient repairer(repair_host, cluster.listen(serving), 3'000'000);
  std::map<std::string, std::set<std::string>> final_values;
  for (int k = 0; k < kKeys; ++k) {
    std::string key = "k" + std::to_string(k);
    wire::RequestOptions opt;
    opt.r = 3;
    opt.blocking_repair = true;
    repairer.request(wire::GetRequest{"default", key, opt}, [&, key](Result<wire::Message> r) {
      auto* g = r.ok() ? std::get_if<wire::GetReply>(&r->body) : nullptr;
      if (!g) {
        out.violations.push_back("repair read of " + key + " failed: " +
                                 (r.ok() ? std::get<wire::ErrorReply>(r->body).message : r.status().to_string()));
        return;
      }
      checker.saw(key, g->values);
      final_values[key] = std::set<std::string>(g->values.begin(), g->values.end());
    });
  }
  world.run_for(2'000'000);

  // Convergence, and bounded version vectors, on the replicas of the final
  // ring themselves.
  const ring::Ring ring = cluster.node(serving)->ring();
  const meta::ClusterMap final_map = cluster.node(serving)->cluster_map();
  for (int k = 0; k < kKeys; ++k) {
    std::string key = "k" + std::to_string(k);
    auto replicas = ring.preference_list(ring::key_position("default", key), 3);
    std::optional<quorum::DvvSet> first;
    bool have_first = false;
    for (ring::NodeId id : replicas) {
      const meta::Member* m = final_map.member(id);
      auto rec = stored(cluster, std::stoi(m->name.substr(1)) - 1, key);
      // Every node that was ever a replica of the key may have coordinated a
      // write of it: its first 3, and one more for each join or leave; and a
      // node that crashed mints as a new actor after it (a new mint epoch).
      const size_t bound = 3 + membership.joins + membership.leaves_asked + crashes;
      if (rec && rec->clock.entries.size() > bound) {
        out.violations.push_back(key + ": version vector with " + std::to_string(rec->clock.entries.size()) +
                                 " entries on a key with at most " + std::to_string(bound) + " replicas ever");
      }
      if (!have_first) {
        first = rec;
        have_first = true;
      } else if (first != rec) {
        out.violations.push_back(key + ": replicas disagree after repair");
      }
    }
  }

  if (std::getenv("TALLY_SIM_DEBUG")) {
    for (const auto& [key, vals] : final_values) {
      std::string line = key + " final:";
      for (const auto& v : vals) line += " " + v;
      world.trace(line);
    }
    for (const auto& [value, rec] : checker.writes) {
      std::string line = "write " + value + " " + rec.key + (rec.acked ? " acked" : " unacked") +
                         (rec.is_delete ? " delete" : "") + " read:";
      for (const auto& v : rec.read_set) line += " " + v;
      world.trace(line);
    }
  }
  // No quorum read missed a write acknowledged before it began.
  for (const auto& read : checker.reads) {
    for (const auto& [value, rec] : checker.writes) {
      if (!rec.acked || rec.is_delete || rec.key != read.key || rec.acked_us >= read.started_us) continue;
      if (!checker.accounted(value, read.values)) {
        out.violations.push_back("a read of " + read.key + " begun at " + std::to_string(read.started_us) +
                                 " us missed '" + value + "', acknowledged at " + std::to_string(rec.acked_us) +
                                 " us (a stale quorum read)");
      }
    }
  }
  for (const auto& [value, rec] : checker.writes) {
    if (!rec.acked || rec.is_delete) continue;
    ++out.acked;
    if (!checker.accounted(value, final_values[rec.key])) {
      out.violations.push_back("acknowledged write '" + value + "' of " + rec.key + " is lost");
    }
  }
  out.writes = checker.writes.size();
  out.reads = clients.reads;
  out.siblings_seen = clients.siblings_seen;
  for (auto& v : checker.violations) out.violations.push_back(v);
  // Nodes on the ring dropped their copies of the keys they no longer own.
  for (int i = 0; i < cluster.size(); ++i) {
    const meta::Member* m = final_map.member_named("n" + std::to_string(i + 1));
    if (!m || m->state != meta::NodeState::kNormal || !cluster.node(i)) continue;
    for (int k = 0; k < kKeys; ++k) {
      std::string key = "k" + std::to_string(k);
      if (ring.preference_list(ring::key_position("default", key), 3).contains(m->id)) continue;
      if (stored(cluster, i, key)) {
        out.violations.push_back(m->name + " still holds " + key + ", which it no longer owns");
      } else {
        ++out.dropped_checked;
      }
    }
  }
  // How often the mint epochs mattered: epochs taken before drops.
  for (int i = 0; i < cluster.size(); ++i) {
    const auto& disk = cluster.host(i).sim_disk().visible();
    if (auto it = disk.find("fe"); it != disk.end()) {
      auto epochs = codec::decode_mint_epochs(it->second);
      if (!epochs.ok()) out.violations.push_back("n" + std::to_string(i + 1) + ": " + epochs.status().to_string());
      if (epochs.ok()) out.mint_epochs += epochs->last - epochs->base;
    }
  }
  out.joins = membership.joins;
  out.leaves = membership.leaves;
  out.removes = membership.removes;
  out.trace_hash = world.trace_hash();
  return out;
}

}  // namespace

TEST_CASE("quorum: no acknowledged write lost, replicas converge, clocks bounded, under faults",
          "[sim][quorum]") {
  const std::string name = "quorum: no acknowledged write lost, replicas converge, clocks bounded, under faults";
  uint64_t acked = 0, writes = 0, siblings = 0, seeds_run = 0, joins = 0, leaves = 0, removes = 0, dropped = 0;
  uint64_t mint_epochs = 0;
  for (uint64_t seed : simtest::seeds(200, 10000)) {
    Outcome o = run(seed);
    ++seeds_run;
    joins += o.joins;
    leaves += o.leaves;
    removes += o.removes;
    dropped += o.dropped_checked;
    mint_epochs += o.mint_epochs;
    acked += o.acked;
    writes += o.writes;
    siblings += o.siblings_seen;
    if (!o.violations.empty()) {
      for (size_t i = 0; i < o.violations.size() && i < 10; ++i) UNSCOPED_INFO(o.violations[i]);
      FAIL("seed " << seed << ": " << o.violations.front() << " (" << o.violations.size()
                   << " violations)\n" << simtest::replay_hint(seed, name));
    }
  }
  // The runs must have exercised something: acknowledged writes and real siblings.
  REQUIRE(acked > seeds_run * 20);
  REQUIRE(siblings > 0);
  // And the ring must have moved: nodes joined, left and were removed.
  WARN("quorum sim: " << seeds_run << " seeds, " << writes << " writes, " << acked << " acknowledged, "
                      << siblings << " reads with siblings; " << joins << " joins, " << leaves << " leaves, "
                      << removes << " removes; " << dropped << " copies off the final ring dropped; "
                      << mint_epochs << " mint epochs taken");
  if (seeds_run >= 100) {
    REQUIRE(joins > seeds_run / 2);
    REQUIRE(leaves > seeds_run / 10);
    REQUIRE(removes > seeds_run / 20);
  }
}

TEST_CASE("quorum sim: a seed replays the same run", "[sim][quorum][determinism]") {
  Outcome a = run(7), b = run(7), c = run(8);
  REQUIRE(a.trace_hash == b.trace_hash);
  REQUIRE(a.acked == b.acked);
  REQUIRE(a.trace_hash != c.trace_hash);
}
