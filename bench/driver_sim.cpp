// tally-bench against the simulator: real Node objects on simulated hosts
// (SimCluster), one client host per node, virtual time. What a real client
// does is played here: each request goes straight to a replica of its key, in
// turn over the key's replicas, as AsyncClient's token-aware routing does;
// the fault is set with the same wire request (FaultRequest) that
// Client::set_fault sends.
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <unordered_map>

#include "bench/driver.hpp"
#include "ring/position.hpp"
#include "sim/sim_cluster.hpp"

namespace tally::bench {

namespace {

using sim::SimClient;
using sim::SimCluster;
using sim::SimWorld;

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kClientTimeoutUs = 5'000'000;
constexpr uint64_t kProbeIntervalUs = 1'000;
constexpr size_t kMaxProbesPerNode = 20'000;
// The world is advanced in slices this long; between them the driver checks
// for the end of the phase and prints progress.
constexpr uint64_t kSliceUs = 10'000;

// "0.5ms" -> 500 (microseconds).
Result<double> parse_duration_us(std::string_view text, std::string_view what) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  double scale = unit == "us" ? 1 : unit == "ms" ? 1e3 : unit == "s" ? 1e6 : 0;
  if (ec != std::errc() || scale == 0 || !std::isfinite(value) || value < 0) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                   "' is not a duration with a unit (us, ms or s), like 0.5ms");
  }
  return value * scale;
}

long wall_s(std::chrono::steady_clock::time_point since) {
  return std::lround(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
}

Reply to_reply(const Result<wire::Message>& r) {
  Reply reply;
  if (!r.ok()) {
    reply.status = r.status();
  } else if (const auto* e = std::get_if<wire::ErrorReply>(&r->body)) {
    reply.status = Status(e->code, e->message);
  } else if (const auto* p = std::get_if<wire::PutReply>(&r->body)) {
    reply.context = p->context;
  } else if (const auto* g = std::get_if<wire::GetReply>(&r->body)) {
    reply.values = g->values;
    reply.context = g->context;
  } else {
    reply.status = Status::ProtocolError("unexpected reply to a data request");
  }
  return reply;
}

class SimDriver {
 public:
  SimDriver(const BenchSettings& settings, LoadGenerator generator, int n)
      : settings_(settings), world_(settings.workload.seed), gen_(std::move(generator)), n_(n) {
    world_.faults() = settings.sim_network;
    cluster_ = std::make_unique<SimCluster>(world_, settings.sim_nodes, Durability::kBuffered,
                                            [this](ClusterConfig& c) { define_keyspace(c); });
    for (int i = 0; i < cluster_->size(); ++i) {
      std::string addr = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
      auto& host = world_.add_host("c" + std::to_string(i + 1), HostPort{addr, 9000});
      clients_.push_back(
          std::make_unique<SimClient>(host, cluster_->config().nodes[i].listen, kClientTimeoutUs));
    }
    for (int i = 0; i < cluster_->size(); ++i) {
      sim::DiskFaults& disk = cluster_->host(i).sim_disk().faults();
      disk.min_latency_us = settings.sim_disk_min_us;
      disk.max_latency_us = settings.sim_disk_max_us;
    }
    probes_.by_node.resize(cluster_->size());
  }

  int node_count() const { return cluster_->size(); }
  const ClusterConfig& config() const { return cluster_->config(); }
  const LoadGenerator& generator() const { return gen_; }
  double now_s() const { return static_cast<double>(world_.now_us()) / 1e6; }

  // Runs until every node has the cluster map and has heard its peers.
  Status await_ready() {
    const uint64_t give_up = world_.now_us() + 60'000'000;
    for (;;) {
      bool ready = true;
      for (int i = 0; i < cluster_->size() && ready; ++i) {
        ready = cluster_->node(i) && cluster_->node(i)->cluster_map().epoch > 0;
      }
      if (ready) break;
      if (world_.now_us() >= give_up) {
        return Status::Timeout(
            "the simulated cluster has no cluster map after 60 simulated seconds");
      }
      world_.run_for(50'000);
    }
    world_.run_for(1'000'000);  // heartbeats: every failure detector has heard everyone
    const Node& any = *cluster_->node(0);
    ring_ = any.ring();
    ring_seed_ = ring::keyspace_seed(settings_.keyspace);
    for (const auto& m : any.cluster_map().members) {
      for (int i = 0; i < cluster_->size(); ++i) {
        if (cluster_->config().nodes[i].id == m.name) host_of_[m.id] = i;
      }
    }
    probe_keys_ = probe_keys(cluster_->size(), [this](const std::string& key) {
      ring::PreferenceList replicas =
          ring_.preference_list(ring::key_position(ring_seed_, key), n_);
      auto it = replicas.empty() ? host_of_.end() : host_of_.find(replicas[0]);
      return it == host_of_.end() ? -1 : it->second;
    });
    probe_contexts_.assign(cluster_->size(), "");
    return Status::Ok();
  }

  // Makes node `index` play `fault` (Fault{} ends it), as Client::set_fault does.
  Status set_fault(int index, const FaultSpec& fault) {
    wire::FaultRequest req{fault.kind == FaultSpec::Kind::kDelay ? fault.delay_ms : 0,
                           fault.kind == FaultSpec::Kind::kDown};
    std::optional<Status> answer;
    clients_[index]->request(req, [&answer](Result<wire::Message> r) {
      answer = r.ok() && std::holds_alternative<wire::ErrorReply>(r->body)
                   ? Status(std::get<wire::ErrorReply>(r->body).code,
                            std::get<wire::ErrorReply>(r->body).message)
                   : r.status();
    });
    while (!answer) world_.run_for(1'000);
    return *answer;
  }

  // Runs the generator's current phase (already started at now) to its end.
  void run_phase(ProgressLine& progress, const std::string& label, const std::atomic<bool>& stop) {
    pump();
    const auto wall_start = std::chrono::steady_clock::now();
    while (!gen_.done()) {
      if (stop.load() && !stopped_) {
        stopped_ = true;
        gen_.stop(now_ns());
        pump();
      }
      world_.run_for(kSliceUs);
      double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
      char note[96];
      std::snprintf(note, sizeof note, "(simulated time; wall %.1fs)", wall);
      progress.update(label, gen_.progress(now_ns()), now_s(), note);
    }
  }

  void start_probes() {
    probing_ = true;
    for (auto& s : probes_.by_node) s.clear();
    ++probe_round_;  // an earlier round's pending probe stops at its next turn
    world_.schedule(0, [this, round = probe_round_] { probe(round); });
  }
  ProbeSamples stop_probes() {
    probing_ = false;
    ++probe_round_;
    return probes_;
  }

  uint64_t now_ns() const { return world_.now_us() * 1000; }
  LoadGenerator& gen() { return gen_; }

 private:
  void define_keyspace(ClusterConfig& c) {
    meta::Keyspace ks{settings_.keyspace, n_, n_ / 2 + 1, n_ / 2 + 1};
    for (auto& existing : c.keyspaces) {
      if (existing.name == ks.name) {
        existing = ks;
        return;
      }
    }
    c.keyspaces.push_back(ks);
  }

  // Sends what the generator releases now, and wakes it when it next has
  // something due.
  void pump() {
    pump_at_us_ = kNever;
    batch_.clear();
    gen_.poll(now_ns(), batch_);
    send_batch();
    schedule_pump();
  }

  void schedule_pump() {
    uint64_t due_ns = gen_.next_due_ns();
    if (due_ns == kNever) return;
    uint64_t due_us = std::max((due_ns + 999) / 1000, world_.now_us());
    if (due_us >= pump_at_us_) return;  // an earlier wake-up is already set
    pump_at_us_ = due_us;
    world_.schedule(due_us - world_.now_us(), [this, due_us] {
      if (pump_at_us_ == due_us) pump();
    });
  }

  void send_batch() {
    std::vector<Request> batch;
    batch.swap(batch_);
    for (Request& req : batch) send(std::move(req));
  }

  void send(Request req) {
    ring::PreferenceList replicas =
        ring_.preference_list(ring::key_position(ring_seed_, req.key_name), n_);
    int target = 0;
    if (!replicas.empty()) {
      auto it = host_of_.find(
          replicas[static_cast<int>(spread_++ % static_cast<uint64_t>(replicas.size()))]);
      if (it != host_of_.end()) target = it->second;
    }
    wire::RequestOptions opt;
    opt.r = static_cast<uint8_t>(req.r);
    opt.w = static_cast<uint8_t>(req.w);
    wire::Body body = req.op == Op::kPut
                          ? wire::Body(wire::PutRequest{settings_.keyspace, req.key_name, req.value,
                                                        req.context, opt})
                          : wire::Body(wire::GetRequest{settings_.keyspace, req.key_name, opt});
    auto shared = std::make_shared<Request>(std::move(req));
    clients_[target]->request(std::move(body), [this, shared](Result<wire::Message> r) {
      batch_.clear();
      gen_.complete(*shared, to_reply(r), now_ns(), batch_);
      send_batch();
      schedule_pump();
    });
  }

  // Every kProbeIntervalUs a probe round on the next node in turn: a ping,
  // then a put at W=1 and a get at R=1 of its probe key (see ProbeRound).
  void probe(uint64_t round) {
    if (!probing_ || round != probe_round_) return;
    world_.schedule(kProbeIntervalUs, [this, round] { probe(round); });
    int node = static_cast<int>(next_probe_++ % static_cast<uint64_t>(clients_.size()));
    if (probe_keys_[node].empty()) return;
    auto result = std::make_shared<ProbeRound>();
    uint64_t sent = world_.now_us();
    clients_[node]->request(
        wire::PingRequest{}, [this, node, round, result, sent](Result<wire::Message> r) {
          if (round != probe_round_ || !r.ok() || !std::holds_alternative<wire::PingReply>(r->body))
            return;
          result->ping_us = static_cast<double>(world_.now_us() - sent);
          probe_put(node, round, result);
        });
  }

  void probe_put(int node, uint64_t round, std::shared_ptr<ProbeRound> result) {
    wire::RequestOptions opt;
    opt.w = 1;
    uint64_t sent = world_.now_us();
    wire::PutRequest put{settings_.keyspace, probe_keys_[node], "probe", probe_contexts_[node],
                         opt};
    clients_[node]->request(
        std::move(put), [this, node, round, result, sent](Result<wire::Message> r) {
          Reply reply = to_reply(r);
          if (round != probe_round_ || !reply.status.ok()) return;
          probe_contexts_[node] = reply.context;  // the next probe put supersedes this one
          result->put_us = static_cast<double>(world_.now_us() - sent);
          probe_get(node, round, result);
        });
  }

  void probe_get(int node, uint64_t round, std::shared_ptr<ProbeRound> result) {
    wire::RequestOptions opt;
    opt.r = 1;
    uint64_t sent = world_.now_us();
    clients_[node]->request(wire::GetRequest{settings_.keyspace, probe_keys_[node], opt},
                            [this, node, round, result, sent](Result<wire::Message> r) {
                              auto& rounds = probes_.by_node[node];
                              if (round != probe_round_ || !to_reply(r).status.ok() ||
                                  rounds.size() >= kMaxProbesPerNode) {
                                return;
                              }
                              result->get_us = static_cast<double>(world_.now_us() - sent);
                              rounds.push_back(*result);
                            });
  }

  const BenchSettings& settings_;
  SimWorld world_;
  std::unique_ptr<SimCluster> cluster_;
  std::vector<std::unique_ptr<SimClient>> clients_;  // clients_[i] talks to node i
  LoadGenerator gen_;
  int n_;
  ring::Ring ring_;
  uint64_t ring_seed_ = 0;
  std::unordered_map<ring::NodeId, int> host_of_;
  uint64_t spread_ = 0;
  std::vector<Request> batch_;
  uint64_t pump_at_us_ = kNever;
  bool stopped_ = false;
  bool probing_ = false;
  uint64_t next_probe_ = 0;
  uint64_t probe_round_ = 0;
  std::vector<std::string> probe_keys_;      // per node
  std::vector<std::string> probe_contexts_;  // per node: of the last probe put
  ProbeSamples probes_;
};

// MIN-MAX, two durations, in microseconds, for option `flag`; errors quote
// `whole` (the option's text) and say `no_dash` when there is no '-'.
Result<std::pair<uint64_t, uint64_t>> parse_range_us(std::string_view range, const std::string& flag,
                                                     std::string_view whole, std::string_view no_dash) {
  auto dash = range.find('-');
  if (dash == std::string_view::npos) {
    return Status::InvalidArgument(flag + " '" + std::string(whole) + "': " + std::string(no_dash));
  }
  auto lo = parse_duration_us(range.substr(0, dash), flag + " minimum");
  if (!lo.ok()) return lo.status();
  auto hi = parse_duration_us(range.substr(dash + 1), flag + " maximum");
  if (!hi.ok()) return hi.status();
  if (*lo > *hi)
    return Status::InvalidArgument(flag + " '" + std::string(whole) + "': the minimum is above the maximum");
  return std::pair<uint64_t, uint64_t>(static_cast<uint64_t>(std::llround(*lo)),
                                       static_cast<uint64_t>(std::llround(*hi)));
}

}  // namespace

Result<sim::NetworkFaults> parse_sim_latency(std::string_view text) {
  sim::NetworkFaults net;
  auto colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view args =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (args.empty()) {
    return Status::InvalidArgument(
        "--sim-latency '" + std::string(text) +
        "': expected fixed:D, uniform:D-D, exp:D or lognormal:D[:SIGMA], D like 0.5ms");
  }
  if (kind == "uniform") {
    auto range = parse_range_us(args, "--sim-latency", text, "uniform needs MIN-MAX, like uniform:0.05ms-1ms");
    if (!range.ok()) return range.status();
    net.latency_shape = sim::LatencyShape::kUniform;
    net.min_latency_us = range->first;
    net.max_latency_us = range->second;
    return net;
  }
  std::string_view mean_text = args, sigma_text;
  if (kind == "lognormal") {
    auto second = args.find(':');
    if (second != std::string_view::npos) {
      mean_text = args.substr(0, second);
      sigma_text = args.substr(second + 1);
    }
  }
  auto mean = parse_duration_us(mean_text, "--sim-latency mean");
  if (!mean.ok()) return mean.status();
  net.mean_latency_us = *mean;
  if (kind == "fixed") {
    net.latency_shape = sim::LatencyShape::kFixed;
  } else if (kind == "exp") {
    net.latency_shape = sim::LatencyShape::kExponential;
  } else if (kind == "lognormal") {
    net.latency_shape = sim::LatencyShape::kLognormal;
    if (!sigma_text.empty()) {
      double sigma = 0;
      auto [end, ec] =
          std::from_chars(sigma_text.data(), sigma_text.data() + sigma_text.size(), sigma);
      if (ec != std::errc() || end != sigma_text.data() + sigma_text.size() ||
          !(sigma >= 0 && sigma <= 5)) {
        return Status::InvalidArgument("--sim-latency '" + std::string(text) +
                                       "': SIGMA must be a number from 0 to 5");
      }
      net.lognormal_sigma = sigma;
    }
  } else {
    return Status::InvalidArgument("--sim-latency '" + std::string(text) +
                                   "': unknown distribution '" + std::string(kind) +
                                   "' (fixed, uniform, exp or lognormal)");
  }
  return net;
}

Result<std::pair<uint64_t, uint64_t>> parse_sim_disk(std::string_view text) {
  return parse_range_us(text, "--sim-disk", text, "expected MIN-MAX, like 20us-200us");
}

Result<std::vector<ConfigResult>> run_on_sim(const BenchSettings& settings, ProgressLine& progress,
                                             const std::atomic<bool>& stop) {
  const int n = settings.n > 0 ? settings.n : 3;
  if (settings.workload.workload == Workload::kCas || (!settings.mode.empty() && settings.mode != "siblings")) {
    return Status::InvalidArgument(
        "the simulator mode runs a siblings keyspace only: --workload cas and --mode need a cluster");
  }
  if (settings.sim_nodes < 1) return Status::InvalidArgument("--sim-nodes must be at least 1");
  if (n > settings.sim_nodes) {
    return Status::InvalidArgument("N=" + std::to_string(n) + " (--n) is above --sim-nodes " +
                                   std::to_string(settings.sim_nodes) +
                                   ": a key needs N distinct nodes");
  }
  if (n > ring::kMaxReplicas) {
    return Status::InvalidArgument("--n must be at most " + std::to_string(ring::kMaxReplicas));
  }
  meta::Keyspace ks{settings.keyspace, n, n / 2 + 1, n / 2 + 1};
  if (Status s = meta::validate(ks); !s.ok()) {
    return Status::InvalidArgument("--keyspace/--n: " + s.message());
  }
  auto plan = quorum_plan(n, settings.sweep, settings.r, settings.w, n / 2 + 1, n / 2 + 1);
  if (!plan.ok()) return plan.status();
  auto generator = LoadGenerator::make(settings.workload);
  if (!generator.ok()) return generator.status();

  progress.note("starting " + std::to_string(settings.sim_nodes) +
                " simulated nodes (each founder computes the initial ring: slow with many nodes)");
  const auto started = std::chrono::steady_clock::now();
  auto driver = std::make_unique<SimDriver>(settings, std::move(*generator), n);
  int faulty = driver->node_count() - 1;
  if (!settings.fault_node.empty()) {
    faulty = -1;
    for (int i = 0; i < driver->node_count(); ++i) {
      if (driver->config().nodes[i].id == settings.fault_node) faulty = i;
    }
    if (faulty < 0) {
      return Status::InvalidArgument("--fault-node " + settings.fault_node +
                                     ": the simulated nodes are n1 to n" +
                                     std::to_string(driver->node_count()));
    }
  }
  const std::string faulty_name = driver->config().nodes[faulty].id;

  if (Status s = driver->await_ready(); !s.ok()) return s;
  progress.note("the simulated nodes are up (" + std::to_string(wall_s(started)) +
                " s of wall time); loading");

  driver->gen().start_load(driver->now_ns());
  driver->run_phase(progress, "load", stop);
  progress.done();
  if (Status s = driver->generator().check_load(); !s.ok()) return s;

  std::vector<ConfigResult> results;
  for (size_t i = 0; i < plan->size() && !stop.load(); ++i) {
    auto [r, w] = (*plan)[i];
    const std::string label = quorum_label(r, w) + " (" + std::to_string(i + 1) + "/" +
                              std::to_string(plan->size()) + ")";
    if (settings.fault.kind != FaultSpec::Kind::kNone) {
      if (Status s = driver->set_fault(faulty, settings.fault); !s.ok()) return s;
    }
    driver->start_probes();
    driver->gen().start_run(r, w, driver->now_ns());
    driver->run_phase(progress, label, stop);
    ProbeSamples probes = driver->stop_probes();
    progress.done();
    if (settings.fault.kind != FaultSpec::Kind::kNone) {
      if (Status s = driver->set_fault(faulty, FaultSpec{}); !s.ok()) return s;
    }
    auto res = driver->generator().finish_run(staleness_edges_us());
    if (!res.ok()) return res.status();
    res->n = n;
    res->fault = describe_fault(settings.fault, faulty_name);
    res->pbs = predict_staleness(*res, probes, settings.fault, faulty, settings.workload.seed);
    results.push_back(std::move(*res));
  }
  return results;
}

}  // namespace tally::bench
