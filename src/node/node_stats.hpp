// The node's event counters: what `tally status`, RESP `INFO` (which reads
// the status reply) and the metrics door (/metrics, docs/operations.md)
// report. Each counter is described once, in kCounters: its name in those
// reports and what it counts. Beside them, per operation and R or W: client
// requests by outcome and a latency histogram (RequestStats).
//
// Owns: the counter values, the request histograms and the node's start
// time. It counts; it never decides anything, and nothing reads a counter to
// choose what to do. Everything runs on the node's loop thread: plain
// increments, no atomics.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace tally {

enum class Counter : uint8_t {
  kRequests,        // requests received, by any door, refreshed ones counted once
  kForwarded,       // writes handed to a replica because this node is not one
  kQuorumFailures,  // requests answered with "quorum not reached"
  kReadRepairs,     // replica copies sent to bring a stale replica up to date
  kHintsDelivered,  // hinted writes their node acknowledged
  kHintsExpired,    // hints dropped unsent: older than the tombstone grace
  kProtocolErrors,  // frames that did not decode, replies where requests belong
  kStreamedIn,      // records received in range streams (ring movements)
  kStreamedInBytes,
  kStreamedOut,     // records sent to other nodes' range streams
  kFenced,          // replica reads and writes refused: routed by a map older than the ring
  kDropped,         // records dropped from ranges this node no longer owns
  kAeRangesCompared,     // (range, peer) comparisons this node started and finished
  kAeExchanges,          // of which found differing leaves and exchanged their records
  kAeKeysRepaired,       // keys whose copy here anti-entropy changed
  kTombstonesCollected,  // tombstones removed once every replica held them
  kAuthRefused,          // peer or admin messages refused on connections that did not prove the secret
  kAuthFailures,         // handshakes that failed: a wrong proof, a peer with another secret
  kPasswordFailures,     // wrong client passwords (requirepass), by either door
  kLateWrites,           // writes not applied: they reached their turn after their deadline
  kStoreRecoveries,      // times the store reopened its database after a disk error
  kPaxosRetries,         // linearizable attempts that lost (to a higher ballot, or for want of answers) and were retried
  kMetricsScrapes,       // GET /metrics answered
  kHttpRefused,          // requests to the metrics door answered 4xx/5xx
  kFencedWrites,         // fenced writes refused: a later holder of their lock had written the key
  kCount_,
};

struct CounterInfo {
  Counter counter;
  std::string_view name;  // the field in `status` and INFO
  std::string_view help;  // one line, for people reading a report
};

inline constexpr std::array<CounterInfo, static_cast<size_t>(Counter::kCount_)> kCounters{{
    {Counter::kRequests, "requests", "requests received (a retry after a map refresh counts once)"},
    {Counter::kForwarded, "forwarded", "writes handed to a replica of the key by a node that is not one"},
    {Counter::kQuorumFailures, "quorum_failures", "requests that failed for want of R or W answers"},
    {Counter::kReadRepairs, "read_repairs", "copies sent to replicas a read found stale"},
    {Counter::kHintsDelivered, "hints_delivered", "hinted writes handed to the node they were kept for"},
    {Counter::kHintsExpired, "hints_expired", "hints dropped unsent, older than the tombstone grace"},
    {Counter::kProtocolErrors, "protocol_errors", "frames that did not decode or were not requests"},
    {Counter::kStreamedIn, "streamed_in", "records received and merged from range streams (joins, leaves)"},
    {Counter::kStreamedInBytes, "streamed_in_bytes", "bytes of the records received from range streams"},
    {Counter::kStreamedOut, "streamed_out", "records sent to nodes receiving ranges"},
    {Counter::kFenced, "fenced", "replica reads and writes refused: routed by a map older than the ring's last change"},
    {Counter::kDropped, "dropped", "records dropped after their ranges moved to other nodes"},
    {Counter::kAeRangesCompared, "ae_ranges_compared", "token ranges this node compared with another replica"},
    {Counter::kAeExchanges, "ae_exchanges", "range comparisons that found differences and exchanged records"},
    {Counter::kAeKeysRepaired, "ae_keys_repaired", "keys whose copy here anti-entropy brought up to date"},
    {Counter::kTombstonesCollected, "tombstones_collected", "tombstones removed once every replica held them"},
    {Counter::kAuthRefused, "auth_refused",
     "peer or admin messages refused on connections that had not proved the cluster secret"},
    {Counter::kAuthFailures, "auth_failures", "peer handshakes that failed (a wrong proof: another secret)"},
    {Counter::kPasswordFailures, "password_failures", "wrong client passwords (requirepass), RESP and wire protocol"},
    {Counter::kLateWrites, "late_writes",
     "writes dropped unapplied: handed over or queued past their deadline (the client had its timeout)"},
    {Counter::kStoreRecoveries, "store_recoveries",
     "times the store reopened its database after a disk error (a full disk, too many open files) and took writes again"},
    {Counter::kPaxosRetries, "paxos_retries",
     "linearizable-keyspace attempts this node coordinated that lost to another proposer or lacked a majority, and backed off"},
    {Counter::kMetricsScrapes, "metrics_scrapes", "GET /metrics requests answered by the metrics door"},
    {Counter::kHttpRefused, "http_refused",
     "requests to the metrics door refused: malformed, over its limits, another page or method"},
    {Counter::kFencedWrites, "fenced_writes_refused",
     "fenced writes refused here: a later holder of their lock had written the key with a higher token"},
}};

// kCounters lists every counter once, in enum order: a counter added to the
// enum without its description fails here.
consteval bool counters_described() {
  for (size_t i = 0; i < kCounters.size(); ++i) {
    if (static_cast<size_t>(kCounters[i].counter) != i || kCounters[i].name.empty()) return false;
  }
  return true;
}
static_assert(counters_described(), "every Counter needs its line in kCounters, in enum order");

// ---- client requests by operation, R or W, and outcome ----

enum class RequestOp : uint8_t { kGet, kPut, kDelete, kCount_ };
inline constexpr std::array<std::string_view, static_cast<size_t>(RequestOp::kCount_)>
    kRequestOpNames{"get", "put", "delete"};

// How a client's request ended. Quorum failures by cause are the two
// middle ones: too few replicas answered in time, or too few were up to ask.
enum class RequestOutcome : uint8_t {
  kOk,
  kQuorumNotReached,
  kUnavailable,
  kTimeout,
  kError,
  kCount_,
};
inline constexpr std::array<std::string_view, static_cast<size_t>(RequestOutcome::kCount_)>
    kRequestOutcomeNames{"ok", "quorum_not_reached", "unavailable", "timeout", "error"};

// Latency on a fixed log scale: bucket i counts requests that took at most
// 2^(kFirstBucketLog2 + i) microseconds (128 us .. 4.2 s), the last one the
// rest. Recording is a bit_width and two increments: cheap enough for every
// request.
class LatencyHistogram {
 public:
  static constexpr int kFirstBucketLog2 = 7;
  static constexpr size_t kBuckets = 16;  // bounded ones; counts_[kBuckets] is +Inf

  void record(uint64_t us) {
    const int width = std::bit_width(us > 0 ? us - 1 : 0);  // the smallest k with us <= 2^k
    const int i = width <= kFirstBucketLog2 ? 0 : width - kFirstBucketLog2;
    ++counts_[i < static_cast<int>(kBuckets) ? static_cast<size_t>(i) : kBuckets];
    sum_us_ += us;
  }
  // The upper bound of bucket i in microseconds (i < kBuckets).
  static constexpr uint64_t bound_us(size_t i) { return uint64_t{1} << (kFirstBucketLog2 + i); }
  // Requests in bucket i alone (not cumulative); i == kBuckets: over the last bound.
  uint64_t bucket(size_t i) const { return counts_[i]; }
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t c : counts_) n += c;
    return n;
  }
  uint64_t sum_us() const { return sum_us_; }
  void add(const LatencyHistogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    sum_us_ += other.sum_us_;
  }
  // The bound of the bucket holding the q-quantile (0 < q <= 1): an upper
  // estimate, as Prometheus' histogram_quantile would interpolate within it.
  // 0 when empty; UINT64_MAX when it lies past the last bound.
  uint64_t quantile_bound_us(double q) const {
    const uint64_t n = count();
    if (n == 0) return 0;
    // The rank of the quantile, 1-based (1e-9: 0.6 * 5 is 3.0000000000000004).
    const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n) - 1e-9));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return bound_us(i);
    }
    return UINT64_MAX;
  }

 private:
  std::array<uint64_t, kBuckets + 1> counts_{};
  uint64_t sum_us_ = 0;
};

// Client requests this node coordinated (forwarded ones are the sender's),
// by operation and by the R (gets) or W (puts, deletes) they ran with.
class RequestStats {
 public:
  // R and W above this share one slot, labelled "more".
  static constexpr uint8_t kMaxQuorum = 7;

  void record(RequestOp op, uint8_t quorum, RequestOutcome outcome, uint64_t latency_us) {
    Slot& s = slots_[static_cast<size_t>(op)][quorum_slot(quorum)];
    ++s.outcomes[static_cast<size_t>(outcome)];
    s.latency.record(latency_us);
  }

  struct Slot {
    std::array<uint64_t, static_cast<size_t>(RequestOutcome::kCount_)> outcomes{};
    LatencyHistogram latency;
  };
  // slot(op, q) for q in 1..kMaxQuorum + 1 (the last: anything larger).
  const Slot& slot(RequestOp op, uint8_t q) const { return slots_[static_cast<size_t>(op)][quorum_slot(q)]; }
  // Every request of `op`, whatever its R or W, in one histogram.
  LatencyHistogram merged(RequestOp op) const;
  // "1".."7", or "more".
  static std::string_view quorum_label(uint8_t q) {
    static constexpr std::array<std::string_view, kMaxQuorum + 1> kLabels{"1", "2", "3", "4", "5", "6", "7", "more"};
    return kLabels[quorum_slot(q)];
  }

 private:
  static size_t quorum_slot(uint8_t q) { return q == 0 ? 0 : q > kMaxQuorum ? kMaxQuorum : q - 1u; }
  std::array<std::array<Slot, kMaxQuorum + 1>, static_cast<size_t>(RequestOp::kCount_)> slots_{};
};

inline LatencyHistogram RequestStats::merged(RequestOp op) const {
  LatencyHistogram m;
  for (const Slot& s : slots_[static_cast<size_t>(op)]) m.add(s.latency);
  return m;
}

class NodeStats {
 public:
  void add(Counter c, uint64_t n = 1) { values_[static_cast<size_t>(c)] += n; }
  uint64_t get(Counter c) const { return values_[static_cast<size_t>(c)]; }

  // fn(const CounterInfo&, uint64_t value) for every counter, in kCounters order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& info : kCounters) fn(info, get(info.counter));
  }

  void set_started(uint64_t now_us) { started_us_ = now_us; }
  uint64_t started_us() const { return started_us_; }

  RequestStats& requests() { return requests_; }
  const RequestStats& requests() const { return requests_; }

 private:
  std::array<uint64_t, kCounters.size()> values_{};
  RequestStats requests_;
  uint64_t started_us_ = 0;
};

}  // namespace tally
