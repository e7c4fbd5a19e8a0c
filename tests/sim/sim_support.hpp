// Seeds for simulation tests: how many to run, and how to replay one.
//
//   TALLY_SEED=1234 build/tests/sim_tests "<test name>"   runs only seed 1234
//   TALLY_LONG=1 ...                                       runs the long count
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace tally::simtest {

inline std::vector<uint64_t> seeds(uint64_t normal, uint64_t long_count, uint64_t first = 1) {
  if (const char* one = std::getenv("TALLY_SEED")) return {std::strtoull(one, nullptr, 10)};
  uint64_t n = std::getenv("TALLY_LONG") ? long_count : normal;
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < n; ++i) out.push_back(first + i);
  return out;
}

inline std::string replay_hint(uint64_t seed, const std::string& test) {
  return "replay: TALLY_SEED=" + std::to_string(seed) + " build/tests/sim_tests \"" + test + "\"";
}

}  // namespace tally::simtest
