#include "node/put_fsm.hpp"

#include "net/codec.hpp"

namespace tally {

PutFsm::PutFsm(CoordinatorContext& ctx, WriteRequest request, Respond respond)
    : ReplicaRound(ctx, std::move(respond), request.timeout_ms), req_(std::move(request)) {}

std::vector<quorum::ReplicaOutcome> PutFsm::targets() const {
  const ClusterView& view = ctx_.view;
  const uint64_t position = ring::key_position(req_.keyspace, req_.key);

  // Who is asked: the primaries the failure detector believes up, and with
  // `sloppy`, a fallback for each that is down; the others are marked down.
  std::vector<quorum::ReplicaOutcome> outcomes;
  auto up = [this](ring::NodeId n) { return ctx_.peers.is_up(n); };
  if (req_.sloppy) {
    auto sloppy = view.ring.sloppy_preference_list(position, req_.n, up);
    for (const auto& r : sloppy.replicas) {
      outcomes.push_back({r.node, r.stands_in_for, quorum::ReplicaState::kWaiting, {}});
    }
    for (ring::NodeId p : sloppy.primaries) {
      bool covered = false;
      for (const auto& r : sloppy.replicas) covered = covered || r.node == p || r.stands_in_for == p;
      if (!covered) outcomes.push_back({p, 0, quorum::ReplicaState::kDown, {}});
    }
  } else {
    for (ring::NodeId p : view.ring.preference_list(position, req_.n)) {
      outcomes.push_back({p, 0, up(p) ? quorum::ReplicaState::kWaiting : quorum::ReplicaState::kDown, {}});
    }
  }
  if (!view.moving()) return outcomes;
  // A ring movement: the replicas after it count apart (W of each list), and
  // the pending owners are written as well (docs/architecture.md, Range
  // movement).
  const ring::PreferenceList after = view.replicas_after(position, req_.n);
  for (auto& o : outcomes) {
    const ring::NodeId primary = o.stands_in_for != 0 ? o.stands_in_for : o.node;
    if (!after.contains(primary)) o.side = quorum::ReplicaSide::kOld;
  }
  for (ring::NodeId p : after) {
    bool listed = false;
    for (const auto& o : outcomes) listed = listed || o.node == p || o.stands_in_for == p;
    if (listed) continue;
    outcomes.push_back({p, 0, up(p) ? quorum::ReplicaState::kWaiting : quorum::ReplicaState::kDown, {},
                        quorum::ReplicaSide::kNew});
  }
  return outcomes;
}

void PutFsm::start() {
  std::vector<quorum::ReplicaOutcome> outcomes = targets();
  tally_ = std::make_unique<quorum::WriteTally>(req_.w, std::move(outcomes));
  ctx_.drain.started();
  // The timeout covers the whole request, our own disk write included.
  start_timer(shared_from_this());
  // Sent on before our copy is durable only under fsync, and only under a
  // mint epoch that is durable itself (ReplicaService::epochs_durable).
  early_ = ctx_.store.syncs() && ctx_.replica.epochs_durable();
  if (early_) ++outstanding_;  // our own copy: the round ends only once it is durable (or failed)

  fence_lock_ = req_.write.fence_lock;
  fence_token_ = req_.write.fence_token;
  // Our id with our mint epoch for the key's range (replica_service.hpp).
  const quorum::ActorId me = ctx_.replica.actor_for(req_.keyspace, ring::key_position(req_.keyspace, req_.key));
  ctx_.store.update(
      req_.keyspace, req_.key,
      [me, write = std::move(req_.write), context = std::move(req_.context), blind = req_.blind,
       lww = req_.lww, deadline = req_.deadline_us, horizon = req_.horizon_ms, &replica = ctx_.replica,
       &env = ctx_.env,
       &stats = ctx_.stats](const quorum::DvvSet* cur) -> Result<quorum::DvvSet> {
        if (deadline != 0 && env.now_us() > deadline) {
          // Our turn at the key came after the request's deadline: the client
          // has its timeout, and a write applied now could supersede writes
          // acknowledged since.
          stats.add(Counter::kLateWrites);
          return Status::Timeout("the write's turn at the key came after its deadline: not applied");
        }
        // No record: start above the dot floor (replica_service.hpp).
        const quorum::DvvSet fresh = cur ? quorum::DvvSet{} : replica.fresh_record(me);
        const quorum::DvvSet& state = cur ? *cur : fresh;
        // An overwrite supersedes what was here when it arrived, not what
        // came after it (quorum::join_before).
        return lww ? quorum::lww_update(state, write, me)
                   : quorum::update(state, blind ? quorum::join_before(state, write.timestamp, horizon) : context,
                                    write, me);
      },
      [self = shared_from_this()](Result<store::RecordStore::Record> r) { self->minted(std::move(r)); },
      early_ ? store::RecordStore::Computed(
                   [self = shared_from_this()](const store::RecordStore::Record& rec) { self->computed(rec); })
             : nullptr);
}

// Under durability fsync, the other replicas get the write as soon as it is
// minted, and their disk writes run beside ours (docs/architecture.md, "Why
// only a replica mints a key's dots": a crash before our copy is durable
// could lose a dot others hold, so the next start mints as a new actor).
void PutFsm::computed(const store::RecordStore::Record& rec) {
  if (finished_) return;
  record_ = rec;  // shared with the store: not copied
  send_replica_writes();
  progress();
}

void PutFsm::minted(Result<store::RecordStore::Record> r) {
  if (finished_) return;  // timed out before our own copy was durable
  if (early_) --outstanding_;  // our own copy's answer
  if (early_ && record_) {
    // Sent already (computed): our copy counts like any replica's answer.
    if (r.ok()) {
      tally_->ack(ctx_.view.self);
    } else {
      tally_->fail(ctx_.view.self, r.status().message());
    }
    return progress();
  }
  if (!r.ok()) {
    // Refused (fenced, sibling cap, bad context) or the disk failed: nothing was sent.
    if (r.status().code() == Code::kFenced) ctx_.stats.add(Counter::kFencedWrites);
    fail(respond_, r.status());
    replied_ = true;
    end();
    ctx_.drain.finished();
    return;
  }
  // Buffered durability: the disk write is done on the loop, so waiting for it
  // costs no more than the turn it takes, and the other replicas get the write
  // once our own copy is written.
  record_ = std::move(*r);  // shared with the store: not copied
  tally_->ack(ctx_.view.self);
  send_replica_writes();
  progress();
}

void PutFsm::send_replica_writes() {
  for (const auto& r : tally_->replicas()) {
    if (r.node == ctx_.view.self || r.state != quorum::ReplicaState::kWaiting) continue;
    ask<wire::ReplicaWriteReply>(
        shared_from_this(), r.node,
        wire::ReplicaWrite{req_.keyspace, req_.key, *record_, r.stands_in_for, ctx_.view.epoch(), fence_lock_,
                           fence_token_},
        [](PutFsm& fsm, ring::NodeId node, const wire::ReplicaWriteReply* ok, Status error) {
          if (ok) {
            fsm.tally_->ack(node);
          } else if (error.code() == Code::kFenced) {
            // A replica has seen a later holder's token: the write is
            // refused, and the merges drop the copies others took.
            fsm.tally_->fail(node, error.message());
            fsm.fenced_ = true;
            if (!fsm.replied_) {
              fsm.replied_ = true;
              fail(fsm.respond_,
                   Status(Code::kFenced, error.message() + " (" + fsm.name_of(node) +
                                             "); replicas that had not seen the later token took the write, and "
                                             "drop it when they merge with one that has (what it superseded "
                                             "there stays superseded)"));
            }
          } else if (error.code() == Code::kStaleEpoch && !fsm.retargeted_) {
            // Fenced: a ring movement started after our map. Fetch the map
            // and write to the replicas it names (once; the answer holds).
            fsm.retargeted_ = true;
            ++fsm.outstanding_;
            fsm.ctx_.refresh(node, [self = fsm.shared_from_this()] {
              if (self->finished_) return;
              --self->outstanding_;
              self->retarget();
            });
            return;
          } else {
            fsm.tally_->fail(node, error.message());
          }
          fsm.progress();
        });
  }
}

void PutFsm::retarget() {
  if (finished_) return;
  if (replied_) return progress();
  // The replicas that acknowledged keep their acknowledgement; everyone else
  // the new map names is asked (again: a write is merged, never doubled).
  std::vector<quorum::ReplicaId> acked;
  for (const auto& r : tally_->replicas()) {
    if (r.state == quorum::ReplicaState::kOk) acked.push_back(r.node);
  }
  tally_ = std::make_unique<quorum::WriteTally>(req_.w, targets());
  for (auto node : acked) tally_->ack(node);
  send_replica_writes();
  progress();
}

void PutFsm::progress() {
  if (finished_) return;
  auto verdict = tally_->verdict();
  if (!replied_ && verdict != quorum::Verdict::kPending) {
    replied_ = true;
    if (verdict == quorum::Verdict::kSucceeded) {
      if (req_.is_delete) {
        respond_(wire::DeleteReply{ctx_.view.epoch()});
      } else {
        // Acknowledgements follow our own durable copy, so the record is there.
        respond_(wire::PutReply{net::encode_context(record_ ? quorum::join(*record_) : quorum::VersionVector{}),
                                ctx_.view.epoch()});
      }
    } else {
      ctx_.stats.add(Counter::kQuorumFailures);
      fail(respond_, tally_->status(timeout_ms_, [this](ring::NodeId n) { return name_of(n); }));
    }
  }
  if (outstanding_ > 0) return;
  end();
  // Hinted handoff: keep the write for every primary that does not have it
  // (if there is a write: a request can time out before it is minted).
  for (ring::NodeId p : tally_->unacked_primaries()) {
    if (fenced_ || p == ctx_.view.self || !record_ || record_->clock.entries.empty()) continue;
    // The context outlives this request: it is the coordinator's.
    ctx_.replica.keep_hint(p, req_.keyspace, req_.key, *record_, [&ctx = ctx_, p](Status s) {
      if (!s.ok()) {
        TALLY_LOG(ctx.log, kWarn) << "no hint kept for " << ctx.peers.name_of(p) << ": " << s.to_string();
      }
    });
  }
  ctx_.drain.finished();
}

}  // namespace tally
