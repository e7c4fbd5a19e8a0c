// UvEnv's raw byte-stream listener and RespServer on real loopback sockets:
// what only the kernel can show. Pipelined replies come back whole; QUIT's
// reply and a protocol error's reply reach the client before the close, even
// while it is still sending (the lingering close); a client that sends
// without reading is held back by TCP, and gets every reply once it reads.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <thread>

#include "testing/cluster_harness.hpp"
#include "node/resp_server.hpp"
#include "node/uv_env.hpp"

namespace tally::clustertest {
namespace {

// A key-value map that answers on the loop's next turn, as a node does.
class MapBackend final : public RespBackend {
 public:
  explicit MapBackend(Env& env) : env_(env) {}
  void request(wire::Body req, std::function<void(wire::Body)> done) override {
    env_.defer([this, req = std::move(req), done = std::move(done)] { done(answer(req)); });
  }

 private:
  wire::Body answer(const wire::Body& req) {
    if (auto* g = std::get_if<wire::GetRequest>(&req)) {
      auto it = data_.find(g->key);
      if (it == data_.end()) return wire::GetReply{};
      return wire::GetReply{{it->second}, "c"};
    }
    if (auto* p = std::get_if<wire::PutRequest>(&req)) {
      data_[p->key] = p->value;
      return wire::PutReply{"c"};
    }
    return wire::ErrorReply{Code::kInvalidArgument, "not in this test"};
  }

  Env& env_;
  std::map<std::string, std::string> data_;
};

// A UvEnv with a RespServer, its loop on a thread of its own. UvEnv is single
// threaded: the test thread only talks to it through sockets, and a timer on
// the loop notices when to stop.
class Server {
 public:
  Server() : port_(free_port()) {
    ::signal(SIGPIPE, SIG_IGN);  // as tallyd does: a client gone mid-write is an error value
    auto env = UvEnv::create(dir_.path, Limits{}, Logger("resp-test", LogLevel::kWarn));
    REQUIRE(env.ok());
    env_ = std::move(*env);
    backend_ = std::make_unique<MapBackend>(*env_);
    RespSessionOptions o;
    o.limits = RespServer::limits_for(Limits{});
    resp_ = std::make_unique<RespServer>(*env_, *backend_, o, env_->log().child("resp"));
    REQUIRE(resp_->start(HostPort{"127.0.0.1", static_cast<uint16_t>(port_)}).ok());
    watch();
    loop_ = std::thread([this] { env_->run(); });
  }
  ~Server() {
    stop_ = true;
    loop_.join();
  }
  int port() const { return port_; }

 private:
  void watch() {
    env_->set_timer(5000, [this] {
      if (!stop_) return watch();
      resp_->stop();
      env_->stop();
    });
  }

  TempDir dir_;
  int port_;
  std::unique_ptr<UvEnv> env_;
  std::unique_ptr<MapBackend> backend_;
  std::unique_ptr<RespServer> resp_;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

// A blocking client socket with a 10 s receive timeout.
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Socket() { ::close(fd_); }
  int fd() const { return fd_; }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until `n` bytes, the peer's close, or an error; returns what came.
  std::string receive(size_t n) {
    std::string out;
    char buf[65536];
    while (out.size() < n) {
      ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  // True when the peer closed cleanly (no reset, no timeout).
  bool at_eof() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
};

std::string request(const std::vector<std::string>& words) {
  std::string out;
  resp::put_array_header(out, words.size());
  for (const auto& w : words) resp::put_bulk(out, w);
  return out;
}

TEST_CASE("RESP over loopback: a deep pipeline gets every reply in order", "[resp][uv]") {
  Server server;
  Socket s(server.port());
  std::string wire, want;
  for (int i = 0; i < 3000; ++i) {
    std::string key = "k" + std::to_string(i % 100), value = std::to_string(i);
    wire += request({"SET", key, value}) + request({"GET", key});
    want += "+OK\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  }
  s.send_all(wire);
  CHECK(s.receive(want.size()) == want);
}

TEST_CASE("RESP over loopback: QUIT's reply arrives, then a clean close", "[resp][uv]") {
  Server server;
  Socket s(server.port());
  s.send_all("PING\r\nQUIT\r\nPING\r\n");
  CHECK(s.receive(12) == "+PONG\r\n+OK\r\n");
  CHECK(s.at_eof());
}

TEST_CASE("RESP over loopback: a protocol error's reply survives a client that keeps sending",
          "[resp][uv]") {
  Server server;
  Socket s(server.port());
  // A value over the 4 MiB argument limit: refused at its header while the
  // client is still sending its bytes. Without a lingering close the unread
  // bytes would make the kernel reset the connection and eat the reply.
  const std::string header = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n";
  s.send_all(header + std::string(5'000'000, 'v') + "\r\n");
  const std::string want =
      "-ERR Protocol error: invalid bulk length: 5000000 bytes, the limit is 4194304\r\n";
  CHECK(s.receive(want.size()) == want);
  CHECK(s.at_eof());
}

TEST_CASE("RESP over loopback: a client that does not read is held back, and loses nothing",
          "[resp][uv]") {
  Server server;
  Socket s(server.port());
  const std::string cmd = request({"ECHO", std::string(1000, 'x')});
  const size_t reply_size = 1000 + 9;  // $1000\r\n...\r\n
  std::string block;
  for (int i = 0; i < 1000; ++i) block += cmd;

  // Send without reading until the kernel refuses more for a while.
  ::fcntl(s.fd(), F_SETFL, ::fcntl(s.fd(), F_GETFL) | O_NONBLOCK);
  size_t sent = 0;
  auto quiet_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - quiet_since < std::chrono::milliseconds(500) &&
         sent < (512u << 20)) {
    size_t at = sent % block.size();
    ssize_t n = ::send(s.fd(), block.data() + at, block.size() - at, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      quiet_since = std::chrono::steady_clock::now();
    } else {
      REQUIRE(errno == EAGAIN);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  INFO("sent " << sent << " bytes before the server stopped reading");
  // Socket buffers on both sides plus the node's bounded queues: megabytes, not the 512 MiB
  // offered.
  CHECK(sent < (128u << 20));

  // Now read everything: each command sent whole gets its reply.
  ::fcntl(s.fd(), F_SETFL, ::fcntl(s.fd(), F_GETFL) & ~O_NONBLOCK);
  const size_t partial = sent % cmd.size();
  std::thread finisher([&] {
    if (partial) s.send_all(std::string_view(cmd).substr(partial));
  });
  const size_t commands = (sent + cmd.size() - 1) / cmd.size();
  std::string replies = s.receive(commands * reply_size);
  finisher.join();
  CHECK(replies.size() == commands * reply_size);
  CHECK(replies.substr(0, reply_size) == "$1000\r\n" + std::string(1000, 'x') + "\r\n");
}

}  // namespace
}  // namespace tally::clustertest
