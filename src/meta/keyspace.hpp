// A keyspace's definition: its name, replication factor, default quorums and
// conflict mode. Part of the cluster map (cluster_map.hpp); on its own here so
// that the config loader (common/config.hpp), which reads keyspaces from the
// file, needs nothing else of the metadata.
#pragma once

#include <cstdint>
#include <string>

#include "tally/status.hpp"

namespace tally::meta {

enum class ConflictMode : uint8_t {
  kSiblings,  // dotted version vectors: concurrent writes are all kept
  kLww,       // highest hybrid-logical-clock tag wins: concurrent writes are lost
};

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
