#include "store/record_cache.hpp"

namespace tally::store {

namespace {
// What an entry costs beyond its encoded record: the decoded form's vectors
// and strings, the key, the list node and the index slot.
constexpr size_t kEntryOverhead = 160;
}  // namespace

RecordCache::Record RecordCache::find(std::string_view dkey) {
  auto it = index_.find(dkey);
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->rec;
}

void RecordCache::put(std::string_view dkey, Record rec, size_t encoded_bytes) {
  const size_t cost = encoded_bytes + dkey.size() + kEntryOverhead;
  auto it = index_.find(dkey);
  if (it != index_.end()) {
    if (cost > capacity_) return drop(it->second);
    // In place: the usual case, a key written again.
    auto entry = it->second;
    bytes_ = bytes_ - entry->cost + cost;
    entry->rec = std::move(rec);
    entry->cost = cost;
    lru_.splice(lru_.begin(), lru_, entry);
    while (bytes_ > capacity_) drop(std::prev(lru_.end()));
    return;
  }
  if (cost > capacity_) return;  // too big to keep (or caching is off)
  while (bytes_ + cost > capacity_) drop(std::prev(lru_.end()));
  lru_.push_front(Entry{std::string(dkey), std::move(rec), cost});
  index_.emplace(lru_.front().key, lru_.begin());
  bytes_ += cost;
}

void RecordCache::erase(std::string_view dkey) {
  auto it = index_.find(dkey);
  if (it != index_.end()) drop(it->second);
}

void RecordCache::drop(std::list<Entry>::iterator it) {
  bytes_ -= it->cost;
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace tally::store
