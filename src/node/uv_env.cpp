#include "node/uv_env.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <random>

namespace tally {

// ---- the disk: LevelDB calls on libuv's worker threads -----------------------

// LevelDB behind the Disk interface. What may wait on the disk (a synced
// write, a scan) runs on libuv's worker pool; an unsynced write or a point
// read takes microseconds (the memtable, the OS page cache) and runs on the
// loop itself, where handing it to a worker thread and back would cost more
// than the work. Completions run later on the loop either way.
//
// After a failed write the engine takes no more writes (store/disk.hpp);
// reopen() waits for the worker jobs in flight, then closes the engine and
// opens a new one on a worker thread. Only the loop starts engine calls, so
// counting the jobs in flight is enough to know none runs during the reopen.
class UvEnv::UvDisk final : public store::Disk {
 public:
  UvDisk(uv_loop_t* loop, std::unique_ptr<store::LevelDbEngine> engine, std::string dir,
         std::function<void(std::function<void()>)> defer)
      : loop_(loop), engine_(std::move(engine)), dir_(std::move(dir)), defer_(std::move(defer)) {}

  void write(store::WriteBatch batch, bool sync, WriteDone done) override {
    Status refused = closed();
    if (refused.ok()) refused = failure_;
    if (!refused.ok()) return defer_([refused, done = std::move(done)] { done(refused); });
    if (!sync) {
      Status result = engine_->write(batch, false);
      if (!result.ok()) failed(result);
      defer_([result = std::move(result), done = std::move(done)] { done(result); });
      return;
    }
    auto result = std::make_shared<Status>();
    submit([e = engine_.get(), batch = std::move(batch), sync, result] { *result = e->write(batch, sync); },
           [this, result, done = std::move(done)] {
             if (!result->ok()) failed(*result);
             done(*result);
           });
  }

  void read(std::string key, ReadDone done) override {
    Status refused = closed();
    auto result = std::make_shared<Result<std::optional<std::string>>>(
        refused.ok() ? engine_->read(key) : Result<std::optional<std::string>>(refused));
    defer_([result, done = std::move(done)] { done(std::move(*result)); });
  }

  void scan(std::string start, std::string end, size_t limit, ScanDone done) override {
    if (Status refused = closed(); !refused.ok()) {
      return defer_([refused, done = std::move(done)] { done(refused); });
    }
    auto result = std::make_shared<Result<std::vector<store::KeyValue>>>(std::vector<store::KeyValue>());
    submit([e = engine_.get(), start = std::move(start), end = std::move(end), limit, result] {
             *result = e->scan(start, end, limit);
           },
           [result, done = std::move(done)] { done(std::move(*result)); });
  }

  Status write_failure() const override { return failure_; }
  void set_failure_listener(std::function<void(const Status&)> listener) override {
    listener_ = std::move(listener);
  }

  void reopen(WriteDone done) override {
    reopen_waiting_.push_back(std::move(done));
    reopening_ = true;
    maybe_start_reopen();
  }

 private:
  struct Job {
    uv_work_t req;
    std::function<void()> on_thread;
    std::function<void()> on_loop;
  };

  std::optional<store::DiskProperties> properties() const override {
    if (reopening_ || !engine_) return std::nullopt;
    return engine_->properties();  // LevelDB is thread-safe: worker jobs may be running
  }

  // Why an operation cannot start now: a reopen under way, or a database
  // that could not be opened again.
  Status closed() const {
    if (reopening_) {
      return Status::IoError("the store is being reopened after a disk error: " + failure_.message());
    }
    if (!engine_) return open_failure_;
    return Status::Ok();
  }

  // Writes stop with `why`; the listener hears it later, on the loop.
  void failed(const Status& why) {
    if (!failure_.ok()) return;
    failure_ = why;
    defer_([this, why] {
      if (listener_) listener_(why);
    });
  }

  void maybe_start_reopen() {
    if (!reopening_ || reopen_running_ || in_flight_ > 0) return;
    reopen_running_ = true;
    // The engine goes to the worker, which closes it (closing waits for
    // LevelDB's background work) unless the cause looks like it lasts: then
    // it comes back, and keeps serving reads.
    auto engine = std::make_shared<std::unique_ptr<store::LevelDbEngine>>(std::move(engine_));
    auto opened = std::make_shared<Status>();
    queue(
        [engine, opened, dir = dir_] {
          *opened = store::LevelDbEngine::can_reopen(dir);
          if (!opened->ok()) return;
          engine->reset();  // LevelDB's lock must be free before the database opens again
          auto fresh = store::LevelDbEngine::open(dir);
          if (fresh.ok()) {
            *engine = std::move(*fresh);
          } else {
            *opened = fresh.status();
          }
        },
        [this, engine, opened] {
          reopen_running_ = false;
          reopening_ = false;
          engine_ = std::move(*engine);
          if (opened->ok()) {
            failure_ = Status::Ok();
            open_failure_ = Status::Ok();
          } else if (!engine_) {
            open_failure_ = Status::IoError("the store is closed after a disk error (" + failure_.message() +
                                            ") and cannot be opened again yet: " + opened->message());
          }
          auto waiting = std::move(reopen_waiting_);
          reopen_waiting_.clear();
          for (auto& d : waiting) d(*opened);
        });
  }

  // A worker job the reopen waits for.
  void submit(std::function<void()> on_thread, std::function<void()> on_loop) {
    ++in_flight_;
    queue(std::move(on_thread), [this, on_loop = std::move(on_loop)] {
      --in_flight_;
      on_loop();
      maybe_start_reopen();
    });
  }

  void queue(std::function<void()> on_thread, std::function<void()> on_loop) {
    auto* job = new Job{{}, std::move(on_thread), std::move(on_loop)};
    job->req.data = job;
    uv_queue_work(
        loop_, &job->req, [](uv_work_t* r) { static_cast<Job*>(r->data)->on_thread(); },
        [](uv_work_t* r, int) {
          std::unique_ptr<Job> j(static_cast<Job*>(r->data));
          j->on_loop();
        });
  }

  uv_loop_t* loop_;
  std::unique_ptr<store::LevelDbEngine> engine_;  // null while reopening, or when it could not be
  std::string dir_;
  std::function<void(std::function<void()>)> defer_;
  std::function<void(const Status&)> listener_;
  Status failure_;       // the write error that stopped writes
  Status open_failure_;  // why there is no engine after a reopen failed
  int in_flight_ = 0;    // worker jobs using engine_
  bool reopening_ = false;
  bool reopen_running_ = false;
  std::vector<WriteDone> reopen_waiting_;
};

// ---- connections and timers ----------------------------------------------------

struct UvEnv::Conn {
  UvEnv* env = nullptr;
  ConnId id = 0;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  net::FrameReader reader;
  bool connected = false;
  bool closing = false;
  Status why;
  std::string peer;
  std::vector<std::string> queued;  // sends before the connection is established
  StreamHandler* stream = nullptr;   // set on connections of the stream listener
  bool reading = false;
  bool paused_by_handler = false;
  bool paused_by_writes = false;  // the peer is not taking what we send
  // A closing stream connection: its last bytes are on their way, and what
  // the peer still sends is read and dropped until it closes (see close()).
  bool lingering = false;
  TimerId linger_timer = 0;
  std::string unflushed;  // frames gathered this loop turn (see UvEnv::unflushed_)
  bool accepted = false;  // the peer connected to us: what we send on it are answers
  bool refused = false;   // accepted only to be closed at once: over max_connections
  bool counted = false;   // in UvEnv::accepted_open_
  // Limits (accepted connections only).
  uint64_t last_active_us = 0;      // last byte read or written
  uint64_t unfinished_since_us = 0; // first byte of the unfinished frame; 0: none
  size_t input_held = 0;            // its unfinished input, counted in UvEnv::input_held_
  bool paused_by_budget = false;    // the node's input budget is spent
  explicit Conn(uint32_t max_frame) : reader(max_frame) {}
};

struct UvEnv::WriteReq {
  uv_write_t req;
  std::string payload;
};

namespace {

// An accepted connection with limits.output_pause_kb queued and unwritten
// stops being read until the queue drains below a quarter of it: a client
// that pipelines requests but does not read the replies is held back by TCP,
// not by our memory (check_output).
// How long a closing stream connection may take to hand its last bytes (an
// error, QUIT's reply) to the peer and see it close, before it is cut.
constexpr uint64_t kCloseLingerUs = 5'000'000;
// Rounds of deferred work one loop turn runs (see run_deferred).
constexpr int kDeferredRounds = 4;
// File descriptors kept out of max_connections' automatic value: LevelDB's
// table cache (max_open_files 1000), its log and manifest, connections to
// peers, and slack. Without them a flood of connections starves the store
// (it fails with "Too many open files").
constexpr uint64_t kReservedFds = 1200;
constexpr uint64_t kSweepIntervalUs = 1'000'000;
constexpr uint64_t kRefusalLogIntervalUs = 10'000'000;

std::string peer_name(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[64] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

// A seed no other process is likely to draw: 64 bits from std::random_device
// (which yields 32 at a time).
uint64_t random_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}
}  // namespace

// ---- construction -------------------------------------------------------------

Result<std::unique_ptr<UvEnv>> UvEnv::create(const std::string& data_dir, const Limits& limits,
                                             Logger log) {
  auto engine = store::LevelDbEngine::open(data_dir);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<UvEnv>(new UvEnv(std::move(*engine), data_dir, limits, std::move(log)));
}

UvEnv::UvEnv(std::unique_ptr<store::LevelDbEngine> engine, const std::string& data_dir, const Limits& limits,
             Logger log)
    : loop_(std::make_unique<uv_loop_t>()), limits_(limits), log_(std::move(log)),
      rng_(random_seed()), read_buf_(64 * 1024) {
  max_connections_ = limits_.max_connections;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    uint64_t room = files.rlim_cur > kReservedFds + 64 ? files.rlim_cur - kReservedFds : 64;
    if (max_connections_ == 0 || max_connections_ > room) {
      if (max_connections_ > room) {
        TALLY_LOG(log_, kWarn) << "limits.max_connections " << max_connections_ << " lowered to " << room
                               << ": the file limit is " << files.rlim_cur << " and " << kReservedFds
                               << " are kept for the store and the peers";
      }
      max_connections_ = static_cast<uint32_t>(room);
    }
  } else if (max_connections_ == 0) {
    max_connections_ = 10000;
  }
  uv_loop_init(loop_.get());
  disk_ = std::make_unique<UvDisk>(loop_.get(), std::move(engine), data_dir, [this](std::function<void()> fn) {
    defer(std::move(fn));
  });
  uv_check_init(loop_.get(), &check_);
  check_.data = this;
  uv_check_start(&check_, [](uv_check_t* h) { static_cast<UvEnv*>(h->data)->run_deferred(); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  uv_idle_init(loop_.get(), &idle_);
  idle_.data = this;
  uv_timer_init(loop_.get(), &timer_handle_);
  timer_handle_.data = this;
}

UvEnv::~UvEnv() {
  if (!stopping_) stop();
  // Let close callbacks and queued disk work finish before the loop goes away.
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  uv_loop_close(loop_.get());
}

void UvEnv::run() { uv_run(loop_.get(), UV_RUN_DEFAULT); }

void UvEnv::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::vector<uv_tcp_t*> listeners{listener_};
  for (auto& [tcp, handler] : stream_listeners_) listeners.push_back(tcp);
  listener_ = nullptr;
  stream_listeners_.clear();
  for (uv_tcp_t* l : listeners) {
    if (!l) continue;
    uv_close(reinterpret_cast<uv_handle_t*>(l), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  std::vector<ConnId> ids;
  for (auto& [id, c] : conns_) ids.push_back(id);
  for (ConnId id : ids) {
    Conn* c = conns_[id].get();
    // A connection still flushing its last bytes is cut now.
    if (c->closing) {
      finish_close(c);
    } else {
      close(id, Status::Aborted("node shutting down"));
    }
  }
  timer_queue_.clear();
  timer_due_.clear();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_handle_))) {
    uv_timer_stop(&timer_handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_handle_), nullptr);
  }
  for (auto* s : signals_) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  }
  signals_.clear();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&check_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  }
}

void UvEnv::on_signal(int signum, std::function<void()> fn) {
  auto* s = new uv_signal_t;
  uv_signal_init(loop_.get(), s);
  signal_fns_.push_back(std::move(fn));
  s->data = reinterpret_cast<void*>(signal_fns_.size() - 1);
  signals_.push_back(s);
  uv_signal_start(
      s,
      [](uv_signal_t* h, int) {
        // The env is found through the loop's data pointer.
        auto* env = static_cast<UvEnv*>(h->loop->data);
        env->signal_fns_[reinterpret_cast<size_t>(h->data)]();
      },
      signum);
  uv_unref(reinterpret_cast<uv_handle_t*>(s));
  loop_->data = this;
}

store::Disk& UvEnv::disk() { return *disk_; }

uint64_t UvEnv::random() { return rng_.next(); }

// ---- clock, timers, deferred work ----------------------------------------------

uint64_t UvEnv::now_us() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t UvEnv::wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() +
                               clock_offset_ms_);
}

TimerId UvEnv::set_timer(uint64_t delay_us, std::function<void()> fn) {
  TimerId id = next_timer_++;
  if (stopping_) return id;  // a stopped loop runs no more timers
  uint64_t due = now_us() + delay_us;
  timer_queue_.emplace(std::make_pair(due, id), std::move(fn));
  timer_due_[id] = due;
  if (due < armed_due_) arm_timer();
  return id;
}

void UvEnv::cancel_timer(TimerId id) {
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return;
  timer_queue_.erase(std::make_pair(it->second, id));
  timer_due_.erase(it);
  // The libuv timer may stay armed for it: waking up to nothing is harmless.
}

void UvEnv::arm_timer() {
  if (timer_queue_.empty()) {
    uv_timer_stop(&timer_handle_);
    armed_due_ = UINT64_MAX;
    return;
  }
  uint64_t due = timer_queue_.begin()->first.first;
  uint64_t now = now_us();
  uint64_t delay_ms = due > now ? (due - now + 999) / 1000 : 0;
  armed_due_ = due;
  uv_timer_start(
      &timer_handle_, [](uv_timer_t* h) { static_cast<UvEnv*>(h->data)->fire_timers(); }, delay_ms, 0);
}

void UvEnv::fire_timers() {
  armed_due_ = UINT64_MAX;
  const uint64_t now = now_us();
  // One at a time: a timer's function may set or cancel others.
  while (!timer_queue_.empty() && timer_queue_.begin()->first.first <= now) {
    auto first = timer_queue_.begin();
    TimerId id = first->first.second;
    std::function<void()> fn = std::move(first->second);
    timer_queue_.erase(first);
    timer_due_.erase(id);
    fn();
    if (stopping_) return;
  }
  arm_timer();
}

void UvEnv::defer(std::function<void()> fn) {
  deferred_.push_back(std::move(fn));
  keep_turning();
}

void UvEnv::keep_turning() {
  if (!stopping_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_))) {
    uv_idle_start(&idle_, [](uv_idle_t*) {});
  }
}

void UvEnv::run_deferred() {
  // Work deferred while running (a disk write's completion, which sends the
  // replica writes or the answer) runs in this turn too, before the frames
  // go out: a put then costs one loop turn on each node, not two. A bound on
  // the rounds keeps a chain of deferrals from starving the network.
  for (int round = 0; round < kDeferredRounds && !deferred_.empty(); ++round) {
    std::vector<std::function<void()>> now;
    now.swap(deferred_);
    for (auto& fn : now) fn();
  }
  flush_frames();
  if (deferred_.empty() && uv_is_active(reinterpret_cast<uv_handle_t*>(&idle_))) uv_idle_stop(&idle_);
}

void UvEnv::flush_frames() {
  std::vector<ConnId> ids;
  ids.swap(unflushed_);
  // Connections others opened to us first (a client's carries nothing but
  // our answers), then the ones we opened (to peers, whose share our requests
  // and our answers): each write can wake the process it goes to, which on a
  // busy machine may take this one's CPU before it has written the answer
  // someone waits for.
  for (int answers = 1; answers >= 0; --answers) {
    for (ConnId id : ids) {
      Conn* c = find(id);
      if (c && c->accepted == static_cast<bool>(answers)) {
        flush(c);
        if (find(id)) check_output(c);
      }
    }
  }
}

void UvEnv::flush(Conn* c) {
  if (c->unflushed.empty()) return;
  write_bytes(c, std::move(c->unflushed));
  c->unflushed.clear();
}

// ---- network ------------------------------------------------------------------

UvEnv::Conn* UvEnv::find(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() || it->second->closing ? nullptr : it->second.get();
}

UvEnv::Conn* UvEnv::new_conn() {
  auto c = std::make_unique<Conn>(limits_.max_frame_bytes);
  c->env = this;
  c->id = next_conn_++;
  uv_tcp_init(loop_.get(), &c->tcp);
  c->tcp.data = c.get();
  Conn* raw = c.get();
  conns_[raw->id] = std::move(c);
  return raw;
}

Status UvEnv::listen(const HostPort& addr, NetworkHandler* handler) {
  handler_ = handler;
  if (!sweep_timer_) sweep_timer_ = set_timer(kSweepIntervalUs, [this] { sweep(); });
  return start_listener(addr, &listener_);
}

Status UvEnv::listen_stream(const HostPort& addr, StreamHandler* handler) {
  if (!sweep_timer_) sweep_timer_ = set_timer(kSweepIntervalUs, [this] { sweep(); });
  uv_tcp_t* listener = nullptr;
  Status s = start_listener(addr, &listener);
  if (s.ok()) stream_listeners_.emplace_back(listener, handler);
  return s;
}

StreamHandler* UvEnv::stream_handler_of(uv_stream_t* server) const {
  for (const auto& [tcp, handler] : stream_listeners_) {
    if (reinterpret_cast<uv_stream_t*>(tcp) == server) return handler;
  }
  return nullptr;
}

Status UvEnv::start_listener(const HostPort& addr, uv_tcp_t** out) {
  if (*out) return Status::InvalidArgument("already listening; cannot also listen on " + addr.to_string());
  sockaddr_storage ss{};
  if (uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
      uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
    // Names (e.g. "localhost") are resolved once, here, synchronously: this runs at start-up.
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(addr.host.c_str(), nullptr, &hints, &res) != 0 || !res) {
      return Status::InvalidArgument("cannot resolve listen address " + addr.to_string());
    }
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(addr.port);
    freeaddrinfo(res);
  }
  auto* listener = new uv_tcp_t;
  uv_tcp_init(loop_.get(), listener);
  listener->data = this;
  int rc = uv_tcp_bind(listener, reinterpret_cast<sockaddr*>(&ss), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener), 512, [](uv_stream_t* server, int status) {
      auto* env = static_cast<UvEnv*>(server->data);
      // Registered before the loop runs again, so before any connection arrives.
      StreamHandler* stream = env->stream_handler_of(server);
      if (status < 0) {
        TALLY_LOG(env->log_, kWarn) << "accept failed" << (stream ? " (stream listener)" : "") << ": "
                                    << uv_strerror(status);
        return;
      }
      env->on_connection(server, stream);
    });
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return Status::IoError("cannot listen on " + addr.to_string() + ": " + uv_strerror(rc));
  }
  *out = listener;
  return Status::Ok();
}

void UvEnv::refuse_connection(uv_stream_t* server) {
  Conn* c = new_conn();
  c->refused = true;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) == 0) c->peer = peer_name(&c->tcp);
  ++refused_;
  close_conn(c, Status::Unavailable("over limits.max_connections"), false);
}

void UvEnv::on_connection(uv_stream_t* server, StreamHandler* stream) {
  if (accepted_open_ >= max_connections_) return refuse_connection(server);
  Conn* c = new_conn();
  c->stream = stream;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close(c->id, Status::IoError("accept failed"));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->connected = true;
  c->accepted = true;
  c->counted = true;
  ++accepted_open_;
  c->last_active_us = now_us();
  c->peer = peer_name(&c->tcp);
  update_reading(c);
  if (stream) {
    stream->on_accept(c->id);
  } else {
    handler_->on_accept(c->id);
  }
}

void UvEnv::update_reading(Conn* c) {
  bool want = c->connected && (c->lingering || (!c->closing && !c->paused_by_handler && !c->paused_by_writes &&
                                                !c->paused_by_budget));
  if (want == c->reading) return;
  c->reading = want;
  auto* s = reinterpret_cast<uv_stream_t*>(&c->tcp);
  if (!want) {
    uv_read_stop(s);
    return;
  }
  uv_read_start(
      s,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(h->data);
        buf->base = conn->env->read_buf_.data();
        buf->len = conn->env->read_buf_.size();
      },
      [](uv_stream_t* st, ssize_t nread, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(st->data);
        conn->env->on_read(conn, nread, buf);
      });
}

void UvEnv::pause_reading(ConnId id) {
  Conn* c = find(id);
  if (!c) return;
  c->paused_by_handler = true;
  update_reading(c);
}

void UvEnv::resume_reading(ConnId id) {
  Conn* c = find(id);
  if (!c || !c->paused_by_handler) return;
  c->paused_by_handler = false;
  update_reading(c);
  // Frames read before the pause and not yet handed over go first (on the
  // next turn: callbacks never run inside the call).
  if (!c->stream && c->reader.buffered() > 0) defer([this, id] { hand_over_frames(id); });
}

void UvEnv::hand_over_frames(ConnId id) {
  std::string frame;
  for (Conn* c = find(id); c && !c->paused_by_handler && c->reader.next(frame); c = find(id)) {
    handler_->on_frame(id, frame);
  }
  if (Conn* c = find(id); c && c->accepted) account_input(c, c->reader.buffered());
}

void UvEnv::on_read(Conn* c, ssize_t nread, const uv_buf_t* buf) {
  if (c->closing) {
    // Lingering: the peer's bytes are dropped; its close (or a reset) ends it.
    if (c->lingering && nread < 0) finish_close(c);
    return;
  }
  ConnId id = c->id;
  if (nread > 0) {
    c->last_active_us = now_us();
    bytes_received_ += static_cast<uint64_t>(nread);
  }
  if (c->stream) {
    // A byte stream has no unit to truncate: whatever the handler holds
    // unparsed at EOF is its business. The peer is gone: no linger.
    if (nread == UV_EOF) {
      close_conn(c, Status::Unavailable("closed by peer"), false);
    } else if (nread < 0) {
      close_conn(c, Status::IoError(std::string("read failed: ") + uv_strerror(static_cast<int>(nread))), false);
    } else if (nread > 0) {
      StreamHandler* handler = c->stream;
      handler->on_data(id, std::string_view(buf->base, static_cast<size_t>(nread)));
      if (find(id)) account_input(c, handler->unparsed_bytes(id));
    }
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && c->reader.buffered() == 0) {
      close(id, Status::Unavailable("closed by peer"));
    } else if (nread == UV_EOF) {
      Status why = Status::ProtocolError("truncated frame: connection closed with " +
                                         std::to_string(c->reader.buffered()) +
                                         " bytes of an unfinished frame");
      TALLY_LOG(log_, kWarn) << "connection " << id << " from " << c->peer << ": " << why.to_string();
      close(id, why);
    } else {
      close(id, Status::IoError(std::string("read failed: ") + uv_strerror(static_cast<int>(nread))));
    }
    return;
  }
  if (nread == 0) return;
  Status s = c->reader.feed(std::string_view(buf->base, static_cast<size_t>(nread)));
  if (!s.ok()) {
    TALLY_LOG(log_, kWarn) << "closing connection " << id << " from " << c->peer << ": " << s.to_string();
    close(id, s);
    return;
  }
  hand_over_frames(id);
}

void UvEnv::account_input(Conn* c, size_t held) {
  input_held_ = input_held_ - c->input_held + held;
  c->input_held = held;
  if (held == 0) {
    c->unfinished_since_us = 0;
  } else if (c->unfinished_since_us == 0) {
    c->unfinished_since_us = now_us();
  }
  const size_t budget = size_t{limits_.input_budget_mb} << 20;
  if (held > 0 && input_held_ > budget && !c->paused_by_budget) {
    // Held back by TCP, not by our memory, until others' frames complete or
    // close; its frame deadline still runs.
    c->paused_by_budget = true;
    input_paused_.push_back(c->id);
    update_reading(c);
  } else if (input_held_ <= budget / 2 && !input_paused_.empty()) {
    std::vector<ConnId> paused;
    paused.swap(input_paused_);
    for (ConnId id : paused) {
      if (Conn* p = find(id)) {
        p->paused_by_budget = false;
        update_reading(p);
      }
    }
  }
}

bool UvEnv::check_output(Conn* c) {
  if (!c->accepted || c->closing) return true;  // our own connections to peers: never paused
  const size_t queued = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp));
  if (queued > (size_t{limits_.output_limit_mb} << 20)) {
    Status why = Status::TooLarge(std::to_string(queued) + " bytes of replies unread, over limits.output_limit_mb (" +
                                  std::to_string(limits_.output_limit_mb) + " MiB)");
    TALLY_LOG(log_, kWarn) << "closing connection " << c->id << " from " << c->peer << ": " << why.message();
    close_conn(c, why, false);
    return false;
  }
  if (!c->paused_by_writes && queued > (size_t{limits_.output_pause_kb} << 10)) {
    c->paused_by_writes = true;
    update_reading(c);
  }
  return true;
}

void UvEnv::sweep() {
  sweep_timer_ = set_timer(kSweepIntervalUs, [this] { sweep(); });
  const uint64_t now = now_us();
  const uint64_t idle_us = uint64_t{limits_.idle_timeout_s} * 1'000'000;
  const uint64_t frame_us = uint64_t{limits_.frame_timeout_s} * 1'000'000;
  std::vector<std::pair<ConnId, Status>> doomed;
  for (auto& [id, c] : conns_) {
    if (!c->accepted || c->closing) continue;
    if (frame_us && c->unfinished_since_us && now - c->unfinished_since_us > frame_us) {
      doomed.emplace_back(id, Status::Timeout("an unfinished " + std::string(c->stream ? "command" : "frame") +
                                              " (" + std::to_string(c->input_held) + " bytes) took over " +
                                              std::to_string(limits_.frame_timeout_s) +
                                              " s (limits.frame_timeout_s)"));
    } else if (idle_us && now - c->last_active_us > idle_us) {
      doomed.emplace_back(id, Status::Timeout("idle for over " + std::to_string(limits_.idle_timeout_s) +
                                              " s (limits.idle_timeout_s)"));
    }
  }
  for (auto& [id, why] : doomed) {
    if (Conn* c = find(id)) {
      TALLY_LOG(log_, kInfo) << "closing connection " << id << " from " << c->peer << ": " << why.message();
      close_conn(c, why, c->stream != nullptr);
    }
  }
  if (refused_ > refused_logged_ && now - refusal_logged_us_ >= kRefusalLogIntervalUs) {
    refusal_logged_us_ = now;
    TALLY_LOG(log_, kWarn) << "refused " << (refused_ - refused_logged_) << " connections in the last "
                           << kRefusalLogIntervalUs / 1'000'000 << " s: " << accepted_open_
                           << " open, at limits.max_connections (" << max_connections_ << ")";
    refused_logged_ = refused_;
  }
}

void UvEnv::write_bytes(Conn* c, std::string bytes) {
  bytes_sent_ += bytes.size();
  // Most writes go out whole at once: straight to the socket, with no request
  // to allocate, no callback, and no change to what the loop polls for (a
  // queued write makes libuv re-register the fd with epoll when it completes:
  // an epoll_ctl per write, docs/benchmarks.md). uv_try_write refuses while
  // earlier bytes are still queued, so the order holds.
  auto* s = reinterpret_cast<uv_stream_t*>(&c->tcp);
  uv_buf_t whole = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  const int n = uv_try_write(s, &whole, 1);
  if (n == static_cast<int>(bytes.size())) {
    c->last_active_us = now_us();
    return;
  }
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
    close_conn(c, Status::IoError(std::string("write failed: ") + uv_strerror(n)), false);
    return;
  }
  if (n > 0) bytes.erase(0, static_cast<size_t>(n));
  auto* w = new WriteReq;
  w->payload = std::move(bytes);
  uv_buf_t buf = uv_buf_init(w->payload.data(), static_cast<unsigned>(w->payload.size()));
  submit_write(c, w, &buf, 1);
}

void UvEnv::write_raw(Conn* c, std::string bytes) {
  write_bytes(c, std::move(bytes));
  if (find(c->id)) check_output(c);
}

void UvEnv::submit_write(Conn* c, WriteReq* w, uv_buf_t* bufs, unsigned nbufs) {
  w->req.data = c->env;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), bufs, nbufs, [](uv_write_t* r, int status) {
    std::unique_ptr<WriteReq> req(reinterpret_cast<WriteReq*>(r));
    auto* conn = static_cast<Conn*>(r->handle->data);
    if (conn->closing) return;
    if (status < 0 && status != UV_ECANCELED) {
      conn->env->close_conn(conn, Status::IoError(std::string("write failed: ") + uv_strerror(status)), false);
      return;
    }
    conn->env->on_written(conn);
  });
  if (rc != 0) {
    delete w;
    close_conn(c, Status::IoError(std::string("write failed: ") + uv_strerror(rc)), false);
  }
}

void UvEnv::on_written(Conn* c) {
  c->last_active_us = now_us();
  if (c->paused_by_writes && uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c->tcp)) <=
                                 (size_t{limits_.output_pause_kb} << 10) / 4) {
    c->paused_by_writes = false;
    update_reading(c);
  }
}

void UvEnv::send(ConnId id, std::string payload) {
  Conn* c = find(id);
  if (!c) return;
  if (!c->connected) {
    c->queued.push_back(std::move(payload));
    return;
  }
  gather(c, payload);
}

// Frames are gathered, and written at the end of this loop turn with the
// connection's other frames (run_deferred runs in the same turn: the idle
// handle keeps the loop from waiting in poll first).
void UvEnv::gather(Conn* c, std::string_view payload) {
  if (c->unflushed.empty()) {
    unflushed_.push_back(c->id);
    keep_turning();
  }
  char header[net::kFrameHeaderBytes];
  net::put_frame_header(header, static_cast<uint32_t>(payload.size()));
  c->unflushed.append(header, sizeof header);
  c->unflushed.append(payload);
}

void UvEnv::send_raw(ConnId id, std::string bytes) {
  Conn* c = find(id);
  if (!c || bytes.empty()) return;
  if (!c->stream) {
    TALLY_LOG(log_, kWarn) << "dropped " << bytes.size() << " raw bytes sent to framed connection " << id;
    return;
  }
  write_raw(c, std::move(bytes));
}

ConnId UvEnv::connect(const HostPort& addr) {
  Conn* c = new_conn();
  c->peer = addr.to_string();
  ConnId id = c->id;
  sockaddr_storage ss{};
  if (uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    start_connect(c, reinterpret_cast<sockaddr*>(&ss));
    return id;
  }
  struct Lookup {
    uv_getaddrinfo_t req;
    UvEnv* env;
    ConnId id;
  };
  auto* lookup = new Lookup{{}, this, id};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      loop_.get(), &lookup->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Lookup> l(reinterpret_cast<Lookup*>(req));
        Conn* conn = l->env->find(l->id);
        if (conn && (status != 0 || !res)) {
          l->env->close(l->id, Status::Unavailable("cannot resolve " + conn->peer));
        } else if (conn) {
          l->env->start_connect(conn, res->ai_addr);
        }
        if (res) uv_freeaddrinfo(res);
      },
      addr.host.c_str(), std::to_string(addr.port).c_str(), &hints);
  if (rc != 0) {
    delete lookup;
    // Report on the next turn: callbacks never run inside the call.
    defer([this, id] { close(id, Status::Unavailable("cannot resolve address")); });
  }
  return id;
}

void UvEnv::start_connect(Conn* c, const sockaddr* addr) {
  c->connect_req.data = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, [](uv_connect_t* req, int status) {
    auto* conn = static_cast<Conn*>(req->data);
    UvEnv* env = conn->env;
    if (conn->closing) return;
    if (status < 0) {
      env->close(conn->id, Status::Unavailable("cannot connect to " + conn->peer + ": " + uv_strerror(status)));
      return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->connected = true;
    env->update_reading(conn);
    // What was sent while connecting goes first, with this turn's frames.
    for (const auto& p : conn->queued) env->gather(conn, p);
    conn->queued.clear();
    env->handler_->on_connected(conn->id);
  });
  if (rc != 0) {
    ConnId id = c->id;
    defer([this, id, rc] { close(id, Status::Unavailable(std::string("cannot connect: ") + uv_strerror(rc))); });
  }
}

std::string UvEnv::remote_address(ConnId id) {
  Conn* c = find(id);
  return c && !c->peer.empty() ? c->peer : std::string("unknown");
}

void UvEnv::close(ConnId id, const Status& why) {
  Conn* c = find(id);
  if (!c) return;
  close_conn(c, why, c->stream && c->connected && !stopping_);
}

void UvEnv::close_conn(Conn* c, const Status& why, bool linger) {
  const ConnId id = c->id;
  // Frames sent before the close go first, as they would have unbatched.
  flush(c);
  c->closing = true;
  c->why = why;
  if (linger) {
    // A lingering close, as HTTP servers do. uv_close would cancel the queued
    // writes, and closing a socket that has unread input sends a reset that
    // can destroy them in flight; either way the client would miss the reply
    // that says why (a protocol error, QUIT's +OK). So: shut the write side
    // down after the queued bytes, read and drop what the client still
    // sends, and close when it closes or the linger runs out.
    c->lingering = true;
    update_reading(c);
    auto* req = new uv_shutdown_t;
    req->data = c;
    int rc = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t* r, int status) {
      auto* conn = static_cast<Conn*>(r->data);
      delete r;
      if (status < 0) conn->env->finish_close(conn);
    });
    if (rc == 0) {
      c->linger_timer = set_timer(kCloseLingerUs, [this, id] {
        auto it = conns_.find(id);
        if (it != conns_.end()) finish_close(it->second.get());
      });
      return;
    }
    delete req;
  }
  update_reading(c);
  finish_close(c);
}

void UvEnv::finish_close(Conn* c) {
  auto* h = reinterpret_cast<uv_handle_t*>(&c->tcp);
  if (uv_is_closing(h)) return;
  if (c->linger_timer) {
    cancel_timer(c->linger_timer);
    c->linger_timer = 0;
  }
  if (c->counted) {
    c->counted = false;
    --accepted_open_;
  }
  if (c->input_held) account_input(c, 0);
  uv_close(h, [](uv_handle_t* hh) {
    auto* conn = static_cast<Conn*>(hh->data);
    UvEnv* env = conn->env;
    ConnId cid = conn->id;
    Status reason = conn->why;
    StreamHandler* stream = conn->stream;
    const bool refused = conn->refused;
    env->conns_.erase(cid);  // frees conn
    if (refused) return;  // its handler never heard of it
    if (stream) {
      stream->on_closed(cid, reason);
    } else if (env->handler_) {
      env->handler_->on_closed(cid, reason);
    }
  });
}

}  // namespace tally
