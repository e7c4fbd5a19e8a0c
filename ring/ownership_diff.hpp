// ring/ownership_diff.hpp — which data must move when the ring changes.
//
// Streaming (a join, a leave, a move) needs to know, for every stretch of the ring,
// who held its replicas before and who holds them after: the nodes that gain a range
// must receive it before they serve reads, the nodes that lose it may drop it after.
// Because a change of the placement rule's output can only happen at a token of one of
// the two rings, comparing the two rings at every token of either is exact, not a
// sample.
#pragma once

#include <vector>

#include "ring/position.hpp"
#include "ring/preference_list.hpp"
#include "ring/ring.hpp"
#include "tally/status.hpp"

namespace tally::ring {

// A stretch of the ring whose replica set differs between two rings.
struct RangeChange {
  TokenRange range;
  // The replica sets before and after (each in the ring order of the range's first
  // token boundary; as sets they hold for every position of the range).
  PreferenceList before;
  PreferenceList after;
  PreferenceList lost;    // in before but not in after, in before's order
  PreferenceList gained;  // in after but not in before, in after's order
};

// The ranges whose replica sets (at replication factor n) differ between `before` and
// `after`: exactly those, as maximal ranges (neighbours with the same before and after
// sets are merged, across 0 too), in ring order. A position lies in a listed range if
// and only if its preference lists in the two rings hold different sets of nodes; a
// change of order alone is not a change. Either ring may be empty (everything is
// gained, or lost). Fails with InvalidArgument if n is outside [1, kMaxReplicas].
// O((Ta + Tb) · (log T + W·n)) for Ta and Tb tokens.
Result<std::vector<RangeChange>> ownership_diff(const Ring& before, const Ring& after, int n);

}  // namespace tally::ring
