// bench/driver_core.hpp — what tally-bench sends, and what it makes of the replies.
//
// The LoadGenerator is the part of tally-bench that does not care whether the
// cluster is real or simulated: it picks each operation (YCSB mix, key chooser),
// keeps every key's version and causal context, holds the number of requests in
// flight to --concurrency, follows the open-loop timetable, and records
// latencies, errors and staleness. A driver (driver_cluster, driver_sim) carries
// its Requests to the cluster and hands back the Replies, with the time on one
// clock that both share.
//
// Compare-and-set (workload cas, on a linearizable keyspace): each operation
// is a get, then a put_if of the version after the one read with if_version =
// the get's context. Several may race on a key: one applies, the others find
// the condition false (not applied) or give up to contention (an error). The
// get is judged for staleness like any read; an applied cas is an
// acknowledged write. Its latency runs from the get's start to the put_if's
// answer.
//
// Versions and contexts. Every put writes encode_value(version) with the
// context of the key's previous acknowledged put, so it supersedes it (the
// `siblings` mode would otherwise keep every blind write). Only one put per key
// is in flight at a time: a put whose key is busy waits (holding its slot)
// until the other is answered, then goes with the next version. Versions of a
// key therefore grow in the order the puts are acknowledged, which is what
// StalenessTracker needs. That wait is the benchmark's own doing, not the
// cluster's, so such a put's latency counts from when it is sent. Before the
// first configuration a load phase reads every key once and writes it with a
// version above any it found there, so data left by an earlier run cannot
// pass for fresh.
//
// Timing. A request's latency is measured from when it was due: in the closed
// loop that is when it was sent; in the open loop (rate > 0) it is its slot in
// the timetable (start + i / rate), so a request that waits for a free slot
// counts the wait (no coordinated omission). Requests due in the warm-up are
// sent but not measured; none due after the end is sent (an open loop that
// fell behind still sends those due before it), and those in flight are
// awaited.
//
// Not thread-safe: a driver with several threads holds a lock around it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/lib/histogram.hpp"
#include "bench/lib/keygen.hpp"
#include "bench/lib/pbs.hpp"
#include "bench/lib/report.hpp"
#include "raft/random.hpp"
#include "bench/lib/staleness.hpp"
#include "tally/status.hpp"

namespace tally::bench {

struct WorkloadOptions {
  Workload workload = Workload::kA;
  KeyDistribution distribution = KeyDistribution::kZipfian;
  uint64_t keys = 1000;     // YCSB's default record count
  size_t value_size = 100;  // bytes per value, version prefix included
  int concurrency = 64;     // requests in flight at most
  double warmup_s = 2;      // per configuration, sent but not measured
  double duration_s = 10;   // per configuration, measured
  double rate = 0;          // open loop: requests per second; 0: closed loop
  double window_s = 0.1;    // the timeline's window (ConfigResult::timeline)
  uint64_t seed = 1;
};

// One operation for a driver to send.
struct Request {
  Op op = Op::kGet;
  uint64_t key = 0;      // index into the key space
  std::string key_name;  // key_name(key)
  std::string value;     // puts: encode_value(version)
  std::string context;   // puts: supersede what this saw (empty: a blind put)
  uint64_t version = 0;  // puts
  int r = 0, w = 0;      // the quorum to ask for; 0: the keyspace's default
  uint64_t due_ns = 0;   // when the timetable (or the slot) had it due: is it measured?
  uint64_t from_ns = 0;  // latency is measured from here: due_ns, or later for a put that
                         // waited for its key
  uint64_t sent_ns = 0;  // when the generator released it
  bool loading = false;  // part of the load phase
  // The get that starts a cas (workload cas): its reply makes the put_if, an
  // Op::kCas request of the next version with if_version = the get's context
  // (if_absent when the key was not found).
  bool cas_read = false;
};

// What came back for a Request.
struct Reply {
  Status status;                    // ok, or why not
  std::vector<std::string> values;  // gets: the siblings (none: not found)
  std::string context;              // gets and puts (and cas)
  bool applied = false;             // cas: the condition held and the value was written
};

// How far the current phase is, for the progress line.
struct Progress {
  enum class Phase { kIdle, kLoading, kWarmup, kMeasuring, kDraining };
  Phase phase = Phase::kIdle;
  double elapsed_s = 0;      // since the phase started (the load) or since the warm-up started
  double total_s = 0;        // warm-up plus duration; 0 for the load
  uint64_t completed = 0;    // replies in this phase, warm-up included
  uint64_t errors = 0;       // failed replies in this phase, warm-up included
  uint64_t p99_ns = 0;       // of the measured replies so far (the warm-up's while warming up)
  uint64_t keys_loaded = 0;  // the load phase
};
std::string_view phase_name(Progress::Phase phase);

class LoadGenerator {
 public:
  // InvalidArgument (naming the option) for keys 0, concurrency < 1, negative
  // or non-finite times or rate, duration 0.
  static Result<LoadGenerator> make(const WorkloadOptions& options);

  // ---- phases. Each starts at `now_ns`; done() says when it is over.
  // Reads every key and writes it once (see the top of this file).
  void start_load(uint64_t now_ns);
  // Warm-up then measurement at quorum (r, w); 0 leaves it to the keyspace.
  void start_run(int r, int w, uint64_t now_ns);
  // Sends nothing more: the phase ends once what is in flight is answered
  // (an interrupted run; its measured time ends here).
  void stop(uint64_t now_ns);

  // Appends the requests that may be sent at `now_ns`.
  void poll(uint64_t now_ns, std::vector<Request>& out);
  // The reply to `request`, received at `now_ns`; appends the requests that
  // may be sent now (a put that waited for its key, free slots refilled).
  void complete(const Request& request, const Reply& reply, uint64_t now_ns,
                std::vector<Request>& out);
  // When poll() should next be called even if no reply arrives: at once (a
  // time already past) while a slot is free and a request is due, the next
  // slot of the timetable, the end of the run (to close it), or UINT64_MAX.
  uint64_t next_due_ns() const;
  // The phase has sent all it will and every request has been answered.
  bool done() const;

  Progress progress(uint64_t now_ns) const;
  size_t in_flight() const { return in_flight_; }
  // Keys the load phase could not read and write (after retries).
  uint64_t load_failures() const { return load_failures_; }
  // The first error that made a key fail to load, for the message.
  const Status& first_load_error() const { return first_load_error_; }
  // After the load phase: an error when no key could be loaded; a warning on
  // stderr when some could not (reads of them are not judged).
  Status check_load() const;

  // The results of the run just done: label, r, w, workload, duration,
  // latencies, errors and measured staleness at `edges_us`. The caller sets
  // n, fault and pbs.
  Result<ConfigResult> finish_run(std::span<const uint64_t> edges_us) const;

 private:
  struct KeyState {
    uint64_t next_version = 1;
    uint64_t acked_version = 0;
    std::string context;  // of the latest acknowledged put
    bool put_in_flight = false;
    std::deque<uint64_t> waiting_puts;  // due times of puts chosen while one was in flight
  };

  explicit LoadGenerator(const WorkloadOptions& options, KeyChooser chooser);
  void start_phase(Progress::Phase phase, uint64_t now_ns);
  // The next operation of the mix, due at `due_ns`.
  void issue(uint64_t due_ns, uint64_t now_ns, std::vector<Request>& out);
  Request make_put(uint64_t key, uint64_t due_ns, uint64_t from_ns, uint64_t now_ns);
  Request make_get(uint64_t key, uint64_t due_ns, uint64_t now_ns);
  // The get of a cas answered: the put_if follows, holding the same slot.
  void complete_cas_read(const Request& request, const Reply& reply, uint64_t now_ns,
                         std::vector<Request>& out);
  // A measured operation failed: counted by kind and in the timeline.
  void record_failure(const Request& request, Op op, const Status& status, uint64_t now_ns);
  // What every request carries: the key, its times, whether it is measured.
  Request make_request(Op op, uint64_t key, uint64_t due_ns, uint64_t from_ns, uint64_t now_ns);
  void complete_load(const Request& request, const Reply& reply, uint64_t now_ns,
                     std::vector<Request>& out);
  void poll_load(uint64_t now_ns, std::vector<Request>& out);
  uint64_t slot_due_ns(uint64_t index) const;
  bool measured(const Request& request) const { return request.due_ns >= measure_from_ns_; }
  // A measured operation ended at `now_ns`: into the timeline's window.
  void window_record(uint64_t now_ns, bool ok, uint64_t latency_ns);
  TimelinePoint window_point() const;

  WorkloadOptions options_;
  KeyChooser chooser_;
  SplitMix64 rng_;
  std::vector<KeyState> keys_;

  // The phase.
  Progress::Phase phase_ = Progress::Phase::kIdle;
  int r_ = 0, w_ = 0;
  uint64_t started_ns_ = 0;
  uint64_t measure_from_ns_ = 0;
  uint64_t end_ns_ = 0;                 // nothing due at or after this is sent
  uint64_t last_measured_send_ns_ = 0;  // an open loop that falls behind sends after end_ns_
  uint64_t next_slot_ = 0;              // open loop: the timetable's next slot
  size_t in_flight_ = 0;                // sent and unanswered, plus puts waiting for their key
  uint64_t completed_ = 0;
  uint64_t errors_ = 0;
  Histogram progress_ns_;  // for the progress line's p99

  // The load phase: keys not yet read, and attempts per key.
  uint64_t next_load_key_ = 0;
  std::deque<uint64_t> load_retries_;
  std::vector<uint8_t> load_attempts_;
  uint64_t keys_loaded_ = 0;
  uint64_t load_failures_ = 0;
  Status first_load_error_;

  // The measured results of the run.
  Histogram get_ns_;
  Histogram put_ns_;
  Histogram cas_ns_;
  uint64_t cas_applied_ = 0;
  uint64_t cas_not_applied_ = 0;
  std::map<std::string, uint64_t> run_errors_;
  std::map<std::string, std::string> run_error_examples_;
  StalenessTracker writes_;  // every acknowledged put since the start, all phases
  StalenessTracker reads_;   // the measured reads of this run
  // The run's timeline: windows closed so far, and the one operations end in
  // now (by the time they ended, from measure_from_ns_).
  std::vector<TimelinePoint> timeline_;
  uint64_t window_index_ = 0;
  uint64_t window_errors_ = 0;
  Histogram window_ns_;
};

// ---- faults, configurations and the PBS prediction ------------------------------

// What --fault asks for.
struct FaultSpec {
  enum class Kind { kNone, kDelay, kDown };
  Kind kind = Kind::kNone;
  uint32_t delay_ms = 0;
};
// Parses "none", "delay:MS" (milliseconds, "ms" optional) or "down".
Result<FaultSpec> parse_fault(std::string_view text);
// What the fault does to node `node`, for the report: "n3 +2ms", "n3 silent"; "" for none.
std::string describe_fault(const FaultSpec& fault, std::string_view node);

// The (R, W) pairs to run: every pair in 1..N with `sweep`, else the one
// given (0 for the keyspace's default, resolved to `default_r`/`default_w`).
// InvalidArgument when an R or W is above N.
Result<std::vector<std::pair<int, int>>> quorum_plan(int n, bool sweep, int r, int w, int default_r,
                                                     int default_w);

// The staleness buckets tally-bench reports, in microseconds: finer than the
// library's default below a millisecond, where loopback replicas diverge.
std::span<const uint64_t> staleness_edges_us();

// What a prober measured on one node in one round, in microseconds: a ping's
// round trip, and a put at W=1 and a get at R=1 of a key the node is a replica
// of, sent to that node (so it coordinates them and answers from its own copy).
struct ProbeRound {
  double ping_us = 0;
  double put_us = 0;
  double get_us = 0;
};
// The probes of one run, per node, in the order the driver numbers its nodes.
struct ProbeSamples {
  std::vector<std::vector<ProbeRound>> by_node;
};

// The keys the prober uses, one per node (numbered 0 .. nodes - 1): a key
// whose first replica is that node, so that the node coordinates its probes
// and answers them from its own copy. `first_replica` tells which node that is
// for a key (-1: unknown). A node for which none is found within 100 tries per
// node gets "" (it owns no range, say).
std::vector<std::string> probe_keys(
    int nodes, const std::function<int(const std::string& key)>& first_replica);

// PBS's t-visibility prediction for `result` (its n, r, w) from the probes,
// at the staleness edges and a finer grid over the first 10 ms. The WARS legs
// are approximated from what a client can see:
//   A and S (a replica's answer travelling back) = half a ping round trip;
//   W (the write reaching a replica and made durable there) = the W=1 put's
//     latency less half a ping: one hop and the node's own write;
//   R (the read reaching a replica and done there) = the R=1 get's latency
//     less half a ping.
// Each node weighs the same (as many rounds from each). A node delayed by a
// fault (index `faulty_node`) answers other nodes late: its A and S legs carry
// the delay. No prediction (nullopt) without probes, or with a node down,
// which the model does not describe.
std::optional<PbsPrediction> predict_staleness(const ConfigResult& result,
                                               const ProbeSamples& probes, const FaultSpec& fault,
                                               int faulty_node, uint64_t seed);

}  // namespace tally::bench
