#include "quorum/merkle_tree.hpp"

#include <xxhash.h>

#include <array>

namespace tally::quorum {

uint64_t summary(const DvvSet& record) {
  // Gathered on the stack for the usual record (a few clock entries, a
  // sibling or two): this runs on every write the store takes.
  const size_t n = 1 + 2 * record.clock.entries.size() + 5 * record.siblings.size();
  std::array<uint64_t, 32> small;
  std::vector<uint64_t> large;
  uint64_t* words = small.data();
  if (n > small.size()) {
    large.resize(n);
    words = large.data();
  }
  size_t i = 0;
  words[i++] = record.clock.entries.size();
  for (const auto& [id, counter] : record.clock.entries) {
    words[i++] = id;
    words[i++] = counter;
  }
  for (const auto& s : record.siblings) {
    words[i++] = s.dot.replica;
    words[i++] = s.dot.counter;
    words[i++] = s.timestamp.wall_ms;
    words[i++] = (uint64_t{s.timestamp.logical} << 32) | s.timestamp.node;
    // The expiry shares the tombstone's word (shifted past it): a summary of
    // a record without one is what it was before expiries existed.
    words[i++] = (s.tombstone ? 1 : 0) | (s.expires_ms << 1);
  }
  uint64_t h = XXH3_64bits(words, n * sizeof(uint64_t));
  // The key's fences, folded in when it has any (a sibling's fence is part
  // of its write, which its dot already names): two replicas that differ
  // only in what they know of a lock's fence are told apart.
  for (size_t f = 0; f < record.fence_locks.size(); ++f) {
    h = XXH3_64bits_withSeed(record.fence_locks[f].data(), record.fence_locks[f].size(), h ^ record.fence_tokens[f]);
  }
  return h == 0 ? 1 : h;
}

uint64_t key_hash(std::string_view key, uint64_t summary) {
  return XXH3_64bits_withSeed(key.data(), key.size(), summary);
}

uint32_t MerkleTree::leaf_of(uint64_t position) const {
  // The offset inside (start, end], scaled to the leaves; a whole-ring range
  // (start == end) is 2^64 wide.
  const uint64_t offset = position - range_.start - 1;
  const unsigned __int128 width = range_.start == range_.end
                                      ? (static_cast<unsigned __int128>(1) << 64)
                                      : range_.end - range_.start;
  return static_cast<uint32_t>(static_cast<unsigned __int128>(offset) * kLeaves / width);
}

void MerkleTree::toggle(uint32_t leaf, uint64_t term) {
  leaves_[leaf] ^= term;
  inner_[leaf / kFanout] ^= term;
  root_ ^= term;
}

void MerkleTree::set(std::string_view key, uint64_t position, uint64_t summary) {
  const uint32_t leaf = leaf_of(position);
  auto& keys = leaf_keys_[leaf];
  auto it = keys.find(key);
  if (it == keys.end()) {
    keys.emplace(std::string(key), summary);
    ++size_;
  } else {
    if (it->second == summary) return;
    toggle(leaf, key_hash(key, it->second));
    it->second = summary;
  }
  toggle(leaf, key_hash(key, summary));
}

void MerkleTree::erase(std::string_view key, uint64_t position) {
  const uint32_t leaf = leaf_of(position);
  auto& keys = leaf_keys_[leaf];
  auto it = keys.find(key);
  if (it == keys.end()) return;
  toggle(leaf, key_hash(key, it->second));
  keys.erase(it);
  --size_;
}

uint64_t MerkleTree::hash(int level, uint32_t index) const {
  switch (level) {
    case 0:
      return root_;
    case 1:
      return inner_[index];
    default:
      return leaves_[index];
  }
}

uint32_t MerkleTree::nodes_at(int level) { return level == 0 ? 1 : level == 1 ? kFanout : kLeaves; }

std::vector<uint32_t> MerkleTree::children(uint32_t index) {
  std::vector<uint32_t> out(kFanout);
  for (uint32_t i = 0; i < kFanout; ++i) out[i] = index * kFanout + i;
  return out;
}

std::pair<uint32_t, uint32_t> MerkleTree::leaves_under(int level, uint32_t index) {
  if (level == 0) return {0, kLeaves};
  if (level == 1) return {index * kFanout, kFanout};
  return {index, 1};
}

std::vector<uint32_t> differing(const std::vector<uint32_t>& indices,
                                const std::vector<uint64_t>& mine,
                                const std::vector<uint64_t>& theirs) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (i >= mine.size() || i >= theirs.size() || mine[i] != theirs[i]) out.push_back(indices[i]);
  }
  return out;
}

TreeDiff diff(const MerkleTree& a, const MerkleTree& b) {
  TreeDiff d;
  std::vector<uint32_t> indices{0};
  for (int level = 0;; ++level) {
    std::vector<uint64_t> ha, hb;
    for (uint32_t i : indices) {
      ha.push_back(a.hash(level, i));
      hb.push_back(b.hash(level, i));
    }
    d.compared += indices.size();
    std::vector<uint32_t> diff_here = differing(indices, ha, hb);
    if (level == MerkleTree::kLeafLevel || diff_here.empty()) {
      if (level == MerkleTree::kLeafLevel) d.leaves = std::move(diff_here);
      return d;
    }
    indices.clear();
    for (uint32_t i : diff_here) {
      for (uint32_t c : MerkleTree::children(i)) indices.push_back(c);
    }
  }
}

}  // namespace tally::quorum
