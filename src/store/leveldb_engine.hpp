// LevelDB, behind plain synchronous calls. Those that may wait on the disk (a
// synced write, a scan) the node's Env runs on worker threads; an unsynced
// write or a point read runs on the event loop (node/uv_env.cpp says why).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/disk.hpp"
#include "tally/status.hpp"

namespace leveldb {
class DB;
}

namespace tally::store {

// How much nicer than the rest of the process LevelDB's background thread,
// which flushes memtables and compacts, runs (capped at 19): requests come
// first when the two compete for a core.
inline constexpr int kBackgroundNice = 10;

class LevelDbEngine {
 public:
  // Opens (creating if missing) the database in `dir`. Errors name the folder
  // and LevelDB's reason, e.g. a lock held by another tallyd.
  static Result<std::unique_ptr<LevelDbEngine>> open(const std::string& dir, size_t cache_bytes = 64 << 20);
  // Whether opening the database in `dir` again looks likely to work, asked
  // before a failed one is closed (a closed database serves no reads): a few
  // file descriptors can be had, and the file system has room for the
  // database's logs written out as tables (what an open does with them).
  // Errors say what is short, e.g. "Too many open files".
  static Status can_reopen(const std::string& dir);
  ~LevelDbEngine();

  // Thread-safe, as LevelDB is. Writes run one at a time, and after one fails
  // every later write fails with its error, unapplied (store/disk.hpp says
  // why): LevelDB itself goes on after a failed log append, and a batch
  // appended behind the torn record would be lost with it, or make the next
  // open fail on a corrupt log (paranoid_checks). Open the database again to
  // write again.
  Status write(const WriteBatch& batch, bool sync);
  Result<std::optional<std::string>> read(const std::string& key);
  Result<std::vector<KeyValue>> scan(const std::string& start, const std::string& end, size_t limit);
  // LevelDB's own figures (leveldb.sstables, leveldb.stats,
  // leveldb.approximate-memory-usage), read from memory.
  DiskProperties properties() const;

 private:
  explicit LevelDbEngine(std::unique_ptr<leveldb::DB> db, std::string dir);
  std::unique_ptr<leveldb::DB> db_;
  std::string dir_;
  std::mutex write_mu_;
  Status write_failure_;  // under write_mu_
  struct CacheHolder;
  std::unique_ptr<CacheHolder> cache_;
};

}  // namespace tally::store
