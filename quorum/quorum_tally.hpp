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
// While a range moves (a replica on one side only: ReplicaSide), success
// needs `need` successes among the old list's replicas and `need` among the
// new list's.
#pragma once

#include <algorithm>
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

// Which preference list a replica is in while a range moves (a join or a
// leave): the list before the movement, the list after it, or both (the
// usual case, and the only one when nothing moves).
enum class ReplicaSide : uint8_t { kOld = 1, kNew = 2, kBoth = 3 };

struct ReplicaOutcome {
  ReplicaId node = 0;
  ReplicaId stands_in_for = 0;  // a fallback holding a hint for this primary (sloppy writes)
  ReplicaState state = ReplicaState::kWaiting;
  std::string detail;           // the error, for kFailed
  ReplicaSide side = ReplicaSide::kBoth;
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
  // Acknowledgements so far: with replicas of one side only (a range on the
  // move), the fewer of the two sides' counts.
  int ok_count() const { return std::min(ok_old_, ok_new_); }
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
  // Successes among the replicas of the old list and of the new one; a
  // request succeeds when both reach `need` (so while a range moves, a write
  // is held by W replicas of each list, and a quorum read on either side of
  // the hand-over sees it). Without a movement the two counts are equal.
  int ok_old_ = 0;
  int ok_new_ = 0;
  bool two_sides_ = false;  // some replica is on one side only
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
  // `lww`: the keyspace keeps the last writer (replies merge with lww_sync).
  ReadTally(int r, std::vector<ReplicaOutcome> replicas, bool lww = false)
      : Tally(r, "replied", std::move(replicas)), lww_(lww) {}

  // A replica's state for the key (nullopt: it has none).
  void reply(ReplicaId node, std::optional<DvvSet> state);
  void fail(ReplicaId node, std::string why) { record(node, ReplicaState::kFailed, std::move(why)); }

  // The merge of every reply so far: DVV sync, or lww_sync (the merge the
  // replicas themselves make; a DVV sync of lww states can drop the winner
  // when a fence overtakes the write that had beaten it).
  const DvvSet& merged() const { return merged_; }
  // Replicas that replied with a state the merge supersedes or extends: they
  // need the merged state written back (read repair).
  std::vector<ReplicaId> stale_replicas() const;

 private:
  bool lww_;
  DvvSet merged_;
  std::vector<std::pair<ReplicaId, DvvSet>> replies_;
};

}  // namespace tally::quorum
