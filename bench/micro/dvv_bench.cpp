// The DVV set operations on the data path: one update per write at each
// replica, one sync per reply on a read (and per read-repair decision), one join
// per read. States are what a healthy N=3 key looks like: a 3-entry clock and a
// few siblings with 100-byte values.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

const std::string kValue(100, 'v');

ClientWrite put() { return ClientWrite::Put(kValue, HlcTimestamp{1'700'000'000'000, 0, 1}); }

// A state that all three replicas coordinated writes for, holding `siblings`
// concurrent values: each written with the context of one earlier read.
DvvSet three_replica_state(int siblings) {
  DvvSet s = *update({}, {}, put(), 1);
  s = *update(s, join(s), put(), 2);
  const VersionVector read = join(s);
  for (int i = 0; i < siblings; ++i) s = *update(s, read, put(), 3 - i % 3);
  return s;
}

// A write carrying the context of a read of the same state: it replaces every
// sibling (range(0) of them) with one.
void BM_UpdateWithContext(benchmark::State& state) {
  const DvvSet current = three_replica_state(static_cast<int>(state.range(0)));
  const VersionVector ctx = join(current);
  state.counters["siblings"] = static_cast<double>(current.siblings.size());
  for (auto _ : state) {
    Result<DvvSet> next = update(current, ctx, put(), 2);
    benchmark::DoNotOptimize(next);
  }
}
BENCHMARK(BM_UpdateWithContext)->DenseRange(1, 3);

// Replica B is one write ahead of replica A: that write replaced one of A's
// range(0) siblings, so both hold range(0) siblings and so does their merge.
struct Diverged {
  DvvSet a;
  DvvSet b;
};

Diverged diverged(int siblings) {
  Diverged d;
  d.a = three_replica_state(siblings);
  // Covers the first sibling three_replica_state minted, (3, 1), and no other.
  const VersionVector saw_first{{{1, 1}, {2, 1}, {3, 1}}};
  d.b = *update(d.a, saw_first, put(), 1);
  return d;
}

void BM_SyncThreeReplicaStates(benchmark::State& state) {
  const Diverged d = diverged(static_cast<int>(state.range(0)));
  state.counters["siblings"] = static_cast<double>(d.a.siblings.size());
  state.counters["merged"] = static_cast<double>(sync(d.a, d.b).siblings.size());
  for (auto _ : state) {
    DvvSet merged = sync(d.a, d.b);
    benchmark::DoNotOptimize(merged);
  }
}
BENCHMARK(BM_SyncThreeReplicaStates)->DenseRange(1, 3);

// The read path's decision per reply: is this replica behind the merge?
void BM_NeedsRepair(benchmark::State& state) {
  const Diverged d = diverged(static_cast<int>(state.range(0)));
  const DvvSet merged = sync(d.a, d.b);
  for (auto _ : state) {
    bool stale = needs_repair(d.a, merged);
    benchmark::DoNotOptimize(stale);
  }
}
BENCHMARK(BM_NeedsRepair)->DenseRange(1, 3);

void BM_Join(benchmark::State& state) {
  const DvvSet s = three_replica_state(3);
  for (auto _ : state) {
    VersionVector ctx = join(s);
    benchmark::DoNotOptimize(ctx);
  }
}
BENCHMARK(BM_Join);

}  // namespace
}  // namespace tally::quorum
