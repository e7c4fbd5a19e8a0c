// The coordinator: a client's put, delete or get, carried out over the key's
// N replicas (DESIGN.md §4). Only a replica of the key mints its dots
// (REFERENCES.md, DVV sets), so a node that is not one hands writes to one.
#include "node/node.hpp"

namespace tally {

struct Node::WriteOp {
  Respond respond;
  std::string keyspace;
  std::string key;
  bool is_delete = false;
  uint32_t timeout_ms = 0;
  store::RecordStore::Record record;  // the new state, minted here; nullptr until our copy is durable
  std::unique_ptr<quorum::WriteTally> tally;
  TimerId timer = 0;
  bool replied = false;
  bool finished = false;
  int outstanding = 0;  // replica answers still to come
};

struct Node::ReadOp {
  Respond respond;
  meta::Keyspace keyspace;  // a copy: the map may change while the read runs
  std::string key;
  uint32_t timeout_ms = 0;
  bool blocking_repair = false;
  std::unique_ptr<quorum::ReadTally> tally;
  TimerId timer = 0;
  bool replied = false;
  bool repairing = false;  // blocking repair in progress
  bool finished = false;
  int outstanding = 0;
};

namespace {

// What a replica's answer to a coordinator means for its tally.
struct ReplicaAnswer {
  enum Kind { kOk, kFailed, kTimeout } kind;
  std::string error;
};

template <class Expected>
ReplicaAnswer classify(const Result<wire::Message>& r) {
  if (r.ok() && std::holds_alternative<Expected>(r->body)) return {ReplicaAnswer::kOk, {}};
  if (r.ok() && std::holds_alternative<wire::ErrorReply>(r->body)) {
    return {ReplicaAnswer::kFailed, std::get<wire::ErrorReply>(r->body).message};
  }
  // Silence is left to the request's own timer, which marks it as a timeout.
  if (!r.ok() && r.status().code() == Code::kTimeout) return {ReplicaAnswer::kTimeout, {}};
  return {ReplicaAnswer::kFailed, r.ok() ? "unexpected reply" : r.status().message()};
}

}  // namespace

int Node::replicas_for(const meta::Keyspace& ks) const {
  return std::min(ks.n, std::max(1, ring_.node_count()));
}

ring::PreferenceList Node::replicas_of(const meta::Keyspace& ks, const std::string& key) const {
  return ring_.preference_list(ring::key_position(ks.name, key), replicas_for(ks));
}

bool Node::is_up(ring::NodeId peer) const {
  return peer == id_ || fd_.is_up(peer, env_.now_us());
}

quorum::DvvSet Node::merge(const std::string& keyspace, const quorum::DvvSet& a,
                           const quorum::DvvSet& b) const {
  const meta::Keyspace* ks = map_.keyspace(keyspace);
  if (ks && ks->mode == meta::ConflictMode::kLww) return quorum::lww_sync(a, b);
  return quorum::sync(a, b);
}

// ---- writes -------------------------------------------------------------------

void Node::coordinate_write(Respond respond, const meta::Keyspace& ks, std::string key,
                            quorum::ClientWrite write, quorum::VersionVector context, bool blind,
                            const wire::RequestOptions& opt, bool is_delete) {
  const uint64_t position = ring::key_position(ks.name, key);
  ring::PreferenceList primaries = ring_.preference_list(position, replicas_for(ks));

  auto op = std::make_shared<WriteOp>();
  op->respond = std::move(respond);
  op->keyspace = ks.name;
  op->key = std::move(key);
  op->is_delete = is_delete;
  op->timeout_ms = timeout_ms(opt);
  int w = opt.w ? opt.w : std::min(ks.w, replicas_for(ks));

  // Who is asked: the primaries the failure detector believes up, and with
  // `sloppy`, a fallback for each that is down; the others are marked down.
  std::vector<quorum::ReplicaOutcome> outcomes;
  if (opt.sloppy) {
    auto sloppy = ring_.sloppy_preference_list(position, replicas_for(ks),
                                               [this](ring::NodeId n) { return is_up(n); });
    for (const auto& r : sloppy.replicas) outcomes.push_back({r.node, r.stands_in_for, quorum::ReplicaState::kWaiting, {}});
    for (ring::NodeId p : sloppy.primaries) {
      bool covered = false;
      for (const auto& r : sloppy.replicas) covered = covered || r.node == p || r.stands_in_for == p;
      if (!covered) outcomes.push_back({p, 0, quorum::ReplicaState::kDown, {}});
    }
  } else {
    for (ring::NodeId p : primaries) {
      outcomes.push_back({p, 0, is_up(p) ? quorum::ReplicaState::kWaiting : quorum::ReplicaState::kDown, {}});
    }
  }
  op->tally = std::make_unique<quorum::WriteTally>(w, std::move(outcomes));
  write_started();
  // The timeout covers the whole request, our own disk write included.
  op->timer = env_.set_timer(uint64_t{op->timeout_ms} * 1000, [this, op] {
    op->timer = 0;
    op->tally->timeout();
    op->outstanding = 0;
    finish_write(op);
  });

  const bool lww = ks.mode == meta::ConflictMode::kLww;
  store_.update(
      op->keyspace, op->key,
      [this, write = std::move(write), context = std::move(context), blind, lww](
          const quorum::DvvSet* cur) -> Result<quorum::DvvSet> {
        static const quorum::DvvSet kNone;
        const quorum::DvvSet& state = cur ? *cur : kNone;
        return lww ? quorum::lww_update(state, write, id_)
                   : quorum::update(state, blind ? quorum::join(state) : context, write, id_);
      },
      [this, op](Result<store::RecordStore::Record> r) {
        if (op->finished) return;  // timed out before our own copy was durable
        if (!r.ok()) {
          // Refused (sibling cap, bad context) or the disk failed: nothing was sent.
          fail(op->respond, r.status());
          op->replied = op->finished = true;
          if (op->timer) env_.cancel_timer(op->timer);
          write_finished();
          return;
        }
        // The other replicas get the write only once our own copy is durable:
        // the dot we minted must never be forgotten by us while others hold it,
        // or a crash here would let us mint it again for another value (the
        // dot-reuse bug of REFERENCES.md, which silently loses a write).
        op->record = std::move(*r);  // shared with the store: not copied
        op->tally->ack(id_);
        send_replica_writes(op);
        finish_write(op);
      });
}

void Node::send_replica_writes(const std::shared_ptr<WriteOp>& op) {
  op->outstanding = 0;
  for (const auto& r : op->tally->replicas()) {
    if (r.node == id_ || r.state != quorum::ReplicaState::kWaiting) continue;
    ++op->outstanding;
    wire::ReplicaWrite req{op->keyspace, op->key, *op->record, r.stands_in_for, map_.epoch};
    ring::NodeId node = r.node;
    call(node, std::move(req), uint64_t{op->timeout_ms} * 1000, [this, op, node](Result<wire::Message> reply) {
      if (op->finished) return;
      --op->outstanding;
      ReplicaAnswer a = classify<wire::ReplicaWriteReply>(reply);
      if (a.kind == ReplicaAnswer::kOk) saw_epoch(std::get<wire::ReplicaWriteReply>(reply->body).epoch, node);
      if (a.kind == ReplicaAnswer::kTimeout) return;
      if (a.kind == ReplicaAnswer::kOk) {
        op->tally->ack(node);
      } else {
        op->tally->fail(node, a.error);
      }
      finish_write(op);
    });
  }
}

// Replies as soon as the tally decides; completes (hints for whoever did not
// acknowledge) when every replica has answered or the time is up.
void Node::finish_write(const std::shared_ptr<WriteOp>& op) {
  if (op->finished) return;
  auto verdict = op->tally->verdict();
  if (!op->replied && verdict != quorum::Verdict::kPending) {
    op->replied = true;
    if (verdict == quorum::Verdict::kSucceeded) {
      if (op->is_delete) {
        op->respond(wire::DeleteReply{map_.epoch});
      } else {
        // Acknowledgements follow our own durable copy, so the record is there.
        op->respond(wire::PutReply{net::encode_context(op->record ? quorum::join(*op->record) : quorum::VersionVector{}),
                                   map_.epoch});
      }
    } else {
      ++quorum_failures_;
      fail(op->respond, op->tally->status(op->timeout_ms, [this](ring::NodeId n) { return name_of(n); }));
    }
  }
  if (op->outstanding > 0) return;
  op->finished = true;
  if (op->timer) env_.cancel_timer(op->timer);
  // Hinted handoff: keep the write for every primary that does not have it
  // (if there is a write: a request can time out before it is minted).
  for (ring::NodeId p : op->tally->unacked_primaries()) {
    if (p == id_ || !op->record || op->record->clock.entries.empty()) continue;
    hints_.add(p, op->keyspace, op->key, *op->record, [this, p](Status s) {
      if (!s.ok()) {
        TALLY_LOG(log_, kWarn) << "no hint kept for " << name_of(p) << ": " << s.to_string();
      }
    });
  }
  write_finished();
}

bool Node::forward_unless_replica(const Respond& respond, const meta::Keyspace& ks, const std::string& key,
                                  wire::RequestOptions& opt, wire::Body& request) {
  ring::PreferenceList primaries = replicas_of(ks, key);
  if (primaries.contains(id_)) return false;
  if (opt.forwarded) {
    // Never forward twice: the sender and we disagree on the ring.
    fail(respond, Status::Unavailable("node " + self_.id + " is not a replica of the key; "
                                      "the nodes disagree about the ring"));
    return true;
  }
  // Hand the request, as the client sent it, to the first replica that is up
  // (the first one if none is): it decodes the context and mints the tag.
  ring::NodeId to = primaries[0];
  for (ring::NodeId p : primaries) {
    if (is_up(p)) {
      to = p;
      break;
    }
  }
  opt.forwarded = true;
  uint32_t timeout = timeout_ms(opt);
  forward_write(respond, to, std::move(request), timeout);
  return true;
}

void Node::forward_write(Respond respond, ring::NodeId to, wire::Body request, uint32_t timeout_ms) {
  ++forwarded_;
  write_started();
  call(to, std::move(request), (uint64_t{timeout_ms} + 500) * 1000, [this, respond, to](Result<wire::Message> r) {
    if (r.ok()) {
      respond(std::move(r->body));
    } else if (r.status().code() == Code::kUnavailable) {
      // The connection went while the write may have been on its way: its
      // outcome is unknown. (kUnavailable from a node means "not run": a
      // client may send that request elsewhere, and must not send this one.)
      fail(respond, Status::IoError("lost the connection to replica " + name_of(to) +
                                    " while handing it the write; it may or may not have been applied (" +
                                    r.status().message() + ")"));
    } else {
      fail(respond, Status(r.status().code(), "could not hand the write to replica " + name_of(to) + ": " +
                                                  r.status().message()));
    }
    write_finished();
  });
}

// ---- reads --------------------------------------------------------------------

void Node::coordinate_get(Respond respond, const meta::Keyspace& ks, std::string key,
                          const wire::RequestOptions& opt) {
  auto op = std::make_shared<ReadOp>();
  op->respond = std::move(respond);
  op->keyspace = ks;
  op->key = std::move(key);
  op->timeout_ms = timeout_ms(opt);
  op->blocking_repair = opt.blocking_repair;
  int r = opt.r ? opt.r : std::min(ks.r, replicas_for(ks));
  std::vector<quorum::ReplicaOutcome> outcomes;
  ring::PreferenceList primaries = replicas_of(ks, op->key);
  for (ring::NodeId p : primaries) {
    outcomes.push_back({p, 0, is_up(p) ? quorum::ReplicaState::kWaiting : quorum::ReplicaState::kDown, {}});
  }
  op->tally = std::make_unique<quorum::ReadTally>(r, std::move(outcomes));
  for (const auto& rep : op->tally->replicas()) {
    if (rep.state != quorum::ReplicaState::kWaiting) continue;
    ++op->outstanding;
    ring::NodeId node = rep.node;
    if (node == id_) {
      store_.get(ks.name, op->key, [this, op](Result<std::optional<quorum::DvvSet>> res) {
        if (op->finished) return;
        if (res.ok()) {
          op->tally->reply(id_, std::move(*res));
        } else {
          op->tally->fail(id_, res.status().message());
        }
        --op->outstanding;
        answer_read(op);
      });
      continue;
    }
    call(node, wire::ReplicaRead{ks.name, op->key, map_.epoch}, uint64_t{op->timeout_ms} * 1000,
         [this, op, node](Result<wire::Message> reply) {
           if (op->finished) return;
           --op->outstanding;
           ReplicaAnswer a = classify<wire::ReplicaReadReply>(reply);
           if (a.kind == ReplicaAnswer::kOk) saw_epoch(std::get<wire::ReplicaReadReply>(reply->body).epoch, node);
           if (a.kind == ReplicaAnswer::kTimeout) return;
           if (a.kind == ReplicaAnswer::kOk) {
             auto& rr = std::get<wire::ReplicaReadReply>(reply->body);
             op->tally->reply(node, rr.found ? std::optional<quorum::DvvSet>(std::move(rr.record)) : std::nullopt);
           } else {
             op->tally->fail(node, a.error);
           }
           answer_read(op);
         });
  }
  op->timer = env_.set_timer(uint64_t{op->timeout_ms} * 1000, [this, op] {
    op->timer = 0;
    op->tally->timeout();
    op->outstanding = 0;
    answer_read(op);
  });
  answer_read(op);
}

// What the client gets: the merged siblings (the winner alone in lww mode) and the context.
wire::GetReply Node::get_reply(const ReadOp& op) const {
  const quorum::DvvSet& m = op.tally->merged();
  wire::GetReply out;
  out.values = op.keyspace.mode == meta::ConflictMode::kLww ? quorum::values(quorum::lww_resolve(m))
                                                            : quorum::values(m);
  if (!m.clock.entries.empty()) out.context = net::encode_context(quorum::join(m));
  out.epoch = map_.epoch;
  return out;
}

void Node::answer_read(const std::shared_ptr<ReadOp>& op) {
  if (op->finished) return;
  auto verdict = op->tally->verdict();
  if (!op->replied && !op->repairing && verdict == quorum::Verdict::kFailed) {
    op->replied = true;
    ++quorum_failures_;
    fail(op->respond, op->tally->status(op->timeout_ms, [this](ring::NodeId n) { return name_of(n); }));
  }
  if (!op->replied && !op->repairing && verdict == quorum::Verdict::kSucceeded) {
    auto stale = op->tally->stale_replicas();
    if (op->blocking_repair && !stale.empty()) {
      // Monotonic reads: the replicas that answered hold the merged state
      // before the client sees it, so a later quorum read cannot miss it.
      op->repairing = true;
      auto left = std::make_shared<int>(static_cast<int>(stale.size()));
      for (ring::NodeId node : stale) {
        ++read_repairs_;
        auto done = [this, op, left](Status) {
          if (--*left == 0) {
            op->repairing = false;
            op->replied = true;
            op->respond(get_reply(*op));
            finish_read(op);
          }
        };
        if (node == id_) {
          apply_locally(op->keyspace.name, op->key, op->tally->merged(), done);
        } else {
          call(node, wire::ReplicaWrite{op->keyspace.name, op->key, op->tally->merged(), 0, map_.epoch},
               uint64_t{op->timeout_ms} * 1000,
               [done](Result<wire::Message> r) { done(r.ok() ? Status::Ok() : r.status()); });
        }
      }
      return;
    }
    op->replied = true;
    op->respond(get_reply(*op));
  }
  finish_read(op);
}

// Once every replica answered (or the time is up): background read repair of
// the replicas that were behind.
void Node::finish_read(const std::shared_ptr<ReadOp>& op) {
  if (op->finished || op->outstanding > 0 || op->repairing || !op->replied) return;
  op->finished = true;
  if (op->timer) env_.cancel_timer(op->timer);
  if (op->blocking_repair) return;  // already repaired before answering
  const quorum::DvvSet& merged = op->tally->merged();
  if (merged.clock.entries.empty()) return;
  for (ring::NodeId node : op->tally->stale_replicas()) {
    ++read_repairs_;
    if (node == id_) {
      apply_locally(op->keyspace.name, op->key, merged, [](Status) {});
    } else {
      call(node, wire::ReplicaWrite{op->keyspace.name, op->key, merged, 0, map_.epoch},
           uint64_t{op->timeout_ms} * 1000,
           [](Result<wire::Message>) {});
    }
  }
}

}  // namespace tally
