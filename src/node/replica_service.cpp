#include "node/replica_service.hpp"

#include <algorithm>

namespace tally {

ReplicaService::ReplicaService(Env& env, Logger log, const ClusterView& view, store::RecordStore& store,
                               PeerCalls& peers, NodeStats& stats, WriteDrain& drain, ReplicaOptions options)
    : env_(env),
      log_(std::move(log)),
      view_(view),
      store_(store),
      peers_(peers),
      stats_(stats),
      drain_(drain),
      options_(options),
      hints_(store_, options.max_hints,
             [this](const std::string& keyspace, const quorum::DvvSet& a, const quorum::DvvSet& b) {
               return merge(keyspace, a, b);
             }) {}

namespace {
// Where the dot floor lives on disk: a record whose clock's one entry holds it
// (the record codec is the store's only format).
const std::string kDotFloorKey = "fd";
// Where the mint epochs live (codec::encode_mint_epochs).
const std::string kMintEpochsKey = "fe";
// Whether the node stopped cleanly: "clean" once a stop has seen every write
// through, "running" from start on (see started_minting).
const std::string kStopKey = "fs";
const std::string kClean = "clean";
const std::string kRunning = "running";
}  // namespace

quorum::DvvSet ReplicaService::fresh_record(quorum::ActorId actor) const {
  quorum::DvvSet s;
  if (dot_floor_ > 0 && view_.self != ring::kNoNode) s.clock.entries.emplace_back(actor, dot_floor_);
  return s;
}

void ReplicaService::raise_dot_floor(uint64_t counter, std::function<void(Status)> done) {
  if (counter <= dot_floor_) return env_.defer([done = std::move(done)] { done(Status::Ok()); });
  dot_floor_ = counter;
  store_.update_at(
      kDotFloorKey,
      [counter](const quorum::DvvSet* cur) -> Result<quorum::DvvSet> {
        quorum::DvvSet s;
        s.clock.entries.emplace_back(1, std::max(counter, cur ? cur->clock.get(1) : 0));
        return s;
      },
      [done = std::move(done)](Result<store::RecordStore::Record> r) { done(r.status()); });
}

quorum::ActorId ReplicaService::actor_for(std::string_view keyspace, uint64_t position) const {
  auto it = epochs_.keyspaces.find(keyspace);
  return quorum::actor_id(view_.self, it == epochs_.keyspaces.end() ? epochs_.base : it->second.at(position));
}

Status ReplicaService::new_mint_epoch(const Ranges& given_away, std::function<void(Status)> durable) {
  if (!ready()) return Status::Unavailable("the mint epochs are not read yet");
  if (epochs_.last == UINT32_MAX) return Status::Internal("every mint epoch is used up");
  const uint32_t epoch = ++epochs_.last;
  for (const auto& [keyspace, ranges] : given_away) {
    ring::PositionMap& map = epochs_.keyspaces.try_emplace(keyspace, ring::PositionMap(epochs_.base)).first->second;
    for (const auto& r : ranges) map.assign(r, epoch);
  }
  TALLY_LOG(log_, kInfo) << "mint epoch " << epoch << " for the ranges this node gave away";
  ++epochs_in_flight_;
  store_.put_raw(kMintEpochsKey, codec::encode_mint_epochs(epochs_),
                 [this, durable = std::move(durable)](Status s) {
                   --epochs_in_flight_;
                   durable(s);
                 });
  return Status::Ok();
}

void ReplicaService::start() {
  load_state();
  hints_.load([this](Status st) {
    if (!st.ok()) {
      TALLY_LOG(log_, kError) << "cannot count hints: " << st.to_string();
    }
  });
  replay_timer_ = env_.set_timer(options_.hint_replay_interval_us, [this] { replay_hints(); });
}

// After a disk error the store reopened its database. A write of the dot
// floor or the mint epochs that failed may be there or not, so both are read
// back before this node coordinates a write again (ready() is false until
// then). The floor keeps the higher of memory and disk: a higher floor only
// makes new counters higher. The epochs are the disk's: an epoch taken in
// memory whose write failed was never minted under where anyone can see it,
// because a coordinator sends a write minted under an epoch not yet durable
// on only once its own copy is durable (epochs_durable), and that copy sits
// in the same batch as the epoch or a later one, which failed with it
// (RecordStore writes batches in order and fails every one after a failed
// one until the reopen). The reopen then takes a new epoch (started_minting).
void ReplicaService::disk_reopened() {
  load_state();
  hints_.load([this](Status st) {
    if (!st.ok()) {
      TALLY_LOG(log_, kError) << "cannot count hints: " << st.to_string();
    }
  });
}

void ReplicaService::load_state() {
  const uint64_t generation = ++load_generation_;
  loaded_ = 0;
  load_error_ = Status::Ok();
  epochs_ = codec::MintEpochs{};
  store_.get_at(kDotFloorKey, [this, generation](Result<std::optional<quorum::DvvSet>> r) {
    if (generation != load_generation_) return;
    if (!r.ok()) {
      TALLY_LOG(log_, kError) << "cannot read the dot floor, coordinating no writes: " << r.status().to_string();
      load_error_ = Status(r.status().code(), "cannot read the dot floor: " + r.status().message());
      load_later();
    } else if (r->has_value()) {
      dot_floor_ = std::max(dot_floor_, (*r)->clock.get(1));
    }
    ++loaded_;
  });
  store_.get_raw(kMintEpochsKey, [this, generation](Result<std::optional<std::string>> r) {
    if (generation != load_generation_) return;
    if (!r.ok()) return loaded_epochs(r.status());
    if (r->has_value()) {
      Result<codec::MintEpochs> epochs = codec::decode_mint_epochs(**r);
      if (!epochs.ok()) return loaded_epochs(epochs.status());
      epochs_ = std::move(*epochs);
      return started_minting(generation, false);
    }
    // None on record. A node with records wrote them as epoch 0 (before mint
    // epochs existed) and keeps it; an empty store takes a random base, so
    // that a node whose disk was wiped mints under an actor its former self
    // never used (quorum/version.hpp). Below 2^31: room for the epochs after.
    store_.scan(store::RecordStore::data_begin(), store::RecordStore::data_end(), 1,
                [this, generation](auto records) {
                  if (generation != load_generation_) return;
                  if (!records.ok()) return loaded_epochs(records.status());
                  if (records->empty()) {
                    epochs_.base = static_cast<uint32_t>(1 + env_.random() % 0x7fffffffu);
                    epochs_.last = epochs_.base;
                    store_.put_raw(kMintEpochsKey, codec::encode_mint_epochs(epochs_), [this](Status s) {
                      if (!s.ok()) {
                        TALLY_LOG(log_, kError) << "cannot store the mint epochs: " << s.to_string();
                      }
                    });
                  }
                  // An empty store: nothing minted before, nothing to step over.
                  started_minting(generation, records->empty());
                });
  });
}

// A coordinator under durability fsync sends its write to the other replicas
// while its own copy is still on its way to the disk (PutFsm). A crash (or a
// failed disk batch) can then lose a dot of ours that other replicas hold,
// and our clock for the key steps back under it: minting on under the same
// actor would name a new write with that dot. So unless the last run ended
// with a clean stop (every write durable, nothing minted after), this start
// takes a new mint epoch for every position, the highest yet, before this
// node coordinates: the dots it mints from now on are an actor no replica
// has seen. The stop marker becomes "running" in the same step, durably, so
// a crash from here on is seen at the next start.
void ReplicaService::started_minting(uint64_t generation, bool nothing_minted) {
  store_.get_raw(kStopKey, [this, generation, nothing_minted](Result<std::optional<std::string>> r) {
    if (generation != load_generation_) return;
    if (!r.ok()) return loaded_epochs(r.status());
    const bool clean = nothing_minted || (r->has_value() && **r == kClean);
    if (!clean) {
      if (epochs_.last == UINT32_MAX) return loaded_epochs(Status::Internal("every mint epoch is used up"));
      epochs_.base = ++epochs_.last;
      epochs_.keyspaces.clear();
      TALLY_LOG(log_, kInfo) << "mint epoch " << epochs_.base
                             << " for every range: the last run did not end with a clean stop";
      store_.put_raw(kMintEpochsKey, codec::encode_mint_epochs(epochs_), [](Status) {});
    }
    // Durable in the store's order: after the epochs, before any write of ours.
    store_.put_raw(kStopKey, kRunning, [this, generation](Status s) {
      if (generation != load_generation_) return;
      loaded_epochs(s);
    });
  });
}

void ReplicaService::mark_clean_stop(std::function<void(Status)> done) {
  store_.put_raw(kStopKey, kClean, std::move(done));
}

void ReplicaService::loaded_epochs(const Status& s) {
  if (!s.ok()) {
    TALLY_LOG(log_, kError) << "cannot read the mint epochs, coordinating no writes: " << s.to_string();
    load_error_ = Status(s.code(), "cannot read the mint epochs: " + s.message());
    load_later();
  }
  ++loaded_;
}

// A read that failed (too many open files, say) may work a moment later.
void ReplicaService::load_later() {
  if (stopped_ || load_timer_) return;
  load_timer_ = env_.set_timer(1'000'000, [this] {
    load_timer_ = 0;
    load_state();
  });
}

void ReplicaService::stop() {
  stopped_ = true;
  if (replay_timer_) env_.cancel_timer(replay_timer_);
  replay_timer_ = 0;
  if (load_timer_) env_.cancel_timer(load_timer_);
  load_timer_ = 0;
}

quorum::DvvSet ReplicaService::merge(const std::string& keyspace, const quorum::DvvSet& a,
                                     const quorum::DvvSet& b) const {
  const meta::Keyspace* ks = view_.map.keyspace(keyspace);
  if (ks && ks->mode == meta::ConflictMode::kLww) return quorum::lww_sync(a, b);
  return quorum::sync(a, b);
}

void ReplicaService::apply_locally(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                                   std::function<void(Status)> done, const std::string& fence_lock,
                                   uint64_t fence_token) {
  store_.update(
      keyspace, key,
      // Runs once: the record moves in as the first version of a new key.
      [this, keyspace, key, record = std::move(record), fence_lock,
       fence_token](const quorum::DvvSet* cur) mutable -> Result<quorum::DvvSet> {
        if (!cur) return std::move(record);
        if (!fence_lock.empty()) {
          const uint64_t fence = quorum::fence_of(cur->fence_locks, cur->fence_tokens, fence_lock);
          if (fence_token < fence) {
            stats_.add(Counter::kFencedWrites);
            return quorum::fenced_off(key, fence_lock, fence_token, fence, "this replica took nothing");
          }
        }
        return merge(keyspace, *cur, record);
      },
      [done = std::move(done)](Result<store::RecordStore::Record> r) { done(r.status()); });
}

void ReplicaService::keep_hint(ring::NodeId target, const std::string& keyspace, const std::string& key,
                               const quorum::DvvSet& record, std::function<void(Status)> done) {
  hints_.add(target, keyspace, key, record, std::move(done));
}

// Fencing: a coordinator whose map is older than the last change of who owns
// what may be asking the wrong replicas (before a movement: not writing to the
// ranges' new owners; after one: reading from a node that no longer gets the
// writes). It refreshes its map and asks again (docs/architecture.md, Range
// movement).
Status ReplicaService::fence(uint64_t epoch) {
  if (epoch >= view_.map.ring_epoch) return Status::Ok();
  stats_.add(Counter::kFenced);
  return Status::StaleEpoch("routed by cluster map epoch " + std::to_string(epoch) +
                            ", older than the ring's last change at epoch " + std::to_string(view_.map.ring_epoch) +
                            "; refresh and retry");
}

void ReplicaService::handle_write(wire::ReplicaWrite& req, Respond respond) {
  if (!view_.map.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  if (Status fenced = fence(req.epoch); !fenced.ok()) return fail(respond, fenced);
  auto done = [this, respond](Status s) {
    if (s.ok()) {
      respond(wire::ReplicaWriteReply{view_.epoch()});
    } else {
      fail(respond, s);
    }
    drain_.finished();
  };
  drain_.started();
  const meta::Keyspace* ks = view_.map.keyspace(req.keyspace);
  if ((req.hint_for == 0 || req.hint_for == view_.self) && req.epoch <= view_.epoch() && !view_.behind() &&
      !view_.replica_of(view_.self, *ks, req.key)) {
    // A copy here would be a stray no read reaches (the ring moved on: a
    // late hint, say); the key's replicas have it or will from the stream.
    drain_.finished();
    return fail(respond, Status::InvalidArgument("node " + peers_.name_of(view_.self) +
                                                 " is not a replica of the key in the ring of epoch " +
                                                 std::to_string(view_.epoch())));
  }
  if (req.hint_for != 0 && req.hint_for != view_.self) {
    // We stand in for a down primary: keep the write for it.
    hints_.add(req.hint_for, req.keyspace, req.key, req.record, done);
  } else {
    apply_locally(req.keyspace, req.key, std::move(req.record), done, req.fence_lock, req.fence_token);
  }
}

void ReplicaService::handle_read(wire::ReplicaRead& req, Respond respond) {
  if (!view_.map.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  if (Status fenced = fence(req.epoch); !fenced.ok()) return fail(respond, fenced);
  store_.get(req.keyspace, req.key, [this, respond](Result<std::optional<quorum::DvvSet>> r) {
    if (!r.ok()) return fail(respond, r.status());
    wire::ReplicaReadReply out;
    out.epoch = view_.epoch();
    if (r->has_value()) {
      out.found = true;
      out.record = std::move(**r);
    }
    respond(std::move(out));
  });
}

// Hands hints to their nodes, one round at a time: up to hints_per_replay
// hints in key order (hints are keyed by their node first), each sent to its
// node when the failure detector holds that node up, and dropped once the node
// acknowledged it and it did not grow in the meantime. A node that comes back
// after a partition gets its hints round after round with no pause between
// them: a round's writes are pipelined on the pair's connection, so the
// node's own speed sets the pace, and one round (hints_per_replay writes) is
// the most that is ever in flight. A node that is still down has its hints
// skipped whole, so it never holds up the others.
void ReplicaService::replay_hints() {
  replay_timer_ = 0;
  if (stopped_ || replaying_) return;
  if (hints_.count() == 0) return next_replay(false);
  replaying_ = true;
  hints_.list(replay_cursor_, options_.hints_per_replay, [this](auto r) {
    if (!r.ok() || r->empty()) {
      replay_cursor_.clear();
      replaying_ = false;
      return next_replay(false);
    }
    const bool more = r->size() == options_.hints_per_replay;
    replay_cursor_ = more ? r->back().first : std::string();
    // The round ends at the last hint that is for a node that is down: skip
    // the rest of that node's hints (the next round starts after them).
    const ring::NodeId last = r->back().second.target;
    const bool skip = more && !peers_.is_up(last);
    if (skip) replay_cursor_ = store::HintStore::after_target(last);
    struct Round {
      int left = 1;
      bool moved_on = false;  // delivered a hint, or skipped a node that is down
      uint64_t wait_us = 0;   // before the next round, by the rate limit
    };
    auto round = std::make_shared<Round>();
    round->moved_on = skip;
    auto one_done = [this, round] {
      if (--round->left > 0) return;
      replaying_ = false;
      next_replay(round->moved_on, round->wait_us);
    };
    uint64_t bytes = 0, expired = 0;
    const uint64_t now_ms = env_.wall_ms();
    for (auto& [dkey, hint] : *r) {
      uint64_t newest_ms = 0;
      for (const auto& sib : hint.record.siblings) newest_ms = std::max(newest_ms, sib.timestamp.wall_ms);
      if (options_.hint_max_age_ms > 0 && now_ms > newest_ms + options_.hint_max_age_ms) {
        // Too old to hand over safely (ReplicaOptions); anti-entropy repairs
        // the replica instead.
        ++expired;
        ++round->left;
        round->moved_on = true;
        stats_.add(Counter::kHintsExpired);
        hints_.remove_if_unchanged(dkey, hint.record, [one_done](Status) { one_done(); });
        continue;
      }
      const meta::Keyspace* ks = view_.map.keyspace(hint.keyspace);
      if (ks && !view_.behind() && !view_.replica_of(hint.target, *ks, hint.key)) {
        // The ring moved on: the key's replicas are others now, and they
        // hold it (W of them acknowledged it, or the stream brought it).
        ++round->left;
        round->moved_on = true;
        hints_.remove_if_unchanged(dkey, hint.record, [one_done](Status) { one_done(); });
        continue;
      }
      if (!peers_.is_up(hint.target) || hint.target == view_.self) continue;
      ++round->left;
      bytes += codec::record_size_estimate(hint.key, hint.record);
      auto record = std::make_shared<quorum::DvvSet>(std::move(hint.record));
      peers_.call(hint.target, wire::ReplicaWrite{hint.keyspace, hint.key, *record, 0, view_.epoch()}, 2'000'000,
                  [this, dkey = dkey, record, round, one_done](Result<wire::Message> reply) {
                    if (reply.ok() && std::holds_alternative<wire::ReplicaWriteReply>(reply->body)) {
                      stats_.add(Counter::kHintsDelivered);
                      round->moved_on = true;
                      hints_.remove_if_unchanged(dkey, *record, [one_done](Status) { one_done(); });
                    } else {
                      one_done();
                    }
                  });
    }
    if (expired > 0) {
      TALLY_LOG(log_, kWarn) << "dropped " << expired << " hints older than "
                             << options_.hint_max_age_ms / 1000 << " s (the tombstone grace) unsent";
    }
    // The next round waits as long as the node-wide rate limit asks.
    round->wait_us = options_.limiter ? options_.limiter->take(bytes, env_.now_us()) : 0;
    one_done();
  });
}

void ReplicaService::next_replay(bool moved_on, uint64_t wait_us) {
  if (stopped_ || replay_timer_) return;
  if (moved_on && !replay_cursor_.empty()) {
    if (wait_us > 0) {
      replay_timer_ = env_.set_timer(wait_us, [this] { replay_hints(); });
      return;
    }
    env_.defer([this] {
      if (!replay_timer_) replay_hints();
    });
    return;
  }
  replay_timer_ = env_.set_timer(options_.hint_replay_interval_us, [this] { replay_hints(); });
}

}  // namespace tally
