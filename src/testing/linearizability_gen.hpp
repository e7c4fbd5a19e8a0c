// Register + compare-and-set histories that are linearizable by construction,
// for testing and measuring the checker (linearizability.hpp): clients run
// operations one after another, each takes effect at an instant drawn inside
// its window, and the results are what a single register per key returns when
// the operations run in the order of those instants. Timed-out operations
// take effect late (after their window) or never; failed ones never.
#pragma once

#include <cstdint>
#include <vector>

#include "testing/history.hpp"

namespace tally::testing {

struct RegisterWorkload {
  int keys = 3;
  int clients = 20;
  int ops_per_key = 1000;  // about: each client picks its keys at random
  // What an operation is, by weight (CAS is split between its conditions:
  // mostly kValue with the value the client last saw, some kAbsent, kPresent).
  int read_weight = 4, write_weight = 2, cas_weight = 4;
  // Counters: every write is a CAS increment "n" -> "n+1" of the value the
  // client last saw, reads as usual (the CAS counter workload).
  bool counters = false;
  double unknown_fraction = 0.01;  // timed out: half take effect late, half never
  double failed_fraction = 0.01;
  // Microseconds: an operation's latency is drawn in [1, 2 * mean_latency_us],
  // the pause before a client's next operation in [0, 2 * mean_think_us]. The
  // concurrency per key is about clients / keys * latency / (latency + think).
  int64_t mean_latency_us = 1000, mean_think_us = 1000;
};

// A linearizable history of `w`, the same for the same seed.
std::vector<Op> linearizable_register_history(const RegisterWorkload& w, uint64_t seed);

}  // namespace tally::testing
