#include "bench/driver_core.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace tally::bench {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
// A key whose read or write failed this many times in the load phase is given up.
constexpr uint8_t kLoadAttempts = 4;

uint64_t seconds_to_ns(double s) { return static_cast<uint64_t>(std::llround(s * 1e9)); }

std::string error_kind(Op op, const Status& s) {
  return std::string(op_name(op)) + ": " + std::string(code_name(s.code()));
}

}  // namespace

std::string_view phase_name(Progress::Phase phase) {
  switch (phase) {
    case Progress::Phase::kIdle:
      return "idle";
    case Progress::Phase::kLoading:
      return "loading";
    case Progress::Phase::kWarmup:
      return "warm-up";
    case Progress::Phase::kMeasuring:
      return "measuring";
    case Progress::Phase::kDraining:
      return "draining";
  }
  return "?";
}

// ---- LoadGenerator ---------------------------------------------------------------

Result<LoadGenerator> LoadGenerator::make(const WorkloadOptions& options) {
  auto finite_non_negative = [](double v) { return std::isfinite(v) && v >= 0; };
  if (options.keys == 0) return Status::InvalidArgument("--keys must be at least 1");
  if (options.concurrency < 1) return Status::InvalidArgument("--concurrency must be at least 1");
  if (!finite_non_negative(options.warmup_s)) {
    return Status::InvalidArgument("--warmup must be a number of seconds >= 0");
  }
  if (!finite_non_negative(options.duration_s) || options.duration_s == 0) {
    return Status::InvalidArgument("--duration must be a number of seconds > 0");
  }
  if (!finite_non_negative(options.rate)) {
    return Status::InvalidArgument("--rate must be a number of operations per second >= 0");
  }
  if (!std::isfinite(options.window_s) || options.window_s < 0.001) {
    return Status::InvalidArgument("--window must be a number of milliseconds >= 1");
  }
  auto chooser = KeyChooser::make(options.distribution, options.keys);
  if (!chooser.ok()) return chooser.status();
  return LoadGenerator(options, *chooser);
}

LoadGenerator::LoadGenerator(const WorkloadOptions& options, KeyChooser chooser)
    : options_(options),
      chooser_(chooser),
      rng_(options.seed),
      keys_(options.keys),
      load_attempts_(options.keys, 0) {}

void LoadGenerator::start_phase(Progress::Phase phase, uint64_t now_ns) {
  phase_ = phase;
  started_ns_ = now_ns;
  completed_ = 0;
  errors_ = 0;
  next_slot_ = 0;
  progress_ns_.reset();
}

void LoadGenerator::start_load(uint64_t now_ns) {
  start_phase(Progress::Phase::kLoading, now_ns);
  r_ = w_ = 0;
  measure_from_ns_ = kNever;
  end_ns_ = kNever;
  next_load_key_ = 0;
  load_retries_.clear();
  keys_loaded_ = 0;
}

void LoadGenerator::start_run(int r, int w, uint64_t now_ns) {
  start_phase(Progress::Phase::kWarmup, now_ns);
  r_ = r;
  w_ = w;
  measure_from_ns_ = now_ns + seconds_to_ns(options_.warmup_s);
  end_ns_ = measure_from_ns_ + seconds_to_ns(options_.duration_s);
  last_measured_send_ns_ = 0;
  get_ns_.reset();
  put_ns_.reset();
  cas_ns_.reset();
  cas_applied_ = 0;
  cas_not_applied_ = 0;
  run_errors_.clear();
  run_error_examples_.clear();
  reads_ = StalenessTracker();
  timeline_.clear();
  window_index_ = 0;
  window_errors_ = 0;
  window_ns_.reset();
}

void LoadGenerator::stop(uint64_t now_ns) {
  if (phase_ == Progress::Phase::kLoading) {
    next_load_key_ = options_.keys;
    load_retries_.clear();
  }
  // Puts waiting for their key were due before now: they still go.
  end_ns_ = std::min(end_ns_, now_ns);
  measure_from_ns_ = std::min(measure_from_ns_, end_ns_);
}

uint64_t LoadGenerator::slot_due_ns(uint64_t index) const {
  return started_ns_ +
         static_cast<uint64_t>(std::llround(static_cast<double>(index) * 1e9 / options_.rate));
}

void LoadGenerator::poll(uint64_t now_ns, std::vector<Request>& out) {
  if (phase_ == Progress::Phase::kLoading) return poll_load(now_ns, out);
  if (phase_ == Progress::Phase::kIdle) return;
  if (phase_ == Progress::Phase::kWarmup && now_ns >= measure_from_ns_) {
    phase_ = Progress::Phase::kMeasuring;
    progress_ns_.reset();
  }
  if (phase_ != Progress::Phase::kDraining && now_ns >= end_ns_)
    phase_ = Progress::Phase::kDraining;
  const auto slots = static_cast<size_t>(options_.concurrency);
  if (options_.rate <= 0) {
    while (in_flight_ < slots && now_ns < end_ns_) issue(now_ns, now_ns, out);
    return;
  }
  while (in_flight_ < slots) {
    uint64_t due = slot_due_ns(next_slot_);
    if (due > now_ns || due >= end_ns_) break;
    ++next_slot_;
    issue(due, now_ns, out);
  }
}

uint64_t LoadGenerator::next_due_ns() const {
  const bool slot_free = in_flight_ < static_cast<size_t>(options_.concurrency);
  switch (phase_) {
    case Progress::Phase::kIdle:
    case Progress::Phase::kDraining:
      return kNever;
    case Progress::Phase::kLoading:
      return slot_free && (next_load_key_ < options_.keys || !load_retries_.empty()) ? started_ns_
                                                                                     : kNever;
    case Progress::Phase::kWarmup:
    case Progress::Phase::kMeasuring:
      break;
  }
  // Else at the end, when poll() turns to draining.
  if (!slot_free) return end_ns_;
  if (options_.rate <= 0) return started_ns_;  // a free slot is due at once
  return std::min(slot_due_ns(next_slot_), end_ns_);
}

bool LoadGenerator::done() const {
  if (in_flight_ > 0) return false;
  if (phase_ == Progress::Phase::kLoading)
    return next_load_key_ >= options_.keys && load_retries_.empty();
  return phase_ == Progress::Phase::kDraining || phase_ == Progress::Phase::kIdle;
}

void LoadGenerator::issue(uint64_t due_ns, uint64_t now_ns, std::vector<Request>& out) {
  Op op = next_op(options_.workload, rng_);
  uint64_t key = chooser_.next(rng_);
  ++in_flight_;
  if (op == Op::kCas) {
    Request get = make_get(key, due_ns, now_ns);
    get.cas_read = true;
    out.push_back(std::move(get));
  } else if (op == Op::kGet) {
    out.push_back(make_get(key, due_ns, now_ns));
  } else if (keys_[key].put_in_flight) {
    keys_[key].waiting_puts.push_back(due_ns);  // one writer per key: it holds its slot and waits
  } else {
    out.push_back(make_put(key, due_ns, due_ns, now_ns));
  }
}

Request LoadGenerator::make_put(uint64_t key, uint64_t due_ns, uint64_t from_ns, uint64_t now_ns) {
  KeyState& k = keys_[key];
  k.put_in_flight = true;
  Request req = make_request(Op::kPut, key, due_ns, from_ns, now_ns);
  req.version = k.next_version++;
  req.value = encode_value(req.version, options_.value_size);
  req.context = k.context;
  req.w = w_;
  return req;
}

Request LoadGenerator::make_get(uint64_t key, uint64_t due_ns, uint64_t now_ns) {
  Request req = make_request(Op::kGet, key, due_ns, due_ns, now_ns);
  req.r = r_;
  return req;
}

Request LoadGenerator::make_request(Op op, uint64_t key, uint64_t due_ns, uint64_t from_ns, uint64_t now_ns) {
  Request req;
  req.op = op;
  req.key = key;
  req.key_name = key_name(key);
  req.due_ns = due_ns;
  req.from_ns = from_ns;
  req.sent_ns = now_ns;
  req.loading = phase_ == Progress::Phase::kLoading;
  if (measured(req)) last_measured_send_ns_ = std::max(last_measured_send_ns_, now_ns);
  return req;
}

void LoadGenerator::complete(const Request& req, const Reply& reply, uint64_t now_ns,
                             std::vector<Request>& out) {
  if (req.loading) return complete_load(req, reply, now_ns, out);
  if (req.cas_read) return complete_cas_read(req, reply, now_ns, out);
  --in_flight_;
  ++completed_;
  const bool measure = measured(req);
  Status status = reply.status;
  std::vector<uint64_t> versions;
  if (status.ok() && req.op == Op::kGet) {
    for (const std::string& v : reply.values) {
      auto version = decode_version(v);
      if (!version.ok()) {
        status = version.status();  // a value tally-bench did not write
        break;
      }
      versions.push_back(*version);
    }
  }
  if (status.ok()) {
    const uint64_t latency = now_ns - req.from_ns;
    progress_ns_.record(latency);
    if (measure) window_record(now_ns, true, latency);
    if (req.op == Op::kPut || (req.op == Op::kCas && reply.applied)) {
      KeyState& k = keys_[req.key];
      k.context = reply.context;
      k.acked_version = std::max(k.acked_version, req.version);
      k.next_version = std::max(k.next_version, req.version + 1);
      writes_.record_write(req.key, req.version, now_ns / 1000);
    }
    if (req.op == Op::kCas) {
      if (measure) {
        cas_ns_.record(latency);
        ++(reply.applied ? cas_applied_ : cas_not_applied_);
      }
    } else if (req.op == Op::kPut) {
      if (measure) put_ns_.record(latency);
    } else if (measure) {
      get_ns_.record(latency);
      reads_.record_read_siblings(req.key, req.sent_ns / 1000, versions);
    }
  } else {
    record_failure(req, req.op, status, now_ns);
  }
  if (req.op == Op::kPut) {
    KeyState& k = keys_[req.key];
    k.put_in_flight = false;
    if (!k.waiting_puts.empty()) {
      uint64_t due = k.waiting_puts.front();
      k.waiting_puts.pop_front();
      // Its slot was held while it waited; the wait is the benchmark's own
      // doing (one writer per key), so its latency counts from now.
      out.push_back(make_put(req.key, due, now_ns, now_ns));
    }
  }
  poll(now_ns, out);
}

void LoadGenerator::record_failure(const Request& req, Op op, const Status& status, uint64_t now_ns) {
  ++errors_;
  if (measured(req)) {
    const std::string kind = error_kind(op, status);
    ++run_errors_[kind];
    run_error_examples_.emplace(kind, status.message());
    window_record(now_ns, false, 0);
  }
}

void LoadGenerator::complete_cas_read(const Request& req, const Reply& reply, uint64_t now_ns,
                                      std::vector<Request>& out) {
  Status status = reply.status;
  uint64_t highest = 0;
  std::vector<uint64_t> versions;
  for (const std::string& v : reply.values) {
    if (!status.ok()) break;
    auto version = decode_version(v);
    if (!version.ok()) {
      status = version.status();  // a value tally-bench did not write
    } else {
      versions.push_back(*version);
      highest = std::max(highest, *version);
    }
  }
  if (!status.ok()) {
    // The cas fails with its get: its slot is free again.
    --in_flight_;
    ++completed_;
    record_failure(req, Op::kCas, status, now_ns);
    poll(now_ns, out);
    return;
  }
  if (measured(req)) reads_.record_read_siblings(req.key, req.sent_ns / 1000, versions);
  // The put_if holds the get's slot; its latency runs from the get's start.
  Request put = make_request(Op::kCas, req.key, req.due_ns, req.from_ns, now_ns);
  put.version = highest + 1;
  put.value = encode_value(put.version, options_.value_size);
  put.context = reply.context;
  out.push_back(std::move(put));
}

void LoadGenerator::window_record(uint64_t now_ns, bool ok, uint64_t latency_ns) {
  const uint64_t window_ns = std::max<uint64_t>(1, seconds_to_ns(options_.window_s));
  // Replies are handled in the order they arrive, so the window only moves on;
  // one that ended before measuring began (a measured request answered at
  // once) counts in the first.
  const uint64_t index = now_ns > measure_from_ns_ ? (now_ns - measure_from_ns_) / window_ns : 0;
  while (window_index_ < index) {
    timeline_.push_back(window_point());
    ++window_index_;
    window_errors_ = 0;
    window_ns_.reset();
  }
  if (ok) {
    window_ns_.record(latency_ns);
  } else {
    ++window_errors_;
  }
}

TimelinePoint LoadGenerator::window_point() const {
  TimelinePoint p;
  p.from_s = static_cast<double>(window_index_) * options_.window_s;
  p.ops = window_ns_.count() + window_errors_;
  p.errors = window_errors_;
  p.p50_ns = window_ns_.percentile(50);
  p.p99_ns = window_ns_.percentile(99);
  p.max_ns = window_ns_.max();
  return p;
}

// ---- the load phase ----------------------------------------------------------------

void LoadGenerator::poll_load(uint64_t now_ns, std::vector<Request>& out) {
  while (in_flight_ < static_cast<size_t>(options_.concurrency)) {
    uint64_t key;
    if (!load_retries_.empty()) {
      key = load_retries_.front();
      load_retries_.pop_front();
    } else if (next_load_key_ < options_.keys) {
      key = next_load_key_++;
    } else {
      return;
    }
    ++in_flight_;
    // A key whose read went through but whose write failed is written again.
    if (keys_[key].next_version > 1 && keys_[key].acked_version == 0 && load_attempts_[key] > 0) {
      out.push_back(make_put(key, now_ns, now_ns, now_ns));
    } else {
      out.push_back(make_get(key, now_ns, now_ns));
    }
  }
}

void LoadGenerator::complete_load(const Request& req, const Reply& reply, uint64_t now_ns,
                                  std::vector<Request>& out) {
  --in_flight_;
  ++completed_;
  KeyState& k = keys_[req.key];
  auto fail = [&](const Status& why) {
    ++errors_;
    if (++load_attempts_[req.key] < kLoadAttempts) {
      load_retries_.push_back(req.key);
    } else {
      if (load_failures_ == 0) first_load_error_ = why;
      ++load_failures_;
    }
  };
  if (req.op == Op::kGet) {
    if (!reply.status.ok()) {
      fail(reply.status);
    } else {
      // Start above every version found, whoever wrote it; a value some other
      // program wrote counts as version 0 and is superseded by the context.
      uint64_t highest = 0;
      for (const std::string& v : reply.values) {
        auto version = decode_version(v);
        if (version.ok()) highest = std::max(highest, *version);
      }
      k.next_version = std::max(k.next_version, highest + 1);
      k.context = reply.context;
      ++in_flight_;
      out.push_back(make_put(req.key, now_ns, now_ns, now_ns));
    }
  } else {
    k.put_in_flight = false;
    if (!reply.status.ok()) {
      fail(reply.status);
    } else {
      k.context = reply.context;
      k.acked_version = req.version;
      writes_.record_write(req.key, req.version, now_ns / 1000);
      ++keys_loaded_;
      progress_ns_.record(now_ns - req.sent_ns);
    }
  }
  poll_load(now_ns, out);
}

// ---- reporting -----------------------------------------------------------------------

Progress LoadGenerator::progress(uint64_t now_ns) const {
  Progress p;
  p.phase = phase_;
  p.elapsed_s = static_cast<double>(now_ns - std::min(now_ns, started_ns_)) / 1e9;
  p.total_s = phase_ == Progress::Phase::kLoading ? 0 : options_.warmup_s + options_.duration_s;
  p.completed = completed_;
  p.errors = errors_;
  p.p99_ns = progress_ns_.percentile(99);
  p.keys_loaded = keys_loaded_;
  return p;
}

Result<ConfigResult> LoadGenerator::finish_run(std::span<const uint64_t> edges_us) const {
  ConfigResult res;
  res.label = quorum_label(r_, w_);
  res.r = r_;
  res.w = w_;
  res.workload = std::string(workload_name(options_.workload));
  // The window, or longer if an open loop fell behind and sent its backlog
  // after the end: then the time it took to send it all.
  const uint64_t until = std::max(end_ns_, last_measured_send_ns_);
  res.duration_s =
      until > measure_from_ns_ ? static_cast<double>(until - measure_from_ns_) / 1e9 : 0;
  res.get_latency_ns = get_ns_;
  res.put_latency_ns = put_ns_;
  res.cas_latency_ns = cas_ns_;
  res.cas_applied = cas_applied_;
  res.cas_not_applied = cas_not_applied_;
  res.errors = run_errors_;
  res.error_examples = run_error_examples_;
  res.timeline_window_s = options_.window_s;
  res.timeline = timeline_;
  if (window_ns_.count() + window_errors_ > 0) res.timeline.push_back(window_point());
  // Reads are judged against every acknowledged write so far, earlier phases'
  // included: a read may return a version older than one acked before the run.
  StalenessTracker all;
  all.merge(writes_);
  all.merge(reads_);
  auto table = all.analyze(edges_us);
  if (!table.ok()) return table.status();
  res.staleness = std::move(*table);
  return res;
}

// ---- faults and plans ------------------------------------------------------------------

Result<FaultSpec> parse_fault(std::string_view text) {
  if (text == "none") return FaultSpec{};
  if (text == "down") return FaultSpec{FaultSpec::Kind::kDown, 0};
  constexpr std::string_view kDelay = "delay:";
  if (text.substr(0, kDelay.size()) == kDelay) {
    std::string_view ms = text.substr(kDelay.size());
    if (ms.size() > 2 && ms.substr(ms.size() - 2) == "ms") ms.remove_suffix(2);
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
    if (ec == std::errc() && end == ms.data() + ms.size() && value > 0 && value <= 3'600'000) {
      return FaultSpec{FaultSpec::Kind::kDelay, value};
    }
    return Status::InvalidArgument(
        "--fault " + std::string(text) +
        ": the delay must be a whole number of milliseconds, 1 to 3600000 (delay:2)");
  }
  return Status::InvalidArgument("--fault " + std::string(text) +
                                 ": expected none, delay:MS (e.g. delay:2) or down");
}

std::string describe_fault(const FaultSpec& fault, std::string_view node) {
  switch (fault.kind) {
    case FaultSpec::Kind::kNone:
      return "";
    case FaultSpec::Kind::kDelay:
      return std::string(node) + " +" + std::to_string(fault.delay_ms) + "ms";
    case FaultSpec::Kind::kDown:
      return std::string(node) + " down";
  }
  return "";
}

Result<std::vector<std::pair<int, int>>> quorum_plan(int n, bool sweep, int r, int w, int default_r,
                                                     int default_w) {
  std::vector<std::pair<int, int>> plan;
  if (sweep) {
    for (int rr = 1; rr <= n; ++rr) {
      for (int ww = 1; ww <= n; ++ww) plan.emplace_back(rr, ww);
    }
    return plan;
  }
  int rr = r > 0 ? r : default_r;
  int ww = w > 0 ? w : default_w;
  if (rr > n)
    return Status::InvalidArgument("--r " + std::to_string(rr) +
                                   " is above the keyspace's N=" + std::to_string(n));
  if (ww > n)
    return Status::InvalidArgument("--w " + std::to_string(ww) +
                                   " is above the keyspace's N=" + std::to_string(n));
  plan.emplace_back(rr, ww);
  return plan;
}

std::span<const uint64_t> staleness_edges_us() {
  static constexpr std::array<uint64_t, 10> kEdges = {0,     100,   250,    500,    1'000,
                                                      2'000, 5'000, 10'000, 50'000, 100'000};
  return kEdges;
}

std::vector<std::string> probe_keys(
    int nodes, const std::function<int(const std::string& key)>& first_replica) {
  std::vector<std::string> keys(static_cast<size_t>(std::max(nodes, 0)));
  int missing = nodes;
  // Each node is the first replica of about 1/nodes of the keys: a coupon
  // collector's n ln n tries find them all.
  for (int i = 0; missing > 0 && i < 100 * nodes; ++i) {
    std::string key = "tally-bench-probe-" + std::to_string(i);
    int node = first_replica(key);
    if (node >= 0 && node < nodes && keys[node].empty()) {
      keys[node] = std::move(key);
      --missing;
    }
  }
  return keys;
}

std::optional<PbsPrediction> predict_staleness(const ConfigResult& result,
                                               const ProbeSamples& probes, const FaultSpec& fault,
                                               int faulty_node, uint64_t seed) {
  if (fault.kind == FaultSpec::Kind::kDown) return std::nullopt;
  // The same number of rounds from every node that has any.
  size_t per_node = std::numeric_limits<size_t>::max();
  for (const auto& rounds : probes.by_node) {
    if (!rounds.empty()) per_node = std::min(per_node, rounds.size());
  }
  if (per_node == std::numeric_limits<size_t>::max()) return std::nullopt;
  const double delay_us = fault.kind == FaultSpec::Kind::kDelay ? fault.delay_ms * 1000.0 : 0;
  WarsSamples legs;
  for (size_t node = 0; node < probes.by_node.size(); ++node) {
    const auto& rounds = probes.by_node[node];
    if (rounds.empty()) continue;
    const double slow = static_cast<int>(node) == faulty_node ? delay_us : 0;
    for (size_t i = 0; i < per_node; ++i) {
      const ProbeRound& p = rounds[i * rounds.size() / per_node];  // spread over the run
      const double hop = p.ping_us / 2;
      legs.write.push_back(std::max(p.put_us - hop, 0.0));
      legs.ack.push_back(hop + slow);
      legs.read.push_back(std::max(p.get_us - hop, 0.0));
      legs.response.push_back(hop + slow);
    }
  }
  PbsConfig config;
  config.n = result.n;
  config.r = result.r;
  config.w = result.w;
  config.seed = seed;
  std::set<double> t;
  for (uint64_t e : staleness_edges_us()) t.insert(static_cast<double>(e));
  for (double ms = 0; ms <= 10; ms += 0.125) t.insert(ms * 1000);
  config.t_us.assign(t.begin(), t.end());
  auto prediction = predict_t_visibility(config, legs);
  if (!prediction.ok()) return std::nullopt;
  return *prediction;
}

Status LoadGenerator::check_load() const {
  if (load_failures_ == 0) return Status::Ok();
  if (load_failures_ == options_.keys) {
    return Status(first_load_error_.code(), "no key could be loaded: " + first_load_error_.message());
  }
  std::fprintf(stderr, "tally-bench: %llu keys could not be loaded (%s); reads of them are not judged\n",
               static_cast<unsigned long long>(load_failures_), first_load_error_.to_string().c_str());
  return Status::Ok();
}

}  // namespace tally::bench
