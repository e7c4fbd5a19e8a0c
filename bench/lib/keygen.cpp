#include "bench/lib/keygen.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace tally::bench {

namespace {

// YCSB's ScrambledZipfianGenerator draws ranks over 10^10 items with this zeta,
// zeta(10^10, 0.99), rather than computing it (ITEM_COUNT and ZETAN there). Its
// generator is built as ZipfianGenerator(0, ITEM_COUNT), which spans
// ITEM_COUNT + 1 items.
constexpr uint64_t kScrambledItems = 10'000'000'000ULL + 1;
constexpr double kScrambledZeta = 26.46902820178302;

constexpr uint64_t kFnvOffsetBasis64 = 0xCBF29CE484222325ULL;
constexpr uint64_t kFnvPrime64 = 1099511628211ULL;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

double zeta_sum(uint64_t items, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= items; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

}  // namespace

uint64_t fnv_hash64(uint64_t value) {
  uint64_t hash = kFnvOffsetBasis64;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    value >>= 8;
    hash *= kFnvPrime64;
  }
  // Math.abs on a Java long: negate a negative value. Math.abs(Long.MIN_VALUE)
  // stays negative in Java; here it stays 2^63, which is at least in range.
  if (hash >> 63) hash = ~hash + 1;
  return hash;
}

// ---- ZipfianGenerator -------------------------------------------------------------

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta, double zeta)
    : items_(items),
      theta_(theta),
      zeta_(zeta),
      alpha_(1.0 / (1.0 - theta)),
      eta_((1.0 - std::pow(2.0 / static_cast<double>(items), 1.0 - theta)) /
           (1.0 - (1.0 + std::pow(0.5, theta)) / zeta)),
      half_pow_theta_(std::pow(0.5, theta)) {}

Result<ZipfianGenerator> ZipfianGenerator::make(uint64_t items, double theta) {
  if (items == 0) return Status::InvalidArgument("zipfian over 0 items");
  if (!(theta > 0 && theta < 1)) {
    return Status::InvalidArgument("zipfian theta " + std::to_string(theta) + " is not in (0, 1)");
  }
  return ZipfianGenerator(items, theta, zeta_sum(items, theta));
}

Result<ZipfianGenerator> ZipfianGenerator::with_zeta(uint64_t items, double theta, double zeta) {
  if (items == 0) return Status::InvalidArgument("zipfian over 0 items");
  if (!(theta > 0 && theta < 1)) {
    return Status::InvalidArgument("zipfian theta " + std::to_string(theta) + " is not in (0, 1)");
  }
  if (!(zeta >= 1)) {
    return Status::InvalidArgument("zipfian zeta " + std::to_string(zeta) + " is below 1");
  }
  return ZipfianGenerator(items, theta, zeta);
}

// Gray et al.'s method: u * zeta falls in [0, 1) for rank 0 and in
// [1, 1 + 0.5^theta) for rank 1, each exactly its Zipf share; beyond, the
// rank comes from a closed-form inverse of an approximation of the CDF.
uint64_t ZipfianGenerator::next(SplitMix64& rng) const {
  double u = rng.fraction();
  double uz = u * zeta_;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + half_pow_theta_) return std::min<uint64_t>(1, items_ - 1);
  double rank = static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1.0, alpha_);
  // u < 1 keeps rank below items_; the min guards against rounding.
  return std::min(static_cast<uint64_t>(rank), items_ - 1);
}

double ZipfianGenerator::probability(uint64_t rank) const {
  if (rank >= items_) return 0;
  return 1.0 / (std::pow(static_cast<double>(rank) + 1.0, theta_) * zeta_);
}

// ---- KeyChooser -----------------------------------------------------------------

Result<KeyDistribution> parse_key_distribution(std::string_view name) {
  std::string n = lower(name);
  if (n == "uniform") return KeyDistribution::kUniform;
  if (n == "zipfian") return KeyDistribution::kZipfian;
  return Status::InvalidArgument("unknown key distribution '" + std::string(name) +
                                 "': expected uniform or zipfian");
}

std::string_view key_distribution_name(KeyDistribution d) {
  switch (d) {
    case KeyDistribution::kUniform:
      return "uniform";
    case KeyDistribution::kZipfian:
      return "zipfian";
  }
  return "unknown";
}

Result<KeyChooser> KeyChooser::uniform(uint64_t key_count) {
  if (key_count == 0) return Status::InvalidArgument("key count is 0: nothing to choose from");
  return KeyChooser(KeyDistribution::kUniform, key_count, std::nullopt);
}

Result<KeyChooser> KeyChooser::scrambled_zipfian(uint64_t key_count) {
  if (key_count == 0) return Status::InvalidArgument("key count is 0: nothing to choose from");
  return KeyChooser(KeyDistribution::kZipfian, key_count,
                    *ZipfianGenerator::with_zeta(kScrambledItems, kZipfianTheta, kScrambledZeta));
}

Result<KeyChooser> KeyChooser::make(KeyDistribution d, uint64_t key_count) {
  switch (d) {
    case KeyDistribution::kUniform:
      return uniform(key_count);
    case KeyDistribution::kZipfian:
      return scrambled_zipfian(key_count);
  }
  return Status::InvalidArgument("unknown key distribution");
}

uint64_t KeyChooser::next(SplitMix64& rng) const {
  switch (distribution_) {
    case KeyDistribution::kUniform:
      return rng.uniform(key_count_);
    case KeyDistribution::kZipfian:
      return fnv_hash64(zipf_->next(rng)) % key_count_;
  }
  return 0;
}

std::string key_name(uint64_t index) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "key%012llu", static_cast<unsigned long long>(index));
  return buf.data();
}

// ---- operation mixes ------------------------------------------------------------

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kGet:
      return "get";
    case Op::kPut:
      return "put";
    case Op::kCas:
      return "cas";
  }
  return "unknown";
}

Result<Workload> parse_workload(std::string_view name) {
  std::string n = lower(name);
  if (n == "a") return Workload::kA;
  if (n == "b") return Workload::kB;
  if (n == "c") return Workload::kC;
  if (n == "w") return Workload::kW;
  if (n == "cas") return Workload::kCas;
  return Status::InvalidArgument("unknown workload '" + std::string(name) +
                                 "': expected a (50% get, 50% put), b (95% get, 5% put), "
                                 "c (gets only), w (puts only) or cas (compare-and-sets only, on a "
                                 "linearizable keyspace)");
}

std::string_view workload_name(Workload w) {
  switch (w) {
    case Workload::kA:
      return "a";
    case Workload::kB:
      return "b";
    case Workload::kC:
      return "c";
    case Workload::kW:
      return "w";
    case Workload::kCas:
      return "cas";
  }
  return "unknown";
}

double get_fraction(Workload w) {
  switch (w) {
    case Workload::kA:
      return 0.5;
    case Workload::kB:
      return 0.95;
    case Workload::kC:
      return 1.0;
    case Workload::kW:
    case Workload::kCas:
      return 0.0;
  }
  return 0.0;
}

Op next_op(Workload w, SplitMix64& rng) {
  const bool get = rng.fraction() < get_fraction(w);
  if (w == Workload::kCas) return Op::kCas;
  return get ? Op::kGet : Op::kPut;
}

}  // namespace tally::bench
