// The decoded records a RecordStore wrote last, by disk key, bounded in bytes
// (Cassandra's row cache, for a store whose every write is a
// read-modify-write).
//
// It holds only what the disk holds: the store puts a record in once its
// batch is written (by the durability policy) and erases it when a write of
// the key fails, so a hit answers exactly what a disk read would, without
// the LevelDB lookup and the decode. Records are shared, never copied in or
// out; a cached record is never changed (the next update makes a new one).
//
// Eviction is CLOCK (second chance), not strict LRU: a hit only sets the
// entry's referenced bit, where LRU relinks a list node and its two
// neighbours. Under a put load every write looks a key up twice (before the
// update and after the write), and with 100,000 keys per node those lookups
// were cache misses end to end: a chained hash table and an LRU list cost
// about 6-7 misses each, 9% of a node's CPU (docs/benchmarks.md). Here a
// lookup reads one slot of an open-addressing table (linear probing, eight
// slots per cache line) and one entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quorum/version.hpp"

namespace tally::store {

class RecordCache {
 public:
  using Record = std::shared_ptr<const quorum::DvvSet>;

  // `capacity_bytes` 0 caches nothing.
  explicit RecordCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The record at `dkey`, or nullptr when not cached. A hit marks the entry
  // used, so the next eviction sweep passes it over once.
  Record find(std::string_view dkey);
  // Caches `rec` at `dkey` in place of what was there (nullptr: the key has no
  // record now, and nothing stays cached for it); `encoded_bytes` is its size
  // on disk, from which its cost is reckoned. Evicts entries not used since
  // the sweep last passed them until the total fits.
  void put(std::string_view dkey, Record rec, size_t encoded_bytes);
  void erase(std::string_view dkey);
  // Forgets every record (the database was reopened: the disk is the truth).
  void clear();

  size_t bytes() const { return bytes_; }
  size_t entries() const { return live_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Entry {
    Record rec;  // nullptr: a free entry, on the free list
    std::string key;
    size_t cost = 0;
    uint32_t next_free = kNone;
    bool referenced = false;
  };
  // A slot of the index: the key's hash (to skip mismatches, and to find a
  // slot's home when shifting, without touching the entry) and the entry.
  struct Slot {
    uint64_t hash = 0;
    uint32_t entry = kNone;  // kNone: empty
  };

  static uint64_t hash_of(std::string_view dkey);
  // The slot holding `dkey` (hash `h`), or the empty slot that ends its probe.
  size_t probe(std::string_view dkey, uint64_t h) const;
  // Removes the entry in slot `slot` from the index and frees it.
  void drop(size_t slot);
  // Evicts (CLOCK) until `need` more bytes fit or nothing is left.
  void make_room(size_t need);
  void grow_index();

  size_t capacity_;
  size_t bytes_ = 0;
  size_t live_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  std::vector<Entry> entries_;  // the clock face; indexes are stable
  uint32_t free_ = kNone;       // first free entry
  size_t hand_ = 0;             // the clock hand, an index into entries_
  std::vector<Slot> slots_;     // a power of two in size, at most half full
};

}  // namespace tally::store
