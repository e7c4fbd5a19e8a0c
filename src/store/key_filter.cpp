#include "store/key_filter.hpp"

#include <xxhash.h>

namespace tally::store {

namespace {
constexpr int kBitsSet = 8;    // per key, inside its block
constexpr uint64_t kBlockWords = 8;  // 512 bits, one cache line

uint64_t hash_of(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// The block of a hash in a layer of `blocks` blocks: the high 32 bits scaled
// (Lemire's multiply-shift, no division).
uint64_t block_of(uint64_t h, uint64_t blocks) { return ((h >> 32) * blocks) >> 32; }

// The kBitsSet bit positions (0..511) inside the block, 9 bits each: seven
// from a mix of the whole hash (splitmix64's finalizer), the eighth from the
// hash's low bits (the block took its high ones).
template <class Fn>
void for_each_bit(uint64_t h, Fn fn) {
  uint64_t g = h + 0x9E3779B97F4A7C15ull;
  g = (g ^ (g >> 30)) * 0xBF58476D1CE4E5B9ull;
  g = (g ^ (g >> 27)) * 0x94D049BB133111EBull;
  g ^= g >> 31;
  for (int i = 0; i < kBitsSet - 1; ++i, g >>= 9) fn(static_cast<unsigned>(g & 511));
  fn(static_cast<unsigned>(h & 511));
}
}  // namespace

bool KeyFilter::test(const Layer& l, uint64_t h) {
  const uint64_t* block = l.words.data() + block_of(h, l.blocks) * kBlockWords;
  bool all = true;
  for_each_bit(h, [&](unsigned bit) { all = all && (block[bit >> 6] >> (bit & 63) & 1); });
  return all;
}

void KeyFilter::set(Layer& l, uint64_t h) {
  uint64_t* block = l.words.data() + block_of(h, l.blocks) * kBlockWords;
  for_each_bit(h, [&](unsigned bit) { block[bit >> 6] |= uint64_t{1} << (bit & 63); });
}

bool KeyFilter::grow() {
  const uint64_t capacity = layers_.empty() ? kFirstLayerKeys : layers_.back().capacity * 2;
  const uint64_t blocks = (capacity * kBitsPerKey + 511) / 512;
  if (bytes() + blocks * kBlockWords * sizeof(uint64_t) > max_bytes_) {
    over_budget_ = true;
    layers_.clear();
    layers_.shrink_to_fit();
    return false;
  }
  Layer l;
  l.blocks = blocks;
  l.capacity = capacity;
  l.words.assign(blocks * kBlockWords, 0);
  layers_.push_back(std::move(l));
  return true;
}

void KeyFilter::add(std::string_view key) {
  if (over_budget_) return;
  const uint64_t h = hash_of(key);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (test(*it, h)) return;  // already "maybe": nothing to add
  }
  if ((layers_.empty() || layers_.back().keys >= layers_.back().capacity) && !grow()) return;
  Layer& l = layers_.back();
  set(l, h);
  ++l.keys;
  ++keys_;
}

bool KeyFilter::may_contain(std::string_view key) const {
  if (over_budget_) return true;
  const uint64_t h = hash_of(key);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (test(*it, h)) return true;
  }
  return false;
}

size_t KeyFilter::bytes() const {
  size_t b = 0;
  for (const Layer& l : layers_) b += l.words.size() * sizeof(uint64_t);
  return b;
}

}  // namespace tally::store
