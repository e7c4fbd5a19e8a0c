// The ordered key-value disk underneath a node: LevelDB in production
// (store/leveldb_engine.hpp, run off the event loop by the node's Env), an
// in-memory disk that forgets unsynced writes on a crash in the simulator.
//
// Every completion runs later on the node's event loop, never inside the call
// that started it: callers may hold state across the call without re-entrancy.
//
// A write error stops writes until the database is reopened (docs/operations.md,
// "A failing disk"). The failed batch may be half in the database's log, and a
// batch written behind it could be lost with it when the log is read back; so
// from the first failed write on, every write fails at once with that error,
// while reads go on. reopen() closes the database and opens it again from
// what is on disk: the failed batch is then there whole or not at all, and
// what was acknowledged before it is there.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tally/status.hpp"

namespace tally::store {

struct WriteBatch {
  struct Op {
    std::string key;
    std::optional<std::string> value;  // nullopt: delete the key
  };
  std::vector<Op> ops;

  void put(std::string key, std::string value) { ops.push_back({std::move(key), std::move(value)}); }
  void erase(std::string key) { ops.push_back({std::move(key), std::nullopt}); }
  bool empty() const { return ops.empty(); }
};

struct KeyValue {
  std::string key;
  std::string value;
};

// What the database reports of itself, for the metrics door. LevelDB
// counts no compactions or write stalls; it gives per level its files and
// the time and megabytes its compactions took (whole seconds and MiB), and
// slows every write by 1 ms while level 0 holds 8 files or more (stops them
// at 12): level 0's file count is the stall warning.
struct DiskProperties {
  struct Level {
    uint64_t files = 0;
    uint64_t bytes = 0;
    uint64_t compaction_seconds = 0;
    uint64_t compaction_read_mib = 0;
    uint64_t compaction_written_mib = 0;
  };
  std::vector<Level> levels;
  uint64_t memory_bytes = 0;  // memtables and cached tables, approximately
};

class Disk {
 public:
  using WriteDone = std::function<void(Status)>;
  using ReadDone = std::function<void(Result<std::optional<std::string>>)>;
  using ScanDone = std::function<void(Result<std::vector<KeyValue>>)>;

  virtual ~Disk() = default;

  // Applies the batch atomically, in order. With `sync`, the batch is on stable
  // storage when done(ok) runs; without, it survives a process crash but not a
  // power loss. An error means the batch may or may not have been applied.
  virtual void write(WriteBatch batch, bool sync, WriteDone done) = 0;

  // The value of `key`, nullopt when absent.
  virtual void read(std::string key, ReadDone done) = 0;

  // Up to `limit` pairs with start <= key < end (end empty: no bound), in key order.
  virtual void scan(std::string start, std::string end, size_t limit, ScanDone done) = 0;

  // Ok, or the write error that stopped writes (see above) until reopen().
  virtual Status write_failure() const = 0;
  // Told of the write error that stops writes, once per stop, later on the
  // loop (never inside a disk call). One listener; nullptr removes it.
  virtual void set_failure_listener(std::function<void(const Status&)> listener) = 0;
  // Once every operation in flight has completed, closes the database and
  // opens it again. done(ok): writes are taken again. done(error): the cause
  // lasts, call again later; the database stays open for reads when the cause
  // showed before it was closed, else reads fail too until an open works.
  // Operations started meanwhile fail at once.
  virtual void reopen(WriteDone done) = 0;
  // What the database says of itself now; nullopt when it has nothing to say
  // (the simulator's disk, a database being reopened). Called on the loop:
  // quick, no disk I/O.
  virtual std::optional<DiskProperties> properties() const { return std::nullopt; }
};

}  // namespace tally::store
