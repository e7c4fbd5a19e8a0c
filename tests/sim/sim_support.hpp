// What simulation tests share: seeds (how many to run, how to replay one) and
// the per-key state of a sequential writer whose values carry their number.
//
//   TALLY_SEED=1234 build/tests/sim_tests "<test name>"   runs only seed 1234
//   TALLY_LONG=1 ...                                       runs the long count
#pragma once

#include <cstdint>
#include <cstdlib>
#include <set>
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

// The sequence number a writer put into a value ("k3#17" -> 17).
inline uint64_t seq_of(const std::string& v) { return std::stoull(v.substr(v.find('#') + 1)); }

// One key of a sequential writer: the node it goes through, the next value's
// number, the newest acknowledged one, and every value ever sent.
struct KeyState {
  std::string key;
  int node = 0;
  uint64_t next_seq = 1;
  uint64_t last_acked = 0;
  std::string context;  // of the last acknowledged put
  std::set<std::string> issued;
  bool busy = false;  // a request in flight (for writers that wait for it)
};

}  // namespace tally::simtest
