#include "node/get_fsm.hpp"

#include "net/codec.hpp"

namespace tally {

GetFsm::GetFsm(CoordinatorContext& ctx, ReadRequest request, Respond respond)
    : ReplicaRound(ctx, std::move(respond), request.timeout_ms), req_(std::move(request)) {}

void GetFsm::start() {
  ask_replicas();
  start_timer(shared_from_this());
  progress();
}

void GetFsm::ask_replicas() {
  std::vector<quorum::ReplicaOutcome> outcomes;
  for (ring::NodeId p : ctx_.view.replicas_of(req_.keyspace, req_.key)) {
    outcomes.push_back(
        {p, 0, ctx_.peers.is_up(p) ? quorum::ReplicaState::kWaiting : quorum::ReplicaState::kDown, {}});
  }
  tally_ = std::make_unique<quorum::ReadTally>(req_.r, std::move(outcomes),
                                               req_.keyspace.mode == meta::ConflictMode::kLww);
  for (const auto& rep : tally_->replicas()) {
    if (rep.state == quorum::ReplicaState::kWaiting) ask(rep.node);
  }
}

void GetFsm::ask(ring::NodeId node) {
  if (node == ctx_.view.self) {
    ++outstanding_;
    ctx_.store.get(req_.keyspace.name, req_.key,
                   [self = shared_from_this(), node](Result<std::optional<quorum::DvvSet>> res) {
                     if (self->finished_) return;
                     if (res.ok()) {
                       self->tally_->reply(node, std::move(*res));
                     } else {
                       self->tally_->fail(node, res.status().message());
                     }
                     --self->outstanding_;
                     self->progress();
                   });
    return;
  }
  ReplicaRound::ask<wire::ReplicaReadReply>(
      shared_from_this(), node, wire::ReplicaRead{req_.keyspace.name, req_.key, ctx_.view.epoch()},
      [](GetFsm& fsm, ring::NodeId node, wire::ReplicaReadReply* ok, Status error) {
        if (ok) {
          fsm.tally_->reply(node, ok->found ? std::optional<quorum::DvvSet>(std::move(ok->record)) : std::nullopt);
        } else if (error.code() == Code::kStaleEpoch && !fsm.refreshed_ && !fsm.replied_) {
          // Our map is older than the ring: what the replicas we asked hold
          // may not be the whole story. Fetch the map and read again (once).
          fsm.refreshed_ = true;
          ++fsm.outstanding_;
          fsm.ctx_.refresh(node, [self = fsm.shared_from_this()] {
            if (self->finished_) return;
            --self->outstanding_;
            if (!self->replied_) self->ask_replicas();
            self->progress();
          });
          return;
        } else {
          fsm.tally_->fail(node, error.message());
        }
        fsm.progress();
      });
}

// What the client gets: the merged siblings, oldest first by their tags (the
// winner alone in lww mode), whether the newest is a delete (or expired),
// what time each value has left, and the context. An expired value is left
// out as a tombstone is; the context still covers it, so a write with it
// supersedes it.
wire::GetReply GetFsm::reply() const {
  const quorum::DvvSet& m = tally_->merged();
  wire::GetReply out;
  const quorum::DvvSet resolved =
      req_.keyspace.mode == meta::ConflictMode::kLww ? quorum::lww_resolve(m) : quorum::DvvSet{};
  const quorum::DvvSet& shown = req_.keyspace.mode == meta::ConflictMode::kLww ? resolved : m;
  const std::vector<const quorum::Sibling*> in_order = quorum::by_time(shown);
  bool any_ttl = false;
  for (const quorum::Sibling* sib : in_order) {
    if (quorum::dead(*sib, req_.now_ms)) continue;
    out.values.push_back(sib->value);
    out.ttl_ms.push_back(sib->expires_ms == 0 ? 0 : sib->expires_ms - req_.now_ms);
    any_ttl = any_ttl || sib->expires_ms != 0;
  }
  if (!any_ttl) out.ttl_ms.clear();
  out.latest_deleted = !out.values.empty() && quorum::dead(*in_order.back(), req_.now_ms);
  if (!m.clock.entries.empty()) out.context = net::encode_context(quorum::join(m));
  out.epoch = ctx_.view.epoch();
  return out;
}

void GetFsm::progress() {
  if (finished_ || replied_ || repairing_) return finish();
  auto verdict = tally_->verdict();
  if (verdict == quorum::Verdict::kFailed) {
    replied_ = true;
    ctx_.stats.add(Counter::kQuorumFailures);
    fail(respond_, tally_->status(timeout_ms_, [this](ring::NodeId n) { return name_of(n); }));
  } else if (verdict == quorum::Verdict::kSucceeded) {
    auto stale = tally_->stale_replicas();
    if (req_.blocking_repair && !stale.empty()) return repair_then_answer(std::move(stale));
    replied_ = true;
    respond_(reply());
  }
  finish();
}

// Monotonic reads: the replicas that answered hold the merged state before
// the client sees it, so a later quorum read cannot miss it.
void GetFsm::repair_then_answer(std::vector<ring::NodeId> stale) {
  repairing_ = true;
  auto left = std::make_shared<int>(static_cast<int>(stale.size()));
  for (ring::NodeId node : stale) {
    repair(node, [self = shared_from_this(), left](Status) {
      if (--*left > 0) return;
      self->repairing_ = false;
      self->replied_ = true;
      self->respond_(self->reply());
      self->finish();
    });
  }
}

void GetFsm::repair(ring::NodeId node, std::function<void(Status)> done) {
  ctx_.stats.add(Counter::kReadRepairs);
  if (node == ctx_.view.self) {
    // The ring may have moved on while the read ran: a copy here would be
    // a stray that the cleanup already passed.
    if (!ctx_.view.replica_of(ctx_.view.self, req_.keyspace, req_.key)) return done(Status::Ok());
    ctx_.replica.apply_locally(req_.keyspace.name, req_.key, tally_->merged(), std::move(done));
    return;
  }
  ctx_.peers.call(node, wire::ReplicaWrite{req_.keyspace.name, req_.key, tally_->merged(), 0, ctx_.view.epoch()},
                  uint64_t{timeout_ms_} * 1000,
                  [done = std::move(done)](Result<wire::Message> r) { done(r.ok() ? Status::Ok() : r.status()); });
}

// Once every replica answered (or the time is up): background read repair of
// the replicas that were behind.
void GetFsm::finish() {
  if (finished_ || outstanding_ > 0 || repairing_ || !replied_) return;
  end();
  if (req_.blocking_repair) return;  // already repaired before answering
  if (tally_->merged().clock.entries.empty()) return;
  for (ring::NodeId node : tally_->stale_replicas()) repair(node, [](Status) {});
}

}  // namespace tally
