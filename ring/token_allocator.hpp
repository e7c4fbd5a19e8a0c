// ring/token_allocator.hpp — choosing a joining node's tokens so that replicated load
// stays balanced.
//
// Random tokens leave nodes 10-20% out of balance (Dynamo §6.2), and what matters is
// not the ranges a node's tokens own but the data it replicates: with N = 3 a node
// stores every range whose walk reaches it, which depends on its neighbours and their
// zones. The allocator follows Cassandra's replication-aware allocator (CASSANDRA-7032,
// ReplicationAwareTokenAllocator): it models the ring, places the new node's tokens one
// at a time, and puts each where it most reduces
//
//   cost = sum over nodes u of (load(u) - target(u))^2,
//
// where load is the replicated share of the ring computed with the ring's own placement
// rule (ring/placement.hpp), target is the mean N / nodes for the old nodes and, for
// the new node, the mean scaled by the share of its tokens placed so far.
//
// Every token range is a candidate. Placing a token in range i changes the ranges
// before i whose walk reaches it by fixed amounts, and moves the first part of range i,
// of length a, from one old replica to the new node (the placement rule is a matroid:
// one replica at most gives way). The cost is then a parabola in a, and the token goes
// at its minimum, kept within the middle half of the range so that no slivers appear.
// Candidates are re-scored against the current loads for every token (cheap), and only
// those within a walk's reach of the last token placed are re-analysed (the walks).
// Unlike Cassandra, which re-evaluates lazily from a priority queue, each token takes
// the best candidate exactly: the new node's growing target changes every score at
// every step, and stale scores placed tokens measurably worse.
//
// When the new node's place cannot change anyone's load (the ring has at most N nodes
// with it, or it opens a new zone while there are at most N zones, so that it is in
// every preference list) only the token ranges are balanced: each token splits one of
// the largest ranges in half, spread along the ring. The first node's tokens are evenly
// spaced from an offset derived from its id.
//
// The result depends only on the inputs: no randomness, no clocks.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "ring/position.hpp"
#include "ring/ring.hpp"
#include "tally/status.hpp"

namespace tally::ring {

// The most tokens a node may hold.
inline constexpr int kMaxTokensPerNode = 4096;

// The tokens (sorted) that node `node` of zone `zone` should take when it joins `ring`,
// for keyspaces of replication factor `replication_factor`. Build the new ring with
// them and the node's replicated load is close to the mean, and the other nodes' loads
// move towards it. Fails with InvalidArgument if the node id is 0 or already in the
// ring, the zone is empty, num_tokens is outside [1, kMaxTokensPerNode], or
// replication_factor is outside [1, kMaxReplicas]; with Unavailable if the ring has no
// room left between its tokens. Time O(R·W²·n + T·(R + W³·n)) for T = num_tokens, R
// tokens in the ring and W the length of a preference-list walk: 1 ms for a 32-token
// node joining 10 x 32 tokens, 0.2 s for a 256-token node joining 100 x 256
// (bench/micro/ring_bench.cpp).
Result<std::vector<uint64_t>> allocate_tokens(const Ring& ring, NodeId node, std::string_view zone,
                                              int num_tokens, int replication_factor);

}  // namespace tally::ring
