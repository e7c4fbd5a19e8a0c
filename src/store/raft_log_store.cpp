#include "store/raft_log_store.hpp"

#include "codec/raft_codec.hpp"

namespace tally::store {

namespace {

const std::string kHardStateKey = "rh";
const std::string kSnapshotKey = "rs";
const std::string kEntryPrefix = "re";
const std::string kNodeIdKey = "rn";

std::string entry_key(uint64_t index) {
  std::string k = kEntryPrefix;
  for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>(index >> shift));
  return k;
}

// Deletes the entry keys of [from, to] in `batch`.
void erase_entries(WriteBatch& batch, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i <= to && i != 0; ++i) batch.erase(entry_key(i));
}

}  // namespace

void RaftLogStore::load(std::function<void(Result<raft::PersistentState>)> done) {
  auto state = std::make_shared<raft::PersistentState>();
  disk_.read(kHardStateKey, [this, state, done = std::move(done)](Result<std::optional<std::string>> hs) mutable {
    if (!hs.ok()) return done(hs.status());
    if (*hs) {
      auto h = codec::decode_hard_state(**hs);
      if (!h.ok()) return done(h.status());
      state->hard_state = *h;
    }
    disk_.read(kSnapshotKey, [this, state, done = std::move(done)](Result<std::optional<std::string>> sn) mutable {
      if (!sn.ok()) return done(sn.status());
      if (*sn) {
        auto s = codec::decode_snapshot(**sn);
        if (!s.ok()) return done(s.status());
        state->snapshot = std::make_shared<const raft::Snapshot>(std::move(*s));
      }
      std::string end = kEntryPrefix;
      end.back() = static_cast<char>(end.back() + 1);
      disk_.scan(kEntryPrefix, end, SIZE_MAX, [this, state, done = std::move(done)](Result<std::vector<KeyValue>> r) {
        if (!r.ok()) return done(r.status());
        snapshot_index_ = state->snapshot ? state->snapshot->metadata.index : 0;
        for (const auto& kv : *r) {
          auto e = codec::decode_raft_entry(kv.value);
          if (!e.ok()) return done(e.status());
          uint64_t want = state->entries.empty() ? snapshot_index_ + 1 : state->entries.back().index + 1;
          if (e->index != want) {
            return done(Status::Corruption("raft log has a gap: entry " + std::to_string(e->index) +
                                           " where " + std::to_string(want) + " was expected"));
          }
          state->entries.push_back(std::move(*e));
        }
        first_ = snapshot_index_ + 1;
        last_ = state->entries.empty() ? snapshot_index_ : state->entries.back().index;
        done(std::move(*state));
      });
    });
  });
}

void RaftLogStore::persist(const raft::Ready& ready, std::function<void(Status)> done) {
  WriteBatch batch;
  uint64_t snapshot_index = snapshot_index_, first = first_, last = last_;
  if (ready.snapshot) {
    // The leader's snapshot replaces the whole log (Figure 13, rules 6-7).
    erase_entries(batch, first, last);
    batch.put(kSnapshotKey, codec::encode_snapshot(*ready.snapshot));
    snapshot_index = ready.snapshot->metadata.index;
    first = snapshot_index + 1;
    last = snapshot_index;
  }
  uint64_t from = ready.truncate_from;
  if (from != 0) {
    bool contiguous = from > snapshot_index && from <= last + 1;
    for (size_t i = 0; i < ready.entries.size(); ++i) contiguous = contiguous && ready.entries[i].index == from + i;
    if (!contiguous) {
      done(Status::InvalidArgument("raft log append at " + std::to_string(from) +
                                   " is not contiguous with the log (" + std::to_string(snapshot_index) +
                                   ", " + std::to_string(last) + "]"));
      return;
    }
    erase_entries(batch, from, last);
    for (const auto& e : ready.entries) batch.put(entry_key(e.index), codec::encode_raft_entry(e));
    last = ready.entries.empty() ? from - 1 : ready.entries.back().index;
  }
  if (ready.hard_state) batch.put(kHardStateKey, codec::encode_hard_state(*ready.hard_state));
  if (batch.empty()) {
    disk_.write(std::move(batch), false, std::move(done));
    return;
  }
  snapshot_index_ = snapshot_index;
  first_ = first;
  last_ = last;
  disk_.write(std::move(batch), ready.must_sync, std::move(done));
}

void RaftLogStore::compact(std::shared_ptr<const raft::Snapshot> snapshot, std::function<void(Status)> done) {
  uint64_t index = snapshot->metadata.index;
  if (index <= snapshot_index_ || index > last_) {
    done(Status::InvalidArgument("snapshot at " + std::to_string(index) + " is outside (" +
                                 std::to_string(snapshot_index_) + ", " + std::to_string(last_) + "]"));
    return;
  }
  WriteBatch batch;
  batch.put(kSnapshotKey, codec::encode_snapshot(*snapshot));
  erase_entries(batch, first_, index);
  snapshot_index_ = index;
  first_ = index + 1;
  disk_.write(std::move(batch), true, std::move(done));
}

void RaftLogStore::load_node_id(std::function<void(Result<uint64_t>)> done) {
  disk_.read(kNodeIdKey, [done = std::move(done)](Result<std::optional<std::string>> r) {
    if (!r.ok()) return done(r.status());
    if (!*r) return done(uint64_t{0});
    const std::string& v = **r;
    if (v.size() != 8) return done(Status::Corruption("stored node id has " + std::to_string(v.size()) + " bytes"));
    uint64_t id = 0;
    for (char c : v) id = (id << 8) | static_cast<uint8_t>(c);
    done(id);
  });
}

void RaftLogStore::save_node_id(uint64_t id, std::function<void(Status)> done) {
  std::string v;
  for (int shift = 56; shift >= 0; shift -= 8) v.push_back(static_cast<char>(id >> shift));
  WriteBatch batch;
  batch.put(kNodeIdKey, std::move(v));
  disk_.write(std::move(batch), true, std::move(done));
}

}  // namespace tally::store
