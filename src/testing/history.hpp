// Histories of client operations against a cluster under faults, and the
// checkers that judge them (the fault suite, tests/cluster/faults_test.cpp).
// Pure: the checkers take what was recorded and what was read at the end,
// and return what breaks the rules; nothing here talks to a node.
//
// The model (Jepsen's): every operation has a start and an end on one
// monotonic clock and an outcome: ok (acknowledged), failed (the node
// answered an error) or unknown (the client gave up waiting, or the
// connection was lost). A write tally did not acknowledge is not undone
// (docs/consistency.md), so for every rule below a failed write counts like
// an unknown one: it may have happened.
//
// When an unacknowledged write may take effect. A node drops a request once
// its deadline has passed instead of applying it later (issue 16), and the
// clients here wait longer than that deadline. So every write took effect, if
// at all, somewhere between its start and its end (the moment its client
// heard the error or gave up). Each rule uses that window; a write that comes
// back after its client gave up (a forward that outlived its timeout) is what
// the rules are there to catch.
//
// The rules, for keys written by blind overwrites (RESP SET) with values
// unique per write:
//
// (a) No acknowledged write lost (check_lost_writes). After faults heal and
//     replicas converge, each acknowledged write W of key k is either present
//     in k's final state (as its value or a sibling) or superseded: some
//     write W' of k (of any outcome) started after W ended, so W' may have
//     overwritten W, seeing it. A write that overlapped W in time cannot
//     excuse W's absence: it may have taken effect before W. (An unknown W'
//     that in fact never happened still excuses W: the check never blames a
//     correct run, at the price of missing some losses.)
//
// (b) No stale read (check_stale_reads), for R + W > N. A read R that
//     answered is stale when it returned a value older than a write
//     acknowledged before R began:
//       - R returned the value of write Wv, and some acknowledged write W2 of
//         the same key (W2 != Wv) ended before R started while Wv ended before
//         W2 started. Then Wv took effect, W2 overwrote it, both before R
//         began, so Wv's value was no longer the key's.
//       - R found nothing, and some acknowledged write of the key ended before
//         R started (these histories never delete).
//     Concurrent writes are never held against each other: if Wv and W2
//     overlap, either order is possible, and R may return either. Unknown or
//     failed writes are never a W2 (they may not have happened), but may be a
//     Wv (their window is their start to their end, as above). A read that
//     returns several siblings is as fresh as its freshest one (a RESP GET
//     returns one value, so this matters only for the library's get).
//     Also counted as violations: a value no write wrote ("phantom"), and a
//     value whose write started after the read ended ("from the future").
//
// (c) Metadata (check_metadata): every node ends with the same map (epoch and
//     keyspaces), every acknowledged keyspace creation is in it, and nothing
//     is in it that was neither there at the start nor asked for.
//
// A violation prints the smallest slice of history that shows it (the read,
// the write it returned and the write that superseded it; the lost write and
// the key's final state); describe() adds the run's seed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace tally::testing {

enum class OpKind { kWrite, kRead, kCreateKeyspace, kCas };
enum class Outcome { kOk, kFailed, kUnknown };
// The condition of a compare-and-set: the key has no value (SET NX), has the
// value `Op::expected` (TALLY.CAS), or has some value (SET XX).
enum class CasIf { kAbsent, kValue, kPresent };

struct Op {
  int client = 0;
  OpKind kind = OpKind::kWrite;
  std::string key;                  // the key; for kCreateKeyspace, the keyspace's name
  std::string value;                // kWrite: the value written (unique per write)
  std::vector<std::string> read;    // kRead: the values returned (empty: not found)
  // kCas: write `value` if the key meets `cas_if` (kValue: holds `expected`).
  // When it answered, `applied` says whether it did; when it did not and the
  // node said what the key held, `current_reported` is set and `read` holds
  // that (empty: absent). Judged by check_linearizable (linearizability.hpp);
  // the rules below know only blind writes.
  CasIf cas_if = CasIf::kValue;
  std::string expected;
  bool applied = false;
  bool current_reported = false;
  int64_t start_us = 0, end_us = 0;  // HistoryRecorder::now_us() at invocation and completion
  Outcome outcome = Outcome::kOk;
  std::string note;  // the error, for failed and unknown operations
};

// "client 3 write k7 'c3-12' ok [1203.400 .. 1204.900 ms]".
std::string describe(const Op& op);

// Operations from several client threads, on one clock.
class HistoryRecorder {
 public:
  HistoryRecorder() : origin_(std::chrono::steady_clock::now()) {}
  // Microseconds since the recorder was made (steady clock).
  int64_t now_us() const;
  void add(Op op);
  std::vector<Op> ops() const;

 private:
  std::chrono::steady_clock::time_point origin_;
  mutable std::mutex mu_;
  std::vector<Op> ops_;
};

// How many operations of a kind ended how.
struct Counts {
  size_t ops = 0, ok = 0, failed = 0, unknown = 0;
};
Counts count(const std::vector<Op>& ops, OpKind kind);

struct CheckResult {
  std::string rule;  // "no acknowledged write lost", ...
  size_t judged = 0;  // operations (or nodes) the rule was applied to
  // One entry per violation: what is wrong, then the slice of history.
  std::vector<std::string> violations;
  // How many violations of each kind: "lost", "lost to an earlier write" (the
  // key's final value was written by a write that began before the lost one
  // ended: an unacknowledged write applied late, or in an lww keyspace an
  // older write whose clock ran ahead), "phantom", "stale", "from the
  // future", "maps differ".
  std::map<std::string, size_t> by_kind;
  bool ok() const { return violations.empty(); }
  size_t count(const std::string& kind) const {
    auto it = by_kind.find(kind);
    return it == by_kind.end() ? 0 : it->second;
  }
  void add(const std::string& kind, std::string text) {
    ++by_kind[kind];
    violations.push_back(kind + ": " + std::move(text));
  }
  // A report for a failing test: the rule, the seed to replay with, and the
  // first `most` violations.
  std::string describe(uint64_t seed, size_t most = 10) const;
};

// Rule (a). `final_values`: for each key written, every value found for it
// once the cluster converged (all replicas' siblings).
CheckResult check_lost_writes(const std::vector<Op>& ops,
                              const std::map<std::string, std::vector<std::string>>& final_values);

// Rule (b), over the reads of `ops` against its writes.
CheckResult check_stale_reads(const std::vector<Op>& ops);

// What one node's map shows at the end.
struct NodeMap {
  std::string node;
  uint64_t epoch = 0;
  std::set<std::string> keyspaces;
};
// Rule (c). `initial`: the keyspaces that existed before the history began.
CheckResult check_metadata(const std::vector<Op>& ops, const std::vector<NodeMap>& maps,
                           const std::set<std::string>& initial);

}  // namespace tally::testing
