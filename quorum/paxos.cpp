#include "quorum/paxos.hpp"

#include <algorithm>

namespace tally::quorum {

AcceptorReply on_prepare(AcceptorState& s, const Ballot& b) {
  if (b < s.promised) return AcceptorReply{false, s.promised, {}, {}};
  s.promised = b;
  return AcceptorReply{true, s.promised, s.accepted, s.reg};
}

PaxosMutations& paxos_mutations() {
  static PaxosMutations mutations;
  return mutations;
}

AcceptorReply on_accept(AcceptorState& s, const Ballot& b, const Register& reg) {
  if (b < s.promised && !paxos_mutations().accept_ignores_promise) return AcceptorReply{false, s.promised, {}, {}};
  s.promised = std::max(s.promised, b);
  s.accepted = b;
  s.reg = reg;
  return AcceptorReply{true, s.promised, {}, {}};
}

bool condition_holds(const CasOp& op, const Register& reg, uint64_t now_ms) {
  switch (op.condition) {
    case Condition::kNone: return true;
    case Condition::kIfAbsent: return !reg.live(now_ms);
    case Condition::kIfPresent: return reg.live(now_ms);
    case Condition::kIfValue: return reg.live(now_ms) && reg.value == op.expected;
    case Condition::kIfVersion: return reg.seq == op.expected_seq;
  }
  return false;
}

Status validate(const Register& r) {
  if (r.ops.size() > r.seq || r.ops.size() > kOpWindow) {
    return Status::InvalidArgument("register: " + std::to_string(r.ops.size()) + " operation ids for " +
                                   std::to_string(r.seq) + " changes (at most one per change, and " +
                                   std::to_string(kOpWindow) + ")");
  }
  if (!r.present && (!r.value.empty() || r.expires_ms != 0)) {
    return Status::InvalidArgument("register: a value or an expiry for an absent key");
  }
  return validate_fences(r.fence_locks, r.fence_tokens, kMaxFences, "register");
}

uint64_t Register::fence_of(std::string_view lock) const {
  return quorum::fence_of(fence_locks, fence_tokens, lock);
}

bool fenced_out(const CasOp& op, const Register& reg) {
  return op.kind == CasKind::kPut && !op.fence_lock.empty() && op.fence_token < reg.fence_of(op.fence_lock);
}

Register apply(const CasOp& op, const Register& reg) {
  Register next;
  next.seq = reg.seq + 1;
  next.present = op.kind == CasKind::kPut;
  if (next.present) {
    next.value = op.value;
    next.expires_ms = op.expires_ms;
  }
  next.ops = reg.ops;
  // The window: the ids of the last kOpWindow changes, ending at seq.
  if (next.ops.size() >= kOpWindow) next.ops.erase(next.ops.begin(), next.ops.end() - (kOpWindow - 1));
  next.ops.push_back(op.id);
  next.fence_locks = reg.fence_locks;
  next.fence_tokens = reg.fence_tokens;
  // The proposer checked there is room (too_many_fences).
  if (op.kind == CasKind::kPut && !op.fence_lock.empty()) {
    raise_fence(next.fence_locks, next.fence_tokens, op.fence_lock, op.fence_token);
  }
  return next;
}

void PaxosRound::promise(const AcceptorReply* reply) {
  if (!reply) {
    ++silent1_;
    return;
  }
  highest_seen_ = std::max(highest_seen_, reply->promised);
  if (!reply->ok) {
    ++refusals1_;
    return;
  }
  ++promises_;
  if (promises_ == 1 || current_ballot_ < reply->accepted) {
    current_ = reply->reg;
    current_ballot_ = reply->accepted;
    current_votes_ = 1;
  } else if (reply->accepted == current_ballot_) {
    ++current_votes_;
  }
}

PaxosRound::Phase PaxosRound::prepared() const {
  if (promises_ >= majority()) return Phase::kDone;
  if (refusals1_ + silent1_ > replicas_ - majority()) return Phase::kFailed;
  return Phase::kWaiting;
}

void PaxosRound::accept(const AcceptorReply* reply) {
  if (!reply) {
    ++silent2_;
    return;
  }
  highest_seen_ = std::max(highest_seen_, reply->promised);
  if (reply->ok) {
    ++accepts_;
  } else {
    ++refusals2_;
  }
}

PaxosRound::Phase PaxosRound::accepted() const {
  if (accepts_ >= majority()) return Phase::kDone;
  if (refusals2_ + silent2_ > replicas_ - majority()) return Phase::kFailed;
  return Phase::kWaiting;
}

Proposer::Step Proposer::prepared(const PaxosRound& round, uint64_t now_ms) {
  const Register& cur = round.current();
  now_ms_ = now_ms;
  proposing_write_ = false;
  const bool write = op_.kind != CasKind::kRead;
  if (write && std::find(cur.ops.begin(), cur.ops.end(), op_.id) != cur.ops.end()) {
    // An earlier attempt took effect (maybe finished by another proposer).
    applied_ = true;
    answer_ = cur;
    if (round.chosen()) return Step::kAnswer;
    proposal_ = cur;
    return Step::kPropose;
  }
  if (in_doubt_ && min_op_seq_ && cur.seq >= *min_op_seq_) {
    // Our change may sit in the chain at or after min_op_seq_; the window
    // must reach back that far to say it does not.
    const uint64_t window_start = cur.seq + 1 - cur.ops.size();
    if (window_start > *min_op_seq_) return Step::kUnknown;
  }
  fenced_ = write && fenced_out(op_, cur) && !paxos_mutations().fence_ignored;
  too_many_fences_ = write && !op_.fence_lock.empty() && cur.fence_of(op_.fence_lock) == 0 &&
                     cur.fence_locks.size() >= kMaxFences;
  if (write && !fenced_ && !too_many_fences_ && condition_holds(op_, cur, now_ms)) {
    proposal_ = apply(op_, cur);
    proposing_write_ = true;
    min_op_seq_ = std::min(min_op_seq_.value_or(proposal_.seq), proposal_.seq);
    return Step::kPropose;
  }
  applied_ = false;
  answer_ = cur;
  // An in-doubt operation fences its earlier attempts off with an accept at
  // this ballot even when the state is chosen: once a majority has accepted
  // above them, none of them can be chosen later.
  const bool skip_finish = !write && paxos_mutations().read_skips_finish;
  if ((round.chosen() || skip_finish) && !in_doubt_) return Step::kAnswer;
  proposal_ = cur;
  return Step::kPropose;
}

void Proposer::accepted() {
  if (proposing_write_) {
    applied_ = true;
    answer_ = proposal_;
  }
}

void Proposer::accept_failed(bool maybe_accepted) {
  if (proposing_write_ && maybe_accepted) in_doubt_ = true;
}

}  // namespace tally::quorum
