// ring/preference_list.hpp — the replicas of a key, as the data path receives them.
//
// The coordinator asks for a preference list on every request, so these are small
// fixed-capacity values on the stack: no heap allocation, trivially copyable.
// Replication factors are capped at kMaxReplicas (16); keyspaces reject larger N.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>

#include "ring/position.hpp"

namespace tally::ring {

// The largest replication factor the ring serves.
inline constexpr int kMaxReplicas = 16;

// A vector of at most Capacity elements stored inline.
template <class T, int Capacity>
class FixedList {
 public:
  int size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == Capacity; }
  static constexpr int capacity() { return Capacity; }

  const T& operator[](int i) const {
    assert(i >= 0 && i < size_);
    return items_[i];
  }
  const T* begin() const { return items_.data(); }
  const T* end() const { return items_.data() + size_; }

  // Appends x. Precondition: !full() (a programmer error otherwise).
  void push_back(const T& x) {
    assert(!full());
    items_[size_++] = x;
  }

  bool contains(const T& x) const {
    for (int i = 0; i < size_; ++i) {
      if (items_[i] == x) return true;
    }
    return false;
  }

  // Same elements in the same order.
  bool operator==(const FixedList& o) const {
    if (size_ != o.size_) return false;
    for (int i = 0; i < size_; ++i) {
      if (!(items_[i] == o.items_[i])) return false;
    }
    return true;
  }

 private:
  std::array<T, Capacity> items_{};
  int size_ = 0;
};

// The N replicas of a position, in ring order: element 0 owns the token the position
// falls under (the "primary"), the rest follow clockwise under the placement rule of
// ring/placement.hpp. Holds fewer than N nodes only when the ring has fewer than N.
using PreferenceList = FixedList<NodeId, kMaxReplicas>;

// One member of a sloppy preference list: either a primary that is up
// (stands_in_for == kNoNode), or an up fallback that takes the place of the down
// primary `stands_in_for` and keeps a hint for it (Dynamo §4.6).
struct SloppyReplica {
  NodeId node = kNoNode;
  NodeId stands_in_for = kNoNode;

  bool is_fallback() const { return stands_in_for != kNoNode; }
  bool operator==(const SloppyReplica&) const = default;
};

// The replicas a sloppy quorum writes to: the up primaries and, for each down primary,
// at most one fallback. `primaries` is the strict preference list the sloppy one was
// derived from. replicas.size() < primaries.size() when too few nodes are up to stand
// in for every down primary.
struct SloppyPreferenceList {
  PreferenceList primaries;
  FixedList<SloppyReplica, kMaxReplicas> replicas;
};

}  // namespace tally::ring
