// ring/ring.hpp — the consistent-hash ring: nodes, their tokens (virtual nodes), and
// the preference lists that place every key on N of them.
//
// A Ring is immutable: the metadata layer builds a new one from (node, zone, tokens)
// triples at every membership change. Its users (the node, the client engine) hold
// one by value and replace it whole, by a move, when a newer map arrives; a copy is
// O(tokens), and a ring takes about 40 bytes per token. Every query is const and safe
// to call from many threads at once.
//
// Ownership: token t owns the range (previous token, t] (wrapping, see TokenRange), so
// a position p belongs to the first token clockwise at or after p. The replicas of p
// are found by walking clockwise from that token under the rule of ring/placement.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ring/position.hpp"
#include "ring/preference_list.hpp"
#include "tally/status.hpp"

namespace tally::ring {

class ReplicaSelector;  // ring/placement.hpp

// One node as the metadata layer describes it.
struct NodeTokens {
  NodeId id = kNoNode;
  std::string zone;              // failure domain (rack, availability zone); non-empty
  std::vector<uint64_t> tokens;  // its virtual nodes; any order, no duplicates

  bool operator==(const NodeTokens&) const = default;
};

// A token range with its replicas: what Ring::replica_ranges lists.
struct ReplicaRange {
  TokenRange range;
  PreferenceList replicas;
};

// A node's share of the data at replication factor N.
struct Ownership {
  NodeId node = kNoNode;
  // The fraction of the ring whose keys it stores a replica of (Cassandra's "Owns
  // (effective)"). Summed over nodes it is min(N, node count).
  double replicated = 0;
};

class Ring {
 public:
  // An empty ring: no nodes; every preference list is empty.
  Ring() = default;

  // Builds the ring from its nodes. Fails with InvalidArgument (naming the culprit) if a
  // node id is 0 or repeated, a zone is empty, a node has no tokens, or a token is held
  // twice. An empty vector gives the empty ring. O(T log T) for T tokens in all.
  static Result<Ring> build(std::vector<NodeTokens> nodes);

  bool empty() const { return tokens_.empty(); }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  int zone_count() const { return static_cast<int>(zone_names_.size()); }
  int token_count() const { return static_cast<int>(tokens_.size()); }

  // The nodes, sorted by id, each with its tokens sorted.
  const std::vector<NodeTokens>& nodes() const { return nodes_; }
  // The node with this id, or nullptr. O(log nodes).
  const NodeTokens* find(NodeId id) const;

  // The N replicas of `position` (1 <= n <= kMaxReplicas), in ring order; fewer than n
  // only if the ring has fewer nodes; empty for the empty ring. No heap allocation.
  // Finding the token is O(1) expected (a radix index on the position's top bits) and
  // O(log T) at worst; then W·O(n), where W is the number of tokens walked until n nodes
  // are found: a few times n on a ring with balanced zones, up to T on a ring whose
  // zones are very unequal (the walk must pass a whole zone's tokens to reach another).
  // About 40-70 ns for N = 3 on 100 nodes x 256 tokens (bench/micro/ring_bench.cpp).
  PreferenceList preference_list(uint64_t position, int n) const;

  // The replicas of a sloppy quorum (Dynamo §4.6): the primaries (preference_list)
  // that `is_up`, and for each down primary one up fallback that stands in for it. The
  // fallbacks are the first up non-primary nodes clockwise from `position`, chosen under
  // the same placement rule as the primaries (counting the up primaries) so the list
  // keeps its zone spread; a fallback in the down primary's zone is matched to it when
  // there is one. If the rule cannot be met (say a whole zone is down), any up node
  // stands in: availability over placement, which is the point of a sloppy quorum.
  // Fewer replicas than primaries only when fewer nodes are up. is_up must be cheap: it
  // may be asked about a node more than once. No heap allocation. O(log T + W·n) when
  // few nodes are down; O(log T + T·n) at worst (nearly every node down).
  SloppyPreferenceList sloppy_preference_list(uint64_t position, int n,
                                              const std::function<bool(NodeId)>& is_up) const;

  // Every token range with its N replicas, one per token in token order: range i ends at
  // tokens()[i], and range 0 starts at the largest token and wraps past 0. For
  // anti-entropy ranges, streaming plans and balance measurements. O(T·W·n).
  std::vector<ReplicaRange> replica_ranges(int n) const;

  // Each node's replicated share of the ring at replication factor n, sorted by node id.
  // O(T·W·n + T·n·log nodes).
  std::vector<Ownership> ownership(int n) const;

  // All tokens of all nodes, sorted.
  const std::vector<uint64_t>& tokens() const { return tokens_; }

  // For ring/ algorithms that walk the ring themselves (the token allocator) and must
  // apply the same placement rule: the dense index (position in nodes()) of the owner of
  // tokens()[token_index], and the zone index (0 .. zone_count() - 1) of a dense index.
  uint32_t owner_index(int token_index) const { return token_owner_[token_index]; }
  uint32_t zone_index(uint32_t node_index) const { return node_zone_[node_index]; }

 private:
  // Index of the token that owns position p: the first token >= p, wrapping to 0.
  int token_index_for(uint64_t position) const;
  // Offers the nodes of the tokens from index `first` clockwise to `selector` until it is
  // full or every token has been offered.
  void walk(int first, ReplicaSelector& selector) const;

  std::vector<NodeTokens> nodes_;        // sorted by id; dense index = position here
  std::vector<std::string> zone_names_;  // sorted; zone index = position here
  std::vector<uint32_t> node_zone_;      // dense node index -> zone index
  std::vector<uint64_t> tokens_;         // all tokens, sorted
  std::vector<uint32_t> token_owner_;    // token index -> dense node index

  // The lookup path's copy of the ring: a token with its owner and the owner's zone in
  // one 16-byte slot, so that finding a position's token also brings in the first steps
  // of the walk, in the same cache line.
  struct Slot {
    uint64_t token;
    NodeId node;
    uint32_t zone;
  };
  std::vector<Slot> slots_;
  // A radix index over the slots: bucket b holds the positions whose top bits are b,
  // and bucket_first_[b] is the index of the first token at or after the bucket's start.
  std::vector<uint32_t> bucket_first_ = {0, 0, 0};
  int bucket_shift_ = 63;
};

}  // namespace tally::ring
