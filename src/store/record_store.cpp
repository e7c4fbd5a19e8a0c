#include "store/record_store.hpp"

#include <memory>
#include <utility>

#include "codec/record_codec.hpp"

namespace tally::store {

namespace {
constexpr char kDataTag = 'd';

// A disk read of one record: absent, a record, or why not.
Result<std::optional<quorum::DvvSet>> decode_read(const Result<std::optional<std::string>>& r) {
  if (!r.ok()) return r.status();
  if (!r->has_value()) return std::optional<quorum::DvvSet>();
  auto rec = codec::decode_record(**r);
  if (!rec.ok()) return rec.status();
  return std::optional<quorum::DvvSet>(std::move(*rec));
}
}  // namespace

std::string RecordStore::data_key(std::string_view keyspace, std::string_view key) {
  return key_under(kDataTag, keyspace, key);
}

std::string RecordStore::key_under(char tag, std::string_view keyspace, std::string_view key) {
  std::string k;
  k.reserve(2 + keyspace.size() + key.size());
  k.push_back(tag);
  k.push_back(static_cast<char>(static_cast<uint8_t>(keyspace.size())));
  k.append(keyspace);
  k.append(key);
  return k;
}

bool RecordStore::parse_data_key(std::string_view dkey, std::string_view& keyspace, std::string_view& key) {
  if (dkey.size() < 2 || !is_data_key(dkey)) return false;
  const size_t len = static_cast<uint8_t>(dkey[1]);
  if (dkey.size() < 2 + len) return false;
  keyspace = dkey.substr(2, len);
  key = dkey.substr(2 + len);
  return true;
}

bool RecordStore::is_data_key(std::string_view dkey) { return !dkey.empty() && dkey[0] == kDataTag; }

std::string RecordStore::data_begin() { return std::string(1, kDataTag); }
std::string RecordStore::data_end() { return std::string(1, kDataTag + 1); }

RecordStore::RecordStore(Disk& disk, Durability durability, Defer defer, size_t cache_bytes, size_t filter_bytes)
    : disk_(disk),
      sync_(durability == Durability::kFsync),
      defer_(std::move(defer)),
      cache_(cache_bytes),
      filter_(filter_bytes) {}

void RecordStore::start_key_filter() {
  if (!filter_.over_budget()) scan_keys_from(data_begin());  // a budget of 0: no filter
}

// One page of keys at a time, each page a fresh read of the disk: a key
// written after its page was read was added by its write (enqueue_write).
void RecordStore::scan_keys_from(std::string start) {
  constexpr size_t kPage = 4096;
  disk_.scan(start, data_end(), kPage, [this, start](Result<std::vector<KeyValue>> r) {
    if (!r.ok()) {
      // The disk failed (or is being reopened): go on from here once it is back.
      filter_scan_stopped_at_ = start;
      return;
    }
    for (const KeyValue& kv : *r) filter_.add(kv.key);
    if (r->size() < kPage) return filter_.set_complete();
    scan_keys_from(r->back().key + std::string(1, '\0'));
  });
}

bool RecordStore::known_absent(std::string_view dkey) const {
  return filter_.usable() && is_data_key(dkey) && !filter_.may_contain(dkey);
}

Status RecordStore::stopped() const {
  return Status::IoError("the store refuses writes until the disk recovers (it retries by itself): " +
                         failed_.message());
}

void RecordStore::disk_failed(const Status& why) {
  if (failed_.ok()) failed_ = why;
  // A batch in flight fails what gathered behind it when it completes.
  if (!flushing_) fail_gathered();
}

void RecordStore::disk_reopened() {
  failed_ = Status::Ok();
  ++generation_;
  cache_.clear();
  // The filter stays: every key ever handed to the disk is in it, whether
  // its batch reached the disk or not.
  if (filter_scan_stopped_at_) scan_keys_from(*std::exchange(filter_scan_stopped_at_, std::nullopt));
  // Only keys waiting on a disk read can be here (every write failed or
  // completed before the reopen); their read is stale (run_next).
  for (auto& [dkey, ks] : keys_) {
    ks.have_latest = false;
    ks.latest.reset();
  }
}

void RecordStore::fail_gathered() {
  auto dones = std::move(gathering_done_);
  gathering_done_.clear();
  gathering_ = WriteBatch{};
  const Status why = stopped();
  for (auto& d : dones) d(why);
}

void RecordStore::get(std::string_view keyspace, std::string_view key, GetDone done) {
  get_at(data_key(keyspace, key), std::move(done));
}

void RecordStore::get_at(std::string dkey, GetDone done) {
  ++stats_.reads;
  if (Record hit = cache_.find(dkey)) {
    // What the disk holds (see record_cache.hpp); answered later, as a disk would.
    defer_([done = std::move(done), hit = std::move(hit)] { done(std::optional<quorum::DvvSet>(*hit)); });
    return;
  }
  if (known_absent(dkey)) {
    ++stats_.filtered_reads;
    defer_([done = std::move(done)] { done(std::optional<quorum::DvvSet>()); });
    return;
  }
  disk_.read(std::move(dkey), [done = std::move(done)](Result<std::optional<std::string>> r) {
    done(decode_read(r));
  });
}

void RecordStore::update(std::string_view keyspace, std::string_view key, UpdateFn fn, UpdateDone done,
                         Computed computed) {
  update_at(data_key(keyspace, key), std::move(fn), std::move(done), std::move(computed));
}

void RecordStore::update_at(std::string dkey, UpdateFn fn, UpdateDone done, Computed computed) {
  enqueue(
      std::move(dkey),
      [fn = std::move(fn)](const quorum::DvvSet* cur) -> Result<std::optional<quorum::DvvSet>> {
        auto next = fn(cur);
        if (!next.ok()) return next.status();
        return std::optional<quorum::DvvSet>(std::move(*next));
      },
      std::move(done), std::move(computed));  // an update always writes a record, never an erase
}

void RecordStore::erase_if(std::string dkey, ErasePred pred, std::function<void(Result<bool>)> done) {
  auto erased = std::make_shared<bool>(false);
  enqueue(
      std::move(dkey),
      [pred = std::move(pred), erased](const quorum::DvvSet* cur) -> Result<std::optional<quorum::DvvSet>> {
        if (!pred(cur)) return Status::Aborted("kept");
        *erased = true;
        return std::optional<quorum::DvvSet>();
      },
      [done = std::move(done), erased](Result<Record> r) {
        if (!r.ok() && r.status().code() == Code::kAborted) return done(false);
        if (!r.ok()) return done(r.status());
        done(*erased);
      });
}

void RecordStore::put_raw(std::string dkey, std::string bytes, std::function<void(Status)> done) {
  if (!failed_.ok()) return defer_([done = std::move(done), s = stopped()] { done(s); });
  enqueue_write(std::move(dkey), std::move(bytes), std::move(done));
}

void RecordStore::get_raw(std::string dkey, std::function<void(Result<std::optional<std::string>>)> done) {
  disk_.read(std::move(dkey), std::move(done));
}

void RecordStore::scan(std::string start, std::string end, size_t limit, ScanDone done) {
  disk_.scan(std::move(start), std::move(end), limit,
             [done = std::move(done)](Result<std::vector<KeyValue>> r) {
               if (!r.ok()) return done(r.status());
               std::vector<std::pair<std::string, quorum::DvvSet>> out;
               for (auto& kv : *r) {
                 auto rec = codec::decode_record(kv.value);
                 if (!rec.ok()) return done(Status::Corruption(rec.status().message() + " (key of " +
                                                               std::to_string(kv.key.size()) + " bytes)"));
                 out.emplace_back(std::move(kv.key), std::move(*rec));
               }
               done(std::move(out));
             });
}

RecordStore::Pending RecordStore::KeyState::pop() {
  Pending p = std::move(queue[head++]);
  if (head == queue.size()) {
    queue.clear();
    head = 0;
  } else if (head >= 64 && head * 2 >= queue.size()) {
    // A key that never drains must not keep every step it ever ran.
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(head));
    head = 0;
  }
  return p;
}

void RecordStore::enqueue(std::string dkey, Step fn, StepDone done, Computed computed) {
  if (!failed_.ok()) {
    done(stopped());
    return;
  }
  KeyEntry* k = &*keys_.try_emplace(std::move(dkey)).first;
  k->second.queue.push_back({std::move(fn), std::move(done), std::move(computed)});
  if (!k->second.busy) run_next(k);
}

// Runs the key's queued steps, one after another, for as long as each can
// run at once (the key's latest record is known, or cached); waits for a disk
// read otherwise. A loop, not recursion: thousands of updates may queue on one key.
void RecordStore::run_next(KeyEntry* k) {
  const std::string& dkey = k->first;
  KeyState& ks = k->second;
  for (;;) {
    if (!ks.waiting()) {
      ks.busy = false;
      maybe_forget(k);
      return;
    }
    ks.busy = true;
    if (!failed_.ok()) {
      // The store stopped: fail what is queued without computing or writing it.
      ks.pop().done(stopped());
      continue;
    }
    if (!ks.have_latest) {
      // No write of this key is in flight (else `latest` would be known), so
      // the cache and the disk hold its newest record.
      if (Record hit = cache_.find(dkey)) {
        ks.latest = std::move(hit);
        ks.have_latest = true;
      } else if (known_absent(dkey)) {
        // Never written: no record, as a disk read would say.
        ++stats_.filtered_reads;
        ks.latest = nullptr;
        ks.have_latest = true;
      } else {
        disk_.read(dkey, [this, k, generation = generation_](Result<std::optional<std::string>> r) {
          Result<std::optional<quorum::DvvSet>> cur = decode_read(r);
          KeyState& st = k->second;
          if (generation != generation_) {
            // Read before the database was reopened: it may miss a failed
            // batch the reopened one holds. This step fails; the next reads again.
            st.pop().done(Status::IoError("the store was reopened after a disk error while this write waited"));
          } else if (cur.ok()) {
            st.latest = cur->has_value() ? std::make_shared<const quorum::DvvSet>(std::move(**cur)) : nullptr;
            st.have_latest = true;
            apply(k);
          } else {
            // Unreadable: this step fails; the next one reads again.
            st.pop().done(cur.status());
          }
          run_next(k);
        });
        return;
      }
    }
    apply(k);
  }
}

void RecordStore::apply(KeyEntry* k) {
  KeyState& ks = k->second;
  Pending p = ks.pop();
  if (!failed_.ok()) {
    p.done(stopped());
    return;
  }
  Result<std::optional<quorum::DvvSet>> next = p.fn(ks.latest.get());
  if (!next.ok()) {
    p.done(next.status());
    return;
  }
  Record rec = next->has_value() ? std::make_shared<const quorum::DvvSet>(std::move(**next)) : nullptr;
  std::optional<std::string> bytes;
  if (rec) bytes = codec::encode_record(*rec);
  const size_t size = bytes ? bytes->size() : 0;
  // The next update of this key builds on `latest` at once: batches are
  // written in order, so it can never be durable before this one.
  ks.latest = rec;
  ks.have_latest = true;
  ks.unflushed++;
  if (observer_) observer_(k->first, rec.get());
  if (p.computed && rec) p.computed(rec);
  enqueue_write(k->first, std::move(bytes),
                [this, k, done = std::move(p.done), rec = std::move(rec), size](Status s) mutable {
                  KeyState& st = k->second;
                  st.unflushed--;
                  if (!s.ok()) {
                    // What we hold may not be on disk: read afresh next time.
                    st.have_latest = false;
                    st.latest.reset();
                    cache_.erase(k->first);
                  } else {
                    // Batches complete in order, so the cache ends with the newest
                    // (an erase leaves nothing cached).
                    cache_.put(k->first, rec, size);
                  }
                  // Before `done`, which may queue more work on this key and
                  // see it through (and forget the key) before returning.
                  maybe_forget(k);
                  if (!s.ok()) return done(s);
                  done(std::move(rec));
                });
}

void RecordStore::maybe_forget(KeyEntry* k) {
  const KeyState& ks = k->second;
  if (!ks.busy && !ks.waiting() && ks.unflushed == 0) keys_.erase(keys_.find(k->first));
}

void RecordStore::enqueue_write(std::string dkey, std::optional<std::string> bytes,
                                std::function<void(Status)> done) {
  if (bytes) {
    // Before the disk has it: the filter must never miss a key the disk may hold.
    if (is_data_key(dkey)) filter_.add(dkey);
    gathering_.put(std::move(dkey), std::move(*bytes));
  } else {
    gathering_.erase(std::move(dkey));
  }
  gathering_done_.push_back(std::move(done));
  ++stats_.writes;
  if (!flushing_ && !flush_scheduled_) {
    flush_scheduled_ = true;
    defer_([this] { flush(); });
  }
}

void RecordStore::flush() {
  flush_scheduled_ = false;
  if (gathering_.empty() || flushing_) return;
  if (!failed_.ok()) return fail_gathered();
  flushing_ = true;
  ++stats_.batches;
  WriteBatch batch = std::move(gathering_);
  gathering_ = WriteBatch{};
  auto dones = std::move(gathering_done_);
  gathering_done_.clear();
  disk_.write(std::move(batch), sync_, [this, dones = std::move(dones)](Status s) mutable {
    flushing_ = false;
    if (!s.ok()) {
      stats_.write_errors++;
      if (failed_.ok()) failed_ = s;
    }
    if (!failed_.ok()) {
      // Everything gathered meanwhile fails too: after a failed batch we cannot
      // know what is on disk, so nothing more is acknowledged until the
      // database is reopened.
      for (auto& d : gathering_done_) dones.push_back(std::move(d));
      gathering_done_.clear();
      gathering_ = WriteBatch{};
    }
    Status result = s.ok() && failed_.ok() ? Status::Ok() : (s.ok() ? failed_ : s);
    for (auto& d : dones) d(result);
    if (!gathering_.empty() && !flush_scheduled_) {
      flush_scheduled_ = true;
      defer_([this] { flush(); });
    }
  });
}

}  // namespace tally::store
