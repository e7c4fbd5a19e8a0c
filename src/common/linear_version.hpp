// The version of a key in a linearizable keyspace, as a get or a conditional
// put answers it (their context): "v<seq>", seq the key's Paxos sequence
// number, which counts its changes. `put --if-version` passes it back; the
// lock recipe reads its fencing tokens from it (common/lock_record.hpp).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally {

inline std::string version_context(uint64_t seq) { return "v" + std::to_string(seq); }

// nullopt: not such a version.
inline std::optional<uint64_t> version_seq(std::string_view context) {
  if (context.size() < 2 || context[0] != 'v') return std::nullopt;
  uint64_t seq = 0;
  auto [end, ec] = std::from_chars(context.data() + 1, context.data() + context.size(), seq);
  if (ec != std::errc() || end != context.data() + context.size()) return std::nullopt;
  return seq;
}

}  // namespace tally
