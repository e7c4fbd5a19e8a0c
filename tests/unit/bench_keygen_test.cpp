// Key choosers and operation mixes (bench/lib/keygen.hpp): YCSB's zipfian skew,
// determinism for a seed, and parse errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/lib/keygen.hpp"

using namespace tally::bench;
using tally::SplitMix64;
using tally::Code;

namespace {

constexpr int kDraws = 400'000;

template <class Next>
std::vector<uint64_t> counts(uint64_t n, Next next) {
  std::vector<uint64_t> out(n, 0);
  for (int i = 0; i < kDraws; ++i) ++out[next()];
  return out;
}

double share(uint64_t count) { return static_cast<double>(count) / kDraws; }

}  // namespace

TEST_CASE("zipfian ranks 0 and 1 get their Zipf share, and the top 10 about theirs",
          "[bench][keygen]") {
  auto zipf = ZipfianGenerator::make(1000);
  REQUIRE(zipf.ok());
  CHECK(zipf->zeta() == Approx(7.728953217284729));  // sum of 1/i^0.99, i = 1..1000
  SplitMix64 rng(42);
  std::vector<uint64_t> c = counts(1000, [&] { return zipf->next(rng); });
  // Gray et al.'s method gives ranks 0 and 1 exactly their probability; the
  // sampling error of 400k draws is below 0.1 percentage point.
  CHECK(share(c[0]) == Approx(zipf->probability(0)).epsilon(0.02));  // 12.9%
  CHECK(share(c[1]) == Approx(zipf->probability(1)).epsilon(0.03));  // 6.5%
  double top10 = 0, theory10 = 0;
  for (uint64_t i = 0; i < 10; ++i) {
    top10 += share(c[i]);
    theory10 += zipf->probability(i);
  }
  CHECK(top10 == Approx(theory10).epsilon(0.05));  // 38%: far from uniform's 1%
  CHECK(std::is_sorted(c.begin(), c.begin() + 5, std::greater<>()));
}

TEST_CASE("scrambled zipfian: the hottest key gets about 1/26.5 of the draws, not at key 0",
          "[bench][keygen]") {
  for (uint64_t keys : {1'000, 100'000}) {
    auto chooser = KeyChooser::scrambled_zipfian(keys);
    REQUIRE(chooser.ok());
    SplitMix64 rng(7);
    std::vector<uint64_t> c = counts(keys, [&] { return chooser->next(rng); });
    auto hottest = static_cast<uint64_t>(std::max_element(c.begin(), c.end()) - c.begin());
    INFO(keys << " keys: hottest key " << hottest << " with " << share(c[hottest]));
    // YCSB's rank 0 lands on fnv_hash64(0) mod keys, with 1/zeta(10^10) = 3.78%
    // of the draws, plus whatever other ranks hash to the same key.
    CHECK(hottest == fnv_hash64(0) % keys);
    CHECK(share(c[hottest]) > 0.0378 * 0.97);
    CHECK(share(c[hottest]) < 0.0378 * 1.25);
    // The skew is real: the 1% hottest keys take far more than 1% of draws.
    std::sort(c.begin(), c.end(), std::greater<>());
    uint64_t top = 0;
    for (uint64_t i = 0; i < keys / 100; ++i) top += c[i];
    INFO("top 1% of keys: " << share(top));
    CHECK(share(top) > 0.1);  // ten times their uniform share
  }
}

TEST_CASE("uniform keys spread evenly over [0, n)", "[bench][keygen]") {
  auto chooser = KeyChooser::uniform(100);
  REQUIRE(chooser.ok());
  SplitMix64 rng(3);
  std::vector<uint64_t> c = counts(100, [&] { return chooser->next(rng); });
  auto [lo, hi] = std::minmax_element(c.begin(), c.end());
  // 4000 expected per key, sd about 63: 5 sd either way.
  CHECK(*lo > 4000 - 320);
  CHECK(*hi < 4000 + 320);
}

TEST_CASE("a seed replays the same keys and operations; another seed does not", "[bench][keygen]") {
  auto zipf = KeyChooser::make(KeyDistribution::kZipfian, 10'000);
  auto uniform = KeyChooser::make(KeyDistribution::kUniform, 10'000);
  REQUIRE(zipf.ok());
  REQUIRE(uniform.ok());
  auto run = [&](uint64_t seed) {
    SplitMix64 rng(seed);
    std::vector<uint64_t> out;
    for (int i = 0; i < 1000; ++i) {
      out.push_back(zipf->next(rng));
      out.push_back(uniform->next(rng));
      out.push_back(next_op(Workload::kA, rng) == Op::kGet ? 1 : 0);
    }
    return out;
  };
  CHECK(run(99) == run(99));
  CHECK(run(99) != run(100));
}

TEST_CASE("workload mixes issue gets at their YCSB share", "[bench][keygen]") {
  for (auto [w, expected] : {std::pair{Workload::kA, 0.5}, std::pair{Workload::kB, 0.95},
                             std::pair{Workload::kC, 1.0}, std::pair{Workload::kW, 0.0}}) {
    SplitMix64 rng(5);
    int gets = 0;
    for (int i = 0; i < 100'000; ++i) gets += next_op(w, rng) == Op::kGet;
    INFO("workload " << workload_name(w));
    CHECK(get_fraction(w) == expected);
    CHECK(gets / 100'000.0 == Approx(expected).margin(0.01));
  }
  // Workload cas: every operation a cas, drawing as many numbers as the others.
  SplitMix64 rng(5), same(5);
  for (int i = 0; i < 1000; ++i) CHECK(next_op(Workload::kCas, rng) == Op::kCas);
  for (int i = 0; i < 1000; ++i) next_op(Workload::kA, same);
  CHECK(rng.next() == same.next());
  CHECK(get_fraction(Workload::kCas) == 0.0);
  CHECK(op_name(Op::kCas) == "cas");
}

TEST_CASE("parsing workloads and distributions: names round-trip, errors list the choices",
          "[bench][keygen]") {
  for (Workload w : {Workload::kA, Workload::kB, Workload::kC, Workload::kW, Workload::kCas}) {
    auto parsed = parse_workload(workload_name(w));
    REQUIRE(parsed.ok());
    CHECK(*parsed == w);
  }
  CHECK(*parse_workload("B") == Workload::kB);
  CHECK(*parse_workload("CAS") == Workload::kCas);
  for (const char* bad : {"", "d", "ab", "workload a"}) {
    auto r = parse_workload(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() ==
          "unknown workload '" + std::string(bad) +
              "': expected a (50% get, 50% put), b (95% get, 5% put), c (gets only), w (puts "
              "only) or cas (compare-and-sets only, on a linearizable keyspace)");
  }
  CHECK(*parse_key_distribution("Zipfian") == KeyDistribution::kZipfian);
  CHECK(*parse_key_distribution(key_distribution_name(KeyDistribution::kUniform)) ==
        KeyDistribution::kUniform);
  auto bad = parse_key_distribution("hotspot");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().to_string() ==
        "invalid argument: unknown key distribution 'hotspot': expected uniform or zipfian");
}

TEST_CASE("key choosers and zipfian generators refuse empty ranges and bad theta",
          "[bench][keygen]") {
  CHECK(KeyChooser::uniform(0).status().code() == Code::kInvalidArgument);
  CHECK(KeyChooser::scrambled_zipfian(0).status().code() == Code::kInvalidArgument);
  CHECK(ZipfianGenerator::make(0).status().code() == Code::kInvalidArgument);
  CHECK(ZipfianGenerator::make(10, 1.0).status().message() ==
        "zipfian theta 1.000000 is not in (0, 1)");
  CHECK_FALSE(ZipfianGenerator::make(10, 0.0).ok());
  CHECK_FALSE(ZipfianGenerator::with_zeta(10, 0.5, 0.5).ok());
  // One key, or one or two zipfian items, still works.
  SplitMix64 rng(1);
  CHECK(KeyChooser::scrambled_zipfian(1)->next(rng) == 0);
  auto one = ZipfianGenerator::make(1);
  auto two = ZipfianGenerator::make(2);
  for (int i = 0; i < 100; ++i) {
    CHECK(one->next(rng) == 0);
    CHECK(two->next(rng) < 2);
  }
}

TEST_CASE("keys have one length, and FNV scrambling is YCSB's", "[bench][keygen]") {
  CHECK(key_name(42) == "key000000000042");
  CHECK(key_name(999'999'999'999) == "key999999999999");
  CHECK(key_name(0).size() == key_name(123'456).size());
  // YCSB's Utils.fnvhash64 of these values, computed independently (FNV-1a
  // over the 8 little-endian bytes, then the absolute value as a signed long).
  CHECK(fnv_hash64(0) == 6284781860667377211ULL);
  CHECK(fnv_hash64(1) == 8517097267634966620ULL);  // the sign bit was set: negated
  CHECK(fnv_hash64(0x0102030405060708ULL) == 895447315735140821ULL);
  CHECK(fnv_hash64(10'000'000'000ULL) == 1201321332300452516ULL);
  CHECK(fnv_hash64(1) != fnv_hash64(256));  // every byte counts
  CHECK(fnv_hash64(12345) >> 63 == 0);      // never negative as a Java long
}
