// A keyspace's definition: its name, replication factor, default quorums and
// conflict mode. Part of the cluster map (cluster_map.hpp); on its own here so
// that the config loader (common/config.hpp), which reads keyspaces from the
// file, needs nothing else of the metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/status.hpp"

namespace tally::meta {

enum class ConflictMode : uint8_t {
  kSiblings,  // dotted version vectors: concurrent writes are all kept
  kLww,       // highest hybrid-logical-clock tag wins: concurrent writes are lost
  // Every write is Paxos on the key's replicas (quorum/paxos.hpp): reads and
  // writes are linearizable, and writes may be conditional (compare-and-set).
  kLinearizable,
};

// "siblings", "lww", "linearizable".
std::string_view mode_name(ConflictMode mode);
// The mode named `name`, or nullopt.
std::optional<ConflictMode> mode_from_name(std::string_view name);
// For errors: the names a mode may have.
inline constexpr std::string_view kModeNames = "'siblings', 'lww' or 'linearizable'";
// On the wire (MetaChangeRequest::mode) a mode is 1 + its number; 0 means
// "the default" or "unchanged".
inline uint8_t mode_code(ConflictMode mode) { return static_cast<uint8_t>(mode) + 1; }
inline ConflictMode mode_of_code(uint8_t code) { return static_cast<ConflictMode>(code - 1); }
inline constexpr uint8_t kMaxModeCode = 3;

struct Keyspace {
  std::string name;
  int n = 3;  // replication factor
  int r = 2;  // default read quorum
  int w = 2;  // default write quorum
  ConflictMode mode = ConflictMode::kSiblings;
  bool operator==(const Keyspace&) const = default;
};

// Checks a keyspace definition: name of 1-255 characters of [a-z0-9_-],
// 1 <= n <= ring::kMaxReplicas, 1 <= r, w <= n. Errors name the field.
Status validate(const Keyspace& ks);

}  // namespace tally::meta
