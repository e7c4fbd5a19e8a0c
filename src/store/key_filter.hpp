// Which record keys may be on disk: a Bloom filter over every data key the
// store holds, so that a read of a key that was never written (the read of
// a new key's read-modify-write, a get of an absent key) is answered without
// LevelDB. LevelDB's own filters cover its table files but not its memtable,
// and a memtable lookup is a skip-list search that misses the CPU cache at
// every level: before the filter, reads of absent keys were 14% of a node's
// CPU under redis-benchmark's SETs and GETs (docs/benchmarks.md). RocksDB's
// memtable Bloom filter is the same idea.
//
// A Bloom filter has no false negatives: a key added is always "maybe". So
// the store adds a key before its write is handed to the disk (a failed or
// half-written batch leaves the filter a superset of the disk), and trusts
// "absent" only once the filter is complete: every data key on disk when the
// node started was scanned in (RecordStore::start_key_filter). Erased keys
// stay in the filter until the next start; they cost a read, never a wrong
// answer.
//
// Layout: blocked Bloom filter (each key's bits lie in one 64-byte block,
// so a lookup touches one cache line per layer), about 10 bits per key, 8
// bits set per key (about 1% false positives per layer). The filter grows
// by layers, each twice the one before, so a node never rescans its disk
// to grow it; a lookup checks every layer, newest first. Past `max_bytes`
// it stops growing and says so (usable() false): the store then reads every
// miss from the disk, as it does without a filter.
//
// Pure: no I/O, no clock. One owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tally::store {

class KeyFilter {
 public:
  // Keys the first layer holds before the next is added.
  static constexpr uint64_t kFirstLayerKeys = uint64_t{1} << 16;
  static constexpr uint64_t kBitsPerKey = 10;

  // The first layer is taken at once: a budget too small for it leaves the
  // filter over budget from the start.
  explicit KeyFilter(size_t max_bytes) : max_bytes_(max_bytes) { grow(); }

  // The key may be on disk from now on.
  void add(std::string_view key);
  // False: the key was never added (so, once complete, it is on no disk).
  bool may_contain(std::string_view key) const;

  // Every key on disk has been added: may_contain's "no" can be trusted.
  void set_complete() { complete_ = true; }
  // What the store may act on: complete and within its memory budget.
  bool usable() const { return complete_ && !over_budget_; }
  bool over_budget() const { return over_budget_; }

  size_t bytes() const;
  size_t layers() const { return layers_.size(); }
  uint64_t keys() const { return keys_; }  // distinct keys added, but for false positives

 private:
  struct Layer {
    std::vector<uint64_t> words;  // blocks of 8 words (512 bits)
    uint64_t blocks = 0;
    uint64_t capacity = 0;  // keys before the next layer
    uint64_t keys = 0;
  };
  static bool test(const Layer& l, uint64_t h);
  static void set(Layer& l, uint64_t h);
  bool grow();

  size_t max_bytes_;
  std::vector<Layer> layers_;
  uint64_t keys_ = 0;
  bool complete_ = false;
  bool over_budget_ = false;
};

}  // namespace tally::store
