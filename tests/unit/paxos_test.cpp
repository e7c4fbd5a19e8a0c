// The Paxos core (quorum/paxos.hpp): the acceptor's rules, the tally of an
// attempt, the proposer's conclusions, and a randomized run of proposers
// over acceptors that lose, repeat and reorder messages, where every counter
// must end at exactly its acknowledged increments.
#include "quorum/paxos.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tally::quorum {
namespace {

Ballot ballot(uint64_t ms, uint32_t node) { return Ballot{ms, 0, node}; }

CasOp put(std::string v, uint64_t id, Condition c = Condition::kNone, std::string expected = "") {
  CasOp op;
  op.kind = CasKind::kPut;
  op.value = std::move(v);
  op.id = id;
  op.condition = c;
  op.expected = std::move(expected);
  return op;
}

TEST_CASE("an acceptor promises only ballots at or above its promise", "[paxos]") {
  AcceptorState s;
  auto a = on_prepare(s, ballot(10, 1));
  CHECK(a.ok);
  CHECK(s.promised == ballot(10, 1));
  // The same ballot again (a duplicate) is answered alike.
  CHECK(on_prepare(s, ballot(10, 1)).ok);
  auto refused = on_prepare(s, ballot(9, 2));
  CHECK_FALSE(refused.ok);
  CHECK(refused.promised == ballot(10, 1));
  CHECK(s.promised == ballot(10, 1));
  // Equal times are ordered by node.
  CHECK_FALSE(on_prepare(s, ballot(10, 0)).ok);
}

TEST_CASE("an acceptor accepts at or above its promise and reports what it accepted", "[paxos]") {
  AcceptorState s;
  on_prepare(s, ballot(10, 1));
  Register r{1, true, "a", {7}};
  CHECK_FALSE(on_accept(s, ballot(9, 3), r).ok);
  CHECK(s.accepted == Ballot{});
  CHECK(on_accept(s, ballot(10, 1), r).ok);
  CHECK(s.accepted == ballot(10, 1));
  auto p = on_prepare(s, ballot(11, 2));
  CHECK(p.ok);
  CHECK(p.accepted == ballot(10, 1));
  CHECK(p.reg == r);
  // An accept above the promise is taken without a prepare of its own.
  CHECK(on_accept(s, ballot(12, 3), Register{2, false, "", {7, 8}}).ok);
  CHECK(s.promised == ballot(12, 3));
}

TEST_CASE("conditions and apply", "[paxos]") {
  Register absent;
  Register a{3, true, "x", {1, 2, 3}};
  CHECK(condition_holds(put("v", 1, Condition::kIfAbsent), absent, 0));
  CHECK_FALSE(condition_holds(put("v", 1, Condition::kIfAbsent), a, 0));
  CHECK(condition_holds(put("v", 1, Condition::kIfPresent), a, 0));
  CHECK_FALSE(condition_holds(put("v", 1, Condition::kIfPresent), absent, 0));
  CHECK(condition_holds(put("v", 1, Condition::kIfValue, "x"), a, 0));
  CHECK_FALSE(condition_holds(put("v", 1, Condition::kIfValue, "y"), a, 0));
  CHECK_FALSE(condition_holds(put("v", 1, Condition::kIfValue, ""), absent, 0));
  CasOp ver = put("v", 1, Condition::kIfVersion);
  ver.expected_seq = 3;
  CHECK(condition_holds(ver, a, 0));
  ver.expected_seq = 2;
  CHECK_FALSE(condition_holds(ver, a, 0));

  Register next = apply(put("y", 9), a);
  CHECK(next == Register{4, true, "y", {1, 2, 3, 9}});
  CasOp del;
  del.kind = CasKind::kDelete;
  del.id = 10;
  CHECK(apply(del, next) == Register{5, false, "", {1, 2, 3, 9, 10}});
  // The window keeps the last kOpWindow ids.
  Register r;
  for (uint64_t i = 1; i <= kOpWindow + 5; ++i) r = apply(put("v", i), r);
  REQUIRE(r.ops.size() == kOpWindow);
  CHECK(r.ops.front() == 6);
  CHECK(r.ops.back() == kOpWindow + 5);
}

TEST_CASE("a round adopts the highest accepted register and knows when it is chosen", "[paxos]") {
  PaxosRound round(3);
  CHECK(round.majority() == 2);
  AcceptorReply old{true, ballot(20, 1), ballot(5, 1), Register{1, true, "old", {1}}};
  AcceptorReply newer{true, ballot(20, 1), ballot(8, 2), Register{2, true, "new", {1, 2}}};
  round.promise(&old);
  CHECK(round.prepared() == PaxosRound::Phase::kWaiting);
  round.promise(&newer);
  CHECK(round.prepared() == PaxosRound::Phase::kDone);
  CHECK(round.current().value == "new");
  CHECK_FALSE(round.chosen());  // only one of the two promises holds ballot 8

  PaxosRound agreed(3);
  agreed.promise(&newer);
  agreed.promise(&newer);
  CHECK(agreed.chosen());

  PaxosRound refused(3);
  AcceptorReply no{false, ballot(30, 3), {}, {}};
  refused.promise(&no);
  refused.promise(nullptr);
  CHECK(refused.prepared() == PaxosRound::Phase::kFailed);
  CHECK(refused.highest_seen() == ballot(30, 3));
}

TEST_CASE("an accept that some replica may have taken leaves the outcome in doubt", "[paxos]") {
  PaxosRound all_refused(3);
  AcceptorReply no{false, ballot(30, 3), {}, {}};
  all_refused.accept(&no);
  all_refused.accept(&no);
  CHECK(all_refused.accepted() == PaxosRound::Phase::kFailed);
  CHECK(all_refused.maybe_accepted());  // the third may still take it
  all_refused.accept(&no);
  CHECK_FALSE(all_refused.maybe_accepted());

  PaxosRound silent(3);
  silent.accept(nullptr);
  silent.accept(nullptr);
  CHECK(silent.accepted() == PaxosRound::Phase::kFailed);
  CHECK(silent.maybe_accepted());
}

// A proposer whose accept was lost finds its own change on the retry and
// answers "applied", not "the value is not what you expected".
TEST_CASE("a retried compare-and-set recognises its own change", "[paxos]") {
  Proposer p(put("1", 42, Condition::kIfAbsent));
  PaxosRound r1(3);
  AcceptorReply empty{true, ballot(10, 1), {}, {}};
  r1.promise(&empty);
  r1.promise(&empty);
  REQUIRE(p.prepared(r1, 0) == Proposer::Step::kPropose);
  CHECK(p.proposal().value == "1");
  p.accept_failed(true);
  CHECK(p.in_doubt());

  // The change reached one replica; the retry's majority includes it.
  PaxosRound r2(3);
  AcceptorReply holds{true, ballot(11, 1), ballot(10, 1), p.proposal()};
  r2.promise(&holds);
  r2.promise(&empty);
  REQUIRE(p.prepared(r2, 0) == Proposer::Step::kPropose);  // not chosen yet: finish it
  p.accepted();
  CHECK(p.applied());
  CHECK(p.answer().value == "1");
}

TEST_CASE("an in-doubt operation fences its attempts off before it answers 'not applied'", "[paxos]") {
  Proposer p(put("mine", 42, Condition::kIfAbsent));
  PaxosRound r1(3);
  AcceptorReply empty{true, ballot(10, 1), {}, {}};
  r1.promise(&empty);
  r1.promise(&empty);
  REQUIRE(p.prepared(r1, 0) == Proposer::Step::kPropose);
  p.accept_failed(true);

  // Someone else's value is chosen meanwhile.
  Register theirs{1, true, "theirs", {7}};
  AcceptorReply chosen{true, ballot(12, 1), ballot(11, 2), theirs};
  PaxosRound r2(3);
  r2.promise(&chosen);
  r2.promise(&chosen);
  REQUIRE(r2.chosen());
  // Chosen, but in doubt: it proposes the state again at its own ballot.
  REQUIRE(p.prepared(r2, 0) == Proposer::Step::kPropose);
  CHECK(p.proposal() == theirs);
  p.accepted();
  CHECK_FALSE(p.applied());
  CHECK(p.answer().value == "theirs");
}

TEST_CASE("an in-doubt operation whose window no longer reaches back answers 'unknown'", "[paxos]") {
  Proposer p(put("mine", 42, Condition::kIfValue, "x"));
  Register x{5, true, "x", {1, 2, 3, 4, 5}};
  AcceptorReply at5{true, ballot(10, 1), ballot(9, 1), x};
  PaxosRound r1(3);
  r1.promise(&at5);
  r1.promise(&at5);
  REQUIRE(p.prepared(r1, 0) == Proposer::Step::kPropose);  // would be seq 6
  p.accept_failed(true);
  Register far = x;
  for (uint64_t i = 100; i < 100 + kOpWindow + 1; ++i) far = apply(put("y", i), far);
  AcceptorReply later{true, ballot(20, 1), ballot(19, 2), far};
  PaxosRound r2(3);
  r2.promise(&later);
  r2.promise(&later);
  CHECK(p.prepared(r2, 0) == Proposer::Step::kUnknown);
}

TEST_CASE("a read of a chosen state answers after one round; of an unchosen one it finishes it", "[paxos]") {
  CasOp read;
  Register v{1, true, "v", {1}};
  AcceptorReply has{true, ballot(10, 1), ballot(9, 1), v};
  AcceptorReply none{true, ballot(10, 1), {}, {}};
  Proposer chosen(read);
  PaxosRound r1(3);
  r1.promise(&has);
  r1.promise(&has);
  CHECK(chosen.prepared(r1, 0) == Proposer::Step::kAnswer);
  CHECK(chosen.answer() == v);

  Proposer finishing(read);
  PaxosRound r2(3);
  r2.promise(&has);
  r2.promise(&none);
  REQUIRE(finishing.prepared(r2, 0) == Proposer::Step::kPropose);
  CHECK(finishing.proposal() == v);
}

TEST_CASE("a fenced write is refused once the key has seen a higher token for its lock", "[paxos][fence]") {
  auto fenced = [](std::string v, uint64_t id, std::string lock, uint64_t token) {
    CasOp op = put(std::move(v), id);
    op.fence_lock = std::move(lock);
    op.fence_token = token;
    return op;
  };
  Register reg = apply(fenced("a", 1, "L", 5), Register{});
  CHECK(reg.fence_of("L") == 5);
  CHECK(reg.fence_of("M") == 0);
  CHECK(fenced_out(fenced("b", 2, "L", 4), reg));
  CHECK_FALSE(fenced_out(fenced("b", 2, "L", 5), reg));  // the same holder again
  CHECK_FALSE(fenced_out(put("b", 2), reg));            // an unfenced write is not checked
  CHECK_FALSE(fenced_out(fenced("b", 2, "M", 1), reg));  // another lock is another fence
  reg = apply(fenced("c", 3, "L", 7), reg);
  reg = apply(fenced("d", 4, "M", 2), reg);
  CHECK(reg.fence_locks == std::vector<std::string>{"L", "M"});
  CHECK(reg.fence_tokens == std::vector<uint64_t>{7, 2});
  // A lower token never lowers the fence, and a later unfenced write keeps it.
  reg = apply(put("e", 5), reg);
  CHECK(reg.fence_of("L") == 7);
  CHECK(fenced_out(fenced("f", 6, "L", 5), reg));

  // The proposer answers "fenced", not applied, and proposes nothing new.
  AcceptorReply has{true, ballot(10, 1), ballot(9, 1), reg};
  PaxosRound round(3);
  round.promise(&has);
  round.promise(&has);
  Proposer p(fenced("late", 77, "L", 5));
  CHECK(p.prepared(round, 0) == Proposer::Step::kAnswer);
  CHECK(p.fenced());
  CHECK_FALSE(p.applied());
  CHECK(p.answer() == reg);
  Proposer ok(fenced("now", 78, "L", 9));
  REQUIRE(ok.prepared(round, 0) == Proposer::Step::kPropose);
  CHECK_FALSE(ok.fenced());
  CHECK(ok.proposal().fence_of("L") == 9);
}

TEST_CASE("a key keeps fences for at most kMaxFences locks", "[paxos][fence]") {
  Register reg;
  for (size_t i = 0; i < kMaxFences; ++i) {
    CasOp op = put("v", i + 1);
    op.fence_lock = "lock-" + std::to_string(100 + i);
    op.fence_token = 1;
    reg = apply(op, reg);
  }
  AcceptorReply has{true, ballot(10, 1), ballot(9, 1), reg};
  PaxosRound round(3);
  round.promise(&has);
  round.promise(&has);
  CasOp one_more = put("v", 99);
  one_more.fence_lock = "another";
  one_more.fence_token = 1;
  Proposer p(one_more);
  CHECK(p.prepared(round, 0) == Proposer::Step::kAnswer);
  CHECK(p.too_many_fences());
  CasOp known = one_more;
  known.fence_lock = "lock-100";
  Proposer q(known);
  CHECK(q.prepared(round, 0) == Proposer::Step::kPropose);
}

// Proposers increment counters by read-then-compare-and-set over acceptors
// reached through a network that drops, repeats and delays messages. Every
// increment that answered "applied" must be in the final count, none twice:
// count = acknowledged + (some of the unknown ones).
TEST_CASE("randomized: compare-and-set increments are never lost or applied twice", "[paxos]") {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    const size_t n = (seed % 2) ? 3 : 5;
    std::vector<AcceptorState> acceptors(n);
    uint64_t clock = 1;
    uint64_t acked = 0, unknown = 0, next_id = 1;
    auto chance = [&](int pct) { return static_cast<int>(rng() % 100) < pct; };
    // Delivers a message to an acceptor, maybe twice, maybe not at all; the
    // reply may be lost. Late deliveries: a message is sometimes kept and
    // delivered at a later step of any proposer.
    struct Late {
      size_t to;
      bool accept;
      Ballot b;
      Register reg;
    };
    std::vector<Late> late;
    auto deliver_late = [&] {
      while (!late.empty() && chance(30)) {
        Late l = late.back();
        late.pop_back();
        if (l.accept) {
          on_accept(acceptors[l.to], l.b, l.reg);
        } else {
          on_prepare(acceptors[l.to], l.b);
        }
      }
    };
    for (int op = 0; op < 60; ++op) {
      const uint32_t node = static_cast<uint32_t>(rng() % 3) + 1;
      // Read the counter, then increment it by compare-and-set, retrying.
      auto run = [&](CasOp cas) -> std::pair<Proposer::Step, Proposer> {
        Proposer p(cas);
        for (int attempt = 0; attempt < 8; ++attempt) {
          deliver_late();
          Ballot b{++clock, 0, node};
          PaxosRound round(n);
          for (size_t i = 0; i < n; ++i) {
            if (chance(15)) {
              if (chance(50)) late.push_back({i, false, b, {}});
              round.promise(nullptr);
              continue;
            }
            AcceptorReply a = on_prepare(acceptors[i], b);
            if (chance(10)) on_prepare(acceptors[i], b);
            round.promise(chance(10) ? nullptr : &a);
          }
          if (round.prepared() != PaxosRound::Phase::kDone) continue;
          auto step = p.prepared(round, 0);
          if (step == Proposer::Step::kAnswer || step == Proposer::Step::kUnknown) return {step, p};
          PaxosRound acc(n);
          for (size_t i = 0; i < n; ++i) {
            if (chance(15)) {
              if (chance(50)) late.push_back({i, true, b, p.proposal()});
              acc.accept(nullptr);
              continue;
            }
            AcceptorReply a = on_accept(acceptors[i], b, p.proposal());
            acc.accept(chance(10) ? nullptr : &a);
          }
          if (acc.accepted() == PaxosRound::Phase::kDone) {
            p.accepted();
            return {Proposer::Step::kAnswer, p};
          }
          p.accept_failed(acc.maybe_accepted());
        }
        return {Proposer::Step::kUnknown, p};
      };
      auto [rstep, reader] = run(CasOp{});
      if (rstep != Proposer::Step::kAnswer) continue;
      const uint64_t seen = reader.answer().present ? std::stoull(reader.answer().value) : 0;
      CasOp inc = put(std::to_string(seen + 1), next_id++, Condition::kIfVersion);
      inc.expected_seq = reader.answer().seq;
      auto [step, p] = run(inc);
      if (step == Proposer::Step::kAnswer) {
        if (p.applied()) ++acked;
      } else if (p.in_doubt()) {
        ++unknown;
      }
      // Not in doubt and not answered: certainly not applied.
    }
    // The final state, read through a majority of everyone.
    Proposer final_read{CasOp{}};
    PaxosRound round(n);
    Ballot b{++clock, 0, 99};
    for (size_t i = 0; i < n; ++i) {
      AcceptorReply a = on_prepare(acceptors[i], b);
      round.promise(&a);
    }
    REQUIRE(round.prepared() == PaxosRound::Phase::kDone);
    const Register& fin = round.current();
    const uint64_t count = fin.present ? std::stoull(fin.value) : 0;
    INFO("seed " << seed << ": count " << count << ", acknowledged " << acked << ", unknown " << unknown);
    CHECK(count >= acked);
    CHECK(count <= acked + unknown);
    CHECK(count == fin.seq);  // every change was an increment, none applied twice
  }
}

}  // namespace
}  // namespace tally::quorum
