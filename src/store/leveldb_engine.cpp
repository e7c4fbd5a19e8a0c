#include "store/leveldb_engine.hpp"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <cstring>
#include <filesystem>
#include <vector>

namespace tally::store {

namespace {

// LevelDB's own Env, except that its background thread (memtable flushes and
// compactions, one thread for every database in the process) runs
// kBackgroundNice below the rest of the process. Requests come first when the
// two compete for a core; with a spare core nice changes nothing. A flush
// walks the whole memtable, a cache miss per entry: about 120 ms of CPU per
// 32 MiB, and a node's three replicas fill their memtables at the same pace,
// so they flush at the same moment. On the benchmark's two cores the three
// flushes took half the CPU for 300 ms, and nearly all puts slower than the
// p99 fell in those windows (docs/benchmarks.md).
//
// The cost, should background work fall behind under a load that saturates
// the cores: LevelDB's brakes act on the thread that writes, which for
// unsynced writes is the event loop. It waits while the previous memtable is
// still being flushed, sleeps 1 ms per write from 8 level-0 files and stops
// at 12. In a 5 minute put run at full speed the flushes kept up (see
// docs/benchmarks.md, step 11).
class BackgroundEnv : public leveldb::EnvWrapper {
 public:
  BackgroundEnv() : EnvWrapper(leveldb::Env::Default()) {}

  void Schedule(void (*fn)(void*), void* arg) override { target()->Schedule(&run, new Job{fn, arg}); }

 private:
  struct Job {
    void (*fn)(void*);
    void* arg;
  };
  static void run(void* p) {
    std::unique_ptr<Job> job(static_cast<Job*>(p));
    thread_local bool lowered = false;
    if (!lowered) {
      lowered = true;
      lower_this_thread();
    }
    job->fn(job->arg);
  }
  // On Linux a thread's nice value is its own: PRIO_PROCESS with a thread id
  // changes that thread alone. Raising it needs no privilege; should it fail,
  // the work runs as before.
  static void lower_this_thread() {
#ifdef __linux__
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, tid);
    if (errno != 0) return;
    setpriority(PRIO_PROCESS, tid, std::min(19, now + kBackgroundNice));
#endif
  }
};

// Like leveldb::Env::Default(), never destroyed: a database may still use it
// while static destructors run.
leveldb::Env* background_env() {
  static auto* env = new BackgroundEnv;
  return env;
}

}  // namespace

struct LevelDbEngine::CacheHolder {
  std::unique_ptr<leveldb::Cache> cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
};

LevelDbEngine::LevelDbEngine(std::unique_ptr<leveldb::DB> db, std::string dir)
    : db_(std::move(db)), dir_(std::move(dir)) {}

LevelDbEngine::~LevelDbEngine() {
  db_.reset();  // before the cache and filter it uses
}

Result<std::unique_ptr<LevelDbEngine>> LevelDbEngine::open(const std::string& dir,
                                                           size_t cache_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create data folder " + dir + ": " + ec.message());
  auto holder = std::make_unique<CacheHolder>();
  holder->cache.reset(leveldb::NewLRUCache(cache_bytes));
  holder->filter.reset(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;  // fail loudly on corruption rather than serve bad data
  options.env = background_env();
  options.block_cache = holder->cache.get();
  options.filter_policy = holder->filter.get();
  // Under a put load every write is a skip-list insert into the memtable,
  // and with three nodes and the load generator sharing two cores each
  // insert's search misses the cache all the way down: with 64 MiB the search
  // took 18.8% of all CPU (perf record -a), with 8 MiB 10.4%. Smaller
  // memtables flush more often and leave more to compact, and the background
  // work shows in the tail: with 16 MiB, 3 nodes had put p99 6.6-7.1 ms; with
  // 32 MiB 5.1-6.0 ms against 5.0-6.9 with 64 MiB (five alternating pairs of
  // 20 s runs, docs/benchmarks.md). The cost: up to two memtables in memory,
  // and up to 32 MiB of log to replay after a crash.
  options.write_buffer_size = 32 << 20;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Status::IoError("cannot open LevelDB in " + dir + ": " + s.ToString());
  auto engine = std::unique_ptr<LevelDbEngine>(new LevelDbEngine(std::unique_ptr<leveldb::DB>(raw), dir));
  engine->cache_ = std::move(holder);
  return engine;
}

Status LevelDbEngine::can_reopen(const std::string& dir) {
  // An open holds its lock, the manifest, CURRENT, a new log, the info log
  // and the table files it reads at once; 32 is a margin over that.
  constexpr int kProbeFds = 32;
  std::vector<int> fds;
  int err = 0;
  for (int i = 0; i < kProbeFds; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      break;
    }
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  if (err != 0) return Status::IoError("cannot reopen LevelDB in " + dir + " yet: " + std::strerror(err));
  // An open replays the logs into a table: about their size, plus a margin
  // for the manifest.
  uint64_t need = 1 << 20;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log") need += entry.file_size(ec);
  }
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) == 0) {
    const uint64_t avail = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (avail < need) {
      return Status::IoError("cannot reopen LevelDB in " + dir + " yet: " + std::strerror(ENOSPC) + " (" +
                             std::to_string(avail >> 10) + " KiB free, about " + std::to_string(need >> 10) +
                             " KiB needed to write its log out)");
    }
  }
  return Status::Ok();
}

Status LevelDbEngine::write(const WriteBatch& batch, bool sync) {
  leveldb::WriteBatch wb;
  for (const auto& op : batch.ops) {
    if (op.value) {
      wb.Put(op.key, *op.value);
    } else {
      wb.Delete(op.key);
    }
  }
  leveldb::WriteOptions wo;
  wo.sync = sync;
  std::lock_guard<std::mutex> lock(write_mu_);
  if (!write_failure_.ok()) return write_failure_;
  leveldb::Status s = db_->Write(wo, &wb);
  if (!s.ok()) {
    write_failure_ = Status::IoError("LevelDB write in " + dir_ + " failed: " + s.ToString());
    return write_failure_;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> LevelDbEngine::read(const std::string& key) {
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return Status::IoError("LevelDB read in " + dir_ + " failed: " + s.ToString());
  return std::optional<std::string>(std::move(value));
}

// LevelDB's number of levels (config::kNumLevels, in a header it does not install).
constexpr int kLevelDbLevels = 7;

DiskProperties LevelDbEngine::properties() const {
  DiskProperties p;
  p.levels.resize(kLevelDbLevels);
  std::string text;
  // "--- level 3 ---" headers, then one " number:size[smallest .. largest]" line per table.
  if (db_->GetProperty("leveldb.sstables", &text)) {
    std::istringstream in(text);
    std::string line;
    int level = -1;
    while (std::getline(in, line)) {
      int l = 0;
      unsigned long long number = 0, size = 0;
      if (std::sscanf(line.c_str(), "--- level %d ---", &l) == 1) {
        level = l;
      } else if (level >= 0 && level < kLevelDbLevels &&
                 std::sscanf(line.c_str(), " %llu:%llu[", &number, &size) == 2) {
        ++p.levels[level].files;
        p.levels[level].bytes += size;
      }
    }
  }
  // The compaction table: "level files size(MB) time(sec) read(MB) write(MB)".
  if (db_->GetProperty("leveldb.stats", &text)) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      int level = 0, files = 0;
      double size_mb = 0, secs = 0, read_mb = 0, written_mb = 0;
      if (std::sscanf(line.c_str(), "%d %d %lf %lf %lf %lf", &level, &files, &size_mb, &secs, &read_mb,
                      &written_mb) == 6 &&
          level >= 0 && level < kLevelDbLevels) {
        auto& l = p.levels[level];
        l.compaction_seconds = static_cast<uint64_t>(secs);
        l.compaction_read_mib = static_cast<uint64_t>(read_mb);
        l.compaction_written_mib = static_cast<uint64_t>(written_mb);
      }
    }
  }
  if (db_->GetProperty("leveldb.approximate-memory-usage", &text)) p.memory_bytes = std::strtoull(text.c_str(), nullptr, 10);
  return p;
}

Result<std::vector<KeyValue>> LevelDbEngine::scan(const std::string& start, const std::string& end,
                                                  size_t limit) {
  std::vector<KeyValue> out;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    if (!end.empty() && it->key().compare(end) >= 0) break;
    out.push_back({it->key().ToString(), it->value().ToString()});
  }
  if (!it->status().ok()) return Status::IoError("LevelDB scan in " + dir_ + " failed: " + it->status().ToString());
  return out;
}

}  // namespace tally::store
