// ring/position.hpp — where keys sit on the ring, and the token ranges that cut it up.
//
// The ring is the 64-bit unsigned circle [0, 2^64). A key's position is
//
//   key_position(keyspace, key) = XXH3_64bits_withSeed(key, XXH3_64bits(keyspace))
//
// The keyspace name goes into the seed, not into a concatenated buffer, so no two
// (keyspace, key) pairs collide by construction ("ab"+"c" and "a"+"bc" hash with
// different seeds), and one keyspace's keys spread over the whole ring independently
// of another's. The scheme is part of the wire contract: token-aware clients compute
// the same positions, so it must never change.
#pragma once

#include <cstdint>
#include <string_view>

namespace tally::ring {

// A node's identity in the cluster metadata. 0 is never a valid node.
using NodeId = uint32_t;
inline constexpr NodeId kNoNode = 0;

// The seed that key_position derives from a keyspace name. Callers that look up many
// keys of one keyspace compute it once. O(length of name).
uint64_t keyspace_seed(std::string_view keyspace);

// The ring position of `key` in the keyspace whose seed is `seed`. O(length of key).
uint64_t key_position(uint64_t seed, std::string_view key);

// The ring position of `key` in `keyspace` (see the scheme above).
inline uint64_t key_position(std::string_view keyspace, std::string_view key) {
  return key_position(keyspace_seed(keyspace), key);
}

// A half-open, wrapping arc of the ring: the positions p with start < p <= end,
// walking clockwise from start (so (2^64-10, 5] holds 0). start == end is the whole
// ring: a ring with one token owns everything.
struct TokenRange {
  uint64_t start = 0;  // exclusive: the previous token
  uint64_t end = 0;    // inclusive: the token that owns the range

  // Whether position p lies in the range. O(1).
  bool contains(uint64_t p) const {
    return start == end ||
           static_cast<uint64_t>(p - start - 1) < static_cast<uint64_t>(end - start);
  }

  // The share of the ring the range covers, in (0, 1]. O(1).
  double fraction() const {
    return start == end ? 1.0 : static_cast<double>(end - start) * 0x1p-64;
  }

  bool operator==(const TokenRange&) const = default;
};

}  // namespace tally::ring
