// The replica side of the data path: storing what coordinators send (a DVV
// sync, so replicas converge whatever order writes and repairs arrive in),
// answering replica reads, keeping hints for nodes that missed a write and
// handing them over when those nodes come back (hinted handoff).
//
// Owns: the hint store, the hint replay timer, and what the node must remember
// of the dots it minted beyond its records: the dot floor and the mint epochs
// (below). Shares with the
// coordinator: the record store (the node owns it). Reads the ClusterView
// (which keyspaces exist, in which mode; the epoch its answers carry). It
// never coordinates a request and never changes the map.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/record_codec.hpp"
#include "common/log.hpp"
#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "node/peer_link.hpp"
#include "node/rate_limiter.hpp"
#include "node/respond.hpp"
#include "node/write_drain.hpp"
#include "quorum/dvv.hpp"
#include "store/hint_store.hpp"
#include "store/record_store.hpp"

namespace tally {

struct ReplicaOptions {
  uint32_t max_hints = 100'000;                // keys with a hint, past which new hints are refused
  // How long replay waits before it looks again after a round that handed
  // nothing over (no hints, or only hints for nodes that are down).
  uint64_t hint_replay_interval_us = 200'000;
  // Hints offered per round, all at once; while rounds deliver, the next one
  // starts as soon as the last answer of the one before is in.
  size_t hints_per_replay = 256;
  // The node-wide budget of background bytes that replay shares with range
  // streams (none: no limit). Outlives the service.
  RateLimiter* limiter = nullptr;
  // A hint whose newest write is older than this (by its coordinator's wall
  // clock) is dropped, not handed over: by then the tombstone of a delete that
  // superseded it may have been collected, and handing it over would bring the
  // deleted value back. The node sets it to the tombstone grace; 0: no limit.
  uint64_t hint_max_age_ms = 0;
};

class ReplicaService {
 public:
  ReplicaService(Env& env, Logger log, const ClusterView& view, store::RecordStore& store, PeerCalls& peers,
                 NodeStats& stats, WriteDrain& drain, ReplicaOptions options);

  // Counts the hints on disk and starts replaying them; stop() ends that.
  void start();
  void stop();
  // The store reopened its database after a disk error: reads the dot floor,
  // the mint epochs and the hint count back (coordinating no write until then).
  void disk_reopened();

  // A coordinator's write or repair: merged into our copy (or kept as a hint
  // when it names another node as the primary we stand in for), answered
  // once durable.
  void handle_write(wire::ReplicaWrite& req, Respond respond);
  // A coordinator's read: our copy of the key, or found = false.
  void handle_read(wire::ReplicaRead& req, Respond respond);

  // Merges `record` into the local copy of (keyspace, key); `done` after it
  // is durable. With `fence_lock` (a fenced client write), refused with
  // kFenced instead when the key's fence for it is above `fence_token`.
  void apply_locally(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                     std::function<void(Status)> done, const std::string& fence_lock = {},
                     uint64_t fence_token = 0);
  // Keeps `record` for `target`, to be handed over when it is up.
  void keep_hint(ring::NodeId target, const std::string& keyspace, const std::string& key,
                 const quorum::DvvSet& record, std::function<void(Status)> done);
  // DVV sync, or last-writer-wins for lww keyspaces.
  quorum::DvvSet merge(const std::string& keyspace, const quorum::DvvSet& a, const quorum::DvvSet& b) const;

  const store::HintStore& hints() const { return hints_; }

  // The dot floor: every counter this node minted for a key whose tombstone
  // was since collected is at most this. A coordinator that holds no record
  // of a key mints its first dot on fresh_record(), above the floor: a dot at
  // or below it might still be covered by the clock of another replica's copy
  // of the old tombstone, and that replica's merge would drop the new write as
  // superseded (quorum/dvv.hpp: a dot names one write).
  // `actor` is the one the write will be minted as (actor_for).
  quorum::DvvSet fresh_record(quorum::ActorId actor) const;
  uint64_t dot_floor() const { return dot_floor_; }
  // Raises the floor to `counter` at once for new writes and durably, in the
  // store's order: before any write queued after this call (the tombstone's
  // erase) can be durable.
  void raise_dot_floor(uint64_t counter, std::function<void(Status)> done);

  // The mint epochs (quorum/version.hpp, ActorId): the actor this node mints
  // a write of the key at `position` as, its id with its epoch there. O(log n).
  quorum::ActorId actor_for(std::string_view keyspace, uint64_t position) const;
  // Before this node drops the records of ranges it gave away: every position
  // of `given_away` takes a new epoch, the highest yet, at once for new writes
  // and durably before any write queued after this call (the drops) can be.
  // A node that regains one of the ranges then mints under an actor no record
  // of the key has seen, whatever it minted there before.
  using Ranges = std::vector<std::pair<std::string, std::vector<ring::TokenRange>>>;  // per keyspace
  // Errors (nothing changed): kUnavailable before the epochs are read, kInternal
  // once 2^32 - 1 epochs are used up. `durable` runs once the epoch is on disk.
  Status new_mint_epoch(const Ranges& given_away, std::function<void(Status)> durable);
  const codec::MintEpochs& mint_epochs() const { return epochs_; }
  // No mint epoch taken in memory is still on its way to the disk. Only then
  // may a coordinator send a write on before its own copy is durable: an
  // epoch lost with a crash is taken again by number at the next start.
  bool epochs_durable() const { return epochs_in_flight_ == 0; }
  // Whether the dot floor and the mint epochs have been read from disk (and a
  // new epoch taken after a stop that was not clean): until then this node
  // coordinates no writes (it could mint a dot again).
  bool ready() const { return loaded_ == 2 && load_error_.ok(); }
  // Stopping, with every write through: the next start may go on with the
  // mint epochs it finds (otherwise it takes a new one). `done` once durable.
  void mark_clean_stop(std::function<void(Status)> done);
  const Status& load_error() const { return load_error_; }
  // Why this node coordinates no writes yet ("still reading its dot floor",
  // or the error that stops it); empty once ready().
  std::string why_not_ready() const {
    if (ready()) return {};
    return load_error_.ok() ? "still reading its dot floor" : load_error_.message();
  }

 private:
  // Ok, or kStaleEpoch when a request routed by map `epoch` must be refused.
  Status fence(uint64_t epoch);
  void replay_hints();
  // Reads the dot floor and the mint epochs from the store; after a failed
  // read, again a second later (load_later).
  void load_state();
  void load_later();
  // The mint epochs are read: takes a new one if the last run did not stop
  // cleanly (see replica_service.cpp), then counts them loaded.
  void started_minting(uint64_t generation, bool nothing_minted);
  // The mint epochs are read (or could not be: `s`).
  void loaded_epochs(const Status& s);
  // The next round: at once when the last one moved on (delivered a hint,
  // or skipped a node that is down) and more hints follow, else after
  // hint_replay_interval_us.
  void next_replay(bool moved_on, uint64_t wait_us = 0);

  Env& env_;
  Logger log_;
  const ClusterView& view_;
  store::RecordStore& store_;
  PeerCalls& peers_;
  NodeStats& stats_;
  WriteDrain& drain_;
  ReplicaOptions options_;
  store::HintStore hints_;
  TimerId replay_timer_ = 0;
  bool stopped_ = false;
  bool replaying_ = false;
  std::string replay_cursor_;  // the last hint offered: the next round starts after it
  uint64_t dot_floor_ = 0;
  codec::MintEpochs epochs_;
  int loaded_ = 0;  // of the two: the dot floor, the mint epochs
  int epochs_in_flight_ = 0;  // new_mint_epoch writes not yet durable
  uint64_t load_generation_ = 0;  // a load started before the last one is stale
  TimerId load_timer_ = 0;
  Status load_error_;
};

}  // namespace tally
