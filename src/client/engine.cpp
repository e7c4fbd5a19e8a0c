#include "client/engine.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/auth.hpp"
#include "net/codec.hpp"

namespace tally::client {

namespace {

constexpr uint32_t kMaxReplyBytes = 256u * 1024 * 1024;
constexpr auto kDownFor = std::chrono::seconds(1);  // a node that failed us is tried last for this long
constexpr auto kPollTick = std::chrono::milliseconds(10);

uint64_t epoch_of(const wire::Body& b) {
  if (auto* r = std::get_if<wire::PutReply>(&b)) return r->epoch;
  if (auto* r = std::get_if<wire::GetReply>(&b)) return r->epoch;
  if (auto* r = std::get_if<wire::DeleteReply>(&b)) return r->epoch;
  if (auto* r = std::get_if<wire::LocalGetReply>(&b)) return r->epoch;
  return 0;
}

}  // namespace

struct Engine::Conn {
  HostPort addr;
  std::string name;  // "host:port"
  int fd = -1;
  bool connecting = false;
  Clock::time_point connect_deadline;
  std::string out;
  size_t out_off = 0;
  uint64_t queued = 0;   // bytes ever queued on this connection
  uint64_t written = 0;  // bytes ever written to the socket
  net::FrameReader reader{kMaxReplyBytes};
  // While the node has not proved the secret: our nonce, and the requests'
  // frames held back until it has (they then follow our proof).
  bool received = false;  // any byte from the node yet
  bool handshaking = false;
  std::string nonce;
  std::string held;
};

// A request whose frame is held back has no place in the stream yet.
constexpr uint64_t kNotInStream = UINT64_MAX;

struct Engine::Pool {
  std::vector<std::unique_ptr<Conn>> conns;
  size_t next = 0;
  Clock::time_point down_until{};
};

struct Engine::Pending {
  Request req;
  bool internal = false;  // the engine's own (ring refresh): not counted in flight
  uint64_t id = 0;
  Conn* conn = nullptr;
  uint64_t stream_start = 0;  // where its frame starts in conn->queued
  std::vector<std::string> tried;
  std::string failures;
  Status last_answer;  // the last node's "did not run it" answer
};

Engine::Engine(ClientOptions options, std::vector<HostPort> endpoints, std::string secret)
    : options_(std::move(options)), endpoints_(std::move(endpoints)), secret_(std::move(secret)) {
  if (options_.connections_per_node < 1) options_.connections_per_node = 1;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
  // Read by submit(); every submit comes after this (and a callback's after
  // the submit that led to it).
  io_thread_ = thread_.get_id();
}

Engine::~Engine() {
  stop_ = true;
  wake();
  thread_.join();
  std::vector<std::unique_ptr<Pending>> left;
  for (auto& [id, p] : pending_) left.push_back(std::move(p));
  pending_.clear();
  for (auto& p : local_) left.push_back(std::move(p));
  local_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : queue_) left.push_back(std::move(p));
    queue_.clear();
  }
  for (auto& [key, pool] : pools_) {
    for (auto& c : pool->conns) {
      if (c->fd >= 0) ::close(c->fd);
    }
  }
  for (auto& p : left) {
    if (!p->internal) p->req.done(Status::Aborted("the client was closed before the answer came"));
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Engine::submit(Request request) {
  auto p = std::make_unique<Pending>();
  p->req = std::move(request);
  ++in_flight_;
  if (std::this_thread::get_id() == io_thread_) {
    // From a callback: the loop sends it before it next waits; no wake-up.
    local_.push_back(std::move(p));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(p));
  }
  wake();
}

void Engine::wake() {
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
}

// ---- the I/O thread ---------------------------------------------------------------

void Engine::run() {
  std::vector<pollfd> fds;
  std::vector<Conn*> polled;
  Clock::time_point last_expiry = Clock::now();
  std::vector<Conn*> flushing;
  while (!stop_) {
    // What the last turn queued goes out now: one send per connection for all
    // of its requests (dispatch only queues). A failed send may dispatch
    // again and open connections, so the list is taken first.
    flushing.clear();
    for (auto& [key, pool] : pools_) {
      for (auto& c : pool->conns) {
        if (c->fd >= 0 && !c->connecting && c->out_off < c->out.size()) flushing.push_back(c.get());
      }
    }
    for (Conn* c : flushing) {
      if (c->fd >= 0) on_writable(*c);
    }
    fds.clear();
    polled.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (auto& [key, pool] : pools_) {
      for (auto& c : pool->conns) {
        if (c->fd < 0) continue;
        short events = POLLIN;
        if (c->connecting || c->out_off < c->out.size()) events |= POLLOUT;
        fds.push_back(pollfd{c->fd, events, 0});
        polled.push_back(c.get());
      }
    }
    int n = ::poll(fds.data(), fds.size(), local_.empty() ? static_cast<int>(kPollTick.count()) : 0);
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      while (::read(wake_fd_, &count, sizeof count) > 0) {
      }
      std::vector<std::unique_ptr<Pending>> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(queue_);
      }
      if (options_.token_aware && !have_ring_ && !refreshing_ && !batch.empty()) refresh_ring();
      for (auto& p : batch) dispatch(std::move(p));
    }
    // A connection closed while handling an earlier one is skipped: its fd is -1.
    for (size_t i = 1; i < fds.size(); ++i) {
      Conn* c = polled[i - 1];
      if (!fds[i].revents || c->fd < 0) continue;
      if (fds[i].revents & (POLLOUT | POLLERR | POLLHUP)) on_writable(*c);
      if (c->fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) on_readable(*c);
    }
    while (!local_.empty()) {
      std::vector<std::unique_ptr<Pending>> batch;
      batch.swap(local_);
      for (auto& p : batch) dispatch(std::move(p));
    }
    auto now = Clock::now();
    if (now - last_expiry >= kPollTick) {
      last_expiry = now;
      expire(now);
      if (options_.token_aware && options_.ring_refresh_ms && have_ring_ && !refreshing_ && now >= next_refresh_) {
        refresh_ring();
      }
    }
    // Closed connections are freed here, once nothing points at them.
    for (auto& [key, pool] : pools_) {
      auto& v = pool->conns;
      v.erase(std::remove_if(v.begin(), v.end(), [](const std::unique_ptr<Conn>& c) { return c->fd < 0; }), v.end());
    }
  }
}

std::optional<HostPort> Engine::route(const Pending& p) {
  auto tried = [&](const std::string& name) {
    return std::find(p.tried.begin(), p.tried.end(), name) != p.tried.end();
  };
  if (p.req.target) {
    if (tried(p.req.target->to_string())) return std::nullopt;
    return p.req.target;
  }
  std::vector<HostPort> candidates;
  if (options_.token_aware && have_ring_ && !p.req.key.empty()) {
    const meta::Keyspace* ks = map_.keyspace(p.req.keyspace);
    if (ks && ring_.node_count() > 0) {
      int n = std::min(ks->n, ring_.node_count());
      ring::PreferenceList replicas = ring_.preference_list(ring::key_position(ks->name, p.req.key), n);
      const size_t count = static_cast<size_t>(replicas.size());
      const size_t first = count ? spread_++ % count : 0;
      for (size_t i = 0; i < count; ++i) {
        auto it = address_of_.find(replicas[static_cast<int>((first + i) % count)]);
        if (it != address_of_.end()) candidates.push_back(it->second);
      }
    }
  }
  for (size_t i = 0; i < endpoints_.size(); ++i) candidates.push_back(endpoints_[(next_endpoint_ + i) % endpoints_.size()]);
  auto now = Clock::now();
  const HostPort* down_choice = nullptr;
  for (const auto& c : candidates) {
    std::string name = c.to_string();
    if (tried(name)) continue;
    auto pool = pools_.find(name);
    bool down = pool != pools_.end() && pool->second->down_until > now;
    if (!down) return c;
    if (!down_choice) down_choice = &c;
  }
  if (down_choice) return *down_choice;  // every one is down: try anyway
  return std::nullopt;
}

void Engine::dispatch(std::unique_ptr<Pending> p) {
  for (;;) {
    if (Clock::now() >= p->req.deadline) {
      return finish(std::move(p), Status::Timeout("no answer in time (" + p->failures + ")"));
    }
    auto addr = route(*p);
    if (!addr) {
      if (!p->last_answer.ok()) return finish(std::move(p), p->last_answer);
      return finish(std::move(p), Status::Unavailable("no node reachable: " + p->failures));
    }
    std::string name = addr->to_string();
    p->tried.push_back(name);
    std::string error;
    Conn* c = conn_to(*addr, &error);
    if (!c) {
      p->failures += (p->failures.empty() ? "" : "; ") + error;
      if (p->req.target) return finish(std::move(p), Status::Unavailable(error));
      continue;
    }
    p->id = next_id_++;
    p->conn = c;
    if (c->handshaking) {
      p->stream_start = kNotInStream;
      net::encode_frame(wire::Message{p->id, p->req.body}, c->held);
    } else {
      p->stream_start = c->queued;
      size_t before = c->out.size();
      net::encode_frame(wire::Message{p->id, p->req.body}, c->out);
      c->queued += c->out.size() - before;
    }
    uint64_t id = p->id;
    pending_[id] = std::move(p);
    return;  // sent by the loop before it next waits
  }
}

Engine::Conn* Engine::conn_to(const HostPort& addr, std::string* error) {
  std::string name = addr.to_string();
  auto& pool = pools_[name];
  if (!pool) pool = std::make_unique<Pool>();
  if (static_cast<int>(pool->conns.size()) < options_.connections_per_node) {
    auto c = std::make_unique<Conn>();
    c->addr = addr;
    c->name = name;
    std::string why = open(*c);
    if (!why.empty()) {
      pool->down_until = Clock::now() + kDownFor;
      *error = "cannot connect to " + name + ": " + why;
      return nullptr;
    }
    if (secret_.empty() && !options_.password.empty()) {
      // Pipelined: the node takes it before the requests that follow.
      size_t before = c->out.size();
      net::encode_frame(wire::Message{0, wire::AuthPassword{options_.password}}, c->out);
      c->queued += c->out.size() - before;
    }
    if (!secret_.empty()) {
      c->handshaking = true;
      c->nonce = auth::fresh_nonce();
      size_t before = c->out.size();
      net::encode_frame(wire::Message{0, wire::AuthHello{c->nonce, "client"}}, c->out);
      c->queued += c->out.size() - before;
    }
    pool->conns.push_back(std::move(c));
  }
  // Live connections only (a closed one waits to be freed at the end of the turn).
  for (size_t i = 0; i < pool->conns.size(); ++i) {
    Conn* c = pool->conns[pool->next++ % pool->conns.size()].get();
    if (c->fd >= 0) return c;
  }
  *error = "no open connection to " + name;
  return nullptr;
}

std::string Engine::open(Conn& c) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(c.addr.host.c_str(), std::to_string(c.addr.port).c_str(), &hints, &res);
  if (rc != 0 || !res) return std::string("cannot resolve: ") + gai_strerror(rc);
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      c.fd = fd;
      break;
    }
    if (errno == EINPROGRESS) {
      c.fd = fd;
      c.connecting = true;
      c.connect_deadline = Clock::now() + std::chrono::milliseconds(options_.connect_timeout_ms);
      break;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  return c.fd < 0 ? last : std::string();
}

void Engine::on_writable(Conn& c) {
  if (c.connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return close_conn(c, Status::Unavailable("cannot connect to " + c.name + ": " + std::strerror(err)));
    pollfd probe{c.fd, POLLOUT, 0};
    if (::poll(&probe, 1, 0) <= 0 || !(probe.revents & POLLOUT)) return;  // not yet
    c.connecting = false;
  }
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      c.written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    return close_conn(c, Status::Unavailable("lost the connection to " + c.name + ": " + std::strerror(errno)));
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  } else if (c.out_off > (1u << 20)) {
    c.out.erase(0, c.out_off);
    c.out_off = 0;
  }
}

void Engine::on_readable(Conn& c) {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (!c.received && (buf[0] == '-' || buf[0] == '+')) {
        // No frame of ours starts so (it would announce 700 MiB): a Redis
        // protocol reply, "-ERR Protocol error" most likely.
        return close_conn(c, Status::ProtocolError(c.name + " answers in the Redis protocol (RESP): is it the "
                                                            "node's resp_listen port instead of its listen port?"));
      }
      c.received = true;
      Status s = c.reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      if (!s.ok()) return close_conn(c, Status::ProtocolError("bad frame from " + c.name + ": " + s.message()));
      if (static_cast<size_t>(n) < sizeof buf) break;
      continue;
    }
    if (n == 0) return close_conn(c, Status::Unavailable("connection to " + c.name + " closed by the node"));
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    return close_conn(c, Status::Unavailable("lost the connection to " + c.name + ": " + std::strerror(errno)));
  }
  std::string payload;
  while (c.fd >= 0 && c.reader.next(payload)) {
    auto msg = net::decode_payload(payload);
    if (!msg.ok()) return close_conn(c, Status::ProtocolError("bad reply from " + c.name + ": " + msg.status().message()));
    if (msg->request_id == 0) {
      if (c.handshaking) {
        on_handshake_reply(c, *msg);
      } else if (auto* e = std::get_if<wire::ErrorReply>(&msg->body)) {
        // The node refused our password: the requests behind it are refused too.
        return close_conn(c, Status(e->code, c.name + ": " + e->message));
      }
      continue;  // AuthOk, or a handshake message out of turn
    }
    auto it = pending_.find(msg->request_id);
    // A reply nobody waits for any more (timed out): drop it.
    if (it == pending_.end() || it->second->conn != &c) continue;
    auto p = std::move(it->second);
    pending_.erase(it);
    // A node on a newer map than ours: fetch it (token-aware routing).
    if (epoch_of(msg->body) > map_.epoch && options_.token_aware && !refreshing_) refresh_ring();
    if (auto* e = std::get_if<wire::ErrorReply>(&msg->body)) {
      // kUnavailable from a node: it did not run the request (shutting down,
      // no map yet, not a replica of the key), so it may go to another node,
      // even a put. It may also mean our map is not the node's: fetch it.
      if (e->code == Code::kUnavailable && p->req.retry_unavailable && !p->req.target) {
        if (options_.token_aware && !refreshing_) refresh_ring();
        p->last_answer = Status(e->code, e->message);
        p->failures += (p->failures.empty() ? "" : "; ") + c.name + ": " + e->message;
        dispatch(std::move(p));
        continue;
      }
    }
    finish(std::move(p), std::move(*msg));
  }
}

void Engine::on_handshake_reply(Conn& c, const wire::Message& msg) {
  if (auto* e = std::get_if<wire::ErrorReply>(&msg.body)) {
    return close_conn(c, Status(e->code, c.name + " refused the handshake: " + e->message));
  }
  auto* challenge = std::get_if<wire::AuthChallenge>(&msg.body);
  if (!challenge) {
    return close_conn(c, Status::ProtocolError(c.name + " answered the handshake with a " +
                                               std::string(wire::name_of(msg.body))));
  }
  if (!auth::proof_matches(auth::acceptor_proof(secret_, c.nonce, challenge->nonce), challenge->proof)) {
    return close_conn(c, Status::Unauthenticated(c.name + " did not prove the cluster secret (another secret_file?)"));
  }
  c.handshaking = false;
  size_t before = c.out.size();
  net::encode_frame(wire::Message{0, wire::AuthProof{auth::connector_proof(secret_, c.nonce, challenge->nonce)}},
                    c.out);
  c.queued += c.out.size() - before;
  // The held requests now take their place in the stream, in the order sent.
  for (auto& [id, p] : pending_) {
    if (p->conn == &c && p->stream_start == kNotInStream) p->stream_start = c.queued;
  }
  c.out += c.held;
  c.queued += c.held.size();
  c.held.clear();
}

void Engine::close_conn(Conn& c, const Status& why) {
  if (c.fd < 0) return;
  ::close(c.fd);
  c.fd = -1;
  auto pool = pools_.find(c.name);
  if (pool != pools_.end()) pool->second->down_until = Clock::now() + kDownFor;
  std::vector<std::unique_ptr<Pending>> affected;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second->conn == &c) {
      affected.push_back(std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(affected.begin(), affected.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  for (auto& p : affected) {
    bool may_have_run = c.written > p->stream_start;
    p->conn = nullptr;
    retry_or_fail(std::move(p), why, may_have_run);
  }
}

void Engine::retry_or_fail(std::unique_ptr<Pending> p, const Status& why, bool may_have_run) {
  std::string where = p->tried.empty() ? std::string("the node") : p->tried.back();
  p->failures += (p->failures.empty() ? "" : "; ") + why.message();
  if (may_have_run && !p->req.idempotent) {
    return finish(std::move(p), Status::IoError("lost the connection to " + where +
                                                    " after sending the request; it may or may not have been "
                                                    "applied (" + why.message() + ")"));
  }
  if (p->req.target) return finish(std::move(p), why);
  dispatch(std::move(p));
}

void Engine::finish(std::unique_ptr<Pending> p, Result<wire::Message> result) {
  if (!p->internal) --in_flight_;
  p->req.done(std::move(result));
}

void Engine::expire(Clock::time_point now) {
  std::vector<std::unique_ptr<Pending>> late;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second->req.deadline <= now) {
      late.push_back(std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& p : late) {
    std::string where = p->conn ? p->conn->name : std::string("any node");
    finish(std::move(p), Status::Timeout("no reply from " + where + " in time"));
  }
  // Connections that do not get established in time.
  std::vector<Conn*> slow;
  for (auto& [key, pool] : pools_) {
    for (auto& c : pool->conns) {
      if (c->fd >= 0 && c->connecting && c->connect_deadline <= now) slow.push_back(c.get());
    }
  }
  for (Conn* c : slow) {
    close_conn(*c, Status::Unavailable("cannot connect to " + c->name + ": timed out after " +
                                       std::to_string(options_.connect_timeout_ms) + " ms"));
  }
}

// ---- routing ----------------------------------------------------------------------

void Engine::refresh_ring() {
  refreshing_ = true;
  auto p = std::make_unique<Pending>();
  p->internal = true;
  p->req.body = wire::ClusterInfoRequest{false, false};
  p->req.idempotent = true;
  p->req.deadline = Clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
  p->req.done = [this](Result<wire::Message> r) {
    refreshing_ = false;
    next_refresh_ = Clock::now() + std::chrono::milliseconds(options_.ring_refresh_ms);
    if (!r.ok()) return;
    if (auto* info = std::get_if<wire::ClusterInfoReply>(&r->body)) take_map(info->map);
  };
  dispatch(std::move(p));
}

void Engine::take_map(const meta::ClusterMap& map) {
  if (map.epoch == 0 || (have_ring_ && map.epoch < map_.epoch)) return;
  auto ring = map.build_ring();
  if (!ring.ok()) return;
  map_ = map;
  ring_ = std::move(*ring);
  address_of_.clear();
  for (const auto& m : map_.members) {
    if (m.state == meta::NodeState::kRemoved) continue;
    auto addr = parse_host_port(m.address);
    if (addr.ok()) address_of_[m.id] = *addr;
  }
  have_ring_ = true;
}

}  // namespace tally::client
