// The anti-entropy hash tree: kept up to date key by key, equal exactly when
// two replicas hold the same records, and a descent that finds the differing
// leaves without looking into subtrees that are equal.
#include "quorum/merkle_tree.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "ring/position.hpp"

using namespace tally;
using quorum::MerkleTree;

namespace {

quorum::DvvSet record(uint32_t replica, uint64_t counter, bool tombstone = false) {
  quorum::DvvSet s;
  s.clock.entries = {{replica, counter}};
  s.siblings.push_back(
      quorum::Sibling{{replica, counter}, {1000, 0, replica}, tombstone, tombstone ? "" : "v"});
  return s;
}

const ring::TokenRange kRange{1ULL << 60, 9ULL << 60};

// Keys whose positions fall inside kRange.
std::vector<std::string> keys_in_range(int n) {
  std::vector<std::string> out;
  for (int i = 0; static_cast<int>(out.size()) < n; ++i) {
    std::string k = "key" + std::to_string(i);
    if (kRange.contains(ring::key_position("default", k))) out.push_back(k);
  }
  return out;
}

void put(MerkleTree& t, const std::string& key, const quorum::DvvSet& r) {
  t.set(key, ring::key_position("default", key), quorum::summary(r));
}

}  // namespace

TEST_CASE("merkle: a set and its undo leave the tree as it was, in any order", "[unit][merkle]") {
  MerkleTree a(kRange), b(kRange);
  auto keys = keys_in_range(200);
  for (const auto& k : keys) put(a, k, record(1, 1));
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) put(b, *it, record(1, 1));
  CHECK(a.root() == b.root());
  CHECK(a.root() != 0);
  CHECK(a.size() == 200);
  // A newer version changes the root; putting the old one back restores it.
  const uint64_t before = a.root();
  put(a, keys[7], record(1, 2));
  CHECK(a.root() != before);
  put(a, keys[7], record(1, 1));
  CHECK(a.root() == before);
  // An erase and a re-insert too.
  a.erase(keys[3], ring::key_position("default", keys[3]));
  CHECK(a.size() == 199);
  CHECK(a.root() != before);
  put(a, keys[3], record(1, 1));
  CHECK(a.root() == before);
  // Erasing every key empties every node.
  for (const auto& k : keys) a.erase(k, ring::key_position("default", k));
  CHECK(a.root() == 0);
  CHECK(a.size() == 0);
}

TEST_CASE("merkle: summaries tell records apart, tombstones from values", "[unit][merkle]") {
  CHECK(quorum::summary(record(1, 1)) == quorum::summary(record(1, 1)));
  CHECK(quorum::summary(record(1, 1)) != quorum::summary(record(1, 2)));
  CHECK(quorum::summary(record(1, 1)) != quorum::summary(record(2, 1)));
  CHECK(quorum::summary(record(1, 1)) != quorum::summary(record(1, 1, true)));
  CHECK(quorum::summary(quorum::DvvSet{}) != 0);
}

TEST_CASE(
    "merkle: leaves cover the range in position order, wrapping ranges and the whole ring too",
    "[unit][merkle]") {
  MerkleTree t(kRange);
  CHECK(t.leaf_of(kRange.start + 1) == 0);
  CHECK(t.leaf_of(kRange.end) == MerkleTree::kLeaves - 1);
  CHECK(t.leaf_of((5ULL << 60) + 1) == MerkleTree::kLeaves / 2);
  MerkleTree wrap(
      ring::TokenRange{~0ULL - 127, 128});  // (2^64-128, 128]: 256 positions, one a leaf
  CHECK(wrap.leaf_of(~0ULL - 126) == 0);
  CHECK(wrap.leaf_of(128) == MerkleTree::kLeaves - 1);
  CHECK(wrap.leaf_of(1) == MerkleTree::kLeaves / 2);  // 1 is the 129th of 256 positions
  MerkleTree whole(ring::TokenRange{42, 42});
  CHECK(whole.leaf_of(43) == 0);
  CHECK(whole.leaf_of(42) == MerkleTree::kLeaves - 1);
}

TEST_CASE("merkle: diff finds exactly the differing leaves", "[unit][merkle]") {
  MerkleTree a(kRange), b(kRange);
  auto keys = keys_in_range(2000);
  for (const auto& k : keys) {
    put(a, k, record(1, 1));
    put(b, k, record(1, 1));
  }
  auto same = quorum::diff(a, b);
  CHECK(same.leaves.empty());
  CHECK(same.compared == 1);  // the roots agree: nothing below them is looked at

  // Three kinds of difference: a newer version, a key only one side has, a
  // key deleted on one side (tombstone).
  std::set<uint32_t> expected;
  auto pos = [](const std::string& k) { return ring::key_position("default", k); };
  put(b, keys[10], record(1, 2));
  expected.insert(a.leaf_of(pos(keys[10])));
  a.erase(keys[500], pos(keys[500]));
  expected.insert(a.leaf_of(pos(keys[500])));
  put(a, keys[1500], record(2, 1, true));
  expected.insert(a.leaf_of(pos(keys[1500])));
  auto d = quorum::diff(a, b);
  CHECK(std::set<uint32_t>(d.leaves.begin(), d.leaves.end()) == expected);
  CHECK(d.leaves.size() == expected.size());
  // Every key of the leaves outside `expected` is equal on both sides.
  for (uint32_t leaf = 0; leaf < MerkleTree::kLeaves; ++leaf) {
    if (expected.count(leaf)) continue;
    CHECK(a.leaf_keys(leaf) == b.leaf_keys(leaf));
  }
}

TEST_CASE("merkle: the descent looks only into differing branches", "[unit][merkle]") {
  MerkleTree a(kRange), b(kRange);
  auto keys = keys_in_range(2000);
  for (const auto& k : keys) {
    put(a, k, record(1, 1));
    put(b, k, record(1, 1));
  }
  // One key differs: the root, the 16 children of the root, and the 16
  // leaves under the one differing child. Not the other 240 leaves.
  put(b, keys[42], record(1, 2));
  auto one = quorum::diff(a, b);
  CHECK(one.leaves.size() == 1);
  CHECK(one.compared == 1 + MerkleTree::kFanout + MerkleTree::kFanout);
  // Two keys under two different level-1 nodes: 1 + 16 + 2 x 16.
  std::string other;
  const uint32_t first_parent =
      a.leaf_of(ring::key_position("default", keys[42])) / MerkleTree::kFanout;
  for (const auto& k : keys) {
    if (a.leaf_of(ring::key_position("default", k)) / MerkleTree::kFanout != first_parent) {
      other = k;
      break;
    }
  }
  put(b, other, record(3, 1));
  auto two = quorum::diff(a, b);
  CHECK(two.leaves.size() == 2);
  CHECK(two.compared == 1 + MerkleTree::kFanout + 2 * MerkleTree::kFanout);
}
