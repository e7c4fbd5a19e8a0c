// Dropping what moved away: once a ring movement has completed and the ring
// has stood still for a grace period, the node that gave ranges away drops
// its copies of them (docs/architecture.md, Range movement).
//
// A node must never forget a dot it minted while another replica may hold
// it: if it later regained the range it could mint that dot again for
// another value, and replicas would take the new write for the old one. So
// before it drops a record that holds one of its own dots, the node takes a
// new mint epoch for every range it gave away (ReplicaService::new_mint_epoch),
// durably before the drop: what it mints there afterwards carries an actor no
// record has seen.
//
// Owns: the cleanup's progress (which ring it cleans, where its scan is).
// Uses: the ClusterView (who owns what), the record store (scans, erases in
// turn with each key's updates), the ReplicaService (mint epochs) and the
// node's counters. It never changes the map and never sends a message.
#pragma once

#include <cstdint>
#include <string>

#include "common/log.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "node/replica_service.hpp"
#include "store/record_store.hpp"

namespace tally {

struct CleanupOptions {
  // How long the ring must stay unchanged before this node drops the copies
  // of ranges it no longer owns ([streaming] cleanup_grace_s).
  uint64_t grace_us = 60'000'000;
  uint32_t batch = 1024;                   // keys looked at per step of the scan
  uint64_t check_interval_us = 1'000'000;  // how often an idle node looks again
};

class RangeCleanup {
 public:
  RangeCleanup(Env& env, Logger log, const ClusterView& view, store::RecordStore& store, ReplicaService& replica,
               NodeStats& stats, CleanupOptions options);

  void start();
  void stop();

  // The ring epoch whose unowned copies were last dropped (0: none yet).
  uint64_t cleaned_ring_epoch() const { return cleaned_; }

 private:
  void tick();
  // The next tick after check_interval_us, unless one is due or we stopped.
  void schedule();
  void maybe_clean();
  void step();
  // Whether this node is a replica of (keyspace, key) in the ring now or in
  // the ring after a movement in progress (unknown keyspaces count as ours:
  // not ours to judge).
  bool owns(const std::string& keyspace, const std::string& key) const;
  // Only while the ring stands still as this node knows it, and this node is
  // not behind: a node that has heard of a newer epoch may be receiving
  // writes for ranges its map does not give it yet.
  bool may_clean() const;
  // Takes the new mint epoch for every range of every keyspace this node
  // does not own in the ring being cleaned, once per round (epoch_taken_
  // stays false if it cannot).
  void take_epoch();

  Env& env_;
  Logger log_;
  const ClusterView& view_;
  store::RecordStore& store_;
  ReplicaService& replica_;
  NodeStats& stats_;
  CleanupOptions options_;

  // The ring epoch watched and since when, the one being cleaned (0: none),
  // where its scan is, whether it took its mint epoch, the one cleaned last.
  uint64_t watched_ = 0;
  uint64_t still_since_us_ = 0;
  uint64_t cleaning_ = 0;
  std::string cursor_;
  bool epoch_taken_ = false;
  uint64_t cleaned_ = 0;
  TimerId timer_ = 0;
  bool stopped_ = false;
};

}  // namespace tally
