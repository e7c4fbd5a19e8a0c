#include "quorum/quorum_tally.hpp"

#include "quorum/dvv.hpp"

namespace tally::quorum {

Tally::Tally(int need, const char* what, std::vector<ReplicaOutcome> replicas)
    : need_(need), what_(what), replicas_(std::move(replicas)) {
  for (const auto& r : replicas_) {
    if (r.state == ReplicaState::kWaiting) ++waiting_;
    if (r.side != ReplicaSide::kBoth) two_sides_ = true;
  }
  decide();
}

bool Tally::record(ReplicaId node, ReplicaState state, std::string detail) {
  for (auto& r : replicas_) {
    if (r.node != node || r.state != ReplicaState::kWaiting) continue;
    r.state = state;
    r.detail = std::move(detail);
    --waiting_;
    if (state == ReplicaState::kOk) {
      ok_old_ += (static_cast<int>(r.side) & static_cast<int>(ReplicaSide::kOld)) != 0;
      ok_new_ += (static_cast<int>(r.side) & static_cast<int>(ReplicaSide::kNew)) != 0;
    }
    decide();
    return true;
  }
  return false;
}

void Tally::decide() {
  if (verdict_ != Verdict::kPending) return;  // a decision is final
  if (ok_old_ >= need_ && ok_new_ >= need_) {
    verdict_ = Verdict::kSucceeded;
  } else if (waiting_ == 0) {
    // Even when the quorum became impossible earlier (replicas down or
    // failing), wait for the rest: the error then accounts for every replica.
    verdict_ = Verdict::kFailed;
  }
}

void Tally::timeout() {
  for (auto& r : replicas_) {
    if (r.state == ReplicaState::kWaiting) r.state = ReplicaState::kTimeout;
  }
  waiting_ = 0;
  if (verdict_ == Verdict::kPending) {
    verdict_ = ok_old_ >= need_ && ok_new_ >= need_ ? Verdict::kSucceeded : Verdict::kFailed;
  }
}

std::string Tally::describe(uint32_t timeout_ms, const NodeNamer& name) const {
  const std::string quorum = std::string(what_[0] == 'a' ? "W=" : "R=") + std::to_string(need_);
  std::string out = two_sides_ ? std::to_string(ok_old_) + " of " + quorum + " " + what_ + " by the replicas before "
                                     "the ring movement and " + std::to_string(ok_new_) + " of " + quorum +
                                     " by those after it, within " + std::to_string(timeout_ms) + " ms"
                               : std::to_string(ok_old_) + " of " + quorum + " " + what_ + " within " +
                                     std::to_string(timeout_ms) + " ms";
  std::string why;
  for (const auto& r : replicas_) {
    if (r.state == ReplicaState::kOk) continue;
    std::string s = name(r.node);
    if (r.stands_in_for) s += " (for " + name(r.stands_in_for) + ")";
    switch (r.state) {
      case ReplicaState::kWaiting: s += ": no answer yet"; break;
      case ReplicaState::kFailed: s += ": " + r.detail; break;
      case ReplicaState::kTimeout: s += ": timeout"; break;
      case ReplicaState::kDown: s += ": down"; break;
      case ReplicaState::kOk: break;
    }
    why += (why.empty() ? "" : ", ") + s;
  }
  if (!why.empty()) out += " (" + why + ")";
  return out;
}

Status Tally::status(uint32_t timeout_ms, const NodeNamer& name) const {
  if (verdict_ == Verdict::kSucceeded) return Status::Ok();
  return Status::QuorumNotReached(describe(timeout_ms, name));
}

std::vector<ReplicaId> WriteTally::unacked_primaries() const {
  std::vector<ReplicaId> out;
  for (const auto& r : replicas_) {
    if (r.stands_in_for != 0) {
      // A fallback that acked holds the hint for its primary; one that did not
      // leaves the primary without the write.
      if (r.state != ReplicaState::kOk) out.push_back(r.stands_in_for);
    } else if (r.state != ReplicaState::kOk) {
      out.push_back(r.node);
    }
  }
  return out;
}

void ReadTally::reply(ReplicaId node, std::optional<DvvSet> state) {
  DvvSet s = state ? std::move(*state) : DvvSet{};
  if (!record(node, ReplicaState::kOk, {})) return;
  merged_ = lww_ ? lww_sync(merged_, s) : sync(merged_, s);
  replies_.emplace_back(node, std::move(s));
}

std::vector<ReplicaId> ReadTally::stale_replicas() const {
  std::vector<ReplicaId> out;
  for (const auto& [node, state] : replies_) {
    if (lww_ ? lww_needs_repair(state, merged_) : needs_repair(state, merged_)) out.push_back(node);
  }
  return out;
}

}  // namespace tally::quorum
