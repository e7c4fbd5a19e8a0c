// One coordinated write (a put or a delete) on a replica of its key: mint the
// new version on our own copy, make it durable, send it to the other replicas
// that are up (or their sloppy stand-ins; under durability fsync as soon as
// it is minted, while our disk write runs), answer as soon as W acknowledged or
// the quorum can no longer be reached, and once every replica answered or the
// time ran out, keep a hint for each primary that did not acknowledge.
//
// Owns: the request's WriteTally and the minted record (the round's timer
// and bookkeeping are its ReplicaRound's). Lives as
// long as a callback holds it (shared_ptr); start() begins, nothing else is
// called from outside.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "node/replica_round.hpp"
#include "quorum/dvv.hpp"
#include "quorum/quorum_tally.hpp"

namespace tally {

struct WriteRequest {
  std::string keyspace;
  std::string key;
  quorum::ClientWrite write;
  quorum::VersionVector context;
  bool blind = false;      // supersede what our copy held when the request arrived (no context given)
  bool is_delete = false;
  bool lww = false;        // the keyspace's mode
  int n = 0;               // replicas of the key (the keyspace's N, capped by the ring)
  int w = 0;
  bool sloppy = false;
  uint32_t timeout_ms = 0;
  // Our monotonic clock's time after which the write is not applied: a
  // request that waited this long for its turn at the key is dropped, not
  // minted (docs/architecture.md, "Late writes").
  uint64_t deadline_us = 0;
  // An overwrite's horizon (quorum::join_before): siblings tagged after this
  // wall time come from a clock running ahead, and are superseded.
  uint64_t horizon_ms = 0;
};

class PutFsm : public ReplicaRound, public std::enable_shared_from_this<PutFsm> {
 public:
  PutFsm(CoordinatorContext& ctx, WriteRequest request, Respond respond);
  void start();

 private:
  friend class ReplicaRound;
  // The replicas to write (ReplicaOutcomes of both lists while a range moves)
  // by the view as it is now.
  std::vector<quorum::ReplicaOutcome> targets() const;
  // Our copy's new state, computed (sent on at once under fsync) and durable.
  void computed(const store::RecordStore::Record& rec);
  void minted(Result<store::RecordStore::Record> r);
  void send_replica_writes();
  // A replica refused the write as routed by a map older than a ring
  // movement: after the map is refreshed, write to the replicas it names.
  void retarget();
  // Replies as soon as the tally decides; completes when every replica has
  // answered or the time is up.
  void progress();

  WriteRequest req_;
  // The new state, minted here; null until our copy is durable, or under
  // fsync (`early_`) until it is computed.
  store::RecordStore::Record record_;
  bool early_ = false;
  std::unique_ptr<quorum::WriteTally> tally_;
  bool retargeted_ = false;
  // A fenced write: its lock and token, which every replica checks against
  // the key's fence; `fenced_` once one refused it (the answer is "fenced").
  std::string fence_lock_;
  uint64_t fence_token_ = 0;
  bool fenced_ = false;
};

}  // namespace tally
