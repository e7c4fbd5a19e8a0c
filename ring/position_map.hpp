// ring/position_map.hpp — a number for every position on the ring, as a step
// function: it changes only at a few breakpoints, so a whole token range is
// set in O(log n + ranges it covers) and a position is looked up in O(log n).
//
// The node keeps its mint epochs in one per keyspace (quorum/version.hpp,
// ActorId): giving a range away sets the range to a new epoch.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "ring/position.hpp"

namespace tally::ring {

class PositionMap {
 public:
  // Every position maps to `everywhere`.
  explicit PositionMap(uint32_t everywhere = 0) : points_{{0, everywhere}} {}

  // The value at position p. O(log breakpoints).
  uint32_t at(uint64_t p) const;

  // Every position in `range` (start exclusive, end inclusive, wrapping; the
  // whole ring when start == end) maps to `value` from now on; the others keep
  // theirs. O(log n + breakpoints inside the range).
  void assign(const TokenRange& range, uint32_t value);

  // The largest value anywhere. O(breakpoints).
  uint32_t max() const;

  // The breakpoints: (p, v) means positions from p up to the next breakpoint
  // map to v. Sorted by position, the first at 0, no two neighbours with one
  // value: what the codec stores.
  std::vector<std::pair<uint64_t, uint32_t>> breakpoints() const;
  // The map those breakpoints describe; false (and *out untouched) if they are
  // not sorted, do not start at 0, or repeat a value.
  static bool from_breakpoints(const std::vector<std::pair<uint64_t, uint32_t>>& points, PositionMap* out);

  bool operator==(const PositionMap&) const = default;

 private:
  // Positions [lo, hi], both inclusive, map to value.
  void assign_closed(uint64_t lo, uint64_t hi, uint32_t value);
  // Drops a breakpoint equal to its predecessor's value.
  void coalesce(std::map<uint64_t, uint32_t>::iterator it);

  std::map<uint64_t, uint32_t> points_;  // never empty; points_.begin()->first == 0
};

}  // namespace tally::ring
