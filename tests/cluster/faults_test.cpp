// The fault suite (issue 16): five real tallyd processes, each in its own
// network namespace, W=2 R=2 N=3, clients over RESP; partitions made with
// iptables inside the nodes' namespaces, a clock run five minutes ahead
// through the Env, histories judged by src/testing/history.hpp's checkers.
//
// Each scenario runs once (its first test case runs it) and several test
// cases judge it: those tagged [pending16] check the four anomalies issue 16
// names (they fail against code without its fixes, docs/benchmarks.md
// "Fault suite"); the others check what held before too.
//
// `make test` runs the short form (about a minute); TALLY_LONG (make
// check-long, make check-faults) the long one: ten staged heals, two 120 s
// flapping runs, a 20 s metadata leader isolation. TALLY_SEED=n replays a
// seed's choices (which node flaps, which key). Not root: every case passes
// with a warning that says it skipped.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/fault_cluster.hpp"
#include "testing/fault_workload.hpp"
#include "testing/history.hpp"
#include "testing/resp_client.hpp"
#include "testing/wait.hpp"

#include "faults_support.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace tally::testing;
using namespace std::chrono_literals;

using namespace tally::faultsuite;

namespace {

// ---- (i) the staged heal ------------------------------------------------------------

struct StagedHeal : Run {
  int trials = 0, a_old_acked = 0, b_new_acked = 0, p_held_b_new = 0, survived = 0;
  int reads_after_heal = 0, reads_of_a_old = 0;
};

// Key K on replicas [P, X, Y], a client on C, not a replica. Isolate P; SET K
// a-old through C (C forwards it to P, which is not yet held down: it times
// out); once C, X and Y hold P down, SET K b-new through C (acknowledged by
// X and Y). Heal P with X and Y (which hand it b-new), then with C. From the
// heal on, every read through C must return b-new, and b-new must stay.
const StagedHeal& staged_heal() {
  static const StagedHeal run = [] {
    StagedHeal run;
    auto c = start_cluster(run);
    if (!c) return run;
    auto admin = connect_client(c->endpoints());
    HistoryRecorder history;
    std::mt19937_64 rng(run.seed);
    std::map<std::string, std::vector<std::string>> final_values;
    run.trials = long_form() ? 10 : 1;
    for (int t = 0; t < run.trials; ++t) {
      const std::string key = "staged-" + std::to_string(run.seed % 100000) + "-" + std::to_string(t);
      auto replicas = admin->replicas(key);
      if (!replicas.ok() || replicas->size() != 3) {
        run.error = "replicas of " + key + ": " + replicas.status().to_string();
        return run;
      }
      const int p = c->index_of((*replicas)[0]), x = c->index_of((*replicas)[1]), y = c->index_of((*replicas)[2]);
      std::vector<int> others;
      for (int i = 0; i < c->size(); ++i) {
        if (i != p && i != x && i != y) others.push_back(i);
      }
      const int via = others[rng() % others.size()];
      RespClient client(c->host(via), FaultCluster::kRespPort, kClientTimeout);
      const std::string suffix = "-" + std::to_string(t);

      Status s = c->net->isolate(p);
      Op a_old = recorded_set(client, history, 0, key, "a-old" + suffix);
      if (s.ok()) s = c->wait_peer({via, x, y}, p, false);
      Op b_new = recorded_set(client, history, 0, key, "b-new" + suffix);
      if (s.ok()) s = c->net->heal({p}, {x, y});
      if (!s.ok()) {
        run.error = s.to_string();
        return run;
      }
      run.a_old_acked += a_old.outcome == Outcome::kOk;
      run.b_new_acked += b_new.outcome == Outcome::kOk;
      // X and Y see P again and hand it b-new (their hints for it).
      run.p_held_b_new += eventually(
          [&] {
            auto copy = admin->get_replica(key, c->name(p));
            return copy.ok() && holds(*copy, b_new.value);
          },
          10000ms, 50ms);
      const auto healed = Clock::now();
      s = c->net->heal_all();
      if (!s.ok()) {
        run.error = s.to_string();
        return run;
      }
      // Watch the key through C for 5 s: a forward C sent P before the
      // partition is still in C's socket, and TCP retransmits it with
      // back-off, a few seconds after the heal.
      while (ms_since(healed) < 5000) {
        Op r = recorded_get(client, history, 1, key);
        run.reads_after_heal += r.outcome == Outcome::kOk;
        run.reads_of_a_old += r.outcome == Outcome::kOk && r.read == std::vector<std::string>{a_old.value};
        std::this_thread::sleep_for(50ms);
      }
      ReplicaState state;
      bool agreed = eventually(
          [&] {
            state = read_replicas(*admin, {key});
            return state.converged;
          },
          30000ms, 100ms);
      if (!agreed && run.not_converged.empty()) run.not_converged = state.why_not;
      const auto& values = state.values[key];
      run.survived += std::find(values.begin(), values.end(), b_new.value) != values.end();
      final_values[key] = values;
    }
    run.converged = run.not_converged.empty();
    run.ops = history.ops();
    run.lost = check_lost_writes(run.ops, final_values);
    run.stale = check_stale_reads(run.ops);
    print_figures("staged heal", run,
                  "; trials " + std::to_string(run.trials) + ", a-old acked " + std::to_string(run.a_old_acked) +
                      ", b-new acked " + std::to_string(run.b_new_acked) + ", P held b-new before the heal with C " +
                      std::to_string(run.p_held_b_new) + ", b-new survived " + std::to_string(run.survived) +
                      ", reads after the heal " + std::to_string(run.reads_after_heal) + " of which a-old " +
                      std::to_string(run.reads_of_a_old));
    return run;
  }();
  return run;
}

// ---- (ii) flapping ------------------------------------------------------------------

// A random node isolated 2 s in every 3, eight clients (client i on node
// i mod 5, three keys of its own, reading its own and the others').
Run flapping(int seconds, uint64_t seed) {
  Run run;
  auto c = start_cluster(run);
  if (!c) return run;
  run.seed = seed;
  HistoryRecorder history;
  std::vector<std::string> all_keys;
  const std::string tag = std::to_string(seed % 100000);
  for (int i = 0; i < 8; ++i) {
    for (int k = 0; k < 3; ++k) all_keys.push_back("flap-" + tag + "-" + std::to_string(i) + "-" + std::to_string(k));
  }
  Workload load(history);
  for (int i = 0; i < 8; ++i) {
    std::vector<std::string> own(all_keys.begin() + i * 3, all_keys.begin() + i * 3 + 3);
    load.add_client(i, c->host(i % c->size()), FaultCluster::kRespPort, own, all_keys, seed + i);
  }
  std::mt19937_64 rng(seed);
  const auto begin = Clock::now();
  for (auto cycle = begin; cycle + 3s <= begin + std::chrono::seconds(seconds); cycle += 3s) {
    Status s = c->net->isolate(static_cast<int>(rng() % c->size()));
    until(cycle + 2s);
    if (s.ok()) s = c->net->heal_all();
    if (!s.ok()) {
      run.error = s.to_string();
      break;
    }
    until(cycle + 3s);
  }
  load.stop();
  const auto stopped = Clock::now();
  run.ops = history.ops();
  converge_and_check(run, *c, stopped);
  print_figures("flapping " + std::to_string(seconds) + " s", run);
  return run;
}

const std::vector<Run>& flapping_runs() {
  static const std::vector<Run> runs = [] {
    std::vector<Run> out;
    const int count = long_form() ? 2 : 1;
    for (int i = 0; i < count; ++i) {
      out.push_back(flapping(long_form() ? 120 : 12, run_seed() + 1000 * i));
      if (!out.back().skipped.empty() || !out.back().error.empty()) break;
    }
    return out;
  }();
  return runs;
}

// ---- (iii) majority/minority split ----------------------------------------------------

struct Split : Run {
  int64_t detected_ms = -1;             // from the split to the minority holding the majority down
  std::vector<int64_t> fail_fast_ms;    // probe writes' latencies
  int probes_acked = 0;
};

// {n1, n2, n3} | {n4, n5}: clients on both sides; once the minority holds
// the majority down, writes through n4 of keys whose replicas are all in the
// majority (the probes) must fail at once; then heal and time convergence.
const Split& split() {
  static const Split run = [] {
    Split run;
    auto c = start_cluster(run);
    if (!c) return run;
    auto admin = connect_client(c->endpoints());
    const std::vector<int> majority{0, 1, 2}, minority{3, 4};
    const std::string tag = std::to_string(run.seed % 100000);
    std::vector<std::string> probes;
    const size_t probe_count = long_form() ? 10 : 4;
    for (int i = 0; probes.size() < probe_count && i < 2000; ++i) {
      std::string key = "probe-" + tag + "-" + std::to_string(i);
      auto r = admin->replicas(key);
      if (r.ok() && std::all_of(r->begin(), r->end(), [&](const std::string& n) { return c->index_of(n) < 3; })) {
        probes.push_back(key);
      }
    }
    HistoryRecorder history;
    Workload load(history);
    std::vector<std::string> all_keys;
    const int on[] = {0, 1, 3, 4};
    for (int i = 0; i < 4; ++i) {
      for (int k = 0; k < 3; ++k) all_keys.push_back("split-" + tag + "-" + std::to_string(i) + "-" + std::to_string(k));
    }
    for (int i = 0; i < 4; ++i) {
      std::vector<std::string> own(all_keys.begin() + i * 3, all_keys.begin() + i * 3 + 3);
      load.add_client(i, c->host(on[i]), FaultCluster::kRespPort, own, all_keys, run.seed + i);
    }
    const auto begin = Clock::now();
    until(begin + 1s);
    const auto split_at = Clock::now();
    Status s = c->net->partition(majority, minority);
    for (int m : majority) {
      if (s.ok()) s = c->wait_peer(minority, m, false);
    }
    if (!s.ok()) {
      run.error = s.to_string();
      return run;
    }
    run.detected_ms = ms_since(split_at);
    RespClient via_n4(c->host(3), FaultCluster::kRespPort, kClientTimeout);
    for (const auto& key : probes) {
      Op op = recorded_set(via_n4, history, 10, key, "probe-value-" + key);
      run.fail_fast_ms.push_back((op.end_us - op.start_us) / 1000);
      run.probes_acked += op.outcome == Outcome::kOk;
    }
    until(split_at + 4s);
    load.stop();
    const auto healed = Clock::now();
    s = c->net->heal_all();
    if (!s.ok()) {
      run.error = s.to_string();
      return run;
    }
    run.ops = history.ops();
    converge_and_check(run, *c, healed);
    std::vector<int64_t> sorted = run.fail_fast_ms;
    std::sort(sorted.begin(), sorted.end());
    std::string more = "; minority held the majority down after " + std::to_string(run.detected_ms) + " ms; " +
                       std::to_string(sorted.size()) + " probe writes (replicas all across the split): acked " +
                       std::to_string(run.probes_acked);
    if (!sorted.empty()) {
      more += ", latency median " + std::to_string(sorted[sorted.size() / 2]) + " ms, max " +
              std::to_string(sorted.back()) + " ms";
    }
    print_figures("majority/minority split", run, more);
    return run;
  }();
  return run;
}

// ---- (iv) the metadata leader isolated -------------------------------------------------

struct MetadataRun : Run {
  std::string old_leader, new_leader;
  int64_t election_ms = -1;  // from the isolation to another node naming a new leader
  int64_t isolated_ms = 0;
  int64_t worst_excess_ms = 0;  // how far the slowest create went past the election + 1 s
  int late = 0, during = 0;
  CheckResult meta;
};


// Isolates the metadata leader while two clients create keyspaces through a
// follower voter and a learner, one create after another. Each create must
// be answered (done or refused) by 1 s after the election; afterwards every
// node shows the same map, with every acknowledged keyspace.
const MetadataRun& metadata() {
  static const MetadataRun run = [] {
    MetadataRun run;
    auto c = start_cluster(run);
    if (!c) return run;
    auto admin = connect_client(c->endpoints());
    auto st = admin->status(c->endpoint(0));
    const int leader = st.ok() ? c->index_of(st->field("meta_leader")) : -1;
    if (leader < 0) {
      run.error = "no metadata leader: " + (st.ok() ? st->field("meta_leader") : st.status().to_string());
      return run;
    }
    run.old_leader = c->name(leader);
    // A voter that is not the leader (n1..n3 vote), and a learner (n4).
    const int follower = leader == 0 ? 1 : 0;
    const int learner = 3;
    HistoryRecorder history;
    std::atomic<bool> stop{false};
    const std::string tag = std::to_string(run.seed % 100000);
    auto creator = [&](int id, int node) {
      ClientOptions o;
      o.endpoints = {c->endpoint(node)};
      o.token_aware = false;
      o.secret_file = secret_file();
      auto client = Client::connect(o);
      for (int i = 0; !stop.load() && client.ok(); ++i) {
        Op op;
        op.client = id;
        op.kind = OpKind::kCreateKeyspace;
        op.key = "ks" + tag + "c" + std::to_string(id) + "n" + std::to_string(i);
        op.start_us = history.now_us();
        auto r = (*client)->create_keyspace(KeyspaceSpec{op.key});
        op.end_us = history.now_us();
        if (!r.ok()) {
          op.outcome = r.status().code() == Code::kTimeout ? Outcome::kUnknown : Outcome::kFailed;
          op.note = r.status().to_string();
        }
        history.add(op);
        std::this_thread::sleep_for(200ms);  // the schedule: about five creates a second per client
      }
    };
    std::thread a(creator, 0, follower), b(creator, 1, learner);
    until(Clock::now() + 1s);
    const int64_t isolated_us = history.now_us();
    const auto isolated_at = Clock::now();
    Status s = c->net->isolate(leader);
    const auto isolation = long_form() ? 20s : 6s;
    auto watcher = connect_client(c->endpoint(follower));
    eventually(
        [&] {
          auto w = watcher->status();
          if (!w.ok()) return false;
          std::string l = w->field("meta_leader");
          if (l == "unknown" || l == run.old_leader) return false;
          run.new_leader = l;
          return true;
        },
        isolation, 10ms);
    if (!run.new_leader.empty()) run.election_ms = ms_since(isolated_at);
    until(isolated_at + isolation);
    run.isolated_ms = ms_since(isolated_at);
    if (s.ok()) s = c->net->heal_all();
    stop.store(true);
    a.join();
    b.join();
    if (!s.ok()) {
      run.error = s.to_string();
      return run;
    }
    run.ops = history.ops();
    // Every create that began during the isolation: done or refused by the
    // election + 1 s (or by its own start + 1 s, if it began later).
    const int64_t election_us = run.election_ms < 0 ? INT64_MAX / 2 : isolated_us + run.election_ms * 1000;
    for (const auto& op : run.ops) {
      if (op.end_us < isolated_us || op.start_us > isolated_us + run.isolated_ms * 1000) continue;
      ++run.during;
      const int64_t excess = (op.end_us - (std::max(op.start_us, election_us) + 1'000'000)) / 1000;
      run.worst_excess_ms = std::max(run.worst_excess_ms, excess);
      run.late += excess > 0;
    }
    // Afterwards: one map everywhere.
    std::vector<NodeMap> maps;
    eventually(
        [&] {
          maps.clear();
          for (int i = 0; i < c->size(); ++i) {
            auto ns = admin->status(c->endpoint(i));
            if (!ns.ok()) return false;
            maps.push_back({c->name(i), std::stoull("0" + ns->field("ring_epoch")), keyspace_names(ns->field("keyspaces"))});
          }
          return check_metadata(run.ops, maps, {"default"}).ok();
        },
        15000ms, 100ms);
    run.meta = check_metadata(run.ops, maps, {"default"});
    Counts k = count(run.ops, OpKind::kCreateKeyspace);
    std::printf(
        "faults: metadata leader isolated (seed %llu): leader %s isolated %lld ms; new leader %s after %lld ms; "
        "creates %zu (acked %zu, refused %zu, unknown %zu), %d during the isolation of which %d answered later "
        "than the election + 1 s (worst by %lld ms); maps agree: %s\n",
        static_cast<unsigned long long>(run.seed), run.old_leader.c_str(), static_cast<long long>(run.isolated_ms),
        run.new_leader.empty() ? "none" : run.new_leader.c_str(), static_cast<long long>(run.election_ms), k.ops, k.ok,
        k.failed, k.unknown, run.during, run.late, static_cast<long long>(run.worst_excess_ms),
        run.meta.ok() ? "yes" : run.meta.describe(run.seed).c_str());
    std::fflush(stdout);
    return run;
  }();
  return run;
}

// ---- (v) a clock five minutes ahead ----------------------------------------------------

struct ClockRun {
  std::string skipped, error;
  uint64_t seed = 0;
  int64_t tag_ahead_ms = 0;  // how far ahead of real time the fast node's HLC tag was
  Run siblings, lww;
};

// n1's wall clock runs 5 minutes ahead. One sequential writer per key writes
// keys of a siblings keyspace (default) and of an lww one through every node
// in turn; midway n1 is isolated, so that keys n1 coordinated are written by
// another replica with a true clock, then healed and written again.
const ClockRun& clock_ahead() {
  static const ClockRun out = [] {
    ClockRun out;
    Run setup;
    auto c = start_cluster(setup);
    out.seed = setup.seed;
    out.skipped = setup.skipped;
    out.error = setup.error;
    if (!c) return out;
    auto admin = connect_client(c->endpoints());
    auto made = admin->create_keyspace(KeyspaceSpec{"lww", 3, 2, 2, "lww"});
    Status s = made.ok() ? c->set_clock_offset(0, 5 * 60 * 1000) : made.status();
    bool known = s.ok() && eventually(
                               [&] {
                                 for (int i = 0; i < c->size(); ++i) {
                                   auto st = admin->status(c->endpoint(i));
                                   if (!st.ok() || !keyspace_names(st->field("keyspaces")).count("lww")) return false;
                                 }
                                 return true;
                               },
                               10000ms);
    if (!known) {
      out.error = "the lww keyspace or the clock offset: " + s.to_string();
      return out;
    }
    const std::string tag = std::to_string(out.seed % 100000);
    // Keys n1 coordinates in the lww keyspace (its first replica) and keys
    // it does not (the default keyspace places them elsewhere).
    std::vector<std::string> keys;
    int n1_first = 0;
    for (int i = 0; keys.size() < 8 && i < 1000; ++i) {
      std::string key = "clock-" + tag + "-" + std::to_string(i);
      auto r = admin->replicas(key, "lww");
      if (!r.ok()) continue;
      bool first = r->front() == "n1";
      if (first && n1_first < 4) {
        keys.push_back(key);
        ++n1_first;
      } else if (!first && keys.size() - n1_first < 4) {
        keys.push_back(key);
      }
    }
    for (const std::string keyspace : {"default", "lww"}) {
      Run& run = keyspace == "lww" ? out.lww : out.siblings;
      run.seed = out.seed;
      HistoryRecorder history;
      std::vector<std::unique_ptr<RespClient>> via;
      for (int i = 0; i < c->size(); ++i) {
        via.push_back(std::make_unique<RespClient>(c->host(i), FaultCluster::kRespPort, kClientTimeout));
        via.back()->on_connect({"TALLY.KEYSPACE", keyspace});
      }
      int n = 0;
      // Each write through the next node in turn (n1 left out while it is
      // isolated), each read through the one after it.
      auto round = [&](int rounds, bool without_n1) {
        const int first = without_n1 ? 1 : 0, span = c->size() - first;
        for (int r = 0; r < rounds; ++r) {
          for (const auto& key : keys) {
            const int node = first + n % span;
            recorded_set(*via[node], history, 0, key, keyspace + "-" + key + "-" + std::to_string(n++));
            recorded_get(*via[first + (node - first + 1) % span], history, 1, key);
          }
        }
      };
      round(3, false);
      s = c->net->isolate(0);
      if (s.ok()) s = c->wait_peer({1, 2, 3, 4}, 0, false);
      round(3, true);
      if (s.ok()) s = c->net->heal_all();
      if (s.ok()) s = c->wait_peer({1, 2, 3, 4}, 0, true);
      const auto healed = Clock::now();
      round(2, false);
      if (!s.ok()) {
        out.error = s.to_string();
        return out;
      }
      run.ops = history.ops();
      converge_and_check(run, *c, healed, keyspace);
      print_figures("clock 5 min ahead on n1, keyspace " + keyspace, run);
    }
    // The offset reached the HLC: a write n1 coordinated is tagged ~5 min ahead.
    ReplicaReadOptions o;
    o.keyspace = "lww";
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    int64_t latest_tag = 0;
    for (const auto& key : keys) {
      auto copy = admin->get_replica(key, "n1", o);
      if (!copy.ok()) continue;
      for (const auto& v : copy->siblings) latest_tag = std::max(latest_tag, static_cast<int64_t>(v.wall_ms));
    }
    out.tag_ahead_ms = latest_tag - now_ms;
    std::printf("faults: clock 5 min ahead on n1: its HLC tags run %lld ms ahead of real time\n",
                static_cast<long long>(out.tag_ahead_ms));
    std::fflush(stdout);
    return out;
  }();
  return out;
}

// ---- (vi) pauses, crashes and a one-way cut -------------------------------------------

struct PauseCrash : Run {
  std::string schedule_error;  // a fault that did not show as it should
  bool pause_seen = false, crash_seen = false, restart_seen = false, one_way_seen = false, one_way_only = false;
};

// Under load from four clients: n2 frozen (SIGSTOP) for 2 s, n3 killed -9
// and restarted, and n4's packets to n5 dropped for 2 s (one way: n5 holds
// n4 down, n4 still hears n5). Each fault must show in the failure detectors.
const PauseCrash& pauses_and_crashes() {
  static const PauseCrash run = [] {
    PauseCrash run;
    auto c = start_cluster(run);
    if (!c) return run;
    HistoryRecorder history;
    Workload load(history);
    const std::string tag = std::to_string(run.seed % 100000);
    std::vector<std::string> all_keys;
    for (int i = 0; i < 4; ++i) {
      for (int k = 0; k < 3; ++k) all_keys.push_back("pc-" + tag + "-" + std::to_string(i) + "-" + std::to_string(k));
    }
    const int on[] = {0, 3, 4, 0};
    for (int i = 0; i < 4; ++i) {
      std::vector<std::string> own(all_keys.begin() + i * 3, all_keys.begin() + i * 3 + 3);
      load.add_client(i, c->host(on[i]), FaultCluster::kRespPort, own, all_keys, run.seed + i);
    }
    until(Clock::now() + 1s);
    const int paused = 1, crashed = 2, from = 3, to = 4;
    auto t = Clock::now();
    c->nodes[paused]->pause();
    run.pause_seen = c->wait_peer({0}, paused, false, 2000ms).ok();
    until(t + 2s);
    c->nodes[paused]->resume();
    Status s = c->wait_peer({0}, paused, true);
    c->nodes[crashed]->kill9();
    run.crash_seen = c->wait_peer({0}, crashed, false).ok();
    if (s.ok()) s = c->nodes[crashed]->start();
    run.restart_seen = s.ok() && c->wait_peer({0, 1, 3, 4}, crashed, true).ok();
    t = Clock::now();
    if (s.ok()) s = c->net->cut(from, to);
    run.one_way_seen = s.ok() && c->wait_peer({to}, from, false, 2000ms).ok();
    // Does n4, which still receives n5's packets, hold n5 down? (Measured:
    // its pings' answers are lost, so it does.)
    auto st = connect_client(c->endpoint(from))->status();
    run.one_way_only = st.ok() && peers_field_lists(st->field("peers"), c->name(to) + ":up");
    until(t + 2s);
    if (s.ok()) s = c->net->restore(from, to);
    load.stop();
    const auto healed = Clock::now();
    if (s.ok()) s = c->wait_peer({to}, from, true);
    if (!s.ok()) {
      run.error = s.to_string();
      return run;
    }
    run.ops = history.ops();
    converge_and_check(run, *c, healed);
    print_figures("pauses, crashes and a one-way cut", run,
                  std::string("; seen by the failure detectors: pause ") + (run.pause_seen ? "yes" : "no") +
                      ", kill -9 " + (run.crash_seen ? "yes" : "no") + ", restart " +
                      (run.restart_seen ? "yes" : "no") + ", one-way cut " + (run.one_way_seen ? "yes" : "no") +
                      (run.one_way_only ? " (n4 still holds n5 up)" : " (n4 holds n5 down too)"));
    return run;
  }();
  return run;
}

}  // namespace

// ---- the test cases ---------------------------------------------------------------------

TEST_CASE("faults: staged heal runs as scripted and replicas agree afterwards", "[cluster][faults]") {
  const auto& run = staged_heal();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(run.b_new_acked == run.trials);  // X and Y acknowledge b-new while P is away
  check_holds_today(run);
}

TEST_CASE("faults: staged heal keeps the acknowledged b-new and every read after the heal returns it",
          "[cluster][faults][pending16]") {
  const auto& run = staged_heal();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(run.survived == run.trials);
  CHECK(run.reads_of_a_old == 0);
  INFO(run.lost.describe(run.seed, 3));
  CHECK(run.lost.ok());
  INFO(run.stale.describe(run.seed, 3));
  CHECK(run.stale.ok());
}

TEST_CASE("faults: flapping (a node isolated 2 s in every 3) loses no acknowledged write outright",
          "[cluster][faults]") {
  for (const auto& run : flapping_runs()) {
    SKIP_IF_UNAVAILABLE(run);
    CHECK(count(run.ops, OpKind::kWrite).ok > 100);  // the run did something
    check_holds_today(run);
  }
}

TEST_CASE("faults: flapping returns no read older than a write acknowledged before it began",
          "[cluster][faults][pending16]") {
  for (const auto& run : flapping_runs()) {
    SKIP_IF_UNAVAILABLE(run);
    INFO(run.stale.describe(run.seed, 3));
    CHECK(run.stale.ok());
    INFO(run.lost.describe(run.seed, 3));
    CHECK(run.lost.ok());
  }
}

TEST_CASE("faults: a majority/minority split and heal lose nothing, and the replicas converge",
          "[cluster][faults]") {
  const auto& run = split();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(count(run.ops, OpKind::kWrite).ok > 50);
  CHECK(run.probes_acked == 0);  // no replica reachable: never acknowledged
  CHECK(!run.fail_fast_ms.empty());
  check_holds_today(run);
}

TEST_CASE("faults: in a split, writes whose replicas are all across it fail in under 100 ms",
          "[cluster][faults][pending16]") {
  const auto& run = split();
  SKIP_IF_UNAVAILABLE(run);
  REQUIRE(!run.fail_fast_ms.empty());
  CHECK(*std::max_element(run.fail_fast_ms.begin(), run.fail_fast_ms.end()) < 100);
  INFO(run.stale.describe(run.seed, 3));
  CHECK(run.stale.ok());
  CHECK(run.lost.ok());
}

TEST_CASE("faults: with the metadata leader isolated a new one is elected, and every node ends with one map",
          "[cluster][faults]") {
  const auto& run = metadata();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(run.election_ms > 0);
  CHECK(run.new_leader != run.old_leader);
  CHECK(count(run.ops, OpKind::kCreateKeyspace).ok > 0);
  INFO(run.meta.describe(run.seed, 3));
  CHECK(run.meta.ok());
}

TEST_CASE("faults: with the metadata leader isolated, keyspace creates are answered by the election + 1 s",
          "[cluster][faults][pending16]") {
  const auto& run = metadata();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(run.during > 0);
  CHECK(run.late == 0);
}

TEST_CASE("faults: a clock 5 minutes ahead loses nothing in a siblings keyspace (lww measured)",
          "[cluster][faults]") {
  const auto& out = clock_ahead();
  SKIP_IF_UNAVAILABLE(out);
  CHECK(out.tag_ahead_ms > 290'000);  // the offset reached n1's HLC tags
  CHECK(out.tag_ahead_ms < 310'000);
  check_holds_today(out.siblings);
  INFO(out.siblings.lost.describe(out.seed, 3));
  CHECK(out.siblings.lost.ok());
  CHECK(out.lww.converged);
}

TEST_CASE("faults: with a clock 5 minutes ahead, no siblings read is older than a write acknowledged before it",
          "[cluster][faults][pending16]") {
  // A write coordinated by a replica that has not yet received the write
  // before it leaves both as siblings; RESP GET must then answer the later.
  const auto& out = clock_ahead();
  SKIP_IF_UNAVAILABLE(out);
  INFO(out.siblings.stale.describe(out.seed, 3));
  CHECK(out.siblings.stale.ok());
}

TEST_CASE("faults: a paused node, a killed and restarted one and a one-way cut lose no acknowledged write outright",
          "[cluster][faults]") {
  const auto& run = pauses_and_crashes();
  SKIP_IF_UNAVAILABLE(run);
  CHECK(run.pause_seen);
  CHECK(run.crash_seen);
  CHECK(run.restart_seen);
  CHECK(run.one_way_seen);
  CHECK(count(run.ops, OpKind::kWrite).ok > 50);
  check_holds_today(run);
}

TEST_CASE("faults: after pauses, crashes and a one-way cut no read is older than a write acknowledged before it",
          "[cluster][faults][pending16]") {
  const auto& run = pauses_and_crashes();
  SKIP_IF_UNAVAILABLE(run);
  INFO(run.stale.describe(run.seed, 3));
  CHECK(run.stale.ok());
  INFO(run.lost.describe(run.seed, 3));
  CHECK(run.lost.ok());
}

TEST_CASE("faults: the fault network cuts one way, heals exactly its own rules and leaves nothing behind",
          "[cluster][faults]") {
  // What a crashed run of a free slot left: a namespace with the prefix.
  CommandResult probe = run("ip netns add tallyfx63-n9 && ip netns list");
  auto net = FaultNet::create(2);
  if (!net.ok()) {
    REQUIRE(net.status().code() == Code::kUnavailable);
    WARN("SKIPPED: the fault suite needs network namespaces and iptables: " << net.status().to_string());
    return;
  }
  REQUIRE(probe.exit_code == 0);
  auto& n = **net;
  CHECK(run("ip netns list").out.find("tallyfx63-n9") == std::string::npos);  // swept
  auto rules = [&](int node) { return run("ip netns exec " + n.netns(node) + " iptables -S INPUT").out; };
  // A TCP connect from node a to a closed port of node b: refused (exit 1)
  // while packets flow, silence (timeout's 124) while they are dropped.
  auto connect_exit = [&](int a, int b) {
    return run("ip netns exec " + n.netns(a) + " timeout 1 bash -c 'echo > /dev/tcp/" + n.address(b) + "/9'")
        .exit_code;
  };
  CHECK(connect_exit(0, 1) == 1);
  REQUIRE(n.cut(0, 1).ok());
  CHECK(rules(1).find("-s " + n.address(0) + "/32") != std::string::npos);
  CHECK(rules(0).find("DROP") == std::string::npos);  // one way: nothing at the sender
  CHECK(connect_exit(0, 1) == 124);
  REQUIRE(n.cut(0, 1).ok());                          // twice is once
  // A rule somebody else added stays.
  REQUIRE(run("ip netns exec " + n.netns(1) + " iptables -A INPUT -s 10.99.0.1/32 -j DROP").exit_code == 0);
  REQUIRE(n.heal_all().ok());
  CHECK(rules(1).find(n.address(0)) == std::string::npos);
  CHECK(rules(1).find("10.99.0.1/32") != std::string::npos);
  CHECK(connect_exit(0, 1) == 1);
  REQUIRE(n.isolate(1).ok());
  CHECK(n.cuts().size() == 2);
  const std::string ns0 = n.netns(0);
  net->reset();
  CHECK(run("ip netns list").out.find(ns0) == std::string::npos);
}
