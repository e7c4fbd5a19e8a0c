// The storage engine underneath a replica: LevelDB writes one at a time and in
// group-commit batches, with and without fsync, and point reads.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "codec/record_codec.hpp"
#include "store/leveldb_engine.hpp"
#include "store/record_store.hpp"

using namespace tally;

namespace {

struct Db {
  std::string dir;
  std::unique_ptr<store::LevelDbEngine> engine;
  Db() {
    char tmpl[] = "/tmp/tally-bench-XXXXXX";
    dir = mkdtemp(tmpl);
    engine = std::move(*store::LevelDbEngine::open(dir));
  }
  ~Db() {
    engine.reset();
    std::filesystem::remove_all(dir);
  }
};

std::string record_bytes() {
  quorum::DvvSet rec;
  rec.clock = quorum::VersionVector{{{1, 7}}};
  rec.siblings.push_back(quorum::Sibling{{1, 7}, {1767225600000ULL, 0, 1}, false, std::string(100, 'v')});
  return codec::encode_record(rec);
}

// Arg 0: records per batch; arg 1: fsync (1) or buffered (0). Reported per record.
void BM_WriteBatch(benchmark::State& state) {
  Db db;
  const int per_batch = static_cast<int>(state.range(0));
  const bool sync = state.range(1) != 0;
  std::string value = record_bytes();
  uint64_t n = 0;
  for (auto _ : state) {
    store::WriteBatch batch;
    for (int i = 0; i < per_batch; ++i) {
      batch.put(store::RecordStore::data_key("default", "key-" + std::to_string(n++ % 100000)), value);
    }
    auto s = db.engine->write(batch, sync);
    if (!s.ok()) state.SkipWithError(s.to_string().c_str());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * per_batch));
}
BENCHMARK(BM_WriteBatch)->Args({1, 0})->Args({64, 0})->Args({1, 1})->Args({64, 1})->UseRealTime();

void BM_ReadHit(benchmark::State& state) {
  Db db;
  std::string value = record_bytes();
  constexpr int kKeys = 100000;
  for (int b = 0; b < kKeys / 1000; ++b) {
    store::WriteBatch batch;
    for (int i = 0; i < 1000; ++i) batch.put(store::RecordStore::data_key("default", "key-" + std::to_string(b * 1000 + i)), value);
    (void)db.engine->write(batch, false);
  }
  uint64_t n = 0;
  for (auto _ : state) {
    auto r = db.engine->read(store::RecordStore::data_key("default", "key-" + std::to_string((n++ * 7919) % kKeys)));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadHit);

}  // namespace
