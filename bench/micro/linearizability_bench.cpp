// The linearizability checker (src/testing/linearizability.hpp) on histories
// shaped like the fault suite's and the simulator's: a few keys, many
// clients, thousands of operations per key at a concurrency near ten, some
// timed out. Each history is generated linearizable (linearizability_gen.hpp);
// the "planted" runs change one read in the middle of every key to a value
// nobody wrote, so the search must fail there after exploring what came
// before. Counters report operations per key, search steps per key and the
// history's concurrency (mean operations in flight on a key).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>

#include "testing/linearizability.hpp"
#include "testing/linearizability_gen.hpp"

namespace tally::testing {
namespace {

// Mean operations in flight on one key, over the time the key is busy.
double concurrency(const std::vector<Op>& ops) {
  std::map<std::string, std::pair<int64_t, int64_t>> span;  // first start, last end
  int64_t busy = 0;
  for (const Op& op : ops) {
    auto [it, added] = span.emplace(op.key, std::pair{op.start_us, op.end_us});
    it->second.first = std::min(it->second.first, op.start_us);
    it->second.second = std::max(it->second.second, op.end_us);
    busy += op.end_us - op.start_us;
  }
  int64_t total = 0;
  for (const auto& [key, s] : span) total += s.second - s.first;
  return total == 0 ? 0 : static_cast<double>(busy) / static_cast<double>(total);
}

// range(0): clients, range(1): unknown operations per thousand, range(2): 1
// to plant a violation, range(3): operations per key.
void BM_CheckLinearizable(benchmark::State& state) {
  RegisterWorkload w;
  w.keys = 3;
  w.clients = static_cast<int>(state.range(0));
  w.ops_per_key = static_cast<int>(state.range(3));
  w.unknown_fraction = static_cast<double>(state.range(1)) / 1000.0;
  // About ten operations in flight per key.
  w.mean_latency_us = 1000;
  w.mean_think_us = std::max<int64_t>(0, w.clients * 1000 / (w.keys * 10) - 1000);
  std::vector<Op> ops = linearizable_register_history(w, 42);
  if (state.range(2) == 1) {
    std::map<std::string, size_t> seen;
    for (Op& op : ops) {
      if (op.kind == OpKind::kRead && op.outcome == Outcome::kOk &&
          ++seen[op.key] == static_cast<size_t>(w.ops_per_key) / 5) {
        op.read = {"nobody-wrote-this"};
      }
    }
  }
  size_t steps = 0;
  bool expected = true;
  for (auto _ : state) {
    const CheckResult r = check_linearizable(ops);
    expected = r.ok() == (state.range(2) == 0) && r.count("undecided") == 0;
    benchmark::DoNotOptimize(r);
  }
  std::map<std::string, std::vector<Op>> by_key;
  for (const Op& op : ops) by_key[op.key].push_back(op);
  for (const auto& [key, key_ops] : by_key) steps += check_key_linearizable(key_ops).steps;
  if (!expected) state.SkipWithError("wrong verdict");
  state.counters["ops_per_key"] = static_cast<double>(ops.size()) / w.keys;
  state.counters["steps_per_key"] = static_cast<double>(steps) / w.keys;
  state.counters["concurrency"] = concurrency(ops);
}
BENCHMARK(BM_CheckLinearizable)
    ->ArgNames({"clients", "unknown_permille", "planted", "ops_per_key"})
    ->Args({8, 10, 0, 3000})
    ->Args({30, 10, 0, 3000})
    ->Args({50, 10, 0, 3000})
    ->Args({30, 50, 0, 3000})
    ->Args({30, 10, 0, 10000})
    ->Args({30, 10, 1, 3000})
    ->Args({50, 50, 1, 3000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tally::testing
