// The versions a replica stores for one key: a dotted version vector set
// (Almeida et al. 2014, "Scalable and Accurate Causality Tracking for
// Eventually Consistent Stores"), flattened as Riak 2.0's dvvset is: a causal
// clock covering every dot the replica has seen for the key, and the live
// values (siblings), each tagged with the dot that created it.
//
// These are plain data types: the operations (update, sync, join) live in
// quorum/dvv.hpp; the codec (src/net/codec.hpp) stores and ships them.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tally::quorum {

// A replica id is the ring's node id: only a replica of a key mints dots for it.
using ReplicaId = uint32_t;

// Who minted a dot: a node id, and in the high 32 bits that node's mint epoch
// for the key's position. A node takes a new epoch for the ranges it gives
// away before it drops their records, and a random base epoch when it starts
// with an empty store (a wiped disk), so it never mints a dot it may have
// minted before (docs/architecture.md, "Why only a replica mints a key's
// dots"). Epoch 0 is the node id itself: clocks written before epochs existed
// read the same.
using ActorId = uint64_t;

constexpr ActorId actor_id(ReplicaId node, uint32_t epoch) { return (ActorId{epoch} << 32) | node; }
constexpr ReplicaId node_of(ActorId actor) { return static_cast<ReplicaId>(actor & 0xffffffffu); }
constexpr uint32_t epoch_of(ActorId actor) { return static_cast<uint32_t>(actor >> 32); }

// One event: the `counter`-th write coordinated by actor `replica` for this key.
struct Dot {
  ActorId replica = 0;
  uint64_t counter = 0;
  auto operator<=>(const Dot&) const = default;
};

// {actor: counter}, sorted by actor id, no zero counters. Covers dot
// (r, c) iff entry(r) >= c. Its size is bounded by the number of (replica,
// epoch) actors that ever coordinated a write of the key, never by the number
// of clients.
struct VersionVector {
  std::vector<std::pair<ActorId, uint64_t>> entries;

  uint64_t get(ActorId r) const {
    for (const auto& [id, c] : entries) {
      if (id == r) return c;
    }
    return 0;
  }
  bool covers(const Dot& d) const { return get(d.replica) >= d.counter; }
  // The largest counter of any actor of `node` (every mint epoch); 0: the
  // node never minted a dot this vector has seen.
  uint64_t max_of_node(ReplicaId node) const {
    uint64_t most = 0;
    for (const auto& [id, c] : entries) {
      if (node_of(id) == node && c > most) most = c;
    }
    return most;
  }
  bool operator==(const VersionVector&) const = default;
};

// A hybrid logical clock timestamp (Kulkarni et al. 2014), with the node id as
// the final tie-breaker so that two tags are never equal across nodes. Used by
// keyspaces in `lww` mode: the highest tag wins.
struct HlcTimestamp {
  uint64_t wall_ms = 0;  // l: the largest physical time seen
  uint32_t logical = 0;  // c: orders events within the same l
  ReplicaId node = 0;
  auto operator<=>(const HlcTimestamp&) const = default;
};

struct Sibling {
  Dot dot;
  HlcTimestamp timestamp;
  bool tombstone = false;  // a delete: it supersedes what its context saw, and reads hide it
  std::string value;
  // When the value expires, in HLC wall milliseconds (the coordinator's tag
  // plus the write's TTL); 0: never. From then on reads hide it as they hide
  // a tombstone, and it is collected like one (docs/architecture.md, "Time
  // to live"). Part of the payload: every replica holds the same instant.
  uint64_t expires_ms = 0;
  // A fenced write (docs/locks.md): the lock and token it was written under;
  // empty: not fenced. Dropped once the key's fence for the lock is higher.
  std::string fence_lock;
  uint64_t fence_token = 0;
  bool operator==(const Sibling&) const = default;
};

// True iff `s` reads as absent at HLC wall time `now_ms`: a delete, or a
// value whose time to live has run out.
inline bool dead(const Sibling& s, uint64_t now_ms) {
  return s.tombstone || (s.expires_ms != 0 && s.expires_ms <= now_ms);
}

// Everything a replica knows about one key.
struct DvvSet {
  VersionVector clock;            // every dot seen, including those of superseded values
  // The concurrent live values (tombstones included), sorted by dot, dots unique:
  // sync merges them in one pass and == compares states (quorum/dvv.hpp, validate).
  std::vector<Sibling> siblings;
  // For each lock a fenced write of the key named, the highest token among
  // them (quorum/fence.hpp); no sibling is fenced below its lock's.
  std::vector<std::string> fence_locks;
  std::vector<uint64_t> fence_tokens;
  bool operator==(const DvvSet&) const = default;
};

}  // namespace tally::quorum
