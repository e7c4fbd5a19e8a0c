// How much one decode may unpack: the msgpack-c unpack limits every decoder
// in src/codec and src/net/codec.cpp runs under. Kept apart from the codecs so
// that callers can name a limit without seeing msgpack.
#pragma once

#include <cstdint>

namespace tally::codec {

struct DecodeLimits {
  uint32_t max_bytes = 16 * 1024 * 1024;  // strings and binaries
  uint32_t max_elements = 100000;         // array and map sizes
  uint32_t max_depth = 8;
};

// Stored bytes (records, Raft state, metadata) are ours: any limit they hit is
// corruption, so only the depth is bounded.
inline constexpr DecodeLimits kStoredLimits{UINT32_MAX, UINT32_MAX, 8};

}  // namespace tally::codec
