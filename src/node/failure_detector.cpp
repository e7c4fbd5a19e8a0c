#include "node/failure_detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tally {
namespace {

// Coefficients of the logistic approximation of the standard normal CDF,
// F(y) ~= 1 / (1 + exp(-y * (kA + kB * y^2))), max error ~1.4e-4
// (Bowling, Khasawneh, Kaewkuekool, Cho, "A logistic approximation to the
// cumulative normal distribution", 2009). Akka uses the same.
constexpr double kA = 1.5976;
constexpr double kB = 0.070566;

// log(1 + e^z) without overflow for large z or loss of precision for very negative z.
double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

PhiAccrualDetector::Options checked(const PhiAccrualDetector::Options& options) {
  if (Status s = options.validate(); !s.ok()) throw std::invalid_argument(s.message());
  return options;
}

}  // namespace

Status PhiAccrualDetector::Options::validate() const {
  if (!(threshold > 0.0 && threshold < kMaxPhi)) {
    return Status::InvalidArgument("failure detector threshold is " + std::to_string(threshold) +
                                   ", it must be above 0 and below " + std::to_string(kMaxPhi));
  }
  if (max_sample_size == 0) {
    return Status::InvalidArgument("failure detector max_sample_size must be at least 1");
  }
  if (min_std_deviation_us == 0) {
    // A zero floor lets regular heartbeats divide by a zero deviation.
    return Status::InvalidArgument("failure detector min_std_deviation_us must be at least 1");
  }
  if (heartbeat_interval_us == 0) {
    return Status::InvalidArgument("failure detector heartbeat_interval_us must be at least 1");
  }
  if (max_interval_us < heartbeat_interval_us) {
    return Status::InvalidArgument(
        "failure detector max_interval_us (" + std::to_string(max_interval_us) +
        ") is below heartbeat_interval_us (" + std::to_string(heartbeat_interval_us) +
        "): no interval would ever be learnt");
  }
  // The window's sum of squares must fit in 64 bits: n * max_interval^2 <= 2^64 - 1.
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (max_interval_us > std::numeric_limits<uint32_t>::max() ||
      max_interval_us * max_interval_us > kMax / max_sample_size) {
    return Status::InvalidArgument("failure detector max_interval_us (" +
                                   std::to_string(max_interval_us) + ") times max_sample_size (" +
                                   std::to_string(max_sample_size) + ") is too large");
  }
  return Status::Ok();
}

PhiAccrualDetector::PhiAccrualDetector(uint64_t watch_since_us)
    : PhiAccrualDetector(watch_since_us, Options{}) {}

PhiAccrualDetector::PhiAccrualDetector(uint64_t watch_since_us, const Options& options)
    : options_(checked(options)), last_us_(watch_since_us) {}

void PhiAccrualDetector::heartbeat(uint64_t now_us) {
  if (!heard_) {
    // The watch time is not an arrival: the first heartbeat starts the first interval.
    heard_ = true;
    last_us_ = now_us;
    return;
  }
  if (now_us < last_us_) return;
  const uint64_t interval = now_us - last_us_;
  if (interval <= options_.max_interval_us) record_interval(interval);
  last_us_ = now_us;
}

void PhiAccrualDetector::record_interval(uint64_t interval_us) {
  if (window_.size() < options_.max_sample_size) {
    window_.push_back(interval_us);
  } else {
    const uint64_t evicted = window_[oldest_];
    sum_ -= evicted;
    sum_sq_ -= evicted * evicted;
    window_[oldest_] = interval_us;
    oldest_ = (oldest_ + 1) % window_.size();
  }
  sum_ += interval_us;
  sum_sq_ += interval_us * interval_us;
}

double PhiAccrualDetector::mean_interval_us() const {
  if (window_.empty()) return static_cast<double>(options_.heartbeat_interval_us);
  return static_cast<double>(sum_) / static_cast<double>(window_.size());
}

double PhiAccrualDetector::stddev_interval_us() const {
  if (window_.empty()) return static_cast<double>(options_.heartbeat_interval_us) / 4.0;
  const double n = static_cast<double>(window_.size());
  const double mean = static_cast<double>(sum_) / n;
  // Rounding can push E[x^2] - E[x]^2 a hair below zero when all samples are equal.
  const double variance = static_cast<double>(sum_sq_) / n - mean * mean;
  return std::sqrt(std::max(0.0, variance));
}

// Why the normal model and not Cassandra's exponential one: the exponential model
// (phi = silence / mean * log10(e)) ignores the observed variance, so with a 100 ms mean
// it needs 1.84 s of silence to reach phi = 8 however steady the link is, and gives a
// jittery link no more slack than a steady one. Cassandra can live with that because its
// arrivals are gossip, relayed at random; ours are direct heartbeats on a fixed timer,
// whose intervals cluster around the period, which is what a normal fit describes. The
// logistic approximation of the CDF (rather than std::erfc) gives phi in closed form in
// the log domain, so a huge silence yields a large finite phi instead of -log10(0) = inf.
double PhiAccrualDetector::phi_for_silence(uint64_t silence_us) const {
  const double mean =
      mean_interval_us() + static_cast<double>(options_.acceptable_heartbeat_pause_us);
  const double stddev =
      std::max(stddev_interval_us(), static_cast<double>(options_.min_std_deviation_us));
  // y is at most ~2^64 / 1 = 1.8e19 and y^3 ~6e57: far inside double's range, so z is
  // finite; softplus keeps it so.
  const double y = (static_cast<double>(silence_us) - mean) / stddev;
  const double z = y * (kA + kB * y * y);
  // P(later) = 1 - F(y) = 1 / (1 + e^z), so phi = -log10(P(later)) = log10(1 + e^z).
  const double phi = softplus(z) / std::log(10.0);
  return std::min(phi, kMaxPhi);
}

double PhiAccrualDetector::phi(uint64_t now_us) const {
  return phi_for_silence(now_us > last_us_ ? now_us - last_us_ : 0);
}

bool PhiAccrualDetector::available(uint64_t now_us) const {
  return phi(now_us) < options_.threshold;
}

uint64_t PhiAccrualDetector::suspect_after_us() const {
  // phi is non-decreasing in the silence and reaches kMaxPhi > threshold, so bisect for
  // the first silence at or above the threshold. Bisecting the same function that
  // available() uses keeps the two exactly consistent.
  uint64_t lo = 0;                                     // invariant: phi(lo) < threshold, or lo == 0
  uint64_t hi = std::numeric_limits<uint64_t>::max();  // invariant: phi(hi) >= threshold
  if (phi_for_silence(0) >= options_.threshold) return 0;
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (phi_for_silence(mid) >= options_.threshold) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

FailureDetector::FailureDetector() : FailureDetector(PhiAccrualDetector::Options{}) {}

FailureDetector::FailureDetector(const PhiAccrualDetector::Options& options)
    : options_(checked(options)) {}

void FailureDetector::watch(uint32_t id, uint64_t now_us) {
  peers_.try_emplace(id, now_us, options_);
}

bool FailureDetector::heartbeat(uint32_t id, uint64_t now_us) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return false;
  it->second.heartbeat(now_us);
  return true;
}

double FailureDetector::phi(uint32_t id, uint64_t now_us) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? 0.0 : it->second.phi(now_us);
}

bool FailureDetector::is_up(uint32_t id, uint64_t now_us) const {
  auto it = peers_.find(id);
  return it == peers_.end() || it->second.available(now_us);
}

void FailureDetector::forget(uint32_t id) { peers_.erase(id); }

const PhiAccrualDetector* FailureDetector::peer(uint32_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

std::vector<PeerHealth> FailureDetector::snapshot(uint64_t now_us) const {
  std::vector<PeerHealth> out;
  out.reserve(peers_.size());
  for (const auto& [id, detector] : peers_) {
    const double phi = detector.phi(now_us);
    out.push_back({id, phi, phi < options_.threshold, detector.heard()});
  }
  return out;
}

}  // namespace tally
