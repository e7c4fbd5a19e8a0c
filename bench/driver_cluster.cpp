// tally-bench against running tallyd nodes, through the public client library.
//
// One AsyncClient carries the load: the driver thread sends what the
// LoadGenerator releases on its timetable, and each reply, on the client's
// I/O thread, is handed back to the generator under a lock, which may release
// the next request (a closed loop refills its slot there, without a thread
// hop). A prober thread pings every node in turn with a blocking Client per
// node, for the PBS prediction; a third Client reads the cluster's metadata
// and sets the fault.
#include <algorithm>
#include <cstdlib>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "bench/driver.hpp"
#include "tally/client.hpp"

namespace tally::bench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kRequestTimeoutMs = 5000;
// A probe round (three requests) every 10 ms: enough samples for the WARS
// legs, little enough load not to move the latency being measured.
constexpr auto kProbeInterval = std::chrono::milliseconds(10);
constexpr size_t kMaxProbesPerNode = 20'000;
// How often the driver thread sends what fell due while answers are awaited
// (see run_phase).
constexpr uint64_t kBackstopNs = 500'000;

class ClusterDriver {
 public:
  ClusterDriver(std::string keyspace, LoadGenerator generator, AsyncClient& client)
      : keyspace_(std::move(keyspace)), gen_(std::move(generator)), client_(client) {}

  uint64_t now_ns() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch_).count());
  }
  double now_s() const { return static_cast<double>(now_ns()) / 1e9; }

  // Starts the load phase, or a run at (r, w).
  void start_load() {
    std::lock_guard lock(mu_);
    gen_.start_load(now_ns());
  }
  void start_run(int r, int w) {
    std::lock_guard lock(mu_);
    gen_.start_run(r, w, now_ns());
  }

  // Runs the started phase to its end: sends what falls due, sleeps in between.
  void run_phase(ProgressLine& progress, const std::string& label, const std::atomic<bool>& stop) {
    std::vector<Request> batch;
    bool stopped = false;
    for (;;) {
      uint64_t due = 0;
      Progress p;
      bool done = false;
      size_t in_flight = 0;
      {
        std::lock_guard lock(mu_);
        uint64_t now = now_ns();
        if (stop.load() && !stopped) {
          stopped = true;
          gen_.stop(now);
        }
        gen_.poll(now, batch);
        due = gen_.next_due_ns();
        done = gen_.done();
        p = gen_.progress(now);
        in_flight = gen_.in_flight();
      }
      send(batch);
      if (done) break;
      progress.update(label, p, now_s());
      // Until the next request falls due, the phase ends, or the progress line
      // wants updating; replies release their own successors meanwhile. With
      // requests in flight, each answer also sends what fell due (complete()
      // polls the timetable, on the client's I/O thread, with no wake-up), so
      // this thread only backs the answers up, at most every kBackstopNs: woken
      // for every slot of a fast timetable, it took a core's worth of wake-ups
      // from the cluster it measures (at 20,000/s, p99 182 ms).
      const uint64_t now = now_ns();
      uint64_t next = std::min(due, now + 100'000'000);
      if (in_flight > 0) next = std::max(next, now + kBackstopNs);
      auto wake = epoch_ + std::chrono::nanoseconds(next);
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, wake, [this] { return gen_.done(); });
    }
  }

  // The generator, for results; only between phases.
  const LoadGenerator& generator() const { return gen_; }

 private:
  void send(std::vector<Request>& batch) {
    for (Request& req : batch) {
      auto shared = std::make_shared<Request>(std::move(req));
      if (shared->op == Op::kCas) {
        WriteOptions opt;
        opt.keyspace = keyspace_;
        if (shared->context.empty()) {
          opt.if_absent = true;  // the get found nothing
        } else {
          opt.if_version = shared->context;
        }
        client_.put_if(shared->key_name, shared->value, opt, [this, shared](Result<CasResult> r) {
          Reply reply;
          if (r.ok()) {
            reply.applied = r->applied;
            reply.context = std::move(r->context);
          } else {
            reply.status = r.status();
          }
          complete(*shared, reply);
        });
      } else if (shared->op == Op::kPut) {
        WriteOptions opt;
        opt.keyspace = keyspace_;
        if (shared->w > 0) opt.w = shared->w;
        opt.context = shared->context;
        client_.put(shared->key_name, shared->value, opt, [this, shared](Result<std::string> r) {
          Reply reply;
          if (r.ok()) {
            reply.context = std::move(*r);
          } else {
            reply.status = r.status();
          }
          complete(*shared, reply);
        });
      } else {
        ReadOptions opt;
        opt.keyspace = keyspace_;
        if (shared->r > 0) opt.r = shared->r;
        client_.get(shared->key_name, opt, [this, shared](Result<GetResult> r) {
          Reply reply;
          if (r.ok()) {
            reply.values = std::move(r->values);
            reply.context = std::move(r->context);
          } else {
            reply.status = r.status();
          }
          complete(*shared, reply);
        });
      }
    }
    batch.clear();
  }

  // On the client's I/O thread.
  void complete(const Request& req, const Reply& reply) {
    thread_local std::vector<Request> next;
    bool done;
    {
      std::lock_guard lock(mu_);
      gen_.complete(req, reply, now_ns(), next);
      done = gen_.done();
    }
    send(next);
    if (done) cv_.notify_all();
  }

  const Clock::time_point epoch_ = Clock::now();
  std::string keyspace_;
  std::mutex mu_;
  std::condition_variable cv_;  // the phase is done
  LoadGenerator gen_;
  AsyncClient& client_;
};

// Probes each node in turn (see ProbeRound), with one blocking Client per
// node that talks to that node only.
class Prober {
 public:
  struct Target {
    std::string address;
    std::string key;  // a key the node is the first replica of; empty: ping only
  };

  Prober(std::vector<Target> targets, std::string keyspace)
      : targets_(std::move(targets)), keyspace_(std::move(keyspace)) {
    for (const auto& t : targets_) {
      ClientOptions o;
      o.endpoints = {t.address};
      o.token_aware = false;
      o.request_timeout_ms = 1000;
      auto c = Client::connect(o);
      clients_.push_back(c.ok() ? std::move(*c) : nullptr);
    }
    contexts_.resize(targets_.size());
  }
  ~Prober() { stop(); }

  void start() {
    samples_.by_node.assign(clients_.size(), {});
    running_ = true;
    thread_ = std::thread([this] { loop(); });
  }
  ProbeSamples stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    return samples_;
  }

 private:
  static double us_since(Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
  }

  void loop() {
    for (size_t turn = 0; running_.load(); ++turn) {
      auto next = Clock::now() + kProbeInterval;
      size_t i = turn % clients_.size();
      if (clients_[i] && !targets_[i].key.empty() &&
          samples_.by_node[i].size() < kMaxProbesPerNode) {
        probe(i);
      }
      std::this_thread::sleep_until(next);
    }
  }

  void probe(size_t i) {
    Client& c = *clients_[i];
    ProbeRound round;
    auto t = Clock::now();
    if (!c.ping().ok()) return;
    round.ping_us = us_since(t);
    WriteOptions wo;
    wo.keyspace = keyspace_;
    wo.w = 1;
    wo.context = contexts_[i];  // supersede the last probe put, or siblings would pile up
    t = Clock::now();
    auto put = c.put(targets_[i].key, "probe", wo);
    if (!put.ok()) return;
    round.put_us = us_since(t);
    contexts_[i] = *put;
    ReadOptions ro;
    ro.keyspace = keyspace_;
    ro.r = 1;
    t = Clock::now();
    if (!c.get(targets_[i].key, ro).ok()) return;
    round.get_us = us_since(t);
    samples_.by_node[i].push_back(round);
  }

  std::vector<Target> targets_;
  std::string keyspace_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::string> contexts_;
  ProbeSamples samples_;  // written by the thread while it runs
  std::atomic<bool> running_{false};
  std::thread thread_;
};

// The keyspace, created with N = settings.n if it does not exist and N was given.
Result<KeyspaceInfo> find_keyspace(Client& admin, const BenchSettings& settings) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto info = admin.cluster_info(true);
    if (!info.ok()) return info.status();
    for (const auto& ks : info->keyspaces) {
      if (ks.name != settings.keyspace) continue;
      if (settings.n > 0 && settings.n != ks.n) {
        return Status::InvalidArgument("keyspace " + ks.name + " has N=" + std::to_string(ks.n) +
                                       ", not --n " + std::to_string(settings.n) +
                                       " (N cannot change: use another keyspace)");
      }
      if (!settings.mode.empty() && settings.mode != ks.mode) {
        return Status::InvalidArgument("keyspace " + ks.name + " is " + ks.mode + ", not --mode " +
                                       settings.mode + " (use another keyspace)");
      }
      return ks;
    }
    if (settings.n <= 0 || attempt > 0) {
      return Status::InvalidArgument(
          "keyspace " + settings.keyspace +
          " does not exist: give --n to create it, or `tally keyspace create " + settings.keyspace +
          " -n 3" + (settings.mode.empty() ? "" : " --mode " + settings.mode) + "`");
    }
    KeyspaceSpec spec;
    spec.name = settings.keyspace;
    spec.n = settings.n;
    spec.mode = settings.mode;
    auto made = admin.create_keyspace(spec);
    if (!made.ok()) return made.status();
  }
  return Status::Internal("unreachable");
}

// The `paxos_retries` counters of `members` summed; nullopt if a node did not answer.
std::optional<uint64_t> paxos_retries(Client& admin, const std::vector<MemberInfo>& members) {
  uint64_t total = 0;
  for (const MemberInfo& m : members) {
    auto st = admin.status(m.address);
    if (!st.ok()) return std::nullopt;
    total += std::strtoull(st->field("paxos_retries").c_str(), nullptr, 10);
  }
  return total;
}

Status set_fault(Client& admin, const MemberInfo& node, const FaultSpec& fault) {
  Fault f;
  f.delay_ms = fault.kind == FaultSpec::Kind::kDelay ? fault.delay_ms : 0;
  f.silent = fault.kind == FaultSpec::Kind::kDown;
  Status s = admin.set_fault(node.address, f);
  if (!s.ok()) return Status(s.code(), "cannot set the fault on " + node.name + ": " + s.message());
  return s;
}

}  // namespace

Result<std::vector<ConfigResult>> run_on_cluster(const BenchSettings& settings,
                                                 ProgressLine& progress,
                                                 const std::atomic<bool>& stop) {
  auto generator = LoadGenerator::make(settings.workload);
  if (!generator.ok()) return generator.status();

  ClientOptions options;
  options.endpoints = settings.endpoints;
  options.keyspace = settings.keyspace;
  options.request_timeout_ms = kRequestTimeoutMs;
  options.secret_file = settings.secret_file;
  auto admin_or = Client::connect(options);
  if (!admin_or.ok()) return admin_or.status();
  Client& admin = **admin_or;

  auto ks = find_keyspace(admin, settings);
  if (!ks.ok()) return ks.status();
  auto info = admin.cluster_info(true);
  if (!info.ok()) return info.status();
  std::vector<MemberInfo> members;
  for (const auto& m : info->members) {
    if (m.state == "normal") members.push_back(m);
  }
  if (members.empty()) return Status::Unavailable("the cluster has no node in state normal");

  int faulty = static_cast<int>(members.size()) - 1;
  if (!settings.fault_node.empty()) {
    faulty = -1;
    std::string names;
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i].name == settings.fault_node) faulty = static_cast<int>(i);
      names += (i ? ", " : "") + members[i].name;
    }
    if (faulty < 0) {
      return Status::InvalidArgument("--fault-node " + settings.fault_node +
                                     " is not a node of the cluster (" + names + ")");
    }
  }
  const bool linearizable = ks->mode == "linearizable";
  if (linearizable && (settings.sweep || settings.r > 0 || settings.w > 0)) {
    return Status::InvalidArgument(
        "keyspace " + ks->name +
        " is linearizable: R and W do not apply there, leave out --r, --w and --sweep (to run a sweep "
        "beside it: --sweep on a siblings keyspace with --with-linearizable " + ks->name + ")");
  }
  if (!linearizable && settings.workload.workload == Workload::kCas) {
    return Status::InvalidArgument("--workload cas needs a linearizable keyspace; keyspace " + ks->name +
                                   " is " + ks->mode + " (create one with --mode linearizable --n 3)");
  }
  auto plan = linearizable ? Result<std::vector<std::pair<int, int>>>(std::vector<std::pair<int, int>>{{0, 0}})
                           : quorum_plan(ks->n, settings.sweep, settings.r, settings.w, ks->r, ks->w);
  if (!plan.ok()) return plan.status();

  auto client = AsyncClient::connect(options);
  if (!client.ok()) return client.status();
  std::vector<std::string> keys =
      probe_keys(static_cast<int>(members.size()), [&](const std::string& key) {
        auto replicas = admin.replicas(key, settings.keyspace);
        for (size_t i = 0; replicas.ok() && !replicas->empty() && i < members.size(); ++i) {
          if (members[i].name == replicas->front()) return static_cast<int>(i);
        }
        return -1;
      });
  std::vector<Prober::Target> targets;
  for (size_t i = 0; i < members.size(); ++i) targets.push_back({members[i].address, keys[i]});
  Prober prober(std::move(targets), settings.keyspace);
  ClusterDriver driver(settings.keyspace, std::move(*generator), **client);

  driver.start_load();
  driver.run_phase(progress, "load", stop);
  progress.done();
  if (Status s = driver.generator().check_load(); !s.ok()) return s;

  std::vector<ConfigResult> results;
  const MemberInfo& fault_node = members[faulty];
  for (size_t i = 0; i < plan->size() && !stop.load(); ++i) {
    auto [r, w] = (*plan)[i];
    const std::string name = linearizable ? std::string(kLinearizableLabel) : quorum_label(r, w);
    const std::string label = name + " (" + std::to_string(i + 1) + "/" +
                              std::to_string(plan->size()) + ")";
    if (settings.fault.kind != FaultSpec::Kind::kNone) {
      if (Status s = set_fault(admin, fault_node, settings.fault); !s.ok()) return s;
    }
    // Probes feed the staleness prediction; a workload without reads has none,
    // and PBS does not model a linearizable keyspace (nor would it take the
    // probes' W=1 and R=1).
    const bool probing = settings.workload.workload != Workload::kW && !linearizable;
    if (probing) prober.start();
    std::optional<uint64_t> retries_before = linearizable ? paxos_retries(admin, members) : std::nullopt;
    driver.start_run(r, w);
    driver.run_phase(progress, label, stop);
    ProbeSamples probes = probing ? prober.stop() : ProbeSamples{};
    progress.done();
    if (settings.fault.kind != FaultSpec::Kind::kNone) {
      if (Status s = set_fault(admin, fault_node, FaultSpec{}); !s.ok()) return s;
    }
    std::optional<uint64_t> retries_after = linearizable ? paxos_retries(admin, members) : std::nullopt;
    auto res = driver.generator().finish_run(staleness_edges_us());
    if (!res.ok()) return res.status();
    res->n = ks->n;
    res->label = name;
    res->linearizable = linearizable;
    if (retries_before && retries_after && *retries_after >= *retries_before) {
      res->paxos_retries = *retries_after - *retries_before;
    }
    res->fault = describe_fault(settings.fault, fault_node.name);
    res->pbs = predict_staleness(*res, probes, settings.fault, faulty, settings.workload.seed);
    results.push_back(std::move(*res));
  }
  return results;
}

}  // namespace tally::bench
