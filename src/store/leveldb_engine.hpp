// LevelDB, behind plain synchronous calls. Those that may wait on the disk (a
// synced write, a scan) the node's Env runs on worker threads; an unsynced
// write or a point read runs on the event loop (node/uv_env.cpp says why).
#pragma once

#include <memory>
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
  ~LevelDbEngine();

  // Thread-safe, as LevelDB is.
  Status write(const WriteBatch& batch, bool sync);
  Result<std::optional<std::string>> read(const std::string& key);
  Result<std::vector<KeyValue>> scan(const std::string& start, const std::string& end, size_t limit);

 private:
  explicit LevelDbEngine(std::unique_ptr<leveldb::DB> db, std::string dir);
  std::unique_ptr<leveldb::DB> db_;
  std::string dir_;
  struct CacheHolder;
  std::unique_ptr<CacheHolder> cache_;
};

}  // namespace tally::store
