// The node's event counters: what `tally status`, RESP `INFO` (which reads
// the status reply) and, later, a metrics endpoint report. Each counter is
// described once, in kCounters: its name in those reports and what it counts.
//
// Owns: the counter values and the node's start time. It counts; it never
// decides anything, and nothing reads a counter to choose what to do.
#pragma once

#include <array>
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

 private:
  std::array<uint64_t, kCounters.size()> values_{};
  uint64_t started_us_ = 0;
};

}  // namespace tally
