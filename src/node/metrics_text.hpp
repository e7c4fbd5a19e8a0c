// Writes the Prometheus text exposition format, version 0.0.4: one family
// at a time, its # HELP and # TYPE lines, then its samples. Label values and
// help are escaped as the format asks (backslash, quote, newline).
//
//   MetricsText m;
//   m.family("tally_peer_up", "gauge", "1 while the failure detector holds the peer up");
//   m.sample("tally_peer_up", {{"peer", "n2"}}, 1);
//   std::string body = m.take();
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "node/node_stats.hpp"

namespace tally {

class MetricsText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  // Starts a family. `type`: "counter" (name ends in _total), "gauge" or
  // "histogram" (samples go through histogram()).
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, uint64_t value);
  void sample(std::string_view name, Labels labels, double value);
  // A histogram family's samples for one label set: cumulative _bucket
  // lines with `le` in seconds, then _sum (seconds) and _count.
  void histogram(std::string_view name, Labels labels, const LatencyHistogram& h);

  // The text so far; the writer is empty afterwards.
  std::string take() { return std::move(out_); }

 private:
  void labels(Labels labels, std::string_view le = {});
  std::string out_;
};

}  // namespace tally
