// The linearizability checker (src/testing/linearizability.hpp): hand-made
// histories a single register with compare-and-set may and may not produce,
// a cross-check against brute force on small random histories, and
// generated histories that are linearizable by construction, before and
// after a planted violation.
#include "testing/linearizability.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <optional>

#include "raft/random.hpp"
#include "testing/linearizability_gen.hpp"

using namespace tally::testing;

namespace {

using Value = std::optional<std::string>;
constexpr auto kOk = Outcome::kOk;
constexpr auto kUnknown = Outcome::kUnknown;
constexpr auto kFailed = Outcome::kFailed;

Op timed(int client, int64_t start_ms, int64_t end_ms, Outcome o) {
  Op op;
  op.client = client;
  op.key = "k";
  op.start_us = start_ms * 1000;
  op.end_us = end_ms * 1000;
  op.outcome = o;
  return op;
}

Op rd(int client, Value v, int64_t start_ms, int64_t end_ms, Outcome o = kOk) {
  Op op = timed(client, start_ms, end_ms, o);
  op.kind = OpKind::kRead;
  if (v) op.read = {*v};
  return op;
}

Op wr(int client, std::string v, int64_t start_ms, int64_t end_ms, Outcome o = kOk) {
  Op op = timed(client, start_ms, end_ms, o);
  op.kind = OpKind::kWrite;
  op.value = std::move(v);
  return op;
}

// A CAS that answered: applied, or not (with the current value if `current`
// holds one: nullopt for "not reported", Value{} inside for "absent").
Op cas(int client, CasIf c, std::string expected, std::string v, int64_t start_ms, int64_t end_ms,
       bool applied, std::optional<Value> current = std::nullopt) {
  Op op = timed(client, start_ms, end_ms, kOk);
  op.kind = OpKind::kCas;
  op.cas_if = c;
  op.expected = std::move(expected);
  op.value = std::move(v);
  op.applied = applied;
  if (current) {
    op.current_reported = true;
    if (*current) op.read = {**current};
  }
  return op;
}

Op cas_unknown(int client, CasIf c, std::string expected, std::string v, int64_t start_ms,
               int64_t end_ms) {
  Op op = cas(client, c, std::move(expected), std::move(v), start_ms, end_ms, false);
  op.outcome = kUnknown;
  return op;
}

Verdict verdict(const std::vector<Op>& h, const LinearizabilityOptions& options = {}) {
  return check_key_linearizable(h, options).verdict;
}

}  // namespace

TEST_CASE(
    "linearizability: sequential reads, writes and CAS that follow the register are linearizable",
    "[linearizability]") {
  std::vector<Op> h{rd(1, {}, 0, 1),
                    wr(1, "a", 2, 3),
                    rd(2, "a", 4, 5),
                    cas(2, CasIf::kValue, "a", "b", 6, 7, true),
                    cas(1, CasIf::kAbsent, "", "x", 8, 9, false, Value{"b"}),
                    cas(1, CasIf::kPresent, "", "c", 10, 11, true),
                    cas(3, CasIf::kValue, "a", "d", 12, 13, false),
                    rd(3, "c", 14, 15)};
  const KeyVerdict v = check_key_linearizable(h);
  CHECK(v.verdict == Verdict::kLinearizable);
  CHECK(v.ops == h.size());
  CHECK(v.explanation.empty());
  // The same history with any one result changed is not.
  auto broken = h;
  broken[2].read = {"b"};
  CHECK(verdict(broken) == Verdict::kNotLinearizable);
  broken = h;
  broken[4].read = {"a"};  // reported a current value that was not current
  CHECK(verdict(broken) == Verdict::kNotLinearizable);
  broken = h;
  broken[6].applied = true;
  CHECK(verdict(broken) == Verdict::kNotLinearizable);
}

TEST_CASE(
    "linearizability: overlapping writes may be read in either order, but not both orders after "
    "they end",
    "[linearizability]") {
  // a and b are written at the same time; reads during the writes may see
  // a then b, or b then a.
  for (auto [first, second] : {std::pair{"a", "b"}, std::pair{"b", "a"}}) {
    std::vector<Op> h{wr(1, "a", 0, 100), wr(2, "b", 0, 100), rd(3, first, 10, 20),
                      rd(3, second, 30, 40)};
    CHECK(verdict(h) == Verdict::kLinearizable);
  }
  // Once both writes ended, the register holds one of them for good.
  CHECK(verdict({wr(1, "a", 0, 10), wr(2, "b", 0, 10), rd(3, "a", 20, 30), rd(3, "a", 40, 50)}) ==
        Verdict::kLinearizable);
  CHECK(verdict({wr(1, "a", 0, 10), wr(2, "b", 0, 10), rd(3, "b", 20, 30), rd(4, "a", 40, 50)}) ==
        Verdict::kNotLinearizable);
  // Operations that only touch count as concurrent.
  CHECK(verdict({wr(1, "a", 0, 10), wr(2, "b", 10, 20), rd(3, "a", 20, 30)}) ==
        Verdict::kLinearizable);
}

TEST_CASE("linearizability: a CAS race has exactly one winner, and the losers see it",
          "[linearizability]") {
  // Three clients put-if-absent at once; client 2 wins.
  std::vector<Op> race{cas(1, CasIf::kAbsent, "", "one", 0, 10, false, Value{"two"}),
                       cas(2, CasIf::kAbsent, "", "two", 0, 10, true),
                       cas(3, CasIf::kAbsent, "", "three", 0, 10, false), rd(4, "two", 20, 30)};
  CHECK(verdict(race) == Verdict::kLinearizable);
  // Two winners: not linearizable (and a third that says the first won).
  auto two = race;
  two[2].applied = true;
  CHECK(verdict(two) == Verdict::kNotLinearizable);
  // A loser that reports a value that never was current.
  auto wrong = race;
  wrong[0].read = {"three"};
  CHECK(verdict(wrong) == Verdict::kNotLinearizable);
  // Compare-and-set on a value: one of two increments of "1" wins.
  std::vector<Op> incr{wr(1, "1", 0, 1), cas(1, CasIf::kValue, "1", "2a", 5, 15, true),
                       cas(2, CasIf::kValue, "1", "2b", 5, 15, false, Value{"2a"}),
                       rd(3, "2a", 20, 21)};
  CHECK(verdict(incr) == Verdict::kLinearizable);
  incr[2].applied = true;
  incr[2].current_reported = false;
  CHECK(verdict(incr) == Verdict::kNotLinearizable);
}

TEST_CASE("linearizability: SET XX applies only to a present key", "[linearizability]") {
  CHECK(verdict({cas(1, CasIf::kPresent, "", "x", 0, 1, false, Value{}), wr(1, "a", 2, 3),
                 cas(2, CasIf::kPresent, "", "b", 4, 5, true), rd(2, "b", 6, 7)}) ==
        Verdict::kLinearizable);
  CHECK(verdict({cas(1, CasIf::kPresent, "", "x", 0, 1, true)}) == Verdict::kNotLinearizable);
  CHECK(verdict({wr(1, "a", 0, 1), cas(2, CasIf::kPresent, "", "x", 2, 3, false)}) ==
        Verdict::kNotLinearizable);
}

TEST_CASE(
    "linearizability: an unknown operation may take effect late, or never; a failed one never does",
    "[linearizability]") {
  // The timed-out write of x took effect after the first read ended.
  CHECK(verdict({wr(1, "x", 0, 10, kUnknown), rd(2, {}, 100, 110), rd(2, "x", 200, 210)}) ==
        Verdict::kLinearizable);
  // ... even after the client's own later write.
  CHECK(verdict({wr(1, "x", 0, 10, kUnknown), wr(1, "y", 20, 30), rd(2, "x", 200, 210)}) ==
        Verdict::kLinearizable);
  // It never took effect.
  CHECK(verdict({wr(1, "x", 0, 10, kUnknown), rd(2, {}, 100, 110), rd(2, {}, 200, 210)}) ==
        Verdict::kLinearizable);
  // But it takes effect once: x cannot come back after y replaced it.
  CHECK(verdict({wr(1, "x", 0, 10, kUnknown), rd(2, "x", 20, 30), wr(2, "y", 40, 50),
                 rd(2, "x", 60, 70)}) == Verdict::kNotLinearizable);
  // Nor before it was invoked.
  CHECK(verdict({rd(2, "x", 0, 5), wr(1, "x", 10, 20, kUnknown)}) == Verdict::kNotLinearizable);
  // An unknown CAS applies if its condition holds when it takes effect.
  CHECK(verdict({wr(1, "a", 0, 1), cas_unknown(2, CasIf::kValue, "a", "b", 2, 3),
                 rd(3, "a", 10, 11), rd(3, "b", 20, 21)}) == Verdict::kLinearizable);
  CHECK(verdict({wr(1, "c", 0, 1), cas_unknown(2, CasIf::kValue, "a", "b", 2, 3),
                 rd(3, "b", 20, 21)}) == Verdict::kNotLinearizable);
  // An unknown read constrains nothing.
  CHECK(verdict({wr(1, "a", 0, 1), rd(2, "zzz", 2, 3, kUnknown)}) == Verdict::kLinearizable);
  // A failed write did not happen ...
  const std::vector<Op> failed{wr(1, "x", 0, 10, kFailed), rd(2, "x", 20, 30)};
  CHECK(verdict(failed) == Verdict::kNotLinearizable);
  // ... unless the store cannot promise that.
  LinearizabilityOptions lenient;
  lenient.failed_is_definite = false;
  CHECK(verdict(failed, lenient) == Verdict::kLinearizable);
}

TEST_CASE("linearizability: a stale read after an acknowledged write is caught and explained",
          "[linearizability]") {
  std::vector<Op> h{wr(1, "a", 0, 10), wr(2, "b", 20, 30), rd(3, "a", 40, 50)};
  const KeyVerdict v = check_key_linearizable(h);
  REQUIRE(v.verdict == Verdict::kNotLinearizable);
  INFO(v.explanation);
  CHECK(v.key == "k");
  // The operation no order gets past, with its client, values and times.
  CHECK(
      v.explanation.find(
          "no order of its operations gets past client 3 read k -> 'a' ok [40.000 .. 50.000 ms]") !=
      std::string::npos);
  // The furthest partial linearization and the value it leaves.
  CHECK(v.explanation.find("orders 2 operations") != std::string::npos);
  CHECK(v.explanation.find("client 2 write k 'b' ok [20.000 .. 30.000 ms]  => 'b'") !=
        std::string::npos);
  CHECK(v.explanation.find("returned 'a', the register holds 'b'") != std::string::npos);
}

TEST_CASE("linearizability: two successful put-if-absent on one key are not linearizable",
          "[linearizability]") {
  CHECK(verdict({cas(1, CasIf::kAbsent, "", "a", 0, 10, true),
                 cas(2, CasIf::kAbsent, "", "b", 20, 30, true)}) == Verdict::kNotLinearizable);
  CHECK(verdict({cas(1, CasIf::kAbsent, "", "a", 0, 10, true),
                 cas(2, CasIf::kAbsent, "", "b", 0, 10, true)}) == Verdict::kNotLinearizable);
}

TEST_CASE("linearizability: a CAS that says it did not apply cannot have its value appear",
          "[linearizability]") {
  CHECK(verdict({cas(1, CasIf::kAbsent, "", "x", 0, 10, false), rd(2, "x", 20, 30)}) ==
        Verdict::kNotLinearizable);
  // Nor can one that did apply be missing afterwards.
  CHECK(verdict({cas(1, CasIf::kAbsent, "", "x", 0, 10, true), rd(2, {}, 20, 30)}) ==
        Verdict::kNotLinearizable);
}

TEST_CASE("linearizability: a read of a value nobody wrote is not linearizable",
          "[linearizability]") {
  const KeyVerdict v = check_key_linearizable({wr(1, "a", 0, 10), rd(2, "ghost", 0, 30)});
  CHECK(v.verdict == Verdict::kNotLinearizable);
  CHECK(v.explanation.find("returned 'ghost'") != std::string::npos);
}

TEST_CASE("linearizability: a lost acknowledged CAS increment on a counter is caught",
          "[linearizability]") {
  // Three acknowledged increments, some racing and losing; the counter must
  // end at 3.
  std::vector<Op> h{cas(1, CasIf::kAbsent, "", "1", 0, 10, true),
                    cas(2, CasIf::kAbsent, "", "1", 0, 10, false, Value{"1"}),
                    cas(2, CasIf::kValue, "1", "2", 20, 30, true),
                    cas(1, CasIf::kValue, "1", "2", 20, 30, false),
                    rd(1, "2", 40, 41),
                    cas(1, CasIf::kValue, "2", "3", 50, 60, true),
                    rd(3, "3", 70, 80)};
  CHECK(verdict(h) == Verdict::kLinearizable);
  h.back().read = {"2"};  // the third increment lost
  CHECK(verdict(h) == Verdict::kNotLinearizable);
  h.back().read = {"4"};  // or one applied twice
  CHECK(verdict(h) == Verdict::kNotLinearizable);
}

TEST_CASE(
    "linearizability: the classic register example: reads overlapping a write must not go new, "
    "then old",
    "[linearizability]") {
  // A write of 1 over 0 runs long; B reads during it, then C reads after B
  // finished (still during the write). Old-old, old-new and new-new are all
  // linearizable; new-then-old is not (a regular register, not an atomic one).
  auto h = [](const char* b, const char* c) {
    return std::vector<Op>{wr(1, "0", 0, 1), wr(1, "1", 10, 100), rd(2, b, 20, 30),
                           rd(3, c, 40, 50)};
  };
  CHECK(verdict(h("0", "0")) == Verdict::kLinearizable);
  CHECK(verdict(h("0", "1")) == Verdict::kLinearizable);
  CHECK(verdict(h("1", "1")) == Verdict::kLinearizable);
  CHECK(verdict(h("1", "0")) == Verdict::kNotLinearizable);
}

TEST_CASE("linearizability: histories the model cannot express are refused, naming the operation",
          "[linearizability]") {
  std::vector<Op> h{wr(1, "a", 0, 10), rd(2, "a", 20, 30)};
  h[1].read = {"a", "b"};
  KeyVerdict v = check_key_linearizable(h);
  CHECK(v.verdict == Verdict::kBadInput);
  CHECK(v.explanation.find("client 2 read k -> 'a', 'b'") == 0);
  CHECK(v.explanation.find("returned 2") != std::string::npos);
  h[1] = rd(2, "a", 30, 20);
  CHECK(check_key_linearizable(h).explanation.find("ends before it starts") != std::string::npos);
  h[1] = rd(2, "a", 20, 30);
  h[1].key = "other";
  CHECK(check_key_linearizable(h).verdict == Verdict::kBadInput);
}

TEST_CASE("linearizability: check_linearizable judges each key on its own and reports per key",
          "[linearizability]") {
  std::vector<Op> h{wr(1, "a", 0, 10), rd(2, "a", 20, 30), wr(1, "b", 0, 10), rd(2, "c", 20, 30)};
  h[2].key = h[3].key = "j";
  CheckResult r = check_linearizable(h);
  CHECK(r.judged == 4);
  REQUIRE(r.violations.size() == 1);
  CHECK(r.count("not linearizable") == 1);
  CHECK(r.violations[0].find("not linearizable: key j: not linearizable") == 0);
  h[3].read = {"b"};
  CHECK(check_linearizable(h).ok());
  // A key whose search runs out of steps is undecided, which is not ok.
  LinearizabilityOptions tiny;
  tiny.max_steps_per_key = 1;
  r = check_linearizable(h, tiny);
  CHECK(r.count("undecided") == 2);
  CHECK(r.violations[0].find("undecided after 1 steps") != std::string::npos);
}

namespace {

// The definition, by brute force: some order of the definite operations and
// some of the unknown ones respects real time (an operation that ended
// before another began comes first) and the register's answers.
bool brute_force_linearizable(const std::vector<Op>& all) {
  std::vector<Op> ops;
  for (const Op& op : all) {
    if (op.outcome == kFailed || (op.kind == OpKind::kRead && op.outcome == kUnknown)) continue;
    ops.push_back(op);
  }
  std::vector<bool> done(ops.size(), false);
  std::function<bool(Value)> extend = [&](Value v) {
    bool all_definite = true;
    for (size_t i = 0; i < ops.size(); ++i)
      all_definite = all_definite && (done[i] || ops[i].outcome != kOk);
    if (all_definite) return true;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (done[i]) continue;
      bool ready = true;  // no pending definite operation ended before it began
      for (size_t j = 0; j < ops.size(); ++j) {
        ready = ready && (done[j] || ops[j].outcome != kOk || ops[j].end_us >= ops[i].start_us);
      }
      if (!ready) continue;
      const Op& op = ops[i];
      Value after = v;
      bool fits = true;
      if (op.kind == OpKind::kRead) {
        fits = (op.read.empty() ? Value{} : Value{op.read[0]}) == v;
      } else if (op.kind == OpKind::kWrite) {
        after = op.value;
      } else {
        const bool holds = op.cas_if == CasIf::kAbsent    ? !v
                           : op.cas_if == CasIf::kPresent ? v.has_value()
                                                          : v == op.expected;
        if (op.outcome != kOk) {
          if (holds) after = op.value;
        } else if (op.applied) {
          fits = holds;
          after = op.value;
        } else {
          fits = !holds &&
                 (!op.current_reported || (op.read.empty() ? Value{} : Value{op.read[0]}) == v);
        }
      }
      if (!fits) continue;
      done[i] = true;
      const bool ok = extend(after);
      done[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return extend(std::nullopt);
}

// A small history of random operations with random results over two values.
std::vector<Op> random_small_history(tally::SplitMix64& rng) {
  const char* values[] = {"a", "b"};
  auto value = [&] { return std::string(values[rng.uniform(2)]); };
  auto maybe = [&]() -> Value { return rng.chance(1, 3) ? Value{} : Value{value()}; };
  std::vector<Op> h;
  const int n = static_cast<int>(rng.between(1, 7));
  for (int i = 0; i < n; ++i) {
    const int64_t start = static_cast<int64_t>(rng.uniform(20));
    const int64_t end = start + static_cast<int64_t>(rng.uniform(8));
    const Outcome o = rng.chance(1, 6) ? kUnknown : rng.chance(1, 12) ? kFailed : kOk;
    switch (rng.uniform(3)) {
      case 0:
        h.push_back(rd(i, maybe(), start, end, o));
        break;
      case 1:
        h.push_back(wr(i, value(), start, end, o));
        break;
      default: {
        const CasIf c = static_cast<CasIf>(rng.uniform(3));
        std::optional<Value> current;
        if (rng.chance(1, 2)) current.emplace(maybe());
        Op op = cas(i, c, value(), value(), start, end, rng.chance(1, 2), current);
        op.outcome = o;
        h.push_back(op);
      }
    }
  }
  return h;
}

}  // namespace

TEST_CASE("linearizability: the search agrees with brute force on small random histories",
          "[linearizability]") {
  tally::SplitMix64 rng(17);
  int yes = 0, no = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::vector<Op> h = random_small_history(rng);
    const bool expected = brute_force_linearizable(h);
    const KeyVerdict v = check_key_linearizable(h);
    if (v.verdict != (expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)) {
      std::string shown;
      for (const Op& op : h) shown += "\n  " + describe(op);
      FAIL("history " << i << " (brute force says " << expected << "):" << shown << "\n"
                      << v.explanation);
    }
    (expected ? yes : no)++;
  }
  // Both verdicts are well represented, so the agreement means something.
  CHECK(yes > 3000);
  CHECK(no > 3000);
}

namespace {

bool acked_write(const Op& op) {
  return op.outcome == kOk &&
         (op.kind == OpKind::kWrite || (op.kind == OpKind::kCas && op.applied));
}

// `w` is the only operation of the history that writes its value to its key
// (a counter's increments can repeat a value in operations that timed out).
bool sole_writer(const std::vector<Op>& h, const Op& w) {
  int writers = 0;
  for (const Op& op : h)
    writers += op.kind != OpKind::kRead && op.key == w.key && op.value == w.value;
  return writers == 1;
}

// Ways to break a linearizable history (values unique per write, no
// deletes), each certain to make it non-linearizable; false when the
// history offers no place for it.
using Plant = std::function<bool(std::vector<Op>&, tally::SplitMix64&)>;

// A random index of `h` where `pred` holds.
std::optional<size_t> pick(const std::vector<Op>& h, tally::SplitMix64& rng,
                           const std::function<bool(const Op&)>& pred) {
  std::vector<size_t> at;
  for (size_t i = 0; i < h.size(); ++i) {
    if (pred(h[i])) at.push_back(i);
  }
  if (at.empty()) return std::nullopt;
  return at[rng.uniform(at.size())];
}

const std::vector<std::pair<std::string, Plant>>& plants() {
  static const std::vector<std::pair<std::string, Plant>> all{
      {"a read of a value nobody wrote",
       [](std::vector<Op>& h, tally::SplitMix64& rng) {
         auto r = pick(h, rng,
                       [](const Op& op) { return op.kind == OpKind::kRead && op.outcome == kOk; });
         if (!r) return false;
         h[*r].read = {"nobody-wrote-this"};
         return true;
       }},
      {"a stale read: a value overwritten by an acknowledged write before the read began",
       [](std::vector<Op>& h, tally::SplitMix64& rng) {
         auto r = pick(h, rng, [&](const Op& read) {
           if (read.kind != OpKind::kRead || read.outcome != kOk) return false;
           for (const Op& w2 : h) {
             if (!acked_write(w2) || w2.key != read.key || w2.end_us >= read.start_us) continue;
             for (const Op& wv : h) {
               if (acked_write(wv) && wv.key == read.key && wv.end_us < w2.start_us &&
                   sole_writer(h, wv))
                 return true;
             }
           }
           return false;
         });
         if (!r) return false;
         Op& read = h[*r];
         for (const Op& w2 : h) {
           if (!acked_write(w2) || w2.key != read.key || w2.end_us >= read.start_us) continue;
           for (const Op& wv : h) {
             if (acked_write(wv) && wv.key == read.key && wv.end_us < w2.start_us &&
                 sole_writer(h, wv)) {
               read.read = {wv.value};
               return true;
             }
           }
         }
         return false;
       }},
      {"a second successful put-if-absent after an acknowledged write",
       [](std::vector<Op>& h, tally::SplitMix64& rng) {
         auto w = pick(h, rng, acked_write);
         if (!w) return false;
         h.push_back(cas(999, CasIf::kAbsent, "", "second-winner", 0, 0, true));
         h.back().key = h[*w].key;
         h.back().start_us = h[*w].end_us + 1;
         h.back().end_us = h[*w].end_us + 2;
         return true;
       }},
      {"a CAS that says it did not apply, but whose value is read",
       [](std::vector<Op>& h, tally::SplitMix64& rng) {
         auto c = pick(h, rng, [&](const Op& op) {
           if (op.kind != OpKind::kCas || !acked_write(op) || !sole_writer(h, op)) return false;
           for (const Op& r : h) {
             if (r.kind == OpKind::kRead && r.outcome == kOk && r.key == op.key &&
                 r.read == std::vector<std::string>{op.value}) {
               return true;
             }
           }
           return false;
         });
         if (!c) return false;
         h[*c].applied = false;
         return true;
       }},
  };
  return all;
}

}  // namespace

TEST_CASE(
    "linearizability: generated linearizable histories pass, and fail once a violation is planted",
    "[linearizability]") {
  RegisterWorkload w;
  w.keys = 2;
  w.clients = 8;
  w.ops_per_key = 150;
  w.unknown_fraction = 0.05;
  w.failed_fraction = 0.03;
  std::map<std::string, int> planted;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    w.counters = seed % 4 == 0;
    const std::vector<Op> h = linearizable_register_history(w, seed);
    const CheckResult clean = check_linearizable(h);
    INFO("seed " << seed);
    REQUIRE(clean.judged == h.size());
    REQUIRE(clean.ok());
    tally::SplitMix64 rng(seed);
    for (const auto& [name, plant] : plants()) {
      std::vector<Op> broken = h;
      if (!plant(broken, rng)) continue;
      ++planted[name];
      const CheckResult r = check_linearizable(broken);
      INFO("planted: " << name);
      REQUIRE(r.count("not linearizable") == 1);
      CHECK(r.violations.size() == 1);
    }
  }
  // Every kind of violation was planted many times.
  REQUIRE(planted.size() == plants().size());
  for (const auto& [name, n] : planted) {
    INFO(name);
    CHECK(n >= 20);
  }
}

TEST_CASE(
    "linearizability: a 5,000-operation key with ten concurrent clients and timeouts decides in "
    "few steps",
    "[linearizability]") {
  // Speed is measured in bench/micro/linearizability_bench.cpp; this checks
  // the search stays near-linear: a budget of 400 steps per operation (it
  // takes about 180: each configuration scans its window of pending
  // operations a few times).
  RegisterWorkload w;
  w.keys = 1;
  w.clients = 11;
  w.ops_per_key = 5000;
  w.mean_latency_us = 1000;
  w.mean_think_us = 100;
  w.unknown_fraction = 0.01;
  const std::vector<Op> h = linearizable_register_history(w, 5000);
  LinearizabilityOptions budget;
  budget.max_steps_per_key = 400 * h.size();
  const KeyVerdict v = check_key_linearizable(h, budget);
  INFO(v.explanation);
  CHECK(v.verdict == Verdict::kLinearizable);
  CHECK(v.ops > 4500);
}
