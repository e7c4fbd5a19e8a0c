// Measured staleness (bench/lib/staleness.hpp): judging reads against the
// writes acknowledged before them, and the versioned values that carry them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/random.hpp"
#include "bench/lib/staleness.hpp"

using namespace tally::bench;
using tally::SplitMix64;
using tally::Code;

namespace {

const std::vector<uint64_t> kEdges = {0, 1'000, 2'000, 5'000};

struct Bucket {
  uint64_t reads, stale;
};

std::vector<Bucket> buckets(const StalenessTable& t) {
  std::vector<Bucket> out;
  for (const StalenessBucket& b : t.buckets) out.push_back({b.reads, b.stale});
  return out;
}

bool operator==(const Bucket& a, const Bucket& b) {
  return a.reads == b.reads && a.stale == b.stale;
}

}  // namespace

TEST_CASE("staleness: a history judged by hand", "[bench][staleness]") {
  StalenessTracker t;
  t.record_write(1, 1, 100);
  t.record_write(1, 2, 200);
  t.record_write(1, 3, 5'000);
  t.record_write(2, 1, 10);
  t.record_read(1, 50, 0);     // before any ack: not judged
  t.record_read(1, 100, 0);    // v1's ack in the same microsecond does not count yet
  t.record_read(1, 150, 1);    // fresh, t = 50 us
  t.record_read(1, 150, 0);    // not found after v1 was acked: stale, 1 behind
  t.record_read(1, 1'300, 1);  // v2 is the latest (acked at 200): stale, t = 1.1 ms
  t.record_read(1, 1'300, 3);  // v3 is still in flight but visible: fresh
  t.record_read(1, 6'000, 1);  // v2 and v3 are newer: 2 behind, t = 1 ms after v3
  std::vector<uint64_t> siblings = {1, 3};
  t.record_read_siblings(1, 7'000, siblings);  // the newest sibling is the latest: fresh
  t.record_read(2, 2'100'000, 1);              // t = 2.1 s: the open-ended bucket
  CHECK(t.write_count() == 4);
  CHECK(t.read_count() == 9);

  auto table = t.analyze(kEdges);
  REQUIRE(table.ok());
  CHECK(table->reads_unjudged == 2);
  CHECK(table->reads_judged == 7);
  CHECK(table->stale_reads == 3);
  CHECK(table->stale_fraction() == Approx(3.0 / 7));
  REQUIRE(table->buckets.size() == 4);
  CHECK(buckets(*table) == std::vector<Bucket>{{2, 1}, {3, 2}, {1, 0}, {1, 0}});
  CHECK(table->buckets[1].from_us == 1'000);
  CHECK(table->buckets[1].to_us == 2'000);
  CHECK(table->buckets[3].to_us == std::numeric_limits<uint64_t>::max());
  CHECK(table->buckets[1].stale_fraction() == Approx(2.0 / 3));
  CHECK(table->versions_behind == std::map<uint64_t, uint64_t>{{0, 4}, {1, 2}, {2, 1}});
  CHECK(table->fraction_within(1) == Approx(4.0 / 7));
  CHECK(table->fraction_within(2) == Approx(6.0 / 7));
  CHECK(table->fraction_within(3) == 1.0);
}

TEST_CASE(
    "staleness: a retried write counts once; versions acked out of order are judged by "
    "number",
    "[bench][staleness]") {
  StalenessTracker t;
  t.record_write(7, 5, 100);
  t.record_write(7, 3, 200);  // an older version acked later (two writers)
  t.record_write(7, 5, 250);  // v5 acked again by a retry
  t.record_read(7, 300, 3);
  t.record_read(7, 300, 4);  // between the two: still behind v5
  t.record_read(7, 300, 5);
  auto table = t.analyze(kEdges);
  REQUIRE(table.ok());
  CHECK(table->stale_reads == 2);
  CHECK(table->versions_behind == std::map<uint64_t, uint64_t>{{0, 1}, {1, 2}});
  // t runs from v5's first ack (200 us earlier): the first bucket.
  CHECK(table->buckets[0].reads == 3);
}

TEST_CASE("staleness: per-thread trackers merged give what one tracker gives",
          "[bench][staleness]") {
  SplitMix64 rng(8);
  StalenessTracker one;
  std::vector<StalenessTracker> threads(3);
  std::vector<uint64_t> next_version(5, 1);
  for (uint64_t time = 0; time < 200'000; time += 1 + rng.uniform(300)) {
    uint64_t key = rng.uniform(5);
    StalenessTracker& mine = threads[rng.uniform(3)];
    if (rng.chance(0.3)) {
      uint64_t v = next_version[key]++;
      one.record_write(key, v, time);
      mine.record_write(key, v, time);
    } else {
      uint64_t v = next_version[key] > 1 ? rng.between(0, next_version[key]) : 0;
      one.record_read(key, time, v);
      mine.record_read(key, time, v);
    }
  }
  StalenessTracker merged;
  for (const StalenessTracker& th : threads) merged.merge(th);
  auto a = one.analyze();
  auto b = merged.analyze();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->stale_reads > 0);
  CHECK(buckets(*a) == buckets(*b));
  CHECK(a->versions_behind == b->versions_behind);
  CHECK(a->reads_judged == b->reads_judged);
  CHECK(a->reads_unjudged == b->reads_unjudged);
  CHECK(b->buckets.size() == kDefaultBucketEdgesUs.size());
  // Merging a tracker into itself doubles every event.
  size_t reads = one.read_count();
  one.merge(one);
  CHECK(one.read_count() == 2 * reads);
  CHECK(one.analyze()->reads_judged == 2 * a->reads_judged);
}

TEST_CASE("staleness: the sweep agrees with judging each read against every write",
          "[bench][staleness]") {
  struct W {
    uint64_t key, version, ack;
  };
  struct R {
    uint64_t key, start, version;
  };
  SplitMix64 rng(21);
  std::vector<W> writes;
  std::vector<R> reads;
  StalenessTracker t;
  for (int i = 0; i < 300; ++i) {
    W w{rng.uniform(4), 1 + rng.uniform(40), rng.uniform(10'000)};  // versions in any order
    writes.push_back(w);
    t.record_write(w.key, w.version, w.ack);
  }
  for (int i = 0; i < 600; ++i) {
    R r{rng.uniform(4), rng.uniform(12'000), rng.uniform(42)};
    reads.push_back(r);
    t.record_read(r.key, r.start, r.version);
  }
  std::vector<Bucket> expected(kEdges.size(), {0, 0});
  std::map<uint64_t, uint64_t> behind;
  uint64_t unjudged = 0;
  for (const R& r : reads) {
    std::map<uint64_t, uint64_t> acked;  // version -> first ack
    for (const W& w : writes) {
      if (w.key != r.key || w.ack >= r.start) continue;
      auto [it, fresh] = acked.emplace(w.version, w.ack);
      if (!fresh) it->second = std::min(it->second, w.ack);
    }
    if (acked.empty()) {
      ++unjudged;
      continue;
    }
    uint64_t t_us = r.start - acked.rbegin()->second;
    size_t b = kEdges.size() - 1;
    while (kEdges[b] > t_us) --b;
    uint64_t newer = 0;
    for (const auto& [version, ack] : acked) newer += version > r.version;
    ++expected[b].reads;
    expected[b].stale += newer > 0;
    ++behind[newer];
  }
  // The history exercises more than one bucket, and stale reads in them.
  CHECK(expected[0].stale > 0);
  CHECK(expected[1].stale > 0);
  CHECK(unjudged > 0);
  auto table = t.analyze(kEdges);
  REQUIRE(table.ok());
  CHECK(table->reads_unjudged == unjudged);
  CHECK(buckets(*table) == expected);
  CHECK(table->versions_behind == behind);
}

TEST_CASE("staleness: bucket edges must start at 0 and increase", "[bench][staleness]") {
  StalenessTracker t;
  auto fails = [&](std::vector<uint64_t> edges, const std::string& message) {
    auto r = t.analyze(edges);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() == message);
  };
  fails({}, "no staleness bucket edges");
  fails({5, 10}, "the first staleness bucket edge is 5 us; it must be 0");
  fails({0, 10, 10}, "staleness bucket edges must strictly increase (10 us then 10 us)");
  auto empty = t.analyze();
  REQUIRE(empty.ok());
  CHECK(empty->reads_judged == 0);
  CHECK(empty->stale_fraction() == 0);
  CHECK(empty->fraction_within(1) == 1.0);
  CHECK(empty->buckets[0].stale_fraction() == 0);
}

TEST_CASE("versioned values: encode pads to the size asked and decodes back",
          "[bench][staleness]") {
  for (uint64_t version : {uint64_t{1}, uint64_t{42}, std::numeric_limits<uint64_t>::max()}) {
    for (size_t size : {0, 5, 64, 1000}) {
      std::string v = encode_value(version, size);
      std::string prefix = "v" + std::to_string(version) + ":";
      CHECK(v.size() == std::max(size, prefix.size()));
      CHECK(v.compare(0, prefix.size(), prefix) == 0);
      CHECK(std::all_of(v.begin() + static_cast<long>(prefix.size()), v.end(),
                        [](char c) { return c >= 'a' && c <= 'z'; }));
      auto decoded = decode_version(v);
      REQUIRE(decoded.ok());
      CHECK(*decoded == version);
    }
  }
  CHECK(encode_value(9, 100) == encode_value(9, 100));  // a function of the version
  CHECK(encode_value(9, 100) != encode_value(10, 100).replace(1, 2, "9:"));
  std::string padding = encode_value(3, 1000).substr(3);
  CHECK(std::set<char>(padding.begin(), padding.end()).size() > 20);  // not one repeated letter
}

TEST_CASE("versioned values: a foreign value is refused, quoting it", "[bench][staleness]") {
  auto fails = [](std::string value, const std::string& message) {
    auto r = decode_version(value);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message() == message);
  };
  fails("", "value \"\" is not a tally-bench value (\"v<version>:...\"): no leading 'v'");
  fails("hello", "value \"hello\" is not a tally-bench value (\"v<version>:...\"): no leading 'v'");
  fails("v:abc",
        "value \"v:abc\" is not a tally-bench value (\"v<version>:...\"): no digits after 'v'");
  fails("v12",
        "value \"v12\" is not a tally-bench value (\"v<version>:...\"): no ':' after the version");
  fails(
      "v12x:",
      "value \"v12x:\" is not a tally-bench value (\"v<version>:...\"): no ':' after the version");
  fails("v0:aaaa",
        "value \"v0:aaaa\" is not a tally-bench value (\"v<version>:...\"): version 0 is reserved "
        "for 'not found'");
  fails(
      "v18446744073709551616:",
      "value \"v184467440737095\"... is not a tally-bench value (\"v<version>:...\"): the version "
      "overflows 64 bits");
  fails(
      std::string("\x01\"q\\", 4),
      "value \"\\x01\\x22q\\x5c\" is not a tally-bench value (\"v<version>:...\"): no leading 'v'");
}
