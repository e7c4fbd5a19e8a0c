// The replica side: storing what coordinators send (a DVV sync, so replicas
// converge whatever order writes and repairs arrive in), answering reads, and
// handing hints over to the nodes they were kept for.
#include "node/node.hpp"

namespace tally {

void Node::apply_locally(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                         std::function<void(Status)> done) {
  store_.update(
      keyspace, key,
      // Runs once: the record moves in as the first version of a new key.
      [this, keyspace, record = std::move(record)](const quorum::DvvSet* cur) mutable -> Result<quorum::DvvSet> {
        if (!cur) return std::move(record);
        return merge(keyspace, *cur, record);
      },
      [done = std::move(done)](Result<store::RecordStore::Record> r) { done(r.status()); });
}

void Node::handle_replica_write(Respond respond, wire::ReplicaWrite& req) {
  if (!map_.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  auto done = [this, respond](Status s) {
    if (s.ok()) {
      respond(wire::ReplicaWriteReply{map_.epoch});
    } else {
      fail(respond, s);
    }
    write_finished();
  };
  write_started();
  if (req.hint_for != 0 && req.hint_for != id_) {
    // We stand in for a down primary: keep the write for it.
    hints_.add(req.hint_for, req.keyspace, req.key, req.record, done);
  } else {
    apply_locally(req.keyspace, req.key, std::move(req.record), done);
  }
}

void Node::handle_replica_read(Respond respond, wire::ReplicaRead& req) {
  if (!map_.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  store_.get(req.keyspace, req.key, [this, respond](Result<std::optional<quorum::DvvSet>> r) {
    if (!r.ok()) return fail(respond, r.status());
    wire::ReplicaReadReply out;
    out.epoch = map_.epoch;
    if (r->has_value()) {
      out.found = true;
      out.record = std::move(**r);
    }
    respond(std::move(out));
  });
}

// Hands a batch of hints to their nodes (those the failure detector says are
// up); each is dropped once its node acknowledged it and it did not grow in
// the meantime. Runs on a timer, one batch at a time, walking the hints in
// key order so that a node that stays down does not block the others.
void Node::replay_hints() {
  replay_timer_ = env_.set_timer(timings_.hint_replay_interval_us, [this] { replay_hints(); });
  if (replaying_ || stopping_ || hints_.count() == 0) return;
  replaying_ = true;
  hints_.list(replay_cursor_, timings_.hints_per_replay, [this](auto r) {
    if (!r.ok() || r->empty()) {
      replay_cursor_.clear();
      replaying_ = false;
      return;
    }
    replay_cursor_ = r->back().first;
    auto left = std::make_shared<int>(1);
    auto one_done = [this, left] {
      if (--*left == 0) replaying_ = false;
    };
    for (auto& [dkey, hint] : *r) {
      if (!is_up(hint.target) || hint.target == id_) continue;
      ++*left;
      auto record = std::make_shared<quorum::DvvSet>(std::move(hint.record));
      ring::NodeId target = hint.target;
      call(target, wire::ReplicaWrite{hint.keyspace, hint.key, *record, 0, map_.epoch}, 2'000'000,
           [this, dkey = dkey, record, one_done](Result<wire::Message> reply) {
             if (reply.ok() && std::holds_alternative<wire::ReplicaWriteReply>(reply->body)) {
               ++hints_delivered_;
               hints_.remove_if_unchanged(dkey, *record, [one_done](Status) { one_done(); });
             } else {
               one_done();
             }
           });
    }
    one_done();
  });
}

}  // namespace tally
