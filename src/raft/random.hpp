// raft/random.hpp — a small, portable, seeded PRNG.
//
// SplitMix64 (Steele, Lea, Flood 2014): the same seed gives the same sequence on
// every platform and standard library, which std::uniform_int_distribution does
// not promise. Raft uses it for election timeouts; tests and the simulation use it
// so that a seed replays a run exactly.
#pragma once

#include <cstdint>

namespace tally::raft {

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

  // True with probability numerator / denominator.
  bool chance(uint64_t numerator, uint64_t denominator) { return uniform(denominator) < numerator; }

 private:
  uint64_t state_;
};

}  // namespace tally::raft
