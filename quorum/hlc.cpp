#include "quorum/hlc.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace tally::quorum {

HlcTimestamp HybridClock::advance_to(uint64_t wall, uint64_t logical) {
  // 2^32 events within one millisecond cannot happen locally, but a peer's tag
  // can carry any logical value: step the wall component rather than wrap.
  if (logical > std::numeric_limits<uint32_t>::max()) {
    ++wall;
    logical = 0;
  }
  wall_ms_ = wall;
  logical_ = static_cast<uint32_t>(logical);
  return last();
}

HlcTimestamp HybridClock::now(uint64_t physical_ms) {
  if (physical_ms > wall_ms_) return advance_to(physical_ms, 0);
  return advance_to(wall_ms_, uint64_t{logical_} + 1);
}

Result<HlcTimestamp> HybridClock::update(const HlcTimestamp& received, uint64_t physical_ms) {
  if (received.wall_ms > physical_ms && received.wall_ms - physical_ms > max_offset_ms_) {
    return Status::InvalidArgument(
        "timestamp from node " + std::to_string(received.node) + " is " +
        std::to_string(received.wall_ms - physical_ms) + " ms ahead of node " +
        std::to_string(node_) + "'s physical clock, above max_offset_ms = " +
        std::to_string(max_offset_ms_) + " ms: check the clocks' synchronisation (NTP)");
  }
  const uint64_t wall = std::max({wall_ms_, received.wall_ms, physical_ms});
  // c counts events at the same l: continue from whichever side(s) already had it.
  uint64_t logical = 0;
  if (wall == wall_ms_ && wall == received.wall_ms) {
    logical = uint64_t{std::max(logical_, received.logical)} + 1;
  } else if (wall == wall_ms_) {
    logical = uint64_t{logical_} + 1;
  } else if (wall == received.wall_ms) {
    logical = uint64_t{received.logical} + 1;
  }
  return advance_to(wall, logical);
}

}  // namespace tally::quorum
