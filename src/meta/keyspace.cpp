#include "meta/keyspace.hpp"

#include "ring/ring.hpp"

namespace tally::meta {

std::string_view mode_name(ConflictMode mode) {
  switch (mode) {
    case ConflictMode::kSiblings: return "siblings";
    case ConflictMode::kLww: return "lww";
    case ConflictMode::kLinearizable: return "linearizable";
  }
  return "unknown";
}

std::optional<ConflictMode> mode_from_name(std::string_view name) {
  for (auto m : {ConflictMode::kSiblings, ConflictMode::kLww, ConflictMode::kLinearizable}) {
    if (mode_name(m) == name) return m;
  }
  return std::nullopt;
}

Status validate(const Keyspace& ks) {
  if (ks.name.empty() || ks.name.size() > 255) {
    return Status::InvalidArgument("keyspace name must be 1 to 255 characters");
  }
  for (char c : ks.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return Status::InvalidArgument("keyspace name '" + ks.name + "' may use only a-z 0-9 _ -");
    }
  }
  if (ks.n < 1 || ks.n > ring::kMaxReplicas) {
    return Status::InvalidArgument("keyspace '" + ks.name + "': n=" + std::to_string(ks.n) +
                                   " is out of range 1.." + std::to_string(ring::kMaxReplicas));
  }
  if (ks.r < 1 || ks.r > ks.n) {
    return Status::InvalidArgument("keyspace '" + ks.name + "': r=" + std::to_string(ks.r) +
                                   " is out of range 1..n=" + std::to_string(ks.n));
  }
  if (ks.w < 1 || ks.w > ks.n) {
    return Status::InvalidArgument("keyspace '" + ks.name + "': w=" + std::to_string(ks.w) +
                                   " is out of range 1..n=" + std::to_string(ks.n));
  }
  return Status::Ok();
}

}  // namespace tally::meta
