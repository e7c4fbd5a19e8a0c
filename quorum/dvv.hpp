// The operations on a key's versions (quorum/version.hpp): the dotted version
// vector set of Almeida, Baquero, Gonçalves, Preguiça and Fonte (DAIS 2014),
// as Riak 2.0's dvvset implements it, flattened to one dot per sibling.
//
// Invariants of a valid DvvSet (every function here keeps them; `validate`
// checks them, and decoders must call it on bytes from disk or the network):
//   - clock.entries is sorted by replica id, ids unique, no zero counter;
//   - siblings are sorted by dot, dots unique, every counter >= 1;
//   - the clock covers every sibling's dot;
//   - fences are sorted by lock, and no sibling is fenced below its lock's
//     fence (quorum/fence.hpp: update refuses such a write, the merges drop
//     a sibling a fence has overtaken);
//   - a dot names one write: only replica `r` mints dots (r, _) for a key, and
//     it never mints the same one twice. This is what lets a version vector
//     stand for a set of events; a reused dot makes `sync` drop a write.
//
// A replica that lost its state must therefore not coordinate writes under its
// old actor: `update` can only step over counters that its inputs show it. The
// node takes a new one instead (quorum/version.hpp, ActorId: a mint epoch, as
// Riak's vnode ids carry an epoch).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "quorum/fence.hpp"
#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::quorum {

// Riak's default for `max_siblings`: above it a write that adds a sibling is
// refused, since every read then ships every sibling.
inline constexpr size_t kDefaultMaxSiblings = 100;

// What a client writes: a value, or a delete (a tombstone), with the HLC tag the
// coordinator gave it. The dot is not here: `update` mints it.
struct ClientWrite {
  std::string value;
  bool tombstone = false;
  HlcTimestamp timestamp;
  uint64_t expires_ms = 0;  // HLC wall ms at which the value expires; 0: never
  // A fenced write: refused if the key's fence for `fence_lock` is above
  // `fence_token`; otherwise it raises that fence. Empty: not fenced.
  std::string fence_lock;
  uint64_t fence_token = 0;

  static ClientWrite Put(std::string value, HlcTimestamp ts) {
    return {std::move(value), false, ts};
  }
  static ClientWrite Delete(HlcTimestamp ts) { return {std::string(), true, ts}; }
};

// ---- version vectors ------------------------------------------------------------
// k, k1, k2 below are numbers of entries: at most the number of replicas that
// ever coordinated a write of the key.

// Ok if `vv` is sorted by replica id with unique ids and no zero counter;
// otherwise InvalidArgument naming the first bad entry. O(k).
Status validate(const VersionVector& vv);

// The least upper bound of two version vectors: for each id, the larger counter.
// O(k1 + k2).
VersionVector pointwise_max(const VersionVector& a, const VersionVector& b);

// True iff `a` has seen every event `b` has (a[r] >= b[r] for all r); equal
// vectors descend each other. O(k1 + k2).
bool descends(const VersionVector& a, const VersionVector& b);

// True iff `a` descends `b` and has seen at least one event `b` has not. O(k1 + k2).
bool dominates(const VersionVector& a, const VersionVector& b);

// True iff neither descends the other: the two histories diverged. O(k1 + k2).
bool concurrent(const VersionVector& a, const VersionVector& b);

// ---- DVV sets --------------------------------------------------------------------
// s, s1, s2 below are numbers of siblings.

// Ok if `s` keeps the invariants listed at the top of this file; otherwise
// Corruption naming the first broken one. O(k + s·k).
Status validate(const DvvSet& s);

// The causal context a read returns: every event the state has seen. A write that
// passes it back supersedes exactly the siblings the reader was shown (and what
// they superseded). It is the clock itself: the clock already covers every
// sibling's dot. O(k).
VersionVector join(const DvvSet& s);

// The context of an overwrite that arrived at time `arrival` (a put or delete
// sent without a context: RESP SET, `tally del`): every event `s` has seen
// except the siblings tagged after `arrival` (writes that reached their
// coordinators later than this one did) and, since a vector cannot skip a
// dot, any later dot of the same actor. Such a write then supersedes what
// was there when it arrived and stays concurrent with what came after it,
// however late it is applied (a request held up in a queue or a partition).
// With no sibling newer than `arrival` it is join(s).
//
// `horizon_ms` bounds what counts as "after": a sibling tagged later than
// that wall time is superseded like an older one. The caller passes the
// arrival's wall time plus the request's timeout (past which it is never
// applied) plus the clocks' allowed skew: anything really written after the
// arrival is on the coordinator by then, so a tag beyond the horizon comes
// from a clock running ahead, and shielding it would let a node whose clock
// is minutes fast keep its values through every later overwrite. O(k + s).
VersionVector join_before(const DvvSet& s, const HlcTimestamp& arrival, uint64_t horizon_ms);

// A write coordinated by replica `coordinator` (which must be a replica of the
// key and own its counter) on the state it holds, `current`:
//   1. drops every sibling whose dot `context` covers (the client saw it);
//   2. adds the write under the new dot (coordinator, n + 1), where
//      n = max(current.clock[coordinator], context[coordinator]). The max over
//      both is what keeps the dot fresh when the context comes from a replica
//      that has seen more of this coordinator's writes than `current` has (say
//      `current` was restored from an old copy): minting from
//      current.clock alone would reuse a dot that other replicas already cover,
//      and `sync` would then silently drop the new write. Riak's dvvset does
//      the same (it syncs the context into the replica's clock, then adds the
//      event); taking the replica's own counter alone, as the paper's update
//      reads, assumes a replica's own entry is always the largest, which a
//      lost disk breaks.
//   3. folds `context` into the clock.
// A write with an empty context supersedes nothing: it becomes one more sibling.
//
// Errors, with `current` left as it was (the function is pure):
//   - InvalidArgument if `context` is malformed (see validate) or would make the
//     new counter overflow;
//   - kFenced if the write is fenced and the key's fence for its lock is
//     higher; InvalidArgument if it names a new lock and the key keeps
//     kMaxFences already. A fenced write that is taken raises its lock's
//     fence and drops the siblings fenced below it;
//   - TooLarge if the write would leave more than `max_siblings` siblings and
//     more than `current` has (a write that resolves at least one sibling is
//     always accepted, so a key over its cap can still be repaired by a client);
//     the message names the count and the limit.
// O(k + s·k).
Result<DvvSet> update(const DvvSet& current, const VersionVector& context, ClientWrite write,
                      ActorId coordinator, size_t max_siblings = kDefaultMaxSiblings);

// The merge of two replicas' states (anti-entropy, read repair, the coordinator's
// read merge). Clock: pointwise max. A sibling is kept iff every side whose clock
// covers its dot still holds it: a side that saw it and no longer holds it has
// seen a write that superseded it. Commutative, associative and idempotent on
// valid states, so replicas converge whatever order they exchange states in.
// Never fails and never applies a sibling cap: its siblings are writes that were
// already acknowledged. If both sides hold one dot with different payloads (a
// broken invariant: a reused dot) one of them is kept, chosen by a fixed order so
// that the result still does not depend on argument order. Fences: each lock
// at the higher of the two, and a sibling fenced below its lock's is
// dropped. O(s1 + s2 + (s1+s2)·k).
DvvSet sync(const DvvSet& a, const DvvSet& b);

// The coordinator's read merge: the fold of `sync` over every reply; the empty
// state for no replies. O(total siblings · k · replies).
DvvSet sync_all(std::span<const DvvSet> replies);

// True iff `reply` lacks something `merged` holds, i.e. sync(reply, merged) !=
// reply, so a read repair should send `merged` to the replica that answered
// `reply`. `merged` is normally sync_all of the replies. A reply equal to (or,
// if it saw writes the others missed, above) `merged` needs nothing.
// O(s1 + s2 + (s1+s2)·k), allocates.
bool needs_repair(const DvvSet& reply, const DvvSet& merged);

// The live values, tombstones left out, in dot order: what a read shows. O(s).
std::vector<std::string> values(const DvvSet& s);
// The same at HLC wall time `now_ms`: expired values left out too. O(s).
std::vector<std::string> values(const DvvSet& s, uint64_t now_ms);

// The siblings, tombstones included, oldest first by their writes' HLC tags
// (the tag's node breaks ties, so the order is total and the same on every
// replica): the last is the write that arrived at its coordinator last.
// O(s log s).
std::vector<const Sibling*> by_time(const DvvSet& s);

// True iff `s` has at least one sibling and every sibling is a tombstone: the key
// is deleted, and once every replica holds this state it may be collected. O(s).
bool only_tombstones(const DvvSet& s);

// When every sibling of `s` reads as absent for good: 0 if it holds only
// tombstones (already), the latest expiry if every live value has a time to
// live, nullopt if some value never expires (or `s` has no sibling). Such a
// state is collected like a tombstone once that time and the grace passed.
// O(s).
std::optional<uint64_t> dead_from(const DvvSet& s);
// True iff `s` has siblings and every one of them reads as absent at HLC wall
// time `now_ms`, for good: only_tombstones, or every value expired. O(s).
bool all_dead(const DvvSet& s, uint64_t now_ms);

// ---- last-writer-wins (keyspaces in `lww` conflict mode) ------------------------
// The highest HLC tag wins and the other writes are dropped. This LOSES
// CONCURRENT WRITES: of two clients writing at once, one is acknowledged and then
// silently overwritten, and with clock skew an older write can beat a newer one
// (the HLC bounds the skew by max_offset_ms, it does not remove it). The clock
// is kept as in siblings mode so that read repair and anti-entropy can compare
// states the same way.

// `write` under a new dot (minted as `update` does, with no context), then only
// the sibling with the highest timestamp is kept: the write itself or whatever
// `current` held. A fenced write is checked and raises its fence as in
// `update`, so a paused holder's late write, however new its tag, cannot beat
// a later holder's. Errors: Internal if the coordinator's counter would
// overflow; kFenced and InvalidArgument as `update`. O(k + s).
Result<DvvSet> lww_update(const DvvSet& current, ClientWrite write, ActorId coordinator);

// `s` with only its highest-timestamp sibling (none if it had none). O(s).
DvvSet lww_resolve(const DvvSet& s);

// The lww merge: clock pointwise max, fences merged as `sync` does, the
// single highest-timestamp sibling of either side that no fence has overtaken. Commutative and associative; idempotent on lww states (at most one
// sibling, as lww_update and lww_sync leave them). O(k1 + k2 + s1 + s2).
DvvSet lww_sync(const DvvSet& a, const DvvSet& b);

// The fold of lww_sync over every reply. O(total (k + s)).
DvvSet lww_sync_all(std::span<const DvvSet> replies);

// True iff lww_sync(reply, merged) != reply. O(k1 + k2 + s1 + s2).
bool lww_needs_repair(const DvvSet& reply, const DvvSet& merged);

}  // namespace tally::quorum
