// A token bucket for bytes moved in the background (range streams, hint
// replay): they share one node-wide budget so that together they never take
// more than the operator allowed from the foreground's disk and network.
//
// Pure: the caller passes the time. take() never blocks or refuses; it
// answers how long the caller should wait before moving more, so a batch
// already in hand is never split.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tally {

class RateLimiter {
 public:
  // `bytes_per_s` 0: no limit. The bucket holds at most `burst_bytes`.
  explicit RateLimiter(uint64_t bytes_per_s, uint64_t burst_bytes = 1 << 20)
      : rate_(bytes_per_s), burst_(std::max<uint64_t>(burst_bytes, 1)), tokens_(static_cast<double>(burst_)) {}

  // Counts `bytes` as moved at `now_us`; returns the microseconds to wait
  // before the next move (0: at once).
  uint64_t take(uint64_t bytes, uint64_t now_us) {
    if (rate_ == 0) return 0;
    if (now_us > last_us_) {
      tokens_ = std::min(static_cast<double>(burst_),
                         tokens_ + static_cast<double>(now_us - last_us_) * static_cast<double>(rate_) / 1e6);
    }
    last_us_ = std::max(last_us_, now_us);
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return 0;
    return static_cast<uint64_t>(-tokens_ * 1e6 / static_cast<double>(rate_)) + 1;
  }

  uint64_t bytes_per_s() const { return rate_; }

 private:
  uint64_t rate_;
  uint64_t burst_;
  double tokens_;
  uint64_t last_us_ = 0;
};

}  // namespace tally
