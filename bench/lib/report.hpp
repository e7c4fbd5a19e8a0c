// bench/lib/report.hpp — what one run of tally-bench found, and how it is written.
//
// A run tries several quorum configurations (R, W, perhaps a fault) and keeps
// one ConfigResult for each. The writers turn a list of them into a text table
// for people, a CSV for spreadsheets and plotting scripts, and JSON with every
// figure. They only write to the stream they are given; the caller checks it.
//
// Units: latencies are recorded in nanoseconds; the text table shows
// milliseconds, CSV and JSON microseconds. Times t since a write are in
// microseconds in the data and in milliseconds in the text table.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/lib/histogram.hpp"
#include "bench/lib/keygen.hpp"
#include "bench/lib/pbs.hpp"
#include "bench/lib/staleness.hpp"

namespace tally::bench {

// One window of a run's timeline: the measured operations that ended in
// [from_s, from_s + window) after measuring began, successful or not, and the
// latency of the successful ones (gets and puts together; 0 when none).
struct TimelinePoint {
  double from_s = 0;
  uint64_t ops = 0;
  uint64_t errors = 0;
  uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
};

struct ConfigResult {
  std::string label;  // names the configuration in every output, e.g. quorum_label(2, 2)
  int n = 3, r = 1, w = 1;
  // A linearizable keyspace (every operation Paxos on the key's replicas):
  // R and W do not apply (r = w = 0, shown as "-"), labelled kLinearizableLabel.
  bool linearizable = false;
  std::string workload;      // e.g. "a" (workload_name)
  std::string fault;         // what was broken during the run, e.g. "n3 stopped"; "" for none
  double duration_s = 0;     // measured time, warm-up excluded
  Histogram get_latency_ns;  // successful gets only
  Histogram put_latency_ns;  // successful puts only
  // Successful compare-and-sets (workload cas: a get, then a put_if with the
  // get's version), from the get's start to the put_if's answer, whether the
  // condition held (applied) or not (another writer came first).
  Histogram cas_latency_ns;
  uint64_t cas_applied = 0;
  uint64_t cas_not_applied = 0;
  // Paxos attempts that lost to contention and backed off during the run,
  // summed over the nodes (the `paxos_retries` status counter's growth);
  // nullopt when not read (a keyspace that is not linearizable).
  std::optional<uint64_t> paxos_retries;
  // Failed operations by kind, e.g. "get: timeout", "put: quorum not reached"
  // (op_name, then code_name of the Status).
  std::map<std::string, uint64_t> errors;
  // The first message seen of each kind of failure (a kind of `errors`), to
  // say what went wrong beyond the code.
  std::map<std::string, std::string> error_examples;
  StalenessTable staleness;          // measured (StalenessTracker::analyze)
  std::optional<PbsPrediction> pbs;  // predicted (predict_t_visibility), if computed
  // How the run went over time, window by window (every window, empty ones
  // too, up to the last that an operation ended in).
  double timeline_window_s = 0;
  std::vector<TimelinePoint> timeline;

  // Successful gets, puts and cas.
  uint64_t successful_ops() const;
  // Operations that gave up to contention (errors of code "contention").
  uint64_t contention_errors() const;
  // The latency of every successful operation, gets, puts and cas together.
  Histogram all_latency_ns() const;
  // Failed operations of every kind.
  uint64_t error_count() const;
  // Every operation issued: successful_ops() + error_count().
  uint64_t ops() const { return successful_ops() + error_count(); }
  // Successful operations per second, all of them or one kind; 0 if the
  // duration is not positive.
  double throughput() const;
  double throughput(Op op) const;
};

// The label tally-bench gives a configuration: "R=2 W=2".
std::string quorum_label(int r, int w);
// The label of a run on a linearizable keyspace, which has no R and W.
inline constexpr std::string_view kLinearizableLabel = "linearizable";

// Fixed-width tables, columns aligned over all results:
//   1. per configuration: N, R, W, fault, ops, ops/s, errors, get and put
//      latency (p50, p90, p99, p99.9, max, in ms) and the measured stale share;
//   2. t-visibility, a row per configuration and staleness bucket: reads,
//      stale reads, measured P(stale), and PBS's prediction at the bucket's
//      lower edge ("-" unless the prediction has a point at exactly that t:
//      predict with PbsConfig::t_us set to the bucket edges);
//   3. k-staleness: measured share of reads within 1, 2, 3 versions of the
//      latest, beside the closed form's;
//   4. only when some operation failed: the failures by kind, per configuration,
//      then the first message of each kind where one was kept;
//   5. only when some result is linearizable or did cas: per configuration,
//      ops/s, p50 and p99 of every operation, the cas done, applied and not
//      applied, cas p50/p99/p99.9, contention errors, Paxos retries and the
//      stale share (the trade-off, one row per configuration).
void write_text_report(std::ostream& out, std::span<const ConfigResult> results);

// CSV (RFC 4180: fields with a comma, quote or line break are quoted, quotes
// doubled), one header line and one row per configuration. The columns, in
// this order, are stable; new ones will only ever be added at the end:
//   label,n,r,w,workload,fault,duration_s,ops,successful_ops,errors,ops_per_s,
//   get_ops,get_ops_per_s,get_mean_us,get_p50_us,get_p90_us,get_p99_us,
//   get_p999_us,get_max_us,
//   put_ops,put_ops_per_s,put_mean_us,put_p50_us,put_p90_us,put_p99_us,
//   put_p999_us,put_max_us,
//   reads_judged,reads_unjudged,stale_reads,stale_fraction,
//   within_1,within_2,within_3,pbs_within_1,pbs_within_2,pbs_within_3,
//   pbs_stale_t0,errors_by_kind,
//   linearizable,all_p50_us,all_p99_us,cas_ops,cas_applied,cas_not_applied,
//   cas_p50_us,cas_p99_us,cas_p999_us,contention_errors,paxos_retries
// (linearizable is 0 or 1; paxos_retries is empty when it was not read.)
// get_ops/put_ops count successful operations. within_k is
// StalenessTable::fraction_within(k); pbs_within_k is consistent_within_k();
// pbs_stale_t0 is the prediction at t = 0, empty if there is none.
// errors_by_kind is "kind=count" pairs joined by ';'.
void write_csv(std::ostream& out, std::span<const ConfigResult> results);

// The t-visibility curves as CSV, one row per configuration and bucket:
//   label,t_from_us,t_to_us,reads,stale,stale_fraction,pbs_stale_fraction
// t_to_us is empty for the last, open-ended bucket; pbs_stale_fraction is the
// prediction at t_from_us, empty if there is none.
void write_staleness_csv(std::ostream& out, std::span<const ConfigResult> results);

// The timelines as CSV, one row per configuration and window:
//   label,from_s,window_s,ops,ops_per_s,errors,p50_us,p99_us,max_us
// A tail that comes in bursts (a memtable flush, a compaction, a stalled node)
// shows here as windows whose p99 stands out, where the run's p99 cannot say.
void write_timeline_csv(std::ostream& out, std::span<const ConfigResult> results);

// Every figure as a JSON array with one object per configuration (UTF-8 text
// passes through; quotes, backslashes and control characters are escaped;
// numbers that are not finite become null). Its shape:
//   {"label", "n", "r", "w", "workload", "fault", "duration_s", "ops",
//    "errors": {kind: count}, "ops_per_s",
//    "get": {"ops", "ops_per_s", "latency_us": {"min", "mean", "p50", "p90",
//            "p99", "p999", "max"}},
//    "put": {... as "get"}, "cas": {... as "get", "applied", "not_applied"},
//    "linearizable": bool, "contention_errors", "paxos_retries" (null: not read),
//    "staleness": {"reads_judged", "reads_unjudged", "stale_reads",
//                  "stale_fraction", "buckets": [{"t_from_us", "t_to_us"
//                  (null when open-ended), "reads", "stale", "stale_fraction"}],
//                  "versions_behind": {"k": reads}},
//    "pbs": null or {"trials", "points": [{"t_us", "p_stale"}]},
//    "pbs_k_staleness": [{"k", "consistent"}] for k = 1, 2, 3}
void write_json(std::ostream& out, std::span<const ConfigResult> results);

}  // namespace tally::bench
