#include "ring/position_map.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

namespace tally::ring {

namespace {
constexpr uint64_t kLast = std::numeric_limits<uint64_t>::max();
}  // namespace

uint32_t PositionMap::at(uint64_t p) const {
  auto it = points_.upper_bound(p);  // the first breakpoint after p; begin() is 0 <= p
  return std::prev(it)->second;
}

void PositionMap::assign(const TokenRange& range, uint32_t value) {
  if (range.start == range.end) return assign_closed(0, kLast, value);
  if (range.start < range.end) return assign_closed(range.start + 1, range.end, value);
  // Wrapping: (start, 2^64) then [0, end].
  if (range.start != kLast) assign_closed(range.start + 1, kLast, value);
  assign_closed(0, range.end, value);
}

void PositionMap::assign_closed(uint64_t lo, uint64_t hi, uint32_t value) {
  // What the position after the range maps to today: it must keep it.
  const bool tail = hi != kLast;
  const uint32_t after = tail ? at(hi + 1) : 0;
  points_.erase(points_.lower_bound(lo), tail ? points_.upper_bound(hi) : points_.end());
  auto first = points_.emplace(lo, value).first;
  if (tail) {
    auto next = points_.emplace(hi + 1, after).first;
    coalesce(next);
  }
  coalesce(first);
}

void PositionMap::coalesce(std::map<uint64_t, uint32_t>::iterator it) {
  if (it == points_.begin()) return;
  auto next = std::next(it);
  if (std::prev(it)->second == it->second) points_.erase(it);
  // The breakpoint after `it` may now repeat what precedes it.
  if (next != points_.end() && next != points_.begin() && std::prev(next)->second == next->second) {
    points_.erase(next);
  }
}

uint32_t PositionMap::max() const {
  uint32_t m = 0;
  for (const auto& [p, v] : points_) m = std::max(m, v);
  return m;
}

std::vector<std::pair<uint64_t, uint32_t>> PositionMap::breakpoints() const {
  return {points_.begin(), points_.end()};
}

bool PositionMap::from_breakpoints(const std::vector<std::pair<uint64_t, uint32_t>>& points, PositionMap* out) {
  if (points.empty() || points.front().first != 0) return false;
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].first <= points[i - 1].first || points[i].second == points[i - 1].second) return false;
  }
  out->points_ = std::map<uint64_t, uint32_t>(points.begin(), points.end());
  return true;
}

}  // namespace tally::ring
