// The replica side of the data path: storing what coordinators send (a DVV
// sync, so replicas converge whatever order writes and repairs arrive in),
// answering replica reads, keeping hints for nodes that missed a write and
// handing them over when those nodes come back (hinted handoff).
//
// Owns: the hint store, the hint replay timer and the dot floor (below). Shares with the
// coordinator: the record store (the node owns it). Reads the ClusterView
// (which keyspaces exist, in which mode; the epoch its answers carry). It
// never coordinates a request and never changes the map.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

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
};

class ReplicaService {
 public:
  ReplicaService(Env& env, Logger log, const ClusterView& view, store::RecordStore& store, PeerCalls& peers,
                 NodeStats& stats, WriteDrain& drain, ReplicaOptions options);

  // Counts the hints on disk and starts replaying them; stop() ends that.
  void start();
  void stop();

  // A coordinator's write or repair: merged into our copy (or kept as a hint
  // when it names another node as the primary we stand in for), answered
  // once durable.
  void handle_write(wire::ReplicaWrite& req, Respond respond);
  // A coordinator's read: our copy of the key, or found = false.
  void handle_read(wire::ReplicaRead& req, Respond respond);

  // Merges `record` into the local copy of (keyspace, key); `done` after it is durable.
  void apply_locally(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                     std::function<void(Status)> done);
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
  quorum::DvvSet fresh_record() const;
  uint64_t dot_floor() const { return dot_floor_; }
  // Raises the floor to `counter` at once for new writes and durably, in the
  // store's order: before any write queued after this call (the tombstone's
  // erase) can be durable.
  void raise_dot_floor(uint64_t counter, std::function<void(Status)> done);

 private:
  // Ok, or kStaleEpoch when a request routed by map `epoch` must be refused.
  Status fence(uint64_t epoch);
  void replay_hints();
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
};

}  // namespace tally
