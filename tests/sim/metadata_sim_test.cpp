// The metadata group inside real Node objects, under faults: five simulated
// nodes (three voters, two learners), clients creating and dropping keyspaces
// through any node while nodes crash (losing what they had not synced) and
// the network partitions, drops and duplicates. Checked after every run,
// once the faults heal:
//   - every node applied the same map (the same epoch, members, keyspaces);
//   - a keyspace whose creation was acknowledged, and whose drop never was
//     attempted, exists;
//   - a keyspace whose drop was acknowledged, and that was never created
//     again, is gone;
//   - each node's data path uses that map: a put to every keyspace through
//     every node succeeds.
// A second test plays disks that fail for a while (full, or flaky) instead
// of crashes and partitions: a node whose log write failed stops taking part
// and starts over from its log once the disk is reopened; the same checks
// hold, and every node's group runs again at the end.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "sim/sim_cluster.hpp"
#include "sim_support.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

constexpr int kNodes = 5;

struct Outcome {
  uint64_t trace_hash = 0;
  int acked_changes = 0;
  uint64_t reopens = 0;
  uint64_t meta_restarts = 0;
  std::vector<std::string> violations;
};

// `disk_faults`: a node's disk fails for a while every five changes, in place
// of the crashes and partitions.
Outcome run(uint64_t seed, bool disk_faults = false) {
  SimWorld world(seed);
  SimCluster cluster(world, kNodes, Durability::kFsync);
  std::vector<std::unique_ptr<SimClient>> clients;
  for (int i = 0; i < kNodes; ++i) {
    auto& h = world.add_host("c" + std::to_string(i), HostPort{"10.0.1." + std::to_string(i + 1), 9000});
    clients.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[i].listen, 2'000'000));
  }
  world.run_for(1'000'000);  // a leader, the initial map everywhere
  world.faults().drop = 0.02;
  world.faults().duplicate = 0.02;

  Outcome out;
  std::set<std::string> created, dropped, drop_tried, create_tried;
  // Over ~6 s: a change every 50-150 ms through a random node; every so often
  // a crash (with power loss) or a partition, healed later.
  uint64_t t = world.now_us();
  const uint64_t end = t + 6'000'000;
  int n = 0;
  while (t < end) {
    t += world.rng().between(50'000, 150'000);
    world.run_until(t);
    int via = static_cast<int>(world.rng().uniform(kNodes));
    std::string name = "ks" + std::to_string(world.rng().uniform(8));
    bool drop = world.rng().chance(0.3);
    wire::MetaChangeRequest req;
    req.op = drop ? wire::MetaOp::kDropKeyspace : wire::MetaOp::kCreateKeyspace;
    req.keyspace = name;
    (drop ? drop_tried : create_tried).insert(name);
    clients[via]->request(req, [&, name, drop](Result<wire::Message> r) {
      if (r.ok() && std::holds_alternative<wire::MetaChangeReply>(r->body)) {
        ++out.acked_changes;
        (drop ? dropped : created).insert(name);
      }
    });
    ++n;
    if (disk_faults) {
      if (n % 5 == 0) {
        DiskFaults& f = cluster.host(static_cast<int>(world.rng().uniform(kNodes))).sim_disk().faults();
        f.failed_write_applied = 0.5;
        if (world.rng().chance(0.5)) {
          f.full = true;
        } else {
          f.write_error = 0.3;
        }
        world.schedule(world.rng().between(50'000, 500'000), [&f] {
          f.full = false;
          f.write_error = 0;
        });
      }
    } else if (n % 10 == 0) {
      int victim = static_cast<int>(world.rng().uniform(kNodes));
      if (cluster.node(victim) && world.rng().chance(0.5)) {
        cluster.crash(victim, CrashKind::kPowerLoss);
        world.schedule(world.rng().between(100'000, 800'000), [&cluster, victim] {
          if (!cluster.node(victim)) cluster.restart(victim);
        });
      } else {
        std::vector<int> a, b;
        for (int i = 0; i < kNodes; ++i) (world.rng().chance(0.5) ? a : b).push_back(i);
        world.partition({a, b});
        world.schedule(world.rng().between(200'000, 1'000'000), [&world] { world.heal(); });
      }
    }
  }
  world.run_for(2'000'000);
  world.heal();
  world.faults().drop = 0;
  world.faults().duplicate = 0;
  for (int i = 0; i < kNodes; ++i) {
    if (!cluster.node(i)) cluster.restart(i);
  }
  world.run_for(3'000'000);

  const meta::ClusterMap& first = cluster.node(0)->meta().map();
  for (int i = 0; i < kNodes; ++i) {
    const Node* node = cluster.node(i);
    if (!(node->meta().map() == first)) {
      out.violations.push_back("n" + std::to_string(i + 1) + " applied epoch " +
                               std::to_string(node->meta().map().epoch) + ", n1 epoch " +
                               std::to_string(first.epoch));
    }
    if (!node->meta().running()) out.violations.push_back("n" + std::to_string(i + 1) + "'s metadata group is stopped");
    out.reopens += cluster.host(i).sim_disk().reopens();
    out.meta_restarts += node->meta().restarts();
    if (node->cluster_map().epoch != first.epoch) {
      out.violations.push_back("n" + std::to_string(i + 1) + "'s data path uses epoch " +
                               std::to_string(node->cluster_map().epoch) + ", not " + std::to_string(first.epoch));
    }
  }
  for (const auto& name : created) {
    if (!drop_tried.count(name) && !first.keyspace(name)) {
      out.violations.push_back("acknowledged keyspace " + name + " is missing");
    }
  }
  for (const auto& name : dropped) {
    if (!create_tried.count(name) && first.keyspace(name)) {
      out.violations.push_back("dropped keyspace " + name + " is back");
    }
  }
  // Every node's data path takes writes to every keyspace the map has.
  int answered = 0, failed = 0;
  std::string failure;
  for (const auto& ks : first.keyspaces) {
    for (int i = 0; i < kNodes; ++i) {
      clients[i]->request(wire::PutRequest{ks.name, "k" + std::to_string(i), "v", "", {}},
                          [&, i, name = ks.name](Result<wire::Message> r) {
                            ++answered;
                            if (!r.ok() || !std::holds_alternative<wire::PutReply>(r->body)) {
                              ++failed;
                              if (failure.empty()) {
                                failure = "put to " + name + " via n" + std::to_string(i + 1) + ": " +
                                          (r.ok() ? std::get<wire::ErrorReply>(r->body).message
                                                  : r.status().to_string());
                              }
                            }
                          });
    }
  }
  world.run_for(3'000'000);
  if (failed) out.violations.push_back(std::to_string(failed) + " puts failed, first: " + failure);
  out.trace_hash = world.trace_hash();
  return out;
}

}  // namespace

TEST_CASE("metadata: every node applies the same map, acknowledged changes stay, under faults",
          "[sim][meta]") {
  const std::string name = "metadata: every node applies the same map, acknowledged changes stay, under faults";
  int acked = 0;
  for (uint64_t seed : simtest::seeds(20, 500)) {
    Outcome o = run(seed);
    acked += o.acked_changes;
    if (!o.violations.empty()) {
      FAIL("seed " << seed << ": " << o.violations.front() << "\n" << simtest::replay_hint(seed, name));
    }
  }
  WARN("metadata sim: " << acked << " acknowledged changes");
  CHECK(acked > 0);
}

TEST_CASE("metadata: a disk that fails for a while pauses a node's part, which resumes from its log",
          "[sim][meta][disk]") {
  const std::string name = "metadata: a disk that fails for a while pauses a node's part, which resumes from its log";
  int acked = 0;
  uint64_t reopens = 0, restarts = 0;
  const auto seeds = simtest::seeds(10, 300);
  for (uint64_t seed : seeds) {
    Outcome o = run(seed, true);
    acked += o.acked_changes;
    reopens += o.reopens;
    restarts += o.meta_restarts;
    if (!o.violations.empty()) {
      FAIL("seed " << seed << ": " << o.violations.front() << "\n" << simtest::replay_hint(seed, name));
    }
  }
  WARN("metadata sim with failing disks: " << acked << " acknowledged changes, " << reopens << " reopens, "
                                            << restarts << " restarts of a node's part from its log");
  CHECK(acked > 0);
  CHECK(reopens >= seeds.size());
  CHECK(restarts >= seeds.size());  // the log writes did fail, and the group came back from them
}

TEST_CASE("metadata: the same seed replays the same run", "[sim][meta][determinism]") {
  CHECK(run(7).trace_hash == run(7).trace_hash);
  CHECK(run(7).trace_hash != run(8).trace_hash);
}
