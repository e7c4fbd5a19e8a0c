// The decoded records a RecordStore wrote last, by disk key, bounded in bytes
// and evicting the least recently used (Cassandra's row cache, for a store
// whose every write is a read-modify-write).
//
// It holds only what the disk holds: the store puts a record in once its
// batch is written (by the durability policy) and erases it when a write of
// the key fails, so a hit answers exactly what a disk read would, without
// the LevelDB lookup and the decode. Records are shared, never copied in or
// out; a cached record is never changed (the next update makes a new one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "quorum/version.hpp"

namespace tally::store {

class RecordCache {
 public:
  using Record = std::shared_ptr<const quorum::DvvSet>;

  // `capacity_bytes` 0 caches nothing.
  explicit RecordCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The record at `dkey`, or nullptr when not cached; a hit becomes the most
  // recently used.
  Record find(std::string_view dkey);
  // Caches `rec` (never nullptr) at `dkey` in place of what was there;
  // `encoded_bytes` is its size on disk, from which its cost is reckoned.
  // Evicts the least recently used until the total fits.
  void put(std::string_view dkey, Record rec, size_t encoded_bytes);
  void erase(std::string_view dkey);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return index_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    std::string key;
    Record rec;
    size_t cost;
  };
  void drop(std::list<Entry>::iterator it);

  size_t capacity_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  std::list<Entry> lru_;  // most recently used first
  // Keys view the entries' own strings (list nodes never move).
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace tally::store
