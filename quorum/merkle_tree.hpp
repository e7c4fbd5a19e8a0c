// The hash tree anti-entropy compares between the replicas of one token range
// (Dynamo §4.7; Riak's AAE keeps one per partition and updates it on write).
//
// Shape: a root, kFanout children, kFanout² leaves. A key falls in the leaf
// of its ring position's place inside the range, so two replicas of the range
// put every key in the same leaf. A leaf's hash is the XOR of key_hash(key,
// summary) over its keys, and an inner node's the XOR of its children's: a
// write changes one key's term, and the tree follows in O(1) (the key's
// leaf, its parent, the root), with no rehashing of siblings. XOR loses
// nothing a comparison needs: two replicas' nodes are equal exactly when
// their key sets and summaries are (but for a 2^-64 chance per node).
//
// The tree keeps each key's summary in its leaf, so the keys of a differing
// leaf can be listed without a scan of the store.
//
// Pure: no I/O, no clock. Not thread-safe; one owner (the node's
// AntiEntropy room) changes it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "quorum/version.hpp"
#include "ring/position.hpp"

namespace tally::quorum {

// What a replica's copy of a key is, in 64 bits: the hash of its clock and of
// each sibling's dot, timestamp and tombstone flag (the value is named by its
// dot: only one write ever has that dot). Two replicas whose records are
// equal have equal summaries; summary() is never 0.
uint64_t summary(const DvvSet& record);

// A key's term in its leaf's XOR.
uint64_t key_hash(std::string_view key, uint64_t summary);

class MerkleTree {
 public:
  static constexpr uint32_t kFanout = 16;
  static constexpr int kLeafLevel =
      2;  // level 0: the root; level 1: kFanout nodes; level 2: the leaves
  static constexpr uint32_t kLeaves = kFanout * kFanout;

  explicit MerkleTree(ring::TokenRange range) : range_(range) {}

  const ring::TokenRange& range() const { return range_; }
  // The leaf of a position inside the range (positions outside it: meaningless).
  uint32_t leaf_of(uint64_t position) const;

  // The key's summary becomes `summary` (it enters the tree if it was not in
  // it). O(log keys in its leaf).
  void set(std::string_view key, uint64_t position, uint64_t summary);
  // The key leaves the tree (nothing if it was not in it).
  void erase(std::string_view key, uint64_t position);

  // The hash of node `index` of `level` (0 <= index < nodes_at(level)); 0 for
  // an empty subtree.
  uint64_t hash(int level, uint32_t index) const;
  uint64_t root() const { return hash(0, 0); }
  static uint32_t nodes_at(int level);
  // The children of node `index` of `level` (< kLeafLevel), at level + 1.
  static std::vector<uint32_t> children(uint32_t index);
  // The leaves under node `index` of `level`: [first, first + count).
  static std::pair<uint32_t, uint32_t> leaves_under(int level, uint32_t index);

  // The keys of a leaf with their summaries, in key order.
  using LeafKeys = std::map<std::string, uint64_t, std::less<>>;
  const LeafKeys& leaf_keys(uint32_t leaf) const { return leaf_keys_[leaf]; }
  size_t size() const { return size_; }

 private:
  void toggle(uint32_t leaf, uint64_t term);

  ring::TokenRange range_;
  uint64_t root_ = 0;
  std::vector<uint64_t> inner_ = std::vector<uint64_t>(kFanout);
  std::vector<uint64_t> leaves_ = std::vector<uint64_t>(kLeaves);
  std::vector<LeafKeys> leaf_keys_ = std::vector<LeafKeys>(kLeaves);
  size_t size_ = 0;
};

// One step of the descent two replicas make, comparing the nodes `indices` of
// `level` (mine[i] and theirs[i] are the two hashes of indices[i]): the nodes
// that differ. Equal subtrees are never looked into again.
std::vector<uint32_t> differing(const std::vector<uint32_t>& indices,
                                const std::vector<uint64_t>& mine,
                                const std::vector<uint64_t>& theirs);

// The whole descent between two trees of one range, as the exchange runs it
// over the wire: the differing leaves, in order, and how many node hashes
// were compared on the way (the root counts one).
struct TreeDiff {
  std::vector<uint32_t> leaves;
  size_t compared = 0;
};
TreeDiff diff(const MerkleTree& a, const MerkleTree& b);

}  // namespace tally::quorum
