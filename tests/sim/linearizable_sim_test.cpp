// Linearizable keyspaces under the simulator's faults: power-loss crashes,
// partitions, message loss, duplication and reordering, with clients doing
// reads, blind writes, compare-and-set and put-if-absent on a few keys. Every
// history is judged by the linearizability checker (testing/linearizability.hpp).
// Two deliberate bugs (quorum::paxos_mutations) must each be caught.
//
//   TALLY_SEED=N build/tests/sim_tests "linearizable: *"   replays one seed
#include <catch2/catch.hpp>

#include "sim/sim_cluster.hpp"
#include "testing/history.hpp"
#include "testing/linearizability.hpp"
#include "tests/sim/sim_support.hpp"

using namespace tally;
using namespace tally::sim;
using testing::CasIf;
using testing::Op;
using testing::OpKind;
using testing::Outcome;

namespace {

constexpr int kNodes = 5;
constexpr int kClients = 6;
constexpr int kKeys = 3;

struct Run {
  testing::CheckResult result;
  size_t ops = 0, ok = 0, failed = 0, unknown = 0, cas_applied = 0;
  std::string notes;  // how many operations failed or went unknown, by the start of their error
};

class Clients {
 public:
  Clients(SimWorld& world, SimCluster& cluster) : world_(world) {
    for (int i = 0; i < kClients; ++i) {
      auto& h = world.add_host("client" + std::to_string(i), HostPort{"10.0.2." + std::to_string(i + 1), 9000});
      // A request delivered twice would be a second operation the history
      // does not hold (over TCP it cannot happen; the library never resends a write).
      h.set_no_duplicates(true);
      clients_.push_back(std::make_unique<SimClient>(h, cluster.listen(i % kNodes), 1'500'000));
    }
    seen_.resize(kClients);
  }

  void start(uint64_t until_us) {
    until_us_ = until_us;
    for (int c = 0; c < kClients; ++c) next(c);
  }

  std::vector<Op> history;

 private:
  // The next operation after a short pause, or a longer one when the node
  // did not answer (it is down or cut off: a client would not spin).
  void next(int c, bool answered = true) {
    world_.schedule(answered ? world_.rng().between(200, 3000) : world_.rng().between(20'000, 50'000),
                    [this, c] { op(c); });
  }

  void op(int c) {
    if (world_.now_us() >= until_us_) return;
    Op o;
    o.client = c;
    o.key = "k" + std::to_string(world_.rng().uniform(kKeys));
    o.value = "c" + std::to_string(c) + "-" + std::to_string(++count_);
    o.start_us = static_cast<int64_t>(world_.now_us());
    const uint64_t dice = world_.rng().uniform(100);
    wire::Body body;
    if (dice < 30) {
      o.kind = OpKind::kRead;
      o.value.clear();
      body = wire::GetRequest{"lin", o.key, {}};
    } else if (dice < 45) {
      o.kind = OpKind::kWrite;
      body = wire::PutRequest{"lin", o.key, o.value, "", {}};
    } else {
      o.kind = OpKind::kCas;
      wire::PutRequest put{"lin", o.key, o.value, "", {}};
      auto seen = seen_[c].find(o.key);
      if (dice < 55 || seen == seen_[c].end()) {
        o.cas_if = CasIf::kAbsent;
        put.condition = static_cast<uint8_t>(quorum::Condition::kIfAbsent);
      } else {
        o.cas_if = CasIf::kValue;
        o.expected = seen->second;
        put.condition = static_cast<uint8_t>(quorum::Condition::kIfValue);
        put.expected = o.expected;
      }
      body = std::move(put);
    }
    clients_[c]->request(std::move(body), [this, c, o = std::move(o)](Result<wire::Message> r) mutable {
      o.end_us = static_cast<int64_t>(world_.now_us());
      const bool answered = r.ok();
      record(c, std::move(o), r);
      next(c, answered);
    });
  }

  void record(int c, Op o, const Result<wire::Message>& r) {
    if (!r.ok()) {
      // No answer: it may have happened, unless it never left (no connection).
      const bool never_sent = r.status().message().rfind("cannot connect", 0) == 0;
      o.outcome = never_sent ? Outcome::kFailed : Outcome::kUnknown;
      o.note = r.status().to_string();
    } else if (auto* e = std::get_if<wire::ErrorReply>(&r->body)) {
      // A timeout is "outcome unknown"; every other error of a linearizable
      // keyspace says nothing was written.
      o.outcome = e->code == Code::kTimeout ? Outcome::kUnknown : Outcome::kFailed;
      o.note = std::string(code_name(e->code)) + ": " + e->message;
    } else if (auto* g = std::get_if<wire::GetReply>(&r->body)) {
      o.read = g->values;
      if (!g->values.empty()) seen_[c][o.key] = g->values.front();
    } else if (auto* p = std::get_if<wire::PutReply>(&r->body)) {
      if (o.kind == OpKind::kCas) {
        o.applied = !p->not_applied;
        if (p->not_applied) {
          o.current_reported = true;
          if (p->current_found) o.read = {p->current};
        }
        if (o.applied) seen_[c][o.key] = o.value;
        else if (p->current_found) seen_[c][o.key] = p->current;
      } else {
        seen_[c][o.key] = o.value;
      }
    } else {
      o.outcome = Outcome::kUnknown;
      o.note = "unexpected reply";
    }
    history.push_back(std::move(o));
  }

  SimWorld& world_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::vector<std::map<std::string, std::string>> seen_;  // per client: the last value it saw of each key
  uint64_t until_us_ = 0;
  uint64_t count_ = 0;
};

Run run(uint64_t seed) {
  SimWorld world(seed);
  world.faults().drop = 0.02;
  world.faults().duplicate = 0.02;
  world.faults().max_latency_us = 3000;
  SimCluster cluster(world, kNodes, Durability::kFsync, [](ClusterConfig& c) {
    c.keyspaces.push_back(meta::Keyspace{"lin", 3, 2, 2, meta::ConflictMode::kLinearizable});
  });
  world.run_for(500'000);  // heartbeats
  Clients clients(world, cluster);
  constexpr uint64_t kRunUs = 2'000'000;
  const uint64_t start = world.now_us();
  clients.start(start + kRunUs);
  simtest::partitions_and_crashes(world, cluster, start + kRunUs);
  world.run_until(start + kRunUs + 3'000'000);  // every request answered or timed out
  Run out;
  out.ops = clients.history.size();
  for (const Op& o : clients.history) {
    if (o.outcome == Outcome::kOk) ++out.ok;
    if (o.outcome == Outcome::kFailed) ++out.failed;
    if (o.outcome == Outcome::kUnknown) ++out.unknown;
    if (o.kind == OpKind::kCas && o.outcome == Outcome::kOk && o.applied) ++out.cas_applied;
  }
  std::map<std::string, int> by_note;
  for (const Op& o : clients.history) {
    if (o.outcome != Outcome::kOk) ++by_note[o.note.substr(0, 60)];
  }
  for (const auto& [note, n] : by_note) out.notes += std::to_string(n) + "x " + note + "; ";
  out.result = testing::check_linearizable(clients.history);
  return out;
}

std::string first_violation(const Run& r) { return r.result.violations.empty() ? "" : r.result.violations.front(); }

}  // namespace

TEST_CASE("linearizable: every history under crashes, partitions, loss and duplication is linearizable",
          "[sim][linearizable]") {
  std::string notes;
  size_t seeds_run = 0, ops = 0, ok = 0, failed = 0, unknown = 0, cas_applied = 0;
  for (uint64_t seed : simtest::seeds(200, 10000)) {
    Run r = run(seed);
    INFO("seed " << seed << ": " << first_violation(r) << "\n"
                 << simtest::replay_hint(seed, "linearizable: every history*"));
    REQUIRE(r.result.ok());
    ++seeds_run;
    notes = r.notes;
    ops += r.ops, ok += r.ok, failed += r.failed, unknown += r.unknown, cas_applied += r.cas_applied;
  }
  // The runs did something: many operations answered, and CAS applied.
  WARN("failure notes of the last seed: " << notes);
  REQUIRE(ok > ops / 3);
  REQUIRE(cas_applied > seeds_run * 5);
  WARN("linearizable sim: " << seeds_run << " seeds, " << ops << " operations: " << ok << " ok, " << failed
                            << " failed (nothing written), " << unknown << " unknown; " << cas_applied
                            << " compare-and-sets applied");
}

// The checker and the faults are strong enough to catch each deliberate bug.
TEST_CASE("linearizable: the simulation catches a replica that accepts without checking its promise",
          "[sim][linearizable][mutation]") {
  quorum::paxos_mutations().accept_ignores_promise = true;
  uint64_t caught_at = 0;
  std::string how;
  for (uint64_t seed = 1; seed <= 100 && !caught_at; ++seed) {
    Run r = run(seed);
    if (!r.result.ok()) caught_at = seed, how = first_violation(r);
  }
  quorum::paxos_mutations() = {};
  CHECK(caught_at != 0);
  WARN("accept ignoring the promise: caught at seed " << caught_at << ":\n" << how);
}

TEST_CASE("linearizable: the simulation catches a read that skips finishing an in-progress proposal",
          "[sim][linearizable][mutation]") {
  quorum::paxos_mutations().read_skips_finish = true;
  uint64_t caught_at = 0;
  std::string how;
  for (uint64_t seed = 1; seed <= 200 && !caught_at; ++seed) {
    Run r = run(seed);
    if (!r.result.ok()) caught_at = seed, how = first_violation(r);
  }
  quorum::paxos_mutations() = {};
  CHECK(caught_at != 0);
  WARN("read skipping the finish: caught at seed " << caught_at << ":\n" << how);
}
