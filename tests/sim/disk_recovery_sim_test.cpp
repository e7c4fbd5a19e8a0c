// A disk that fails for a while and comes back (a full disk, too many open
// files): while it lasts the node's writes fail, a failed batch may or may
// not be in the database when it reopens, and the node reopens it by itself.
// Checked: no acknowledged write is lost and reads never go back past one,
// no dot is minted for two different writes (no two replicas hold one dot
// with different values), and every node takes writes again afterwards.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "codec/record_codec.hpp"
#include "net/codec.hpp"
#include "sim/sim_cluster.hpp"
#include "sim_support.hpp"

using namespace tally;
using namespace tally::sim;
using simtest::KeyState;
using simtest::seq_of;

namespace {

constexpr uint64_t kFaultsUntilUs = 3'000'000;
constexpr uint64_t kRunUs = 4'000'000;

struct Outcome {
  uint64_t acked = 0;
  uint64_t failed = 0;                  // puts answered with an error
  uint64_t reopens = 0;                 // successful reopens, all disks
  std::vector<int> acked_after_faults;  // final puts acknowledged, per coordinating node
  std::vector<std::string> violations;
};

class Workload {
 public:
  Workload(SimWorld& world, SimCluster& cluster, int keys_per_node, Outcome& out)
      : world_(world), out_(out) {
    out_.acked_after_faults.assign(cluster.size(), 0);
    for (int n = 0; n < cluster.size(); ++n) {
      auto& h = world.add_host("c" + std::to_string(n),
                               HostPort{"10.0.1." + std::to_string(n + 1), 9000});
      clients_.push_back(std::make_unique<SimClient>(h, cluster.config().nodes[n].listen, 100'000));
      for (int k = 0; k < keys_per_node; ++k)
        keys_.push_back({"k" + std::to_string(n) + "-" + std::to_string(k), n});
    }
  }

  void start() {
    for (size_t i = 0; i < keys_.size(); ++i) next_op(i);
  }

  // With every disk well again: one more put of each key, through its node.
  void final_puts() {
    for (size_t i = 0; i < keys_.size(); ++i) {
      send_put(i, [this, i](uint64_t seq, Result<wire::Message> r) {
        KeyState& k = keys_[i];
        if (r.ok() && std::holds_alternative<wire::PutReply>(r->body)) {
          k.last_acked = std::max(k.last_acked, seq);
          ++out_.acked_after_faults[k.node];
          return;
        }
        out_.violations.push_back(
            "a put of " + k.key + " after the faults failed: " +
            (r.ok() ? std::get<wire::ErrorReply>(r->body).message : r.status().to_string()));
      });
    }
  }

  void final_check() {
    for (size_t i = 0; i < keys_.size(); ++i) {
      const uint64_t floor = keys_[i].last_acked;
      clients_[keys_[i].node]->request(
          wire::GetRequest{"default", keys_[i].key, {}}, [this, i, floor](Result<wire::Message> r) {
            if (!r.ok()) {
              out_.violations.push_back("final read of " + keys_[i].key +
                                        " failed: " + r.status().to_string());
            } else if (auto* g = std::get_if<wire::GetReply>(&r->body)) {
              check_read(keys_[i], *g, floor, "final read");
            }
          });
    }
  }

 private:
  void next_op(size_t i) {
    if (world_.now_us() >= kRunUs) return;
    world_.schedule(world_.rng().between(500, 5000), [this, i] {
      if (world_.rng().chance(0.6)) return put(i);
      get(i);
    });
  }

  // Puts the key's next value through its node; `then` gets the value's
  // sequence number and the answer.
  void send_put(size_t i, std::function<void(uint64_t seq, Result<wire::Message>)> then) {
    KeyState& ks = keys_[i];
    const uint64_t seq = ks.next_seq++;
    std::string value = ks.key + "#" + std::to_string(seq);
    ks.issued.insert(value);
    clients_[ks.node]->request(
        wire::PutRequest{"default", ks.key, value, ks.context, {}},
        [seq, then = std::move(then)](Result<wire::Message> r) { then(seq, std::move(r)); });
  }

  void put(size_t i) {
    send_put(i, [this, i](uint64_t seq, Result<wire::Message> r) {
      KeyState& k = keys_[i];
      if (auto* p = r.ok() ? std::get_if<wire::PutReply>(&r->body) : nullptr) {
        k.last_acked = std::max(k.last_acked, seq);
        k.context = p->context;
        ++out_.acked;
      } else if (r.ok()) {
        ++out_.failed;
      }
      next_op(i);
    });
  }

  void get(size_t i) {
    const uint64_t floor = keys_[i].last_acked;
    clients_[keys_[i].node]->request(wire::GetRequest{"default", keys_[i].key, {}},
                                     [this, i, floor](Result<wire::Message> r) {
                                       if (r.ok()) {
                                         if (auto* g = std::get_if<wire::GetReply>(&r->body)) {
                                           check_read(keys_[i], *g, floor, "read");
                                         }
                                       }
                                       next_op(i);
                                     });
  }

  void check_read(const KeyState& ks, const wire::GetReply& g, uint64_t floor, const char* what) {
    uint64_t newest = 0;
    for (const auto& v : g.values) {
      if (!ks.issued.count(v)) {
        out_.violations.push_back(std::string(what) + " of " + ks.key + " returned '" + v +
                                  "', which nobody wrote");
      } else {
        newest = std::max(newest, seq_of(v));
      }
    }
    if (newest < floor) {
      out_.violations.push_back(std::string(what) + " of " + ks.key + " returned seq " +
                                std::to_string(newest) + " but seq " + std::to_string(floor) +
                                " was acknowledged before it");
    }
  }

  SimWorld& world_;
  Outcome& out_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::vector<KeyState> keys_;
};

// No dot names two different values: across every node's records, a
// (key, actor, counter) holds one value.
void check_dots(SimCluster& cluster, Outcome& out) {
  std::map<std::tuple<std::string, quorum::ActorId, uint64_t>, std::string> seen;
  for (int n = 0; n < cluster.size(); ++n) {
    for (const auto& [dkey, bytes] : cluster.host(n).sim_disk().visible()) {
      std::string_view ks, key;
      if (!store::RecordStore::parse_data_key(dkey, ks, key)) continue;
      auto rec = codec::decode_record(bytes);
      if (!rec.ok()) {
        out.violations.push_back("a record of n" + std::to_string(n + 1) + " does not decode");
        continue;
      }
      for (const auto& sib : rec->siblings) {
        auto [it, fresh] = seen.try_emplace({dkey, sib.dot.replica, sib.dot.counter}, sib.value);
        if (!fresh && it->second != sib.value) {
          out.violations.push_back("dot (" + std::to_string(sib.dot.replica) + ", " +
                                   std::to_string(sib.dot.counter) + ") of " + std::string(key) +
                                   " names '" + it->second + "' and '" + sib.value + "'");
        }
      }
    }
  }
}

Outcome run(uint64_t seed) {
  SimWorld world(seed);
  world.faults().drop = 0.01;
  SimCluster cluster(world, 3, Durability::kFsync);
  for (int n = 0; n < cluster.size(); ++n)
    cluster.host(n).sim_disk().faults().failed_write_applied = 0.5;
  Outcome out;
  Workload load(world, cluster, 4, out);
  load.start();
  // Every 150-400 ms a node's disk fails for 50-400 ms: full (every write and
  // every reopen fails until it clears) or flaky (one write in five fails).
  uint64_t t = 200'000;
  while (t < kFaultsUntilUs) {
    world.run_until(t);
    const int victim = static_cast<int>(world.rng().uniform(3));
    const uint64_t lasts = world.rng().between(50'000, 400'000);
    DiskFaults& f = cluster.host(victim).sim_disk().faults();
    if (world.rng().chance(0.5)) {
      f.full = true;
    } else {
      f.write_error = 0.2;
    }
    world.schedule(lasts, [&f] {
      f.full = false;
      f.write_error = 0;
    });
    t += world.rng().between(150'000, 400'000);
  }
  world.run_until(kRunUs + 500'000);
  world.faults().drop = 0;
  // Each node reopens its database within its retry pause (0.5 s at most) of
  // the fault's end.
  const uint64_t deadline = world.now_us() + 5'000'000;
  auto all_well = [&] {
    for (int n = 0; n < cluster.size(); ++n) {
      if (!cluster.node(n)->store().health().ok()) return false;
    }
    return true;
  };
  while (!all_well() && world.now_us() < deadline) world.run_for(10'000);
  world.run_for(100'000);  // the dot floor and mint epochs are read back
  load.final_puts();
  world.run_for(500'000);
  load.final_check();
  world.run_for(500'000);
  check_dots(cluster, out);
  for (int n = 0; n < cluster.size(); ++n) {
    out.reopens += cluster.host(n).sim_disk().reopens();
    Node* node = cluster.node(n);
    if (!node->store().health().ok()) {
      out.violations.push_back("n" + std::to_string(n + 1) +
                               "'s store still fails: " + node->store().health().to_string());
    }
    if (!node->meta().running())
      out.violations.push_back("n" + std::to_string(n + 1) + "'s metadata group is stopped");
  }
  return out;
}

}  // namespace

TEST_CASE(
    "a disk that fails for a while: writes fail meanwhile, the node recovers, nothing acknowledged "
    "is lost",
    "[sim][disk]") {
  const std::string name =
      "a disk that fails for a while: writes fail meanwhile, the node recovers, nothing "
      "acknowledged is lost";
  uint64_t acked = 0, failed = 0, reopens = 0;
  const auto seeds = simtest::seeds(20, 500);
  for (uint64_t seed : seeds) {
    Outcome o = run(seed);
    if (!o.violations.empty()) {
      FAIL("seed " << seed << ": " << o.violations.front() << " (" << o.violations.size()
                   << " violations)\n"
                   << simtest::replay_hint(seed, name));
    }
    for (size_t n = 0; n < o.acked_after_faults.size(); ++n) {
      INFO("seed " << seed << ", node n" << n + 1 << "\n" << simtest::replay_hint(seed, name));
      CHECK(o.acked_after_faults[n] > 0);  // it takes writes again
    }
    acked += o.acked;
    failed += o.failed;
    reopens += o.reopens;
  }
  WARN(seeds.size() << " seeds: " << acked << " puts acknowledged, " << failed << " failed, "
                    << reopens << " reopens");
  // Not vacuous: the faults did make writes fail, and the disks were reopened.
  REQUIRE(acked > seeds.size() * 200);
  REQUIRE(failed > seeds.size() * 5);
  REQUIRE(reopens >= seeds.size() * 3);
}
