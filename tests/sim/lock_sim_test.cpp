// Locks with leases and fenced writes under the simulator's faults:
// power-loss crashes, partitions, message loss and duplication, and every
// node's clock skewed within the documented bound (±200 ms, under the HLC's
// 500 ms max offset). Clients take two locks, renew, release, let leases run
// out, pause past them, and write data fenced by their tokens, following the
// lock recipe the library and TALLY.LOCK follow (common/lock_record.hpp).
//
// Checked on what the replicas decided (node/paxos_fsm.hpp's decision watch:
// every register a majority accepted, with the register it was made from),
// and on what the clients were told:
//   - tokens strictly increase per name: each holding begins with the version
//     its write makes, and acknowledged acquisitions in real-time order have
//     rising tokens;
//   - no two holdings' leases overlap as the replicas judge them: a holding
//     begins only over a free lock, or one whose lease had run out at its
//     ballot's time (the time every replica's HLC folds in);
//   - no fenced write with a lower token is applied after one with a higher
//     token: along a linearizable data key's decided chain, the writers'
//     tokens never fall; in siblings and lww keyspaces, no quorum read that
//     began after a fenced write was acknowledged returns a value fenced
//     with a lower token.
// Two deliberate bugs must each fail it: a renewal that does not check its
// token (lockrec::lock_mutations), and a store that ignores a write's fence
// (quorum::paxos_mutations).
//
//   TALLY_SEED=N build/tests/sim_tests "locks: *"   replays one seed
#include <catch2/catch.hpp>

#include "common/linear_version.hpp"
#include "common/lock_record.hpp"
#include "node/paxos_fsm.hpp"
#include "sim/sim_cluster.hpp"
#include "tests/sim/sim_support.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

constexpr int kNodes = 5;
constexpr int kClients = 6;
constexpr uint64_t kLeaseMs = 300;
const std::vector<std::string> kLocks = {"L0", "L1"};
// Where fenced data is written: one keyspace of each mode.
const std::vector<std::string> kDataSpaces = {"lin", "sib", "lww"};
std::string data_key(const std::string& lock) { return "data-" + lock; }

// One decision the replicas made, as the watch reported it.
struct Decision {
  quorum::Ballot ballot;
  quorum::Register parent, chosen;
};

// A fenced data write's value: "t<token> c<client> n<count>".
std::string fenced_value(uint64_t token, int client, uint64_t n) {
  return "t" + std::to_string(token) + " c" + std::to_string(client) + " n" + std::to_string(n);
}
uint64_t token_of_value(const std::string& v) { return std::stoull(v.substr(1, v.find(' ') - 1)); }

struct Acquisition {
  int client;
  std::string lock;
  uint64_t token, start_us, end_us;
};
struct FencedWrite {
  int client;
  std::string keyspace, lock;
  uint64_t token, start_us, end_us;
  bool applied;  // acknowledged as written
};

// A quorum read of a siblings or lww data key: the tokens of what it returned.
struct DataRead {
  std::string keyspace, lock;
  uint64_t start_us, end_us;
  std::vector<uint64_t> tokens;
};

struct Tally {
  size_t acquired = 0, renewed = 0, released = 0, lost = 0, takeovers = 0;
  size_t fenced_applied = 0, fenced_refused = 0, unknown = 0, data_reads = 0;
};

class LockClients {
 public:
  LockClients(SimWorld& world, SimCluster& cluster) : world_(world) {
    for (int i = 0; i < kClients; ++i) {
      auto& h = world.add_host("client" + std::to_string(i), HostPort{"10.0.2." + std::to_string(i + 1), 9000});
      h.set_no_duplicates(true);  // TCP: a request arrives at most once
      clients_.push_back(std::make_unique<SimClient>(h, cluster.listen(i % kNodes), 1'500'000));
    }
    state_.resize(kClients);
  }

  void start(uint64_t until_us) {
    until_us_ = until_us;
    for (int c = 0; c < kClients; ++c) later(c, world_.rng().between(0, 20'000));
  }

  std::vector<Acquisition> acquisitions;
  std::vector<FencedWrite> fenced;
  std::vector<DataRead> reads;
  std::vector<std::string> violations;
  Tally tally;

 private:
  struct State {
    std::string lock;    // the lock held (or last held)
    uint64_t token = 0;  // 0: holds nothing
  };

  std::string holder(int c) const { return "c" + std::to_string(c); }

  void later(int c, uint64_t delay_us) {
    world_.schedule(delay_us, [this, c] { step(c); });
  }
  // The next step after a short pause; now and then a long one past the
  // lease (a GC pause, a SIGSTOP) after which the client carries on as if it
  // still held the lock.
  void next(int c) {
    const bool stall = world_.rng().chance(0.12);
    later(c, stall ? world_.rng().between(kLeaseMs * 1000, kLeaseMs * 2000) : world_.rng().between(5'000, 60'000));
  }

  void step(int c) {
    if (world_.now_us() >= until_us_) return;
    State& st = state_[c];
    if (world_.rng().chance(0.15)) return read_data(c);
    if (st.token == 0) return acquire(c, kLocks[world_.rng().uniform(kLocks.size())]);
    const uint64_t dice = world_.rng().uniform(100);
    if (dice < 50) return fenced_write(c);
    if (dice < 85) return renew(c);
    return release(c);
  }

  // Reads the lock's key: its record and version, or nullopt (and the client
  // goes on later) when the read failed.
  void read_lock(int c, const std::string& lock, std::function<void(lockrec::LockRead, std::string context)> then) {
    clients_[c]->request(wire::GetRequest{"lin", lock, {}}, [this, c, lock, then](Result<wire::Message> r) {
      const auto* g = r.ok() ? std::get_if<wire::GetReply>(&r->body) : nullptr;
      if (!g) return later(c, world_.rng().between(20'000, 50'000));
      lockrec::LockRead read;
      const auto seq = version_seq(g->context);
      if (!seq) return violations.push_back("a read of lock " + lock + " answered context '" + g->context + "'");
      read.seq = *seq;
      if (!g->values.empty()) {
        read.record = lockrec::decode(g->values.front());
        if (!read.record) return violations.push_back("lock " + lock + " holds '" + g->values.front() + "'");
      }
      then(std::move(read), g->context);
    });
  }

  // Writes `next` over version `context` of the lock with lease `ttl_ms`;
  // `done` hears whether it applied (nullopt: unknown or failed).
  void write_lock(int c, const std::string& lock, const lockrec::LockRecord& next, std::string context,
                  uint64_t ttl_ms, std::function<void(std::optional<bool> applied, const wire::PutReply*)> done) {
    wire::PutRequest put{"lin", lock, lockrec::encode(next), std::move(context), {}};
    put.condition = static_cast<uint8_t>(quorum::Condition::kIfVersion);
    put.ttl_ms = ttl_ms;
    clients_[c]->request(std::move(put), [this, done](Result<wire::Message> r) {
      const auto* p = r.ok() ? std::get_if<wire::PutReply>(&r->body) : nullptr;
      if (!p) {
        ++tally.unknown;
        return done(std::nullopt, nullptr);
      }
      done(!p->not_applied, p);
    });
  }

  void acquire(int c, const std::string& lock) {
    const uint64_t start = world_.now_us();
    read_lock(c, lock, [this, c, lock, start](lockrec::LockRead read, std::string context) {
      const auto plan = lockrec::plan_acquire(read, holder(c));
      if (plan.verdict != lockrec::LockVerdict::kWrite) return later(c, world_.rng().between(10'000, 80'000));
      write_lock(c, lock, plan.next, std::move(context), kLeaseMs,
                 [this, c, lock, start, plan](std::optional<bool> applied, const wire::PutReply* p) {
                   if (applied.value_or(false)) {
                     // The reply names the key's version when it was answered: the
                     // acquisition's own, or a later one when an earlier attempt of it
                     // took effect and others changed the key since.
                     if (version_seq(p->context).value_or(0) < plan.next.token) {
                       violations.push_back("acquired " + lock + " with token " + std::to_string(plan.next.token) +
                                            " but the reply names version '" + p->context + "'");
                     }
                     state_[c] = State{lock, plan.next.token};
                     acquisitions.push_back({c, lock, plan.next.token, start, world_.now_us()});
                     ++tally.acquired;
                   }
                   next(c);
                 });
    });
  }

  void renew(int c) {
    const State st = state_[c];
    read_lock(c, st.lock, [this, c, st](lockrec::LockRead read, std::string context) {
      const auto plan = lockrec::plan_renew(read, st.token, holder(c));
      if (plan.verdict != lockrec::LockVerdict::kWrite) {
        ++tally.lost;
        state_[c] = {};
        return next(c);
      }
      write_lock(c, st.lock, plan.next, std::move(context), kLeaseMs,
                 [this, c](std::optional<bool> applied, const wire::PutReply*) {
                   if (applied.value_or(false)) ++tally.renewed;
                   next(c);
                 });
    });
  }

  void release(int c) {
    const State st = state_[c];
    read_lock(c, st.lock, [this, c, st](lockrec::LockRead read, std::string context) {
      const auto plan = lockrec::plan_release(read, st.token);
      state_[c] = {};
      if (plan.verdict != lockrec::LockVerdict::kWrite) {
        ++tally.lost;
        return next(c);
      }
      write_lock(c, st.lock, plan.next, std::move(context), 0,
                 [this, c](std::optional<bool> applied, const wire::PutReply*) {
                   if (applied.value_or(false)) ++tally.released;
                   next(c);
                 });
    });
  }

  // A fenced write of the lock's data key in one of the keyspaces (in
  // siblings mode, half of them overwrites as RESP SET makes).
  void fenced_write(int c) {
    const State st = state_[c];
    const std::string keyspace = kDataSpaces[world_.rng().uniform(kDataSpaces.size())];
    wire::PutRequest put{keyspace, data_key(st.lock), fenced_value(st.token, c, ++count_), "", {}};
    put.fence_lock = st.lock;
    put.fence_token = st.token;
    put.options.overwrite = keyspace == "sib" && world_.rng().chance(0.5);
    const uint64_t start = world_.now_us();
    clients_[c]->request(std::move(put), [this, c, st, start, keyspace](Result<wire::Message> r) {
      const auto* e = r.ok() ? std::get_if<wire::ErrorReply>(&r->body) : nullptr;
      const bool applied = r.ok() && std::holds_alternative<wire::PutReply>(r->body);
      if (applied) ++tally.fenced_applied;
      if (e && e->code == Code::kFenced) {
        ++tally.fenced_refused;
        state_[c] = {};  // a later holder has written: this holding is over
      }
      fenced.push_back({c, keyspace, st.lock, st.token, start, world_.now_us(), applied});
      next(c);
    });
  }

  void read_data(int c) {
    const std::string keyspace = world_.rng().chance(0.5) ? "sib" : "lww";
    const std::string lock = kLocks[world_.rng().uniform(kLocks.size())];
    const uint64_t start = world_.now_us();
    clients_[c]->request(wire::GetRequest{keyspace, data_key(lock), {}},
                         [this, c, keyspace, lock, start](Result<wire::Message> r) {
                           const auto* g = r.ok() ? std::get_if<wire::GetReply>(&r->body) : nullptr;
                           if (g) {
                             DataRead read{keyspace, lock, start, world_.now_us(), {}};
                             for (const auto& v : g->values) read.tokens.push_back(token_of_value(v));
                             reads.push_back(std::move(read));
                             ++tally.data_reads;
                           }
                           next(c);
                         });
  }

  SimWorld& world_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::vector<State> state_;
  uint64_t until_us_ = 0;
  uint64_t count_ = 0;
};

// Each key's decided registers by version, from the decisions and the
// registers they were made from. Two different registers for one version
// would mean Paxos decided twice.
std::map<uint64_t, quorum::Register> chain_of(const std::vector<Decision>& ds, std::vector<std::string>& violations,
                                              const std::string& key) {
  std::map<uint64_t, quorum::Register> chain;
  auto put = [&](const quorum::Register& r) {
    auto [it, fresh] = chain.emplace(r.seq, r);
    if (!fresh && !(it->second == r)) {
      violations.push_back(key + ": version " + std::to_string(r.seq) + " decided as '" + it->second.value +
                           "' and as '" + r.value + "'");
    }
  };
  for (const Decision& d : ds) put(d.parent), put(d.chosen);
  // Ballots rise along the chain: every decision of a later version has a
  // higher ballot than every decision of an earlier one.
  std::vector<const Decision*> sorted;
  for (const Decision& d : ds) sorted.push_back(&d);
  std::sort(sorted.begin(), sorted.end(), [](const Decision* a, const Decision* b) {
    return a->chosen.seq != b->chosen.seq ? a->chosen.seq < b->chosen.seq : a->ballot < b->ballot;
  });
  quorum::Ballot below;  // the highest ballot of the versions before
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    quorum::Ballot top = sorted[i]->ballot;
    if (!(below < sorted[i]->ballot)) {
      violations.push_back(key + ": version " + std::to_string(sorted[i]->chosen.seq) +
                           " decided at a ballot below an earlier version's");
    }
    while (j < sorted.size() && sorted[j]->chosen.seq == sorted[i]->chosen.seq) top = std::max(top, sorted[j++]->ballot);
    below = top;
    i = j;
  }
  return chain;
}

std::string describe(const std::optional<lockrec::LockRecord>& r) {
  if (!r) return "not a lock";
  return r->held() ? "token " + std::to_string(r->token) + " held by " + r->holder
                   : "free (last token " + std::to_string(r->token) + ")";
}

// The lock's chain as the replicas decided it.
void check_lock_chain(const std::string& lock, const std::vector<Decision>& ds, std::vector<std::string>& out,
                      Tally& tally) {
  chain_of(ds, out, lock);
  for (const Decision& d : ds) {
    if (d.chosen.seq != d.parent.seq + 1) continue;  // a finish: no change
    const uint64_t at = d.ballot.wall_ms;
    const auto now = d.chosen.present ? lockrec::decode(d.chosen.value) : std::optional<lockrec::LockRecord>{};
    if (d.chosen.present && !now) {
      out.push_back(lock + ": version " + std::to_string(d.chosen.seq) + " is not a lock");
      continue;
    }
    if (!now || !now->held()) continue;
    const auto before = d.parent.present ? lockrec::decode(d.parent.value) : std::optional<lockrec::LockRecord>{};
    const bool was_held = before && before->held();
    if (was_held && before->token == now->token) {
      // A renewal (maybe of a lease that ran out between its read and its
      // write: nobody took the lock meanwhile, or the version would differ).
      if (before->holder != now->holder) {
        out.push_back(lock + ": version " + std::to_string(d.chosen.seq) + " renewed token " +
                      std::to_string(now->token) + " for " + now->holder + ", held by " + before->holder);
      }
      continue;
    }
    // A new holding: its token is the version it made, above every earlier one.
    if (now->token != d.chosen.seq) {
      out.push_back(lock + ": a holding began at version " + std::to_string(d.chosen.seq) + " with token " +
                    std::to_string(now->token) + " (" + describe(now) + "; before it: " + describe(before) +
                    "): tokens must rise with every acquisition");
    }
    if (was_held && d.parent.live(at)) {
      out.push_back(lock + ": leases overlap: " + describe(now) + " began at HLC " + std::to_string(at) +
                    " ms while " + describe(before) + " ran until " + std::to_string(d.parent.expires_ms) + " ms");
    }
    if (was_held && !d.parent.live(at)) ++tally.takeovers;  // over a lease that ran out
  }
}

// A data key's chain: the fenced writers' tokens never fall.
void check_data_chain(const std::string& key, const std::vector<Decision>& ds, std::vector<std::string>& out) {
  const auto chain = chain_of(ds, out, key);
  uint64_t highest = 0, highest_at = 0;
  for (const auto& [seq, reg] : chain) {
    if (!reg.present) continue;
    const uint64_t token = token_of_value(reg.value);
    if (token < highest) {
      out.push_back(key + ": version " + std::to_string(seq) + " was written with token " + std::to_string(token) +
                    " after version " + std::to_string(highest_at) + " was written with token " +
                    std::to_string(highest));
    }
    if (token >= highest) highest = token, highest_at = seq;
  }
}

// What the clients were told: acknowledged acquisitions in real-time order
// have rising tokens; no fenced write acknowledged after one with a higher
// token of the same lock had been acknowledged.
void check_acknowledged(const LockClients& cl, std::vector<std::string>& out) {
  for (const auto& a : cl.acquisitions) {
    for (const auto& b : cl.acquisitions) {
      if (&a == &b || a.lock != b.lock) continue;
      if (a.token == b.token) out.push_back(a.lock + ": token " + std::to_string(a.token) + " acquired twice");
      if (a.end_us < b.start_us && a.token >= b.token) {
        out.push_back(a.lock + ": token " + std::to_string(b.token) + " acquired after token " +
                      std::to_string(a.token) + " was");
      }
    }
  }
  for (const auto& a : cl.fenced) {
    for (const auto& b : cl.fenced) {
      if (a.keyspace != b.keyspace || a.lock != b.lock || !a.applied || !b.applied) continue;
      if (a.end_us < b.start_us && b.token < a.token) {
        out.push_back(a.keyspace + "/" + a.lock + ": a write fenced with token " + std::to_string(b.token) +
                      " was applied after one with token " + std::to_string(a.token));
      }
    }
  }
  // Siblings and lww keyspaces: a quorum read (R + W > N) that began after a
  // fenced write was acknowledged reaches a replica that holds its fence, and
  // the read's merge drops every value fenced below it.
  for (const auto& r : cl.reads) {
    for (const auto& w : cl.fenced) {
      if (!w.applied || w.keyspace != r.keyspace || w.lock != r.lock || !(w.end_us < r.start_us)) continue;
      for (uint64_t t : r.tokens) {
        if (t < w.token) {
          out.push_back(r.keyspace + "/" + data_key(r.lock) + ": a read returned a value fenced with token " +
                        std::to_string(t) + " after a write fenced with token " + std::to_string(w.token) +
                        " had been acknowledged");
        }
      }
    }
  }
}

struct Run {
  std::vector<std::string> violations;
  Tally tally;
};

Run run(uint64_t seed) {
  std::map<std::string, std::vector<Decision>> decisions;  // by key
  paxos_decision_watch() = [&decisions](const PaxosDecision& d) {
    decisions[d.key].push_back(Decision{d.ballot, d.parent, d.chosen});
  };
  SimWorld world(seed);
  world.faults().drop = 0.02;
  world.faults().duplicate = 0.02;
  world.faults().max_latency_us = 3000;
  SimCluster cluster(world, kNodes, Durability::kFsync, [](ClusterConfig& c) {
    c.keyspaces.push_back(meta::Keyspace{"lin", 3, 2, 2, meta::ConflictMode::kLinearizable});
    c.keyspaces.push_back(meta::Keyspace{"sib", 3, 2, 2, meta::ConflictMode::kSiblings});
    c.keyspaces.push_back(meta::Keyspace{"lww", 3, 2, 2, meta::ConflictMode::kLww});
  });
  // Every node's clock off by up to 200 ms either way: at most 400 ms apart,
  // within the 500 ms the HLC allows.
  for (int i = 0; i < kNodes; ++i) {
    cluster.host(i).set_clock_offset_ms(static_cast<int64_t>(world.rng().uniform(401)) - 200);
  }
  world.run_for(500'000);  // heartbeats
  LockClients clients(world, cluster);
  constexpr uint64_t kRunUs = 3'000'000;
  const uint64_t start = world.now_us();
  clients.start(start + kRunUs);
  simtest::partitions_and_crashes(world, cluster, start + kRunUs);
  world.run_until(start + kRunUs + 3'000'000);  // every request answered or timed out
  paxos_decision_watch() = nullptr;
  Run out;
  out.violations = clients.violations;
  out.tally = clients.tally;
  for (const auto& lock : kLocks) {
    check_lock_chain(lock, decisions[lock], out.violations, out.tally);
    check_data_chain(data_key(lock), decisions[data_key(lock)], out.violations);
  }
  check_acknowledged(clients, out.violations);
  return out;
}

std::string first(const Run& r) { return r.violations.empty() ? "" : r.violations.front(); }

// The first of seeds 1..100 whose run the check fails, and how (0: none).
std::pair<uint64_t, std::string> first_caught() {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    Run r = run(seed);
    if (!r.violations.empty()) return {seed, first(r)};
  }
  return {0, ""};
}

}  // namespace

TEST_CASE("locks: tokens rise, leases never overlap and fences hold under crashes, partitions and skew",
          "[sim][locks]") {
  Tally sum;
  size_t seeds_run = 0;
  for (uint64_t seed : simtest::seeds(200, 10000)) {
    Run r = run(seed);
    INFO("seed " << seed << ": " << first(r) << "\n" << simtest::replay_hint(seed, "locks: tokens rise*"));
    REQUIRE(r.violations.empty());
    ++seeds_run;
    sum.acquired += r.tally.acquired, sum.renewed += r.tally.renewed, sum.released += r.tally.released;
    sum.lost += r.tally.lost, sum.takeovers += r.tally.takeovers, sum.unknown += r.tally.unknown;
    sum.fenced_applied += r.tally.fenced_applied, sum.fenced_refused += r.tally.fenced_refused;
    sum.data_reads += r.tally.data_reads;
  }
  // The runs did what the check is about: many holdings, leases that ran out
  // and were taken over, and ex-holders' writes refused by their fence.
  if (seeds_run > 1) {
    REQUIRE(sum.acquired > seeds_run * 5);
    REQUIRE(sum.takeovers > seeds_run);
    REQUIRE(sum.fenced_refused > seeds_run / 2);
    REQUIRE(sum.data_reads > seeds_run * 5);
  }
  WARN("lock sim: " << seeds_run << " seeds: " << sum.acquired << " acquisitions (" << sum.takeovers
                    << " over a lease that ran out), " << sum.renewed << " renewals, " << sum.released
                    << " releases, " << sum.lost << " holdings found lost; fenced writes: " << sum.fenced_applied
                    << " applied, " << sum.fenced_refused << " refused; " << sum.data_reads
                    << " quorum reads of siblings and lww data; " << sum.unknown
                    << " lock writes without an answer");
}

// The check is strong enough to catch a renewal that does not check it still
// holds the lock, and a store that does not check a write's fence.
TEST_CASE("locks: the simulation catches a renewal that does not check its token", "[sim][locks][mutation]") {
  lockrec::lock_mutations().renew_ignores_token = true;
  const auto [caught_at, how] = first_caught();
  lockrec::lock_mutations() = {};
  CHECK(caught_at != 0);
  WARN("renew ignoring the token: caught at seed " << caught_at << ":\n" << how);
}

TEST_CASE("locks: the simulation catches a store that ignores a write's fence", "[sim][locks][mutation]") {
  quorum::paxos_mutations().fence_ignored = true;
  const auto [caught_at, how] = first_caught();
  quorum::paxos_mutations() = {};
  CHECK(caught_at != 0);
  WARN("fence ignored: caught at seed " << caught_at << ":\n" << how);
}
