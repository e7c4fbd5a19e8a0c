// Versioned records on top of a Disk: one DVV set per (keyspace, key).
//
// Three things make it more than a map:
//  - Group commit. Writes that arrive in the same event-loop turn go to the
//    disk as one batch with one fsync (docs/architecture.md, Storage);
//    while a batch is on its way, the next one gathers. Batches are
//    written strictly one after another, so a later write is never durable
//    before an earlier one.
//  - Read-modify-write per key. A replica's update of a DVV set reads the
//    current set, computes the next and writes it. Updates of one key run one
//    at a time, each seeing the one before (even before it is durable), so
//    concurrent writers cannot lose each other's versions.
//  - A cache of the records written last (store/record_cache.hpp), so the
//    read of a read-modify-write, and a get, seldom reach LevelDB.
//  - A filter of the keys on disk (store/key_filter.hpp), so a key that was
//    never written is known absent without LevelDB (once start_key_filter
//    has scanned what the disk held).
//
// A write is acknowledged (its callback runs with ok) only when its batch is
// durable by the policy. After a disk error the store is *failing*: the batch
// and everything gathered behind it fail (whether the batch reached the disk
// is unknown), and every write after it fails at once, while reads go on. It
// takes writes again only after disk_reopened(), and then forgets everything
// it held in memory (the cache, each key's newest record): the failed batch
// may be in the reopened database or not, and only a read tells which.
// Nothing computed from a read made before the reopen is written after it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/config.hpp"
#include "quorum/version.hpp"
#include "store/disk.hpp"
#include "store/key_filter.hpp"
#include "store/record_cache.hpp"
#include "tally/status.hpp"

namespace tally::store {

struct RecordStoreStats {
  uint64_t writes = 0;         // records written
  uint64_t batches = 0;        // disk batches (fsyncs, with durability = fsync)
  uint64_t reads = 0;
  uint64_t write_errors = 0;
  uint64_t filtered_reads = 0;  // reads the key filter answered: never written
};

class RecordStore {
 public:
  using Defer = std::function<void(std::function<void()>)>;  // run at the end of this loop turn
  using GetDone = std::function<void(Result<std::optional<quorum::DvvSet>>)>;
  // Computes the next record from the current one (nullptr: none yet). An error
  // aborts the update and nothing is written.
  using UpdateFn = std::function<Result<quorum::DvvSet>(const quorum::DvvSet* current)>;
  // A record as the store holds it: shared with the cache, never changed.
  using Record = RecordCache::Record;
  // The record written (never nullptr): shared, so a caller that only needs
  // the outcome (a replica) copies nothing.
  using UpdateDone = std::function<void(Result<Record>)>;

  // `cache_bytes`: the budget of the record cache (0: none); `filter_bytes`:
  // the key filter's (0: none).
  RecordStore(Disk& disk, Durability durability, Defer defer, size_t cache_bytes = 0, size_t filter_bytes = 0);

  // Scans the data keys on disk into the key filter, in pages on the disk's
  // own time; the filter answers only once the scan is through. Writes may
  // run meanwhile (they add their keys as they go). Call once, at start.
  void start_key_filter();

  // The record of (keyspace, key) as durable on disk; nullopt if never written.
  void get(std::string_view keyspace, std::string_view key, GetDone done);

  // Told of the record an update computed, as soon as it is computed and
  // queued for the disk, before it is durable (it may never be: the disk can
  // still fail). Runs inside the store's turn at the key: it may not call the store.
  using Computed = std::function<void(const Record&)>;

  // Read-modify-write of one key (see above). `done` gets the record written,
  // once durable, or the error from `fn` or the disk; `computed`, if given,
  // the record as soon as `fn` made it.
  void update(std::string_view keyspace, std::string_view key, UpdateFn fn, UpdateDone done,
              Computed computed = nullptr);

  // The same, on any disk key (hints live under their own prefix).
  void update_at(std::string dkey, UpdateFn fn, UpdateDone done, Computed computed = nullptr);
  void get_at(std::string dkey, GetDone done);
  // Removes the record at `dkey` if `pred` holds for it, in turn with the
  // key's updates (so an update that lands first is never erased unseen).
  // `done` gets true when it erased.
  using ErasePred = std::function<bool(const quorum::DvvSet* current)>;
  void erase_if(std::string dkey, ErasePred pred, std::function<void(Result<bool>)> done);
  // Node-local state that is not a record (the mint epochs) at `dkey`: written
  // in the store's batch order like any update, so it is durable before any
  // write queued after this call. `done` once durable.
  void put_raw(std::string dkey, std::string bytes, std::function<void(Status)> done);
  void get_raw(std::string dkey, std::function<void(Result<std::optional<std::string>>)> done);
  // Up to `limit` records with keys in [start, end), in key order.
  using ScanDone = std::function<void(Result<std::vector<std::pair<std::string, quorum::DvvSet>>>)>;
  void scan(std::string start, std::string end, size_t limit, ScanDone done);

  // Told of every record the store takes as a key's newest, in the order a
  // key's updates run (before it is durable; nullptr: erased). Anti-entropy's
  // trees follow the store this way. One observer; it may not call the store.
  using Observer = std::function<void(const std::string& dkey, const quorum::DvvSet* record)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // The keyspace and key of a data key (data_key's inverse); false for a key
  // that is not a record's (a hint's, the Raft log's).
  static bool parse_data_key(std::string_view dkey, std::string_view& keyspace, std::string_view& key);
  // The first data key and the end of all data keys, for a scan of every record.
  static std::string data_begin();
  static std::string data_end();

  const RecordStoreStats& stats() const { return stats_; }
  const RecordCache& cache() const { return cache_; }
  // Whether writes are durable only after an fsync (durability = fsync).
  bool syncs() const { return sync_; }
  const KeyFilter& key_filter() const { return filter_; }
  // Ok, or the disk error the store is failing with (see above).
  const Status& health() const { return failed_; }

  // The disk stopped writes with `why` (store/disk.hpp): fail every write
  // from now on, as after a batch of this store's own failed.
  void disk_failed(const Status& why);
  // The disk was reopened: forget what memory holds of records and take
  // writes again.
  void disk_reopened();

  // The disk key of (keyspace, key): a tag byte, the keyspace's length, the
  // keyspace, the key. Keyspace names are at most 255 bytes.
  static std::string data_key(std::string_view keyspace, std::string_view key);
  // The same layout under another tag byte: other per-key state (the Paxos
  // state of linearizable keyspaces, 'p').
  static std::string key_under(char tag, std::string_view keyspace, std::string_view key);

 private:
  // The next record (nullopt: erase the key), or an error that writes nothing.
  using Step = std::function<Result<std::optional<quorum::DvvSet>>(const quorum::DvvSet* current)>;
  // The record written (nullptr: erased), once durable.
  using StepDone = std::function<void(Result<Record>)>;
  // Why a write is refused while the store is failing.
  Status stopped() const;
  // Fails the writes gathered for the next batch.
  void fail_gathered();
  struct Pending {
    Step fn;
    StepDone done;
    Computed computed;
  };
  void enqueue(std::string dkey, Step fn, StepDone done, Computed computed = nullptr);
  struct KeyState {
    // Waiting steps from `head` on (a vector, not a deque: most keys see one
    // step, and a deque allocates two blocks as it is made).
    std::vector<Pending> queue;
    size_t head = 0;
    bool busy = false;                    // an update is computing (maybe waiting on a read)
    bool have_latest = false;             // `latest` is the newest record, written or in a batch
    Record latest;
    int unflushed = 0;                    // writes of this key not yet completed

    bool waiting() const { return head < queue.size(); }
    Pending pop();
  };
  // A key's entry in `keys_`: its disk key and state. Entries never move (a
  // node-based map), and one is erased only when nothing refers to it: no
  // step queued or computing, no write in flight (maybe_forget).
  using KeyEntry = std::pair<const std::string, KeyState>;

  void run_next(KeyEntry* k);
  // Runs the key's first queued step on its `latest` record.
  void apply(KeyEntry* k);
  void enqueue_write(std::string dkey, std::optional<std::string> bytes, std::function<void(Status)> done);
  void flush();
  void maybe_forget(KeyEntry* k);
  // A record's key (tag 'd'), not a hint's or other node state's.
  static bool is_data_key(std::string_view dkey);
  // True when the filter says no record was ever written at `dkey`.
  bool known_absent(std::string_view dkey) const;
  void scan_keys_from(std::string start);

  Disk& disk_;
  bool sync_;
  Defer defer_;
  std::unordered_map<std::string, KeyState> keys_;  // only keys with work in progress
  RecordCache cache_;
  KeyFilter filter_;  // over budget from the start when its budget is 0: off
  // Where the key filter's scan stopped on a disk error (resumed after the
  // reopen); nullopt when it is not stopped.
  std::optional<std::string> filter_scan_stopped_at_;

  WriteBatch gathering_;
  std::vector<std::function<void(Status)>> gathering_done_;
  bool flush_scheduled_ = false;
  bool flushing_ = false;
  Status failed_;
  // Bumped by disk_reopened: a disk read started before it is stale.
  uint64_t generation_ = 0;
  RecordStoreStats stats_;
  Observer observer_;
};

}  // namespace tally::store
