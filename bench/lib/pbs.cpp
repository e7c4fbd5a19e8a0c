#include "bench/lib/pbs.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "raft/random.hpp"

namespace tally::bench {

namespace {

Status check_quorum(int n, int r, int w) {
  if (n < 1) return Status::InvalidArgument("N=" + std::to_string(n) + ": need at least 1 replica");
  if (r < 1 || r > n) {
    return Status::InvalidArgument("R=" + std::to_string(r) +
                                   " is not in [1, N=" + std::to_string(n) + "]");
  }
  if (w < 1 || w > n) {
    return Status::InvalidArgument("W=" + std::to_string(w) +
                                   " is not in [1, N=" + std::to_string(n) + "]");
  }
  return Status::Ok();
}

Status check_leg(const std::vector<double>& leg, const char* name) {
  if (leg.empty())
    return Status::InvalidArgument(std::string("no samples for the ") + name + " leg");
  for (size_t i = 0; i < leg.size(); ++i) {
    if (!std::isfinite(leg[i]) || leg[i] < 0) {
      return Status::InvalidArgument(std::string(name) + " leg sample " + std::to_string(i) +
                                     " is " + std::to_string(leg[i]) +
                                     " us: delays must be finite and >= 0");
    }
  }
  return Status::Ok();
}

double draw(const std::vector<double>& leg, SplitMix64& rng) { return leg[rng.uniform(leg.size())]; }

// C(n, k) as a double; exact for the small n of a replication factor.
double choose(int n, int k) {
  if (k < 0 || k > n) return 0;
  double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

}  // namespace

WarsSamples WarsSamples::from_round_trips(std::span<const double> round_trips_us) {
  std::vector<double> half;
  half.reserve(round_trips_us.size());
  for (double rtt : round_trips_us) half.push_back(rtt / 2);
  return {half, half, half, half};
}

// Each trial yields a threshold: the read is stale exactly for t below it.
// Replica i holds the write when the read reaches it iff
//   write_i <= commit + t + read_i,  i.e.  t >= write_i - commit - read_i,
// and the first R responders do not depend on t, so the read is fresh iff t
// reaches the smallest of those bounds over the R. Sorting the thresholds then
// answers every t with one binary search.
Result<PbsPrediction> predict_t_visibility(const PbsConfig& config, const WarsSamples& samples) {
  if (Status s = check_quorum(config.n, config.r, config.w); !s.ok()) return s;
  if (config.trials == 0) return Status::InvalidArgument("trials is 0");
  for (const auto& [leg, name] :
       {std::pair{&samples.write, "write (W)"}, std::pair{&samples.ack, "ack (A)"},
        std::pair{&samples.read, "read (R)"}, std::pair{&samples.response, "response (S)"}}) {
    if (Status s = check_leg(*leg, name); !s.ok()) return s;
  }
  for (double t : config.t_us) {
    if (!std::isfinite(t) || t < 0) {
      return Status::InvalidArgument("t=" + std::to_string(t) + " us: must be finite and >= 0");
    }
  }

  const auto n = static_cast<size_t>(config.n);
  const auto r = static_cast<size_t>(config.r);
  const auto w = static_cast<size_t>(config.w);
  SplitMix64 rng(config.seed);
  std::vector<double> write_arrival(n), ack_arrival(n), read_arrival(n), response_arrival(n);
  std::vector<double> acks(n);
  std::vector<size_t> order(n);
  std::vector<double> thresholds;
  thresholds.reserve(config.trials);

  for (uint64_t trial = 0; trial < config.trials; ++trial) {
    for (size_t i = 0; i < n; ++i) {
      write_arrival[i] = draw(samples.write, rng);
      ack_arrival[i] = write_arrival[i] + draw(samples.ack, rng);
      read_arrival[i] = draw(samples.read, rng);
      response_arrival[i] = read_arrival[i] + draw(samples.response, rng);
    }
    // The commit: the W-th acknowledgement.
    acks = ack_arrival;  // reuses its capacity: no allocation per trial
    std::nth_element(acks.begin(), acks.begin() + static_cast<std::ptrdiff_t>(w - 1), acks.end());
    double commit = acks[w - 1];
    // The first R answers to the read; ties go to the lower replica index,
    // which does not bias the result since replicas are interchangeable.
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(r), order.end(),
                      [&](size_t a, size_t b) {
                        return response_arrival[a] != response_arrival[b]
                                   ? response_arrival[a] < response_arrival[b]
                                   : a < b;
                      });
    double threshold = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < r; ++k) {
      size_t i = order[k];
      threshold = std::min(threshold, write_arrival[i] - commit - read_arrival[i]);
    }
    thresholds.push_back(threshold);
  }

  std::sort(thresholds.begin(), thresholds.end());
  PbsPrediction out{config.n, config.r, config.w, config.trials, {}};
  out.points.reserve(config.t_us.size());
  for (double t : config.t_us) {
    // Stale iff t < threshold.
    auto stale = thresholds.end() - std::upper_bound(thresholds.begin(), thresholds.end(), t);
    out.points.push_back({t, static_cast<double>(stale) / static_cast<double>(config.trials)});
  }
  return out;
}

Result<double> quorum_miss_probability(int n, int r, int w) {
  if (Status s = check_quorum(n, r, w); !s.ok()) return s;
  return choose(n - w, r) / choose(n, r);
}

Result<double> consistent_within_k(int n, int r, int w, int k) {
  if (k < 1) return Status::InvalidArgument("k=" + std::to_string(k) + ": must be at least 1");
  Result<double> miss = quorum_miss_probability(n, r, w);
  if (!miss.ok()) return miss.status();
  return 1.0 - std::pow(*miss, k);
}

}  // namespace tally::bench
