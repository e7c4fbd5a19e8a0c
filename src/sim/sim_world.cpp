#include "sim/sim_world.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>

#include "net/frame.hpp"

namespace tally::sim {

// ---- SimHost --------------------------------------------------------------------

SimHost::SimHost(SimWorld& world, int index, std::string name, HostPort addr)
    : world_(world),
      index_(index),
      name_(std::move(name)),
      addr_(std::move(addr)),
      mono_start_us_(uint64_t(index + 1) * 7'919'000'003ULL),
      log_("sim",
           LogLevel::kInfo,
           [&world, n = name_](LogLevel level, std::string_view component, std::string_view line) {
             std::string entry = "log " + n + " " + std::string(log_level_name(level)) + " " +
                                 std::string(component) + ": " + std::string(line);
             world.trace(entry);
           }),
      disk_(world.rng(),
            [this](uint64_t delay, std::function<void()> fn) { at(delay, std::move(fn)); },
            [&world] { return world.now_us(); }) {}

void SimHost::at(uint64_t delay_us, std::function<void()> fn) {
  uint64_t inc = incarnation_;
  world_.schedule(delay_us, [this, inc, fn = std::move(fn)] {
    if (alive_ && incarnation_ == inc) fn();
  });
}

// Each host's monotonic clock starts somewhere else, as on separate machines:
// nothing may compare one node's now_us with another's (a deadline handed to
// a peer goes through PeerLink's offset estimate).
uint64_t SimHost::now_us() { return world_.now_us() + mono_start_us_; }

uint64_t SimHost::wall_ms() {
  // The simulated epoch starts at 2026-01-01 so wall times look like real ones.
  constexpr int64_t kEpochMs = 1767225600000LL;
  return static_cast<uint64_t>(kEpochMs + static_cast<int64_t>(world_.now_us() / 1000) +
                               clock_offset_ms_);
}

uint64_t SimHost::random() { return world_.rng().next(); }

TimerId SimHost::set_timer(uint64_t delay_us, std::function<void()> fn) {
  TimerId id = next_timer_++;
  timers_.insert(id);
  at(delay_us, [this, id, fn = std::move(fn)] {
    if (timers_.erase(id)) fn();
  });
  return id;
}

void SimHost::cancel_timer(TimerId id) { timers_.erase(id); }

void SimHost::defer(std::function<void()> fn) { at(0, std::move(fn)); }

Status SimHost::listen(const HostPort& addr, NetworkHandler* handler) {
  if (!(addr == addr_)) {
    return Status::IoError("cannot listen on " + addr.to_string() + ": host " + name_ + " is " +
                           addr_.to_string());
  }
  handler_ = handler;
  listening_ = true;
  return Status::Ok();
}

ConnId SimHost::connect(const HostPort& addr) {
  ConnId id = new_conn_id();
  SimHost* target = world_.find_listener(addr);
  uint64_t latency = world_.draw_latency_us();
  if (!target || !world_.reachable(index_, target->index_)) {
    // Like a SYN that gets no answer: the attempt fails after a while.
    at(latency * 2 + 1000, [this, id, a = addr.to_string()] {
      if (handler_) handler_->on_closed(id, Status::Unavailable("cannot connect to " + a));
    });
    return id;
  }
  ConnId peer_id = target->new_conn_id();
  links_[id] = Link{target, peer_id};
  target->links_[peer_id] = Link{this, id};
  uint64_t target_inc = target->incarnation_;
  world_.schedule(latency, [target, target_inc, peer_id] {
    if (target->alive_ && target->incarnation_ == target_inc && target->handler_ &&
        target->links_.count(peer_id)) {
      target->handler_->on_accept(peer_id);
    }
  });
  at(latency * 2, [this, id] {
    if (handler_ && links_.count(id)) handler_->on_connected(id);
  });
  return id;
}

void SimHost::send(ConnId conn, std::string payload) {
  auto it = links_.find(conn);
  if (it == links_.end()) return;
  if (it->second.stream) {
    // As UvEnv does: a frame on a byte stream is its header and its payload.
    char header[net::kFrameHeaderBytes];
    net::put_frame_header(header, static_cast<uint32_t>(payload.size()));
    stream_send(conn, std::string(header, sizeof header) + payload);
    return;
  }
  SimHost* peer = it->second.peer;
  world_.deliver(*this, *peer, peer->incarnation_, it->second.peer_conn, std::move(payload));
}

void SimHost::close(ConnId conn, const Status& why) {
  auto it = links_.find(conn);
  if (it == links_.end()) return;
  Link link = std::move(it->second);
  links_.erase(it);
  StreamHandler* stream = link.stream;
  at(0, [this, conn, why, stream] {
    if (stream) {
      stream->on_closed(conn, why);
    } else if (handler_) {
      handler_->on_closed(conn, why);
    }
  });
  uint64_t latency = world_.draw_latency_us();
  // On a stream the close (FIN) follows the bytes sent before it.
  if (stream) latency = std::max(world_.now_us() + latency, link.arrives_at_us) - world_.now_us();
  SimHost* peer = link.peer;
  uint64_t peer_inc = peer->incarnation_;
  world_.schedule(latency, [peer, peer_inc, pc = link.peer_conn] {
    if (peer->alive_ && peer->incarnation_ == peer_inc) {
      peer->peer_closed(pc, Status::Unavailable("closed by peer"));
    }
  });
}

void SimHost::peer_closed(ConnId conn, const Status& why) {
  auto it = links_.find(conn);
  if (it == links_.end()) return;
  StreamHandler* stream = it->second.stream;
  links_.erase(it);
  if (stream) {
    stream->on_closed(conn, why);
  } else if (handler_) {
    handler_->on_closed(conn, why);
  }
}

Status SimHost::listen_stream(const HostPort& addr, StreamHandler* handler) {
  if (addr.host != addr_.host || addr.port == addr_.port) {
    return Status::IoError("cannot listen on " + addr.to_string() + ": host " + name_ + " is " +
                           addr_.host + " and its port " + std::to_string(addr_.port) +
                           " is the framed listener's");
  }
  if (stream_handler_) {
    return Status::InvalidArgument("cannot listen on " + addr.to_string() + ": a simulated host has one stream " +
                                   "listener, and " + name_ + " has one on " + stream_addr_.to_string());
  }
  stream_handler_ = handler;
  stream_addr_ = addr;
  return Status::Ok();
}

ConnId SimHost::connect_stream(const HostPort& addr, StreamHandler* handler) {
  ConnId id = new_conn_id();
  SimHost* target = world_.find_stream_listener(addr);
  uint64_t latency = world_.draw_latency_us();
  if (!target || !world_.reachable(index_, target->index_)) {
    at(latency * 2 + 1000, [handler, id, a = addr.to_string()] {
      handler->on_closed(id, Status::Unavailable("cannot connect to " + a));
    });
    return id;
  }
  ConnId peer_id = target->new_conn_id();
  Link mine{target, peer_id, handler};
  // What this end sends arrives after the server has accepted.
  mine.arrives_at_us = world_.now_us() + latency;
  links_[id] = std::move(mine);
  target->links_[peer_id] = Link{this, id, target->stream_handler_};
  uint64_t target_inc = target->incarnation_;
  world_.schedule(latency, [target, target_inc, peer_id] {
    if (!target->alive_ || target->incarnation_ != target_inc) return;
    auto it = target->links_.find(peer_id);
    if (it != target->links_.end()) it->second.stream->on_accept(peer_id);
  });
  return id;
}

void SimHost::send_raw(ConnId conn, std::string bytes) {
  auto it = links_.find(conn);
  if (it == links_.end() || bytes.empty()) return;
  if (!it->second.stream) {
    TALLY_LOG(log_, kWarn) << "dropped " << bytes.size() << " raw bytes sent to framed connection " << conn;
    return;
  }
  stream_send(conn, std::move(bytes));
}

void SimHost::stream_send(ConnId conn, std::string bytes) {
  Link& link = links_.at(conn);
  SimHost* peer = link.peer;
  if (!world_.reachable(index_, peer->index_)) {
    close(conn, Status::Unavailable("connection reset: " + peer->name_ + " is unreachable"));
    return;
  }
  uint64_t now = world_.now_us();
  uint64_t latency = world_.draw_latency_us();
  link.arrives_at_us = std::max(now + latency, link.arrives_at_us);
  uint64_t peer_inc = peer->incarnation_;
  // Equal times run in the order scheduled, so chunks keep their order.
  world_.schedule(link.arrives_at_us - now,
                  [peer, peer_inc, pc = link.peer_conn, from = name_, bytes = std::move(bytes)]() mutable {
                    if (!peer->alive_ || peer->incarnation_ != peer_inc) return;
                    XXH3_64bits_update(peer->world_.trace_, bytes.data(), bytes.size());
                    peer->world_.trace("bytes " + from + ">" + peer->name_ + " c" + std::to_string(pc) +
                                       " " + std::to_string(bytes.size()) + "B");
                    peer->stream_arrived(pc, std::move(bytes));
                  });
}

void SimHost::stream_arrived(ConnId conn, std::string bytes) {
  auto it = links_.find(conn);
  if (it == links_.end() || !it->second.stream) return;
  Link& link = it->second;
  if (link.paused || !link.held.empty()) {
    link.held.push_back(std::move(bytes));
    return;
  }
  link.stream->on_data(conn, bytes);
}

void SimHost::pause_reading(ConnId conn) {
  auto it = links_.find(conn);
  if (it != links_.end() && it->second.stream) it->second.paused = true;
}

void SimHost::resume_reading(ConnId conn) {
  auto it = links_.find(conn);
  if (it == links_.end() || !it->second.stream || !it->second.paused) return;
  it->second.paused = false;
  // Not inside the call: held bytes follow on the next event.
  if (!it->second.held.empty()) at(0, [this, conn] { drain_held(conn); });
}

void SimHost::drain_held(ConnId conn) {
  for (;;) {
    // Looked up each time: the handler may pause or close the link.
    auto it = links_.find(conn);
    if (it == links_.end() || it->second.paused || it->second.held.empty()) return;
    std::string bytes = std::move(it->second.held.front());
    it->second.held.pop_front();
    it->second.stream->on_data(conn, bytes);
  }
}

std::string SimHost::remote_address(ConnId conn) {
  auto it = links_.find(conn);
  return it == links_.end() ? std::string("unknown") : it->second.peer->name();
}

size_t SimHost::links_to(const SimHost& other) const {
  size_t n = 0;
  for (const auto& [conn, link] : links_) n += link.peer == &other && link.stream == nullptr;
  return n;
}

void SimHost::crash(CrashKind kind) {
  world_.trace("crash " + name_ + (kind == CrashKind::kPowerLoss ? " power" : " process"));
  alive_ = false;
  ++incarnation_;
  // Peers see the connections reset (a while later: the RST must travel).
  for (auto& [conn, link] : links_) {
    SimHost* peer = link.peer;
    uint64_t peer_inc = peer->incarnation_;
    uint64_t latency = world_.draw_latency_us();
    world_.schedule(latency, [peer, peer_inc, pc = link.peer_conn] {
      if (peer->alive_ && peer->incarnation_ == peer_inc) {
        peer->peer_closed(pc, Status::Unavailable("connection reset"));
      }
    });
  }
  links_.clear();
  timers_.clear();
  handler_ = nullptr;
  listening_ = false;
  stream_handler_ = nullptr;
  if (kind == CrashKind::kPowerLoss) {
    disk_.crash_power();
  } else {
    disk_.crash_process();
  }
}

void SimHost::restart() {
  world_.trace("restart " + name_);
  alive_ = true;
}

// ---- SimWorld -------------------------------------------------------------------

SimWorld::SimWorld(uint64_t seed) : seed_(seed), rng_(seed), trace_(XXH3_createState()) {
  XXH3_64bits_reset_withSeed(trace_, seed);
  print_trace_ = std::getenv("TALLY_SIM_TRACE") != nullptr;
}

SimWorld::~SimWorld() { XXH3_freeState(trace_); }

SimHost& SimWorld::add_host(std::string name, HostPort addr) {
  int index = static_cast<int>(hosts_.size());
  hosts_.push_back(std::make_unique<SimHost>(*this, index, std::move(name), std::move(addr)));
  return *hosts_.back();
}

void SimWorld::schedule(uint64_t delay_us, std::function<void()> fn) {
  queue_.push(Event{now_us_ + delay_us, seq_++, std::move(fn)});
}

bool SimWorld::step() {
  if (queue_.empty()) return false;
  // priority_queue::top is const: move the callable out before popping.
  Event ev = std::move(const_cast<Event&>(queue_.top()));
  queue_.pop();
  now_us_ = ev.time;
  ++events_run_;
  ev.fn();
  return true;
}

void SimWorld::run_until(uint64_t t_us) {
  while (!queue_.empty() && queue_.top().time <= t_us) step();
  if (now_us_ < t_us) now_us_ = t_us;
}

void SimWorld::cut(int a, int b) {
  cut_.insert({std::min(a, b), std::max(a, b)});
  trace("cut " + std::to_string(a) + " " + std::to_string(b));
}

void SimWorld::partition(const std::vector<std::vector<int>>& groups) {
  std::vector<int> group_of(hosts_.size(), -1);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (int h : groups[g]) group_of[h] = static_cast<int>(g);
  }
  // Hosts in no group (clients, say) keep talking to everyone.
  for (size_t a = 0; a < hosts_.size(); ++a) {
    for (size_t b = a + 1; b < hosts_.size(); ++b) {
      if (group_of[a] >= 0 && group_of[b] >= 0 && group_of[a] != group_of[b]) {
        cut(static_cast<int>(a), static_cast<int>(b));
      }
    }
  }
}

void SimWorld::heal() {
  cut_.clear();
  trace("heal");
}

uint64_t SimWorld::draw_latency_us() {
  // A uniform in (0, 1], from the top 53 bits of one draw.
  auto unit = [this] { return (static_cast<double>(rng_.next() >> 11) + 1.0) * 0x1.0p-53; };
  const double mean = std::max(faults_.mean_latency_us, 0.0);
  double us = 0;
  switch (faults_.latency_shape) {
    case LatencyShape::kUniform:
      return rng_.between(faults_.min_latency_us, faults_.max_latency_us);
    case LatencyShape::kFixed:
      us = mean;
      break;
    case LatencyShape::kExponential:
      us = -mean * std::log(unit());
      break;
    case LatencyShape::kLognormal: {
      // Box-Muller for a standard normal z; then exp(mu + sigma z) has mean
      // exp(mu + sigma^2 / 2), which is `mean` for this mu.
      const double sigma = std::max(faults_.lognormal_sigma, 0.0);
      const double u1 = unit();  // two statements: operands' order is unspecified
      const double u2 = unit();
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      us = mean > 0 ? std::exp(std::log(mean) - sigma * sigma / 2 + sigma * z) : 0;
      break;
    }
  }
  // An hour caps a freak draw of a long tail.
  return static_cast<uint64_t>(std::llround(std::min(us, 3.6e9)));
}

bool SimWorld::reachable(int a, int b) const {
  return a == b || !cut_.count({std::min(a, b), std::max(a, b)});
}

SimHost* SimWorld::find_stream_listener(const HostPort& addr) {
  for (auto& h : hosts_) {
    if (h->alive_ && h->stream_handler_ && h->stream_addr_ == addr) return h.get();
  }
  return nullptr;
}

SimHost* SimWorld::find_listener(const HostPort& addr) {
  for (auto& h : hosts_) {
    if (h->alive_ && h->listening_ && h->addr_ == addr) return h.get();
  }
  return nullptr;
}

void SimWorld::deliver(SimHost& from, SimHost& to, uint64_t to_incarnation, ConnId conn,
                       std::string payload) {
  if (!reachable(from.index_, to.index_) || rng_.chance(faults_.drop)) {
    trace("drop " + from.name_ + ">" + to.name_ + " " + std::to_string(payload.size()) + "B");
    return;
  }
  // The draw is made either way, so that a host exempt from duplicates does
  // not change the rest of a seed's choices.
  const bool duplicate = rng_.chance(faults_.duplicate);
  int copies = duplicate && !from.no_duplicates_ && !to.no_duplicates_ ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t latency = draw_latency_us();
    SimHost* target = &to;
    schedule(latency, [this, target, to_incarnation, conn, payload, from_name = from.name_] {
      if (!target->alive_ || target->incarnation_ != to_incarnation || !target->handler_ ||
          !target->links_.count(conn)) {
        return;
      }
      // Fold the message itself into the trace: any divergence in content shows.
      XXH3_64bits_update(trace_, payload.data(), payload.size());
      trace("msg " + from_name + ">" + target->name_ + " c" + std::to_string(conn));
      target->handler_->on_frame(conn, payload);
    });
  }
}

void SimWorld::trace(std::string_view what) {
  uint64_t t = now_us_;
  XXH3_64bits_update(trace_, &t, sizeof t);
  XXH3_64bits_update(trace_, what.data(), what.size());
  if (print_trace_) {
    std::fprintf(stderr, "[%10.3f ms] %.*s\n", static_cast<double>(t) / 1000.0,
                 static_cast<int>(what.size()), what.data());
  }
}

uint64_t SimWorld::trace_hash() const { return XXH3_64bits_digest(trace_); }

}  // namespace tally::sim
