// Micro-benchmarks of the ring: the data path's preference-list lookup, and the
// membership-change operations (build, token allocation, ownership diff).
//
//   ./ring_bench --benchmark_filter=PreferenceList
//
// The lookup target (issue 3): median under 100 ns for N = 3 on 100 nodes x 256 tokens.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "raft/random.hpp"
#include "ring/ownership_diff.hpp"
#include "ring/position.hpp"
#include "ring/ring.hpp"
#include "ring/token_allocator.hpp"

using namespace tally::ring;

namespace {

// `nodes` nodes of `tokens` random tokens each, spread round-robin over `zones` zones.
std::vector<NodeTokens> random_nodes(int nodes, int tokens, int zones, uint64_t seed) {
  tally::SplitMix64 rng(seed);
  std::vector<NodeTokens> out;
  for (int i = 1; i <= nodes; ++i) {
    NodeTokens n{static_cast<NodeId>(i), "zone-" + std::to_string(i % zones), {}};
    for (int t = 0; t < tokens; ++t) n.tokens.push_back(rng.next());
    out.push_back(std::move(n));
  }
  return out;
}

Ring build(std::vector<NodeTokens> nodes) {
  return std::move(Ring::build(std::move(nodes))).value();
}

// Random positions, many more than fit in L1, so lookups do not replay one cache path.
std::vector<uint64_t> positions(size_t count) {
  tally::SplitMix64 rng(99);
  std::vector<uint64_t> out(count);
  for (uint64_t& p : out) p = rng.next();
  return out;
}

constexpr size_t kPositions = 1 << 16;

// arg 0: zones (1 or 3). 100 nodes x 256 tokens, N = 3.
void BM_PreferenceList(benchmark::State& state) {
  const Ring ring = build(random_nodes(100, 256, static_cast<int>(state.range(0)), 1));
  const std::vector<uint64_t> pos = positions(kPositions);
  size_t i = 0;
  for (auto _ : state) {
    PreferenceList list = ring.preference_list(pos[i++ & (kPositions - 1)], 3);
    benchmark::DoNotOptimize(list);
  }
}
BENCHMARK(BM_PreferenceList)->ArgName("zones")->Arg(1)->Arg(3)->Repetitions(5);

// The whole data-path step: hash a 16-byte key, then look it up.
void BM_KeyPreferenceList(benchmark::State& state) {
  const Ring ring = build(random_nodes(100, 256, 3, 1));
  std::vector<std::string> keys;
  for (size_t k = 0; k < kPositions; ++k) keys.push_back("user:" + std::to_string(1000000000 + k));
  const uint64_t seed = keyspace_seed("default");
  size_t i = 0;
  for (auto _ : state) {
    PreferenceList list = ring.preference_list(key_position(seed, keys[i++ & (kPositions - 1)]), 3);
    benchmark::DoNotOptimize(list);
  }
}
BENCHMARK(BM_KeyPreferenceList);

// A sloppy list with one node in ten down (3 zones, 100 x 256, N = 3).
void BM_SloppyPreferenceList(benchmark::State& state) {
  const Ring ring = build(random_nodes(100, 256, 3, 1));
  const std::vector<uint64_t> pos = positions(kPositions);
  const std::function<bool(NodeId)> is_up = [](NodeId id) { return id % 10 != 0; };
  size_t i = 0;
  for (auto _ : state) {
    SloppyPreferenceList list = ring.sloppy_preference_list(pos[i++ & (kPositions - 1)], 3, is_up);
    benchmark::DoNotOptimize(list);
  }
}
BENCHMARK(BM_SloppyPreferenceList);

// Building a 100 x 256 ring from its triples, as the metadata layer does per epoch.
void BM_RingBuild(benchmark::State& state) {
  const std::vector<NodeTokens> nodes = random_nodes(100, 256, 3, 1);
  for (auto _ : state) {
    auto ring = Ring::build(nodes);
    benchmark::DoNotOptimize(ring);
  }
}
BENCHMARK(BM_RingBuild)->Unit(benchmark::kMillisecond);

// Allocating tokens for a joining node. args: nodes already in, tokens per node.
void BM_AllocateTokens(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0)), tokens = static_cast<int>(state.range(1));
  const Ring ring = build(random_nodes(nodes, tokens, 3, 1));
  for (auto _ : state) {
    auto t = allocate_tokens(ring, nodes + 1, "zone-0", tokens, 3);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_AllocateTokens)
    ->ArgNames({"nodes", "tokens"})
    ->Args({10, 32})
    ->Args({100, 32})
    ->Args({100, 256})
    ->Unit(benchmark::kMillisecond);

// The diff between a 100 x 256 ring and the same ring with node 101 added.
void BM_OwnershipDiff(benchmark::State& state) {
  std::vector<NodeTokens> nodes = random_nodes(101, 256, 3, 1);
  const Ring after = build(nodes);
  nodes.pop_back();
  const Ring before = build(nodes);
  for (auto _ : state) {
    auto diff = ownership_diff(before, after, 3);
    benchmark::DoNotOptimize(diff);
  }
}
BENCHMARK(BM_OwnershipDiff)->Unit(benchmark::kMillisecond);

}  // namespace
