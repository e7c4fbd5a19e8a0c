// Compare-and-set on one key: single-decree Paxos over the key's N replicas,
// run again for every change (docs/architecture.md, "Linearizable
// keyspaces"). Pure: the acceptor's rules and the proposer's tally of one
// attempt, no I/O; src/node/paxos_* carry them over the wire and the disk.
//
// The register. A key of a linearizable keyspace holds one value (or none)
// and a sequence number that counts its changes. Each acceptor keeps the
// highest ballot it promised, and the register it last accepted with the
// ballot it accepted it at. A proposer runs an attempt with a ballot higher
// than any it has seen:
//
//   1. prepare(b) to all N replicas; a majority promises (or the attempt
//      fails). Each promise carries the replica's accepted register.
//   2. The register accepted at the highest ballot among the promises is the
//      key's current state (Lamport's rule: a proposer adopts the value of the
//      highest-numbered proposal it hears of). When a majority of the promises
//      name that very ballot, it is chosen already.
//   3. The operation is evaluated on it: a read or a condition that fails
//      changes nothing; a write makes the next register (seq + 1).
//   4. accept(b, register) to all; a majority of acceptances decides it. A
//      read or a failed condition whose state was not chosen yet proposes the
//      state unchanged first (it finishes an interrupted write before it
//      answers), so nobody answers from a state that may still be undone.
//
// Every accepted register is derived from the one adopted in step 2, so the
// chosen registers form one chain: what is decided is never contradicted.
//
// Whether an operation took effect. An attempt whose accept reached some
// replicas but not a majority may still be chosen later (another proposer
// adopting it finishes it). Retrying it blindly could apply it twice, or
// answer "not applied" for a write that then takes effect (the bug Jepsen
// found in Cassandra's first lightweight transactions). So each write names
// itself with an operation id, and a register carries the ids of its last
// kOpWindow changes: a retry that finds its id in the current register knows
// it was applied. A retry that cannot see far enough back answers "outcome
// unknown" instead of guessing (Proposer, below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quorum/fence.hpp"
#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::quorum {

// Ballots are hybrid-logical-clock tags with the proposing node's id: unique
// per node, and ahead of every ballot a node has seen once it folds that in.
using Ballot = HlcTimestamp;

// How many changes' operation ids a register remembers.
inline constexpr size_t kOpWindow = 32;

struct Register {
  uint64_t seq = 0;      // changes made to the key; 0: never written
  bool present = false;  // false: absent (never written, or deleted)
  std::string value;
  // The operation ids of changes seq - ops.size() + 1 .. seq, oldest first.
  std::vector<uint64_t> ops;
  // When the value expires, in HLC wall milliseconds; 0: never. An expired
  // value is absent from then on (the register keeps its seq).
  uint64_t expires_ms = 0;
  // Fencing: for each lock a fenced write of this key named, the highest
  // token among them (quorum/fence.hpp). A fenced write with a lower token is
  // refused (docs/locks.md).
  std::vector<std::string> fence_locks;
  std::vector<uint64_t> fence_tokens;
  bool operator==(const Register&) const = default;

  // The highest token a fenced write of this key named for `lock`; 0: none.
  uint64_t fence_of(std::string_view lock) const;

  // Whether the key holds a value at HLC wall time `now_ms`. The proposer
  // judges at its ballot's time: ballots rise along the chain of decided
  // registers, so once an operation saw a value expired every later one does.
  bool live(uint64_t now_ms) const { return present && (expires_ms == 0 || now_ms < expires_ms); }
};

// Ok if `r` could have been made by apply(): at most one operation id per
// change and at most kOpWindow of them; no value and no expiry when absent;
// one token per fence lock, locks sorted and unique, at most kMaxFences.
// Otherwise InvalidArgument naming the first thing wrong. Bytes from the disk
// or a peer are checked with it before they are used.
Status validate(const Register& r);

// What one replica keeps of one key.
struct AcceptorState {
  Ballot promised;  // no prepare or accept below this is taken
  Ballot accepted;  // the ballot `reg` was accepted at; zero: nothing accepted
  Register reg;
  bool operator==(const AcceptorState&) const = default;
};

// A replica's answer to prepare or accept.
struct AcceptorReply {
  bool ok = false;
  Ballot promised;  // after the message (on a refusal: the ballot that beat it)
  Ballot accepted;  // prepare only: what the replica holds
  Register reg;
};

// The acceptor's rules. Each returns its answer and changes `s` as it must be
// made durable before the answer is sent. A repeated message with the ballot
// already promised is answered again alike (messages may be duplicated).
AcceptorReply on_prepare(AcceptorState& s, const Ballot& b);
AcceptorReply on_accept(AcceptorState& s, const Ballot& b, const Register& reg);

// Deliberate bugs, for the simulation tests that must catch them
// (tests/sim/linearizable_sim_test.cpp, lock_sim_test.cpp; docs/consistency.md lists them). Off
// unless a test turns them on; they change the rules of every node in the
// process.
struct PaxosMutations {
  bool accept_ignores_promise = false;  // an acceptor takes an accept below its promise
  bool read_skips_finish = false;       // a read answers from an accepted state without finishing it
  bool fence_ignored = false;           // a fenced write with a lower token is applied (tests/sim/lock_sim_test.cpp)
};
PaxosMutations& paxos_mutations();

// What an operation asks of the register.
enum class CasKind : uint8_t {
  kRead = 0,       // no change
  kPut = 1,        // set the value, whatever it was
  kDelete = 2,     // make the key absent
};
enum class Condition : uint8_t {
  kNone = 0,
  kIfAbsent = 1,   // only when the key is absent
  kIfPresent = 2,  // only when the key holds a value (RESP SET XX)
  kIfValue = 3,    // only when the key holds `expected`
  kIfVersion = 4,  // only when the key's seq is `expected_seq` (0: absent and never written)
};
struct CasOp {
  CasKind kind = CasKind::kRead;
  Condition condition = Condition::kNone;
  std::string value;          // kPut
  uint64_t expires_ms = 0;    // kPut: when `value` expires (HLC wall ms); 0: never
  std::string expected;       // kIfValue
  uint64_t expected_seq = 0;  // kIfVersion
  uint64_t id = 0;            // the operation id (writes; nonzero)
  // A fenced write (kPut): applied only if `fence_token` is at least the
  // highest token the key has seen for `fence_lock`. Empty: not fenced.
  std::string fence_lock;
  uint64_t fence_token = 0;
};

// Whether `op`'s condition holds on `reg` at HLC wall time `now_ms` (an
// expired value is absent).
bool condition_holds(const CasOp& op, const Register& reg, uint64_t now_ms);
// The register after `op` applied to `reg` (seq + 1, its id remembered, its
// fence raised to its token).
Register apply(const CasOp& op, const Register& reg);
// Whether `op` is a fenced write that `reg` refuses: a later holder of its
// lock has written the key with a higher token.
bool fenced_out(const CasOp& op, const Register& reg);

// The tally of one attempt's answers from the key's `replicas` replicas.
class PaxosRound {
 public:
  explicit PaxosRound(size_t replicas) : replicas_(replicas) {}
  size_t majority() const { return replicas_ / 2 + 1; }

  enum class Phase { kWaiting, kDone, kFailed };

  // Phase 1: a replica's promise or refusal, or nullptr: no answer.
  void promise(const AcceptorReply* reply);
  Phase prepared() const;
  // The register accepted at the highest ballot among the promises (the
  // key's state), the ballot, and whether a majority of promises hold it.
  const Register& current() const { return current_; }
  const Ballot& current_ballot() const { return current_ballot_; }
  bool chosen() const { return current_votes_ >= majority(); }

  // Phase 2: an acceptance, a refusal, or no answer.
  void accept(const AcceptorReply* reply);
  Phase accepted() const;
  // Some replica may have accepted without the attempt deciding: not every
  // replica refused (one that has not answered yet may still accept).
  bool maybe_accepted() const { return refusals2_ < replicas_; }

  // The highest ballot any replica said it promised: the next attempt's
  // ballot must be above it.
  const Ballot& highest_seen() const { return highest_seen_; }

 private:
  size_t replicas_;
  size_t promises_ = 0, refusals1_ = 0, silent1_ = 0;
  size_t accepts_ = 0, refusals2_ = 0, silent2_ = 0;
  Register current_;
  Ballot current_ballot_;
  size_t current_votes_ = 0;
  Ballot highest_seen_;
};

// One operation from its first attempt to its answer: what the attempts so
// far let the proposer conclude. It decides, after each prepare, what to
// propose, and after each accept, whether the operation is over.
class Proposer {
 public:
  explicit Proposer(CasOp op) : op_(std::move(op)) {}

  enum class Step {
    kPropose,     // accept `proposal()` (the new register, or the current one to finish it)
    kAnswer,      // done: see applied() and answer()
    kUnknown,     // an earlier attempt may or may not have taken effect, and this one cannot tell
  };
  // After a prepare that a majority promised; `now_ms`: the attempt's ballot
  // time, at which expiries are judged.
  Step prepared(const PaxosRound& round, uint64_t now_ms);
  const Register& proposal() const { return proposal_; }
  // After the accept of proposal() reached a majority.
  void accepted();
  // An accept that did not reach a majority; maybe_accepted: as PaxosRound.
  void accept_failed(bool maybe_accepted);

  bool applied() const { return applied_; }
  // Not applied because the key has seen a higher token for the write's lock.
  bool fenced() const { return fenced_; }
  // Not applied because the key keeps fences for kMaxFences other locks already.
  bool too_many_fences() const { return too_many_fences_; }
  // The register the answer is about: the key's state after the operation
  // (applied) or the state that made the condition fail (not applied).
  const Register& answer() const { return answer_; }
  // Whether answer() holds a value, judged when the operation was decided.
  bool answer_live() const { return answer_.live(now_ms_); }
  // Whether an earlier attempt of this operation may have been accepted
  // somewhere: a failure now must be reported as "outcome unknown".
  bool in_doubt() const { return in_doubt_; }
  const CasOp& op() const { return op_; }

 private:
  CasOp op_;
  Register proposal_;
  Register answer_;
  bool applied_ = false;
  bool proposing_write_ = false;  // proposal_ carries this operation's change
  bool in_doubt_ = false;
  bool fenced_ = false;
  bool too_many_fences_ = false;
  uint64_t now_ms_ = 0;  // the last prepared attempt's ballot time
  // The lowest seq this operation's change was proposed at: for an in-doubt
  // operation to learn its fate, the current register's window must reach
  // back to it.
  std::optional<uint64_t> min_op_seq_;
};

}  // namespace tally::quorum
