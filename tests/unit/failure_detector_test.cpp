// The phi accrual failure detector: low suspicion while heartbeats keep coming,
// bounded detection of a silent peer, no false suspicion under jitter, bounded memory,
// and a finite phi whatever the gap. All on virtual time (microseconds).
#include "node/failure_detector.hpp"
#include "raft/random.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace tally {
namespace {

constexpr uint64_t kMs = 1000;
constexpr uint64_t kInterval = 100 * kMs;
// Where the clock starts: away from zero, so that a silence measured from time 0 by
// mistake would show up.
constexpr uint64_t kStart = 1'000'000 * kMs;


// Feeds `count` heartbeats `interval` apart after `t`; returns the last arrival time.
uint64_t beat_regularly(PhiAccrualDetector& d, uint64_t t, int count,
                        uint64_t interval = kInterval) {
  for (int i = 0; i < count; ++i) {
    t += interval;
    d.heartbeat(t);
  }
  return t;
}

// The first silence (at 1 ms resolution) after `last` at which `d` reports the peer down.
uint64_t measured_detection_us(const PhiAccrualDetector& d, uint64_t last) {
  uint64_t silence = 0;
  while (d.available(last + silence) && silence < 60'000 * kMs) silence += kMs;
  return silence;
}

TEST_CASE("regular 100 ms heartbeats keep phi below 1 after each beat and when the next is due",
          "[failure_detector]") {
  PhiAccrualDetector d(kStart);
  uint64_t t = kStart;
  for (int i = 0; i < 200; ++i) {
    t += kInterval;
    d.heartbeat(t);
    CHECK(d.phi(t + 1 * kMs) < 1.0);
    CHECK(d.phi(t + kInterval) < 1.0);
    CHECK(d.available(t + kInterval));
  }
  CHECK(d.samples() == 199);
  CHECK(d.mean_interval_us() == Approx(100'000.0));
}

TEST_CASE("phi grows monotonically with silence and saturates at a finite cap",
          "[failure_detector]") {
  PhiAccrualDetector d(kStart);
  const uint64_t last = beat_regularly(d, kStart, 50);
  double previous = d.phi(last);
  for (uint64_t s = kMs; s <= 3000 * kMs; s += kMs) {
    const double phi = d.phi(last + s);
    REQUIRE(phi >= previous);
    previous = phi;
  }
  // Strictly increasing where it matters: around and past the threshold.
  CHECK(d.phi(last + 300 * kMs) < d.phi(last + 400 * kMs));
  CHECK(d.phi(last + 400 * kMs) < d.phi(last + 500 * kMs));
  CHECK(d.phi(last + 500 * kMs) < d.phi(last + 600 * kMs));
  CHECK(d.phi(last + 600 * kMs) < d.phi(last + 700 * kMs));
  CHECK(d.phi(last + 700 * kMs) < d.phi(last + 1000 * kMs));
  CHECK(d.phi(last + 3000 * kMs) == PhiAccrualDetector::kMaxPhi);
}

TEST_CASE("a peer silent after regular 100 ms heartbeats is down after 600-700 ms of silence",
          "[failure_detector]") {
  // The stated bound, with the default options: mean 100 ms + pause 300 ms + 5.22 *
  // floor 50 ms = ~661 ms. Up through 600 ms of silence (five missed beats plus some),
  // down by 700 ms, and certainly after 1 s.
  PhiAccrualDetector d(kStart);
  const uint64_t last = beat_regularly(d, kStart, 100);
  CHECK(d.available(last + 600 * kMs));
  CHECK_FALSE(d.available(last + 700 * kMs));
  CHECK_FALSE(d.available(last + 1000 * kMs));

  const uint64_t bound = d.suspect_after_us();
  const uint64_t measured = measured_detection_us(d, last);
  INFO("suspect_after_us = " << bound << ", measured = " << measured);
  CHECK(bound > 600 * kMs);
  CHECK(bound <= 700 * kMs);
  // suspect_after_us() is exactly where available() flips.
  CHECK(d.available(last + bound - 1));
  CHECK_FALSE(d.available(last + bound));
  CHECK(measured >= bound);
  CHECK(measured < bound + kMs);
}

TEST_CASE("jittery heartbeats (+-30 ms) give no false down over 10,000 beats, yet silence does",
          "[failure_detector]") {
  // Defaults, and a "fitted only" configuration with no pause and a 10 ms floor, where
  // only a correctly learnt deviation (~24.5 ms) keeps a 160 ms interval below the
  // threshold: with the 10 ms floor alone it would reach phi ~11.
  PhiAccrualDetector::Options fitted;
  fitted.acceptable_heartbeat_pause_us = 0;
  fitted.min_std_deviation_us = 10 * kMs;
  const bool defaults = GENERATE(true, false);
  const PhiAccrualDetector::Options options = defaults ? PhiAccrualDetector::Options{} : fitted;

  PhiAccrualDetector d(kStart, options);
  SplitMix64 rng(20240611);  // the same jitter on every platform
  double max_phi = 0.0;
  uint64_t last = kStart;
  for (uint64_t k = 1; k <= 10'000; ++k) {
    // Each beat is sent on schedule and delayed by up to +-30 ms: intervals of 40-160 ms.
    const uint64_t arrival = kStart + k * kInterval + (static_cast<int64_t>(rng.uniform(60'001)) - 30'000);
    // phi is highest just before a beat arrives, so that is where a false "down" would be.
    max_phi = std::max(max_phi, d.phi(arrival));
    REQUIRE(d.available(arrival));
    d.heartbeat(arrival);
    last = arrival;
  }
  INFO((defaults ? "defaults" : "fitted only") << ": max phi before a beat = " << max_phi);
  // Fitted only, the highest phi (~5.2) comes early, while the window is still small and
  // its deviation noisy; with the defaults' pause it stays near zero.
  CHECK(max_phi < (defaults ? 1.0 : options.threshold));
  // The window learnt the jitter: uniform +-30 ms on both ends has a deviation of ~24.5 ms.
  CHECK(d.stddev_interval_us() == Approx(24'500.0).epsilon(0.05));
  // And the detector still detects: a crash after the jittery run is seen within 1 s.
  CHECK_FALSE(d.available(last + 1000 * kMs));
}

TEST_CASE("a peer that comes back is up after its next heartbeat, and the outage is not learnt",
          "[failure_detector]") {
  PhiAccrualDetector d(kStart);
  uint64_t last = beat_regularly(d, kStart, 100);
  const size_t samples_before = d.samples();

  const uint64_t back = last + 5000 * kMs;  // a 5 s outage
  CHECK_FALSE(d.available(back - 1));
  d.heartbeat(back);
  CHECK(d.available(back));
  CHECK(d.phi(back + 1 * kMs) < 1.0);

  // The 5 s gap is an outage, not an interval: had it been recorded, the mean would be
  // ~150 ms and the deviation ~490 ms, and the next crash would take seconds to see.
  CHECK(d.samples() == samples_before);
  CHECK(d.mean_interval_us() == Approx(100'000.0));
  last = beat_regularly(d, back, 10);
  CHECK(d.available(last + 600 * kMs));
  CHECK_FALSE(d.available(last + 700 * kMs));
}

TEST_CASE("the window is bounded: 100k heartbeats keep max_sample_size samples, oldest evicted",
          "[failure_detector]") {
  PhiAccrualDetector d(kStart);
  uint64_t last = beat_regularly(d, kStart, 100'000);
  CHECK(d.samples() == 1000);

  // 999 beats at 50 ms: exactly one 100 ms sample is left, so the mean is 50.05 ms. This
  // checks that evicted samples leave the sums, not only the buffer.
  last = beat_regularly(d, last, 999, 50 * kMs);
  CHECK(d.samples() == 1000);
  CHECK(d.mean_interval_us() == 50'050.0);
  last = beat_regularly(d, last, 1, 50 * kMs);
  CHECK(d.mean_interval_us() == 50'000.0);
  CHECK(d.stddev_interval_us() == 0.0);

  PhiAccrualDetector::Options small;
  small.max_sample_size = 10;
  PhiAccrualDetector s(kStart, small);
  beat_regularly(s, kStart, 25);
  CHECK(s.samples() == 10);
}

TEST_CASE("a watched peer never heard from is up until the bootstrap bound, then down",
          "[failure_detector]") {
  FailureDetector fd;
  fd.watch(7, kStart);
  REQUIRE(fd.peer(7) != nullptr);
  const uint64_t bound = fd.peer(7)->suspect_after_us();
  INFO("bootstrap bound = " << bound << " us");
  // Assumed interval 100 ms (deviation 25 ms, floored to 50 ms) + 300 ms pause: ~661 ms.
  CHECK(bound > 600 * kMs);
  CHECK(bound <= 700 * kMs);

  CHECK(fd.is_up(7, kStart));
  CHECK(fd.is_up(7, kStart + bound - 1));
  CHECK_FALSE(fd.is_up(7, kStart + bound));
  CHECK_FALSE(fd.is_up(7, kStart + 10'000 * kMs));

  // Its first heartbeat, however late, brings it up.
  CHECK(fd.heartbeat(7, kStart + 10'000 * kMs));
  CHECK(fd.is_up(7, kStart + 10'000 * kMs));
  CHECK(fd.peer(7)->heard());
}

TEST_CASE("huge gaps give a finite phi, never NaN or infinity", "[failure_detector]") {
  constexpr uint64_t kForever = std::numeric_limits<uint64_t>::max();
  PhiAccrualDetector::Options tight;  // the smallest floor: the largest y
  tight.min_std_deviation_us = 1;
  tight.acceptable_heartbeat_pause_us = 0;
  for (const auto& options : {PhiAccrualDetector::Options{}, tight}) {
    PhiAccrualDetector d(0, options);
    const uint64_t last = beat_regularly(d, 0, 20);
    for (uint64_t now : {last + 10'000'000 * kMs, kForever / 2, kForever}) {
      const double phi = d.phi(now);
      CHECK(std::isfinite(phi));
      CHECK(phi == PhiAccrualDetector::kMaxPhi);
      CHECK_FALSE(d.available(now));
    }
  }
  // Never heard, watched at 0, asked at the end of time.
  PhiAccrualDetector fresh(0);
  CHECK(std::isfinite(fresh.phi(kForever)));
}

TEST_CASE("time that runs backwards neither yields a negative silence nor a sample",
          "[failure_detector]") {
  PhiAccrualDetector d(kStart);
  const uint64_t last = beat_regularly(d, kStart, 10);
  const size_t samples = d.samples();
  d.heartbeat(last - 50 * kMs);  // a stale timestamp
  CHECK(d.samples() == samples);
  CHECK(d.last_heard_us() == last);
  // Asking about a moment before the last heartbeat is a silence of zero, not 2^64.
  CHECK(d.phi(last - 50 * kMs) == d.phi(last));
  CHECK(d.available(last - 50 * kMs));
}

TEST_CASE("FailureDetector tracks only watched peers and snapshots them in id order",
          "[failure_detector]") {
  FailureDetector fd;
  // Unknown peers: no evidence, so up (the coordinator tries them) with phi 0.
  CHECK(fd.is_up(99, kStart));
  CHECK(fd.phi(99, kStart) == 0.0);
  // Heartbeats do not add peers: membership comes from the cluster metadata.
  CHECK_FALSE(fd.heartbeat(99, kStart));
  CHECK_FALSE(fd.watching(99));

  fd.watch(3, kStart);
  fd.watch(1, kStart);
  fd.watch(2, kStart);
  uint64_t t = kStart;
  for (int i = 0; i < 20; ++i) {
    t += kInterval;
    fd.heartbeat(1, t);
    fd.heartbeat(3, t);
  }
  // Re-watching keeps the history.
  fd.watch(1, t);
  CHECK(fd.peer(1)->samples() == 19);
  // Node 3 crashes; node 1 keeps beating; node 2 never answered.
  const uint64_t crash = t;
  for (int i = 0; i < 10; ++i) {
    t += kInterval;
    fd.heartbeat(1, t);
  }
  const auto snap = fd.snapshot(t);
  REQUIRE(snap.size() == 3);
  CHECK(snap[0].id == 1);
  CHECK(snap[0].up);
  CHECK(snap[0].heard);
  CHECK(snap[0].phi < 1.0);
  CHECK(snap[1].id == 2);
  CHECK_FALSE(snap[1].up);
  CHECK_FALSE(snap[1].heard);
  CHECK(snap[2].id == 3);
  CHECK_FALSE(snap[2].up);
  CHECK(snap[2].heard);
  CHECK(snap[2].phi == fd.phi(3, t));
  CHECK(snap[2].phi >= 8.0);
  CHECK(t - crash == 1000 * kMs);

  fd.forget(3);
  CHECK_FALSE(fd.watching(3));
  CHECK(fd.snapshot(t).size() == 2);
  CHECK(fd.is_up(3, t));  // forgotten: unknown again
}

TEST_CASE("options are validated with a message naming the field", "[failure_detector]") {
  CHECK(PhiAccrualDetector::Options{}.validate().ok());

  auto rejects = [](auto mutate, const char* field) {
    PhiAccrualDetector::Options o;
    mutate(o);
    const Status s = o.validate();
    INFO(field << ": " << s.message());
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find(field) != std::string::npos);
    CHECK_THROWS_AS(PhiAccrualDetector(0, o), std::invalid_argument);
    CHECK_THROWS_AS(FailureDetector(o), std::invalid_argument);
  };
  rejects([](auto& o) { o.threshold = 0.0; }, "threshold");
  rejects([](auto& o) { o.threshold = std::nan(""); }, "threshold");
  rejects([](auto& o) { o.threshold = PhiAccrualDetector::kMaxPhi; }, "threshold");
  rejects([](auto& o) { o.max_sample_size = 0; }, "max_sample_size");
  rejects([](auto& o) { o.min_std_deviation_us = 0; }, "min_std_deviation_us");
  rejects([](auto& o) { o.heartbeat_interval_us = 0; }, "heartbeat_interval_us");
  rejects([](auto& o) { o.max_interval_us = 50 * kMs; }, "max_interval_us");
  // 1000 samples of up to 1e9 us: the sum of squares would overflow 64 bits.
  rejects([](auto& o) { o.max_interval_us = 1'000'000'000; }, "max_interval_us");
}

}  // namespace
}  // namespace tally
