// bench/lib/pbs.hpp — Probabilistically Bounded Staleness: what R and W predict.
//
// Bailis, Venkataraman, Franklin, Hellerstein and Stoica, "Probabilistically
// Bounded Staleness for Practical Partial Quorums" (VLDB 2012). Two predictions
// for a partial quorum (R + W <= N), to hold next to what tally-bench measures:
//
// t-visibility, by Monte Carlo over the WARS model (paper §4). A write goes from
// the coordinator to each of the N replicas (delay W), each replica acknowledges
// it (delay A), and the write commits when the W-th acknowledgement arrives.
// A read starts t after the commit, goes to all N replicas (delay R), each
// answers (delay S), and the coordinator returns the freshest of the first R
// answers. The read is stale when every one of those R replicas received the
// read request before the write. Each trial draws all 4N delays from the
// measured samples and decides, for every t at once, whether the read is stale.
//
// The model's assumptions; where tally differs, the measured staleness will:
//   - one write, then one read: no concurrent writes, no earlier versions in flight;
//   - the write and the read go to the same N replicas, all of them up: no
//     sloppy quorum, no hinted handoff, no failures;
//   - the 4N delays of a trial are independent, each replica's drawn from the
//     same distribution (replicas are interchangeable, legs are not correlated:
//     a slow node is not slow on all four legs at once);
//   - a replica applies a write the moment it arrives, and answers a read with
//     what it holds when the request arrives;
//   - nothing else spreads the write: no read repair from earlier reads, no
//     anti-entropy (both only make reads fresher, so the prediction is an upper
//     bound in that respect);
//   - the legs of different replicas are alike. In tally a write's coordinator
//     is itself a replica: it makes its own copy durable first (its W leg is a
//     disk write, its A leg about 0) and only then sends the write on, so the
//     other replicas' W legs include that disk write. Samples for the W leg
//     should be measured that way (request to durable copy at the replica).
//
// k-staleness, closed form (paper §3.2): with non-expanding quorums chosen
// uniformly at random and no propagation beyond the write quorum, a read misses
// one write with probability C(N-W, R) / C(N, R), and returns a value within k
// versions of the latest with probability 1 - (C(N-W, R) / C(N, R))^k.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tally/status.hpp"

namespace tally::bench {

// Measured one-way delays, in microseconds, one vector per leg of the WARS
// model. Each vector is an empirical distribution: a trial draws from it
// uniformly at random, with replacement. Values must be finite and >= 0.
struct WarsSamples {
  std::vector<double> write;     // W: coordinator -> replica, the write request
  std::vector<double> ack;       // A: replica -> coordinator, the write's acknowledgement
  std::vector<double> read;      // R: coordinator -> replica, the read request
  std::vector<double> response;  // S: replica -> coordinator, the read's reply

  // All four legs from round trips (say, measured coordinator-to-replica
  // pings or single-replica requests): each leg is half a round trip. An
  // approximation: it makes the legs symmetric and equally distributed, which
  // hides, say, a write leg slowed by fsync.
  static WarsSamples from_round_trips(std::span<const double> round_trips_us);
};

struct PbsConfig {
  int n = 3;                  // replicas
  int r = 1;                  // answers a read waits for
  int w = 1;                  // acknowledgements a write waits for
  uint64_t trials = 100'000;  // Monte Carlo trials; the error of a probability p is
                              // about sqrt(p (1 - p) / trials)
  uint64_t seed = 1;          // the same seed and samples give the same prediction
  std::vector<double> t_us;   // when to evaluate, in microseconds after the commit;
                              // finite and >= 0, any order
};

// The predicted chance that a read started t_us after a write committed misses it.
struct StalePrediction {
  double t_us = 0;
  double p_stale = 0;
};

struct PbsPrediction {
  int n = 0, r = 0, w = 0;
  uint64_t trials = 0;
  std::vector<StalePrediction> points;  // one per PbsConfig::t_us, in the same order
};

// Runs the WARS Monte Carlo for `config` over `samples`. Every trial is
// evaluated at every t with the same draws, so p_stale never rises with t.
// When R + W > N every read quorum meets the write quorum, and p_stale is
// exactly 0. O(trials * N log N) time, O(trials) memory.
// InvalidArgument (the message names the field) if N < 1, R or W is not in
// [1, N], trials is 0, a leg has no samples, or a sample or a t is negative or
// not finite.
Result<PbsPrediction> predict_t_visibility(const PbsConfig& config, const WarsSamples& samples);

// C(N-W, R) / C(N, R): the chance that a read quorum of R replicas, chosen
// uniformly at random, holds none of the W that took a write. 0 when R + W > N.
// InvalidArgument if N < 1 or R or W is not in [1, N].
Result<double> quorum_miss_probability(int n, int r, int w);

// The paper's k-staleness: the chance that a read returns one of the last k
// versions (k = 1: the latest), 1 - quorum_miss_probability(n, r, w)^k, when
// writes do not spread beyond their write quorum before the read.
// InvalidArgument for bad N, R, W as above, or k < 1.
Result<double> consistent_within_k(int n, int r, int w, int k);

}  // namespace tally::bench
