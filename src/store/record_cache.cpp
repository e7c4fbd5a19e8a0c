#include "store/record_cache.hpp"

#include <functional>

namespace tally::store {

namespace {
// What an entry costs beyond its encoded record: the decoded form's vectors
// and strings, the key, the entry and its index slots.
constexpr size_t kEntryOverhead = 160;
}  // namespace

uint64_t RecordCache::hash_of(std::string_view dkey) { return std::hash<std::string_view>{}(dkey); }

size_t RecordCache::probe(std::string_view dkey, uint64_t h) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.entry == kNone) return i;
    if (s.hash == h && entries_[s.entry].key == dkey) return i;
  }
}

RecordCache::Record RecordCache::find(std::string_view dkey) {
  if (live_ == 0) {
    ++misses_;
    return nullptr;
  }
  const Slot& s = slots_[probe(dkey, hash_of(dkey))];
  if (s.entry == kNone) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  Entry& e = entries_[s.entry];
  e.referenced = true;
  return e.rec;
}

void RecordCache::put(std::string_view dkey, Record rec, size_t encoded_bytes) {
  if (!rec) return erase(dkey);
  const size_t cost = encoded_bytes + dkey.size() + kEntryOverhead;
  const uint64_t h = hash_of(dkey);
  if (live_ > 0) {
    const size_t slot = probe(dkey, h);
    if (slots_[slot].entry != kNone) {
      // In place: the usual case, a key written again.
      if (cost > capacity_) return drop(slot);
      Entry& e = entries_[slots_[slot].entry];
      bytes_ = bytes_ - e.cost + cost;
      e.rec = std::move(rec);
      e.cost = cost;
      e.referenced = true;
      if (bytes_ > capacity_) make_room(0);
      return;
    }
  }
  if (cost > capacity_) return;  // too big to keep (or caching is off)
  make_room(cost);
  if ((live_ + 1) * 2 > slots_.size()) grow_index();
  uint32_t idx;
  if (free_ != kNone) {
    idx = free_;
    free_ = entries_[idx].next_free;
  } else {
    idx = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[idx];
  e.rec = std::move(rec);
  e.key.assign(dkey);
  e.cost = cost;
  e.next_free = kNone;
  e.referenced = false;  // earns its second chance with a hit
  slots_[probe(dkey, h)] = Slot{h, idx};
  bytes_ += cost;
  ++live_;
}

void RecordCache::erase(std::string_view dkey) {
  if (live_ == 0) return;
  const size_t slot = probe(dkey, hash_of(dkey));
  if (slots_[slot].entry != kNone) drop(slot);
}

void RecordCache::clear() {
  entries_.clear();
  slots_.clear();
  free_ = kNone;
  hand_ = 0;
  bytes_ = 0;
  live_ = 0;
}

void RecordCache::make_room(size_t need) {
  // Each full turn of the hand clears every referenced bit, so this ends.
  while (bytes_ + need > capacity_ && live_ > 0) {
    if (hand_ >= entries_.size()) hand_ = 0;
    Entry& e = entries_[hand_];
    if (e.rec && e.referenced) {
      e.referenced = false;
    } else if (e.rec) {
      drop(probe(e.key, hash_of(e.key)));
    }
    ++hand_;
  }
}

void RecordCache::drop(size_t slot) {
  const uint32_t idx = slots_[slot].entry;
  const size_t mask = slots_.size() - 1;
  size_t hole = slot;
  // Backward-shift deletion: pull later slots of the probe run into the hole
  // unless their home lies cyclically in (hole, j], so no probe ever stops
  // short at an empty slot (no tombstones).
  for (size_t j = (hole + 1) & mask; slots_[j].entry != kNone; j = (j + 1) & mask) {
    const size_t home = slots_[j].hash & mask;
    const bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Slot{};
  Entry& e = entries_[idx];
  bytes_ -= e.cost;
  --live_;
  e.rec.reset();
  e.key = std::string();
  e.referenced = false;
  e.next_free = free_;
  free_ = idx;
}

void RecordCache::grow_index() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.entry == kNone) continue;
    size_t i = s.hash & mask;
    while (slots_[i].entry != kNone) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace tally::store
