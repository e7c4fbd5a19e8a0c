// Counting replies toward a quorum: the decision part of the coordinator's
// put, get and delete, kept pure so that every rule is unit-tested and the
// node only moves messages.
//
// A tally knows the replicas a request went to (and those it could not go to
// because they were down), records each one's outcome, and decides: success
// as soon as W acknowledgements (or R replies) are in, failure once every
// replica asked has answered without that, or at the timeout. The failure message names how
// many answered out of how many and what happened to each replica that did
// not, e.g.
//   quorum not reached: 1 of W=2 acked within 500 ms (n2: timeout, n3: down)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::quorum {

enum class ReplicaState : uint8_t {
  kWaiting,  // asked, no answer yet
  kOk,       // acknowledged (write) or replied (read)
  kFailed,   // answered with an error, or the connection broke
  kTimeout,  // asked, no answer before the request's timeout
  kDown,     // not asked: the failure detector marks it down
};

struct ReplicaOutcome {
  ReplicaId node = 0;
  ReplicaId stands_in_for = 0;  // a fallback holding a hint for this primary (sloppy writes)
  ReplicaState state = ReplicaState::kWaiting;
  std::string detail;           // the error, for kFailed
};

enum class Verdict : uint8_t { kPending, kSucceeded, kFailed };

using NodeNamer = std::function<std::string(ReplicaId)>;

// Shared bookkeeping of WriteTally and ReadTally.
class Tally {
 public:
  // `replicas`: the ones the request went to (kWaiting) and those it could not
  // go to (kDown). Every one that ends kOk counts towards `need`, a fallback
  // included: the coordinator lists fallbacks only for sloppy writes.
  Tally(int need, const char* what, std::vector<ReplicaOutcome> replicas);

  Verdict verdict() const { return verdict_; }
  int ok_count() const { return ok_; }
  int need() const { return need_; }
  const std::vector<ReplicaOutcome>& replicas() const { return replicas_; }

  // Marks every replica still waiting as timed out, and fails the request if it
  // has not succeeded yet.
  void timeout();

  // The failure message (see above); names come from `name`.
  std::string describe(uint32_t timeout_ms, const NodeNamer& name) const;
  // Status::Ok() when succeeded, QuorumNotReached with describe() otherwise.
  Status status(uint32_t timeout_ms, const NodeNamer& name) const;

 protected:
  // Records an answer; false if `node` was not waiting (duplicate or unknown).
  bool record(ReplicaId node, ReplicaState state, std::string detail);
  void decide();

  int need_;
  const char* what_;  // "acked" or "replied"
  std::vector<ReplicaOutcome> replicas_;
  int ok_ = 0;
  int waiting_ = 0;
  Verdict verdict_ = Verdict::kPending;
};

class WriteTally : public Tally {
 public:
  // `replicas`: the targets (kWaiting) and the down primaries (kDown).
  WriteTally(int w, std::vector<ReplicaOutcome> replicas) : Tally(w, "acked", std::move(replicas)) {}
  void ack(ReplicaId node) { record(node, ReplicaState::kOk, {}); }
  void fail(ReplicaId node, std::string why) { record(node, ReplicaState::kFailed, std::move(why)); }
  // The primaries that did not acknowledge (down, failed, timed out, or not yet
  // answered): the ones a hint must be kept for.
  std::vector<ReplicaId> unacked_primaries() const;
};

class ReadTally : public Tally {
 public:
  ReadTally(int r, std::vector<ReplicaOutcome> replicas) : Tally(r, "replied", std::move(replicas)) {}

  // A replica's state for the key (nullopt: it has none).
  void reply(ReplicaId node, std::optional<DvvSet> state);
  void fail(ReplicaId node, std::string why) { record(node, ReplicaState::kFailed, std::move(why)); }

  // The merge (DVV sync) of every reply so far.
  const DvvSet& merged() const { return merged_; }
  // Replicas that replied with a state the merge supersedes or extends: they
  // need the merged state written back (read repair).
  std::vector<ReplicaId> stale_replicas() const;

 private:
  DvvSet merged_;
  std::vector<std::pair<ReplicaId, DvvSet>> replies_;
};

}  // namespace tally::quorum
