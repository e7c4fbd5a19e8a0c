// PBS predictions (bench/lib/pbs.hpp): the WARS Monte Carlo and the k-staleness
// closed form, against cases worked out by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "bench/lib/pbs.hpp"
#include "raft/random.hpp"

using namespace tally::bench;
using tally::SplitMix64;
using tally::Code;

namespace {

// `count` delays drawn from an exponential distribution of mean `mean_us`.
std::vector<double> exponential(double mean_us, uint64_t seed, int count = 10'000) {
  SplitMix64 rng(seed);
  std::vector<double> out;
  for (int i = 0; i < count; ++i) out.push_back(-mean_us * std::log(1 - rng.fraction()));
  return out;
}

// A LAN with a write leg that is slow and spread out (a disk write on it).
WarsSamples slow_writes() {
  return {exponential(20'000, 1), exponential(200, 2), exponential(200, 3), exponential(200, 4)};
}

PbsConfig config(int n, int r, int w, std::vector<double> t_us, uint64_t trials = 100'000) {
  PbsConfig c;
  c.n = n;
  c.r = r;
  c.w = w;
  c.trials = trials;
  c.t_us = std::move(t_us);
  return c;
}

}  // namespace

TEST_CASE("PBS: when R + W > N no read is ever stale, however slow the writes", "[bench][pbs]") {
  for (auto [n, r, w] : {std::tuple{3, 2, 2}, {3, 1, 3}, {3, 3, 1}, {5, 3, 3}, {5, 1, 5}}) {
    auto p = predict_t_visibility(config(n, r, w, {0, 1, 100, 10'000}, 20'000), slow_writes());
    REQUIRE(p.ok());
    INFO("N=" << n << " R=" << r << " W=" << w);
    for (const StalePrediction& point : p->points) CHECK(point.p_stale == 0.0);
    CHECK(*quorum_miss_probability(n, r, w) == 0.0);
  }
}

TEST_CASE("PBS: N=3, R=W=1 with a slow write leg is often stale at once, less so with time",
          "[bench][pbs]") {
  std::vector<double> t = {0, 1'000, 5'000, 20'000, 100'000, 1'000'000};
  auto p = predict_t_visibility(config(3, 1, 1, t), slow_writes());
  REQUIRE(p.ok());
  REQUIRE(p->points.size() == t.size());
  for (size_t i = 0; i < t.size(); ++i) CHECK(p->points[i].t_us == t[i]);
  double at0 = p->points[0].p_stale;
  CHECK(at0 > 0.3);
  CHECK(at0 <= 2.0 / 3);  // at most the closed form: a read can only gain from propagation
  for (size_t i = 1; i < t.size(); ++i) CHECK(p->points[i].p_stale <= p->points[i - 1].p_stale);
  CHECK(p->points[3].p_stale < at0 / 2);  // 20 ms: one mean write delay later
  CHECK(p->points[4].p_stale < 0.02);     // 100 ms: five
  CHECK(p->points[5].p_stale == 0.0);
}

TEST_CASE("PBS: a two-replica case worked by hand", "[bench][pbs]") {
  // N=2, R=W=1. The write reaches each replica at once or after 10 ms, with
  // even odds; acks and reads take no time, and replica 0 answers a read
  // first (ties go to the lower index). Of the four outcomes only (10 ms, 0)
  // is stale: replica 1 commits at 0 and replica 0 lacks the write until 10 ms.
  WarsSamples legs{{0, 10'000}, {0}, {0}, {0}};
  auto p = predict_t_visibility(config(2, 1, 1, {0, 5'000, 9'999, 10'000, 20'000}, 200'000), legs);
  REQUIRE(p.ok());
  CHECK(p->points[0].p_stale == Approx(0.25).margin(0.005));
  CHECK(p->points[1].p_stale == p->points[0].p_stale);  // the same draws at every t
  CHECK(p->points[2].p_stale == p->points[0].p_stale);
  CHECK(p->points[3].p_stale == 0.0);  // at 10 ms the write has arrived everywhere
  CHECK(p->points[4].p_stale == 0.0);
}

TEST_CASE("PBS: with writes that spread far slower than reads, t=0 matches the closed form",
          "[bench][pbs]") {
  // Write delays spread over [1 ms, 1000 s] and reads within 1 us: at t=0 only
  // the W replicas that acked hold the write, and the first R to answer a read
  // are a uniformly random R. That is the closed form's setting.
  SplitMix64 rng(17);
  WarsSamples legs;
  for (int i = 0; i < 100'000; ++i) legs.write.push_back(1e3 + 1e9 * rng.fraction());
  legs.ack = {0};
  for (int i = 0; i < 1000; ++i) {
    legs.read.push_back(rng.fraction());
    legs.response.push_back(rng.fraction());
  }
  for (auto [n, r, w] : {std::tuple{3, 1, 1}, {3, 1, 2}, {5, 2, 2}, {5, 1, 3}}) {
    auto p = predict_t_visibility(config(n, r, w, {0}), legs);
    REQUIRE(p.ok());
    INFO("N=" << n << " R=" << r << " W=" << w);
    CHECK(p->points[0].p_stale == Approx(*quorum_miss_probability(n, r, w)).margin(0.006));
  }
}

TEST_CASE("PBS: the same seed gives the same prediction, another seed a slightly different one",
          "[bench][pbs]") {
  PbsConfig c = config(3, 1, 1, {0, 2'000}, 20'000);
  auto a = predict_t_visibility(c, slow_writes());
  auto b = predict_t_visibility(c, slow_writes());
  c.seed = 2;
  auto other = predict_t_visibility(c, slow_writes());
  REQUIRE(a.ok());
  REQUIRE(other.ok());
  CHECK(a->points[0].p_stale == b->points[0].p_stale);
  CHECK(a->points[1].p_stale == b->points[1].p_stale);
  CHECK(a->points[0].p_stale != other->points[0].p_stale);
  CHECK(a->points[0].p_stale == Approx(other->points[0].p_stale).margin(0.02));
  CHECK(a->trials == 20'000);
  CHECK((a->n == 3 && a->r == 1 && a->w == 1));
}

TEST_CASE("PBS: bad configurations and samples are refused, naming the problem", "[bench][pbs]") {
  auto fails = [](PbsConfig c, WarsSamples s, const std::string& message) {
    auto p = predict_t_visibility(c, s);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == Code::kInvalidArgument);
    CHECK(p.status().message() == message);
  };
  WarsSamples ok = slow_writes();
  fails(config(0, 1, 1, {0}), ok, "N=0: need at least 1 replica");
  fails(config(3, 4, 1, {0}), ok, "R=4 is not in [1, N=3]");
  fails(config(3, 1, 0, {0}), ok, "W=0 is not in [1, N=3]");
  fails(config(3, 1, 1, {0}, 0), ok, "trials is 0");
  fails(config(3, 1, 1, {-1}), ok, "t=-1.000000 us: must be finite and >= 0");
  fails(config(3, 1, 1, {NAN}), ok, "t=nan us: must be finite and >= 0");
  WarsSamples no_acks = ok;
  no_acks.ack.clear();
  fails(config(3, 1, 1, {0}), no_acks, "no samples for the ack (A) leg");
  WarsSamples negative = ok;
  negative.response[2] = -5;
  fails(config(3, 1, 1, {0}), negative,
        "response (S) leg sample 2 is -5.000000 us: delays must be finite and >= 0");
  CHECK(quorum_miss_probability(3, 0, 1).status().code() == Code::kInvalidArgument);
  CHECK(consistent_within_k(3, 1, 1, 0).status().message() == "k=0: must be at least 1");
}

TEST_CASE("k-staleness closed form: hand-computed values", "[bench][pbs]") {
  // N=3, R=W=1: a read misses the one replica with the write 2 times in 3.
  CHECK(*quorum_miss_probability(3, 1, 1) == Approx(2.0 / 3));
  CHECK(*consistent_within_k(3, 1, 1, 1) == Approx(1.0 / 3));
  CHECK(*consistent_within_k(3, 1, 1, 2) == Approx(5.0 / 9));    // 1 - 4/9
  CHECK(*consistent_within_k(3, 1, 1, 3) == Approx(19.0 / 27));  // 1 - 8/27
  // N=3, R=1, W=2: C(1,1)/C(3,1) = 1/3.
  CHECK(*quorum_miss_probability(3, 1, 2) == Approx(1.0 / 3));
  CHECK(*consistent_within_k(3, 1, 2, 1) == Approx(2.0 / 3));
  CHECK(*consistent_within_k(3, 1, 2, 2) == Approx(8.0 / 9));
  // N=5, R=W=2: C(3,2)/C(5,2) = 3/10.
  CHECK(*quorum_miss_probability(5, 2, 2) == Approx(0.3));
  CHECK(*consistent_within_k(5, 2, 2, 2) == Approx(0.91));
  // N=10, R=3, W=2: C(8,3)/C(10,3) = 56/120.
  CHECK(*quorum_miss_probability(10, 3, 2) == Approx(56.0 / 120));
  // Overlapping quorums are always consistent.
  for (int k = 1; k <= 3; ++k) CHECK(*consistent_within_k(3, 2, 2, k) == 1.0);
}

TEST_CASE("WARS legs from round trips are half of each round trip", "[bench][pbs]") {
  std::vector<double> rtt = {100, 300};
  WarsSamples s = WarsSamples::from_round_trips(rtt);
  for (const auto* leg : {&s.write, &s.ack, &s.read, &s.response}) {
    CHECK(*leg == std::vector<double>{50, 150});
  }
}
