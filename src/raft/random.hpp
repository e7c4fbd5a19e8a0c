// raft/random.hpp — tally's one seeded pseudo-random generator.
//
// SplitMix64 (Steele, Lea, Flood 2014), written out rather than std::mt19937
// with the std distributions, whose output differs between standard libraries:
// the same seed gives the same sequence on every platform, so a seed replays a
// run exactly. Every part of tally that draws numbers uses this class: Raft's
// election timeouts, the simulator (network and disk faults, latencies), the
// production Env's `random()` (seeded from std::random_device there),
// tally-bench (keys, operations, Monte Carlo trials) and the tests.
//
// It lives under src/raft/ because the Raft core is its strictest user: the
// pure cores may include only standard headers and their own
// (tests/check_includes.sh), and every other layer may include a std-only
// header of src/raft/. It is in namespace tally, not tally::raft, because it
// belongs to no one layer.
//
// Not thread-safe: give each thread its own generator, seeded differently.
#pragma once

#include <cstdint>

namespace tally {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n > 0, without modulo bias: draws below 2^64 mod n are
  // rejected so that every residue has the same number of preimages.
  uint64_t uniform(uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
      uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  // Uniform in [lo, hi], lo <= hi, hi - lo < 2^64 - 1.
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + uniform(hi - lo + 1); }

  // Uniform in [0, 1), from the top 53 bits of one draw.
  double fraction() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // True with probability numerator / denominator (exact, for integer odds).
  bool chance(uint64_t numerator, uint64_t denominator) { return uniform(denominator) < numerator; }
  // True with probability p; p <= 0 never draws.
  bool chance(double p) { return p > 0 && fraction() < p; }

 private:
  uint64_t state_;
};

}  // namespace tally
