// bench/lib/rng.hpp — the benchmark's source of randomness.
//
// tally-bench draws from the same generator as the simulator (xoshiro256**
// seeded through splitmix64, src/sim/rng.hpp) rather than from std::mt19937 and
// the std distributions, whose output differs between standard libraries: a
// seed must choose the same keys, operations and Monte Carlo trials everywhere.
// Not thread-safe: give each thread its own Rng, seeded differently.
#pragma once

#include <cstdint>

#include "sim/rng.hpp"

namespace tally::bench {

using Rng = tally::sim::Rng;

// A double uniform in [0, 1), from the top 53 bits of one draw.
inline double random_fraction(Rng& rng) {
  return static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
}

}  // namespace tally::bench
