// The phi accrual failure detector (Hayashibara, Défago, Yared, Katayama, SRDS 2004).
//
// Instead of a yes/no timeout, the detector keeps a window of recent heartbeat
// inter-arrival times per peer and answers with phi = -log10(P(a heartbeat arrives
// later than now)) under the distribution fitted to that window. phi = 1 means a 10%
// chance that the peer is merely slow, phi = 8 one in 10^8. The coordinator skips a
// replica whose phi is at or above the threshold (docs/architecture.md, Request path).
//
// Both classes are pure state machines (docs/architecture.md, Principles): time is
// passed in as the Env's monotonic microseconds, nothing here reads a clock, does I/O
// or keeps globals, so the simulator can drive them on virtual time and replay them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "tally/status.hpp"

namespace tally {

// Suspicion of ONE peer. Model: the normal distribution of inter-arrival times, with
// the logistic approximation of its CDF (as Akka does); see phi() for why.
class PhiAccrualDetector {
 public:
  // Defaults suit a 100 ms heartbeat on a LAN. With them a peer that heartbeat
  // regularly and then went silent is suspected after ~661 ms of silence: the
  // threshold is crossed 5.22 standard deviations past mean + pause, i.e.
  // 100 + 300 + 5.22 * 50 ms. Raising any of the three buys fewer false suspicions
  // for slower detection.
  struct Options {
    // phi at or above which the peer is considered down. 8 is Cassandra's default
    // phi_convict_threshold: a 1e-8 chance, under the fitted model, that a heartbeat
    // this late is only late. Must be in (0, kMaxPhi).
    double threshold = 8.0;
    // How many recent inter-arrival times are kept. The oldest is dropped when a new
    // one arrives, so memory per peer is bounded and the estimate follows changes in
    // the network within this many heartbeats (1000 at 100 ms = 100 s).
    size_t max_sample_size = 1000;
    // Floor on the standard deviation. Perfectly regular heartbeats (typical on an
    // idle LAN, and exactly so in the simulator) have a deviation near zero, which
    // would make phi jump to "certainly dead" at the first 10 ms of jitter.
    uint64_t min_std_deviation_us = 50'000;
    // Added to the mean interval (Akka's acceptable-heartbeat-pause): tolerates a
    // GC or scheduler pause, a TCP retransmission (Linux's minimum RTO is 200 ms) or
    // two or three lost heartbeats before phi starts to climb in earnest.
    uint64_t acceptable_heartbeat_pause_us = 300'000;
    // The interval the peer is expected to heartbeat at. Until the first interval has
    // been measured it is the assumed mean (with a deviation of a quarter of it, as
    // Akka's first-heartbeat-estimate), so that a peer that never answers is still
    // suspected after a bounded time: ~661 ms after watch() with these defaults.
    uint64_t heartbeat_interval_us = 100'000;
    // Intervals longer than this are outages, not samples of the network's behaviour,
    // and are not recorded (Cassandra's MAX_INTERVAL): otherwise one 10-minute outage
    // would inflate the mean and deviation, and so the detection time, for the next
    // max_sample_size heartbeats. A peer that heartbeats slower than this is never
    // learnt, so keep it well above heartbeat_interval_us.
    uint64_t max_interval_us = 1'000'000;

    // Ok, or InvalidArgument naming the first field out of range (for the config
    // loader to report). The detector's constructors require valid options.
    Status validate() const;
  };

  // phi is clamped to this. The true value for a long silence is astronomically large
  // and says nothing more than "down"; a finite cap keeps it printable and comparable.
  static constexpr double kMaxPhi = 1000.0;

  // Starts expecting heartbeats at `watch_since_us`. Before the first heartbeat, phi
  // measures the silence since then against the assumed interval. Throws
  // std::invalid_argument if `options.validate()` fails (a programmer error).
  explicit PhiAccrualDetector(uint64_t watch_since_us);
  PhiAccrualDetector(uint64_t watch_since_us, const Options& options);

  // Records a heartbeat that arrived at `now_us`. The interval since the previous
  // heartbeat joins the window unless it is longer than max_interval_us. A timestamp
  // earlier than the previous heartbeat is ignored: time never runs backwards here.
  void heartbeat(uint64_t now_us);

  // The suspicion level at `now_us`: 0 right after a heartbeat, growing without
  // decreasing as silence lasts, always finite, never NaN, at most kMaxPhi.
  double phi(uint64_t now_us) const;

  // True while phi(now_us) < threshold.
  bool available(uint64_t now_us) const;

  // How long a silence, counted from the last heartbeat (or from the watch time if
  // none arrived yet), makes the peer unavailable under the current window: the
  // smallest s with phi >= threshold. Useful to schedule the next check, and to state
  // the detection time.
  uint64_t suspect_after_us() const;

  // When the silence being measured started: the last heartbeat, or the watch time.
  uint64_t last_heard_us() const { return last_us_; }
  // Whether any heartbeat has arrived yet.
  bool heard() const { return heard_; }
  // Number of inter-arrival times in the window (at most max_sample_size).
  size_t samples() const { return window_.size(); }
  // Mean and standard deviation of the window (the assumed interval while it is
  // empty), before the pause is added and the deviation floor is applied.
  double mean_interval_us() const;
  double stddev_interval_us() const;
  const Options& options() const { return options_; }

 private:
  // phi for a silence of `silence_us`; the one formula behind phi() and bounds.
  double phi_for_silence(uint64_t silence_us) const;
  void record_interval(uint64_t interval_us);

  Options options_;
  uint64_t last_us_;  // last heartbeat, or the watch time before the first one
  bool heard_ = false;
  // Ring buffer of intervals; once full, `oldest_` is the next slot to overwrite.
  std::vector<uint64_t> window_;
  size_t oldest_ = 0;
  // Exact integer sums, so that 100k add/evict cycles do not accumulate rounding
  // drift. validate() bounds max_interval_us so that the square sum cannot overflow.
  uint64_t sum_ = 0;
  uint64_t sum_sq_ = 0;
};

// What `tally status` shows for one peer.
struct PeerHealth {
  uint32_t id = 0;
  double phi = 0.0;
  bool up = true;
  bool heard = false;  // false: no heartbeat yet, judged on the assumed interval
};

// Suspicion of every peer this node watches, keyed by node id. Which peers are watched
// is decided by the caller from the cluster metadata: heartbeats do not add peers, so
// a removed node's late heartbeats cannot bring it back into `tally status`.
//
// A watched peer that has not been heard from yet counts as up until it has been
// silent past the bootstrap bound (suspect_after_us() of a fresh detector, ~661 ms
// with the defaults) measured from watch(). For a quorum coordinator it is better to
// try a replica once and time out than to skip a healthy one that simply has not
// answered its first heartbeat; the bound keeps a node that never starts from being
// tried forever.
class FailureDetector {
 public:
  // Every peer gets its own PhiAccrualDetector with these options. Throws
  // std::invalid_argument if `options.validate()` fails.
  FailureDetector();
  explicit FailureDetector(const PhiAccrualDetector::Options& options);

  // Starts tracking `id`, expecting its first heartbeat from `now_us`. Watching a
  // peer already watched changes nothing (its history is kept): forget() it first to
  // start over.
  void watch(uint32_t id, uint64_t now_us);

  // Records a heartbeat from `id` at `now_us`. Returns false, and ignores it, when
  // `id` is not watched.
  bool heartbeat(uint32_t id, uint64_t now_us);

  // phi of `id` at `now_us`; 0 for a peer that is not watched (no evidence either way).
  double phi(uint32_t id, uint64_t now_us) const;

  // Whether `id` should be tried at `now_us`: phi below threshold. A peer that is not
  // watched is reported up, for the same reason unheard peers are: the coordinator
  // should try it rather than skip it on no evidence.
  bool is_up(uint32_t id, uint64_t now_us) const;

  // Stops tracking `id` (it left the cluster). Unknown ids are ignored.
  void forget(uint32_t id);

  // Whether `id` is watched.
  bool watching(uint32_t id) const { return peers_.count(id) != 0; }

  // The detector of `id`, or nullptr when not watched: for diagnostics and tests.
  const PhiAccrualDetector* peer(uint32_t id) const;

  // Every watched peer at `now_us`, in increasing id order.
  std::vector<PeerHealth> snapshot(uint64_t now_us) const;

 private:
  PhiAccrualDetector::Options options_;
  std::map<uint32_t, PhiAccrualDetector> peers_;  // ordered: deterministic snapshots
};

}  // namespace tally
