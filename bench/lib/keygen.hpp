// bench/lib/keygen.hpp — which key, and which operation, comes next.
//
// Key choosers follow YCSB (Cooper et al., SoCC 2010) so that results compare
// with published ones: uniform, or YCSB's scrambled zipfian, whose popularity
// follows Zipf's law with theta = 0.99 while the popular keys are scattered over
// the key space (by an FNV hash) instead of sitting at its start. The operation
// mixes are YCSB's core workloads A, B and C, plus a write-only W.
//
// Everything draws from a SplitMix64 (raft/random.hpp) the caller passes, so a seed replays the same
// sequence of keys and operations. Choosers are immutable after construction:
// threads may share one, each with its own SplitMix64.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raft/random.hpp"
#include "tally/status.hpp"

namespace tally::bench {

// YCSB's zipfian constant ("zipfian_constant" in its generator).
inline constexpr double kZipfianTheta = 0.99;

// YCSB's Utils.fnvhash64: FNV-1a (64-bit) over the 8 bytes of `value`, least
// significant first, with the sign bit of the result dropped as Java's Math.abs
// does. Used to scatter zipfian ranks over the key space.
uint64_t fnv_hash64(uint64_t value);

// Zipf's law over [0, items): rank i is drawn with probability proportional to
// 1 / (i + 1)^theta, so 0 is the most popular. The method of Gray et al.,
// "Quickly generating billion-record synthetic databases" (SIGMOD 1994), as in
// YCSB's ZipfianGenerator: ranks 0 and 1 have exactly their Zipf probability,
// higher ranks follow it approximately.
class ZipfianGenerator {
 public:
  // A generator over `items` ranks. Computing zeta is O(items): about 10 ms per
  // million items. InvalidArgument if items is 0 or theta is not in (0, 1).
  static Result<ZipfianGenerator> make(uint64_t items, double theta = kZipfianTheta);

  // As make(), with zeta(items, theta) given instead of computed (YCSB does
  // this for its 10^10-item generator). The caller vouches for `zeta`.
  static Result<ZipfianGenerator> with_zeta(uint64_t items, double theta, double zeta);

  // The next rank, in [0, items()).
  uint64_t next(SplitMix64& rng) const;

  uint64_t items() const { return items_; }
  double theta() const { return theta_; }
  // zeta(items, theta) = sum over i in [1, items] of 1 / i^theta.
  double zeta() const { return zeta_; }

  // Zipf's law's probability of rank `rank`: 1 / ((rank + 1)^theta * zeta).
  double probability(uint64_t rank) const;

 private:
  ZipfianGenerator(uint64_t items, double theta, double zeta);

  uint64_t items_;
  double theta_;
  double zeta_;
  double alpha_;  // 1 / (1 - theta)
  double eta_;
  double half_pow_theta_;  // 0.5^theta: where rank 1's share of [0, zeta) ends
};

// How keys are spread over the key space.
enum class KeyDistribution {
  kUniform,  // every key equally likely
  kZipfian,  // YCSB's scrambled zipfian, theta 0.99
};

// Parses "uniform" or "zipfian" (any case); InvalidArgument naming both otherwise.
Result<KeyDistribution> parse_key_distribution(std::string_view name);
// "uniform" or "zipfian".
std::string_view key_distribution_name(KeyDistribution d);

// Chooses key indices in [0, key_count). Turn one into a key with key_name().
class KeyChooser {
 public:
  // Every key equally likely. InvalidArgument if key_count is 0.
  static Result<KeyChooser> uniform(uint64_t key_count);

  // YCSB's ScrambledZipfianGenerator: a zipfian rank over 10^10 items (theta
  // 0.99, YCSB's precomputed zeta), hashed with fnv_hash64 and taken modulo
  // key_count. The most popular key receives about 1/26.5 = 3.8% of the draws
  // whatever key_count is; which key that is depends on key_count. O(1) to
  // build. InvalidArgument if key_count is 0.
  static Result<KeyChooser> scrambled_zipfian(uint64_t key_count);

  // One of the above, by distribution.
  static Result<KeyChooser> make(KeyDistribution d, uint64_t key_count);

  // The next key index, in [0, key_count()).
  uint64_t next(SplitMix64& rng) const;

  KeyDistribution distribution() const { return distribution_; }
  uint64_t key_count() const { return key_count_; }

 private:
  KeyChooser(KeyDistribution d, uint64_t key_count, std::optional<ZipfianGenerator> zipf)
      : distribution_(d), key_count_(key_count), zipf_(zipf) {}

  KeyDistribution distribution_;
  uint64_t key_count_;
  std::optional<ZipfianGenerator> zipf_;  // the 10^10-item generator when zipfian
};

// The key for index `index`: "key" and the index in 12 zero-padded digits
// ("key000000000042"), so that every key of a run has the same length.
std::string key_name(uint64_t index);

// ---- operation mixes ------------------------------------------------------------

// The two operations tally-bench issues. YCSB's read is a get, its update a put
// of a new value over an existing key.
enum class Op {
  kGet,
  kPut,
  // A compare-and-set on a linearizable keyspace: a get, then a put_if of the
  // next version with if_version (the get's context), one operation.
  kCas,
};
// "get", "put" or "cas".
std::string_view op_name(Op op);

// YCSB's core workloads, by the share of gets.
enum class Workload {
  kA,  // update heavy: 50% get, 50% put
  kB,  // read mostly: 95% get, 5% put
  kC,  // read only: 100% get
  kW,  // write only: 100% put (not in YCSB; loads data, measures writes alone)
  kCas,  // compare-and-set only (linearizable keyspaces): every operation a cas
};

// Parses "a", "b", "c", "w" or "cas" (either case); InvalidArgument listing them otherwise.
Result<Workload> parse_workload(std::string_view name);
// "a", "b", "c" or "w".
std::string_view workload_name(Workload w);
// The share of operations that are gets, in [0, 1] (0 for cas: a cas's get is part of it).
double get_fraction(Workload w);

// The next operation of workload `w`: a get with probability get_fraction(w)
// (a cas for workload cas).
// Draws one number from `rng` for every workload, so that switching workloads
// keeps the key sequence of a seed in step.
Op next_op(Workload w, SplitMix64& rng);

}  // namespace tally::bench
