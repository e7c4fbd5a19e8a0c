// No client can exhaust a node (docs/security.md, "Limits"): a flood of
// connections is refused past max_connections while the node keeps serving
// its clients and peers and its store keeps writing; unfinished frames and
// replies nobody reads hold a node's memory to a bound, and are cut off.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "net/codec.hpp"
#include "net/frame.hpp"
#include "net/messages.hpp"
#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A non-blocking loopback connection to `port`; -1 when even the socket fails.
int open_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: completes on loopback
  return fd;
}

// Writes what the kernel takes of `data` from `*off` on, without blocking.
void push(int fd, const std::string& data, size_t* off) {
  while (*off < data.size()) {
    ssize_t n = ::send(fd, data.data() + *off, data.size() - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return;
    *off += static_cast<size_t>(n);
  }
}

// True once the node has closed `fd` (EOF or reset).
bool closed_by_node(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

constexpr uint64_t kMiB = 1 << 20;
// The documented bound (docs/security.md): a node under these attacks stays
// within this much of its idle size.
constexpr uint64_t kRssBound = 256 * kMiB;

// Under AddressSanitizer (`make asan`) freed memory waits in a quarantine and
// every allocation carries red zones, so RSS says nothing about the node's
// own bounds, and the node runs a few times slower: there the memory bounds
// and "every other write succeeds" are reported, not checked. `make test`
// (the optimized build) checks them.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

TEST_CASE("20,000 connection attempts: the node refuses those past its limit and keeps serving",
          "[cluster][limits]") {
  LocalCluster c({3, "fsync", "[limits]\nmax_connections = 1000\n"});
  REQUIRE(c.start().ok());
  auto client = connect_client(c.endpoints());  // connected before the flood
  REQUIRE(client->put("k", "before", {.w = 3}).ok());
  TallydProcess& target = *c.nodes[0];
  int attempts = 0;
  while (attempts < 20000) {
    // Rounds of 2,500 held at once: the node takes up to its limit and closes the rest.
    std::vector<int> fds;
    for (int i = 0; i < 2500 && attempts < 20000; ++i, ++attempts) {
      int fd = open_to(target.port());
      REQUIRE(fd >= 0);
      fds.push_back(fd);
    }
    // Meanwhile the node serves its client and its peers.
    REQUIRE(client->put("k" + std::to_string(attempts), "v", {.w = 3}).ok());
    for (int fd : fds) ::close(fd);
  }
  CHECK(eventually(
      [&] { return target.log().find("connections in the last 10 s") != std::string::npos; },
      15000ms));
  for (auto& n : c.nodes) {
    auto st = client->status(n->endpoint());
    REQUIRE(st.ok());
    INFO(n->endpoint());
    CHECK(st->field("peers").find(":down") == std::string::npos);
    CHECK(st->field("store") == "ok");
  }
  // The node counts what it refused: most of the 20,000 (it held up to 1,000 at once).
  auto st = client->status(target.endpoint());
  REQUIRE(st.ok());
  CHECK(std::atol(st->field("connections_refused").c_str()) >= 10000);
  // Its store still writes (every replica, n1 among them, acknowledges).
  CHECK(client->put("k", "after", {.w = 3}).ok());
  CHECK_THAT(target.log(), !Catch::Contains("Too many open files"));
}

TEST_CASE(
    "40 unfinished 16 MiB frames and 300k unread replies: memory stays bounded, others are served",
    "[cluster][limits]") {
  LocalCluster c({3, "buffered", "[limits]\nframe_timeout_s = 3\n"});
  REQUIRE(c.start().ok());
  auto client = connect_client(c.endpoints());
  REQUIRE(client->put("k", "v", {.w = 3}).ok());
  TallydProcess& target = *c.nodes[0];
  const uint64_t idle = target.rss_bytes();
  REQUIRE(idle > 0);

  // 40 connections, each sending all of a 16 MiB frame but its last byte.
  const uint32_t frame = 16 * kMiB;
  std::string header(4, '\0');
  net::put_frame_header(header.data(), frame);
  std::string body = header + std::string(frame - 1, 'x');
  std::vector<int> fds;
  std::vector<size_t> sent(40, 0);
  for (int i = 0; i < 40; ++i) fds.push_back(open_to(target.port()));
  uint64_t peak = 0;
  auto until = Clock::now() + 2s;  // the attack's length: pushing what the kernel takes
  while (Clock::now() < until) {
    for (size_t i = 0; i < fds.size(); ++i) push(fds[i], body, &sent[i]);
    peak = std::max(peak, target.rss_bytes());
    ::usleep(10000);
  }
  uint64_t total = 0;
  for (size_t s : sent) total += s;
  WARN("sent " << total / kMiB << " MiB, idle RSS " << idle / kMiB << " MiB, peak " << peak / kMiB
               << " MiB");
  CHECK(peak < idle + kRssBound);
  CHECK(client->put("k", "during", {.w = 3}).ok());
  // The unfinished frames run out of time (frame_timeout_s = 3) and are cut.
  CHECK(eventually(
      [&] {
        for (int fd : fds) {
          if (!closed_by_node(fd)) return false;
        }
        return true;
      },
      15000ms));
  for (int fd : fds) ::close(fd);
  CHECK_THAT(target.log(), Catch::Contains("(limits.frame_timeout_s)"));

  // 300,000 gets of a 1 KiB value whose replies are never read.
  REQUIRE(client->put("big", std::string(1024, 'v'), {.w = 3}).ok());
  std::string pings;
  for (int i = 1; i <= 300000; ++i) {
    wire::GetRequest get;
    get.keyspace = "default";
    get.key = "big";
    get.options.r = 1;
    net::encode_frame(wire::Message{static_cast<uint64_t>(i), get}, pings);
  }
  int fd = open_to(target.port());
  size_t off = 0;
  peak = 0;
  until = Clock::now() + 3s;
  while (Clock::now() < until && off < pings.size()) {
    push(fd, pings, &off);
    peak = std::max(peak, target.rss_bytes());
    ::usleep(10000);
  }
  WARN("sent " << off << " of " << pings.size() << " bytes of gets; peak RSS " << peak / kMiB
               << " MiB");
  if (!kSanitized) CHECK(peak < idle + kRssBound);
  CHECK(off < pings.size());  // the node stopped reading: TCP holds the sender back
  CHECK(client->put("k", "after", {.w = 3}).ok());
  for (auto& n : c.nodes) {
    auto st = client->status(n->endpoint());
    REQUIRE(st.ok());
    CHECK(st->field("peers").find(":down") == std::string::npos);
  }
  ::close(fd);
}

TEST_CASE("150 pipelined RESP GETs of a 4 MiB value, replies unread: every node's memory stays bounded",
          "[cluster][limits][redis]") {
  LocalCluster c({3, "buffered", "", /*resp=*/true});
  REQUIRE(c.start().ok());
  auto client = connect_client(c.endpoints());
  REQUIRE(client->put("big", std::string(4 * kMiB, 'b'), {.w = 3}).ok());
  std::vector<uint64_t> idle, peak;
  for (auto& n : c.nodes) {
    idle.push_back(n->rss_bytes());
    peak.push_back(0);
  }
  std::string gets;
  for (int i = 0; i < 150; ++i) gets += "GET big\r\n";
  int fd = open_to(c.specs[0].resp_port);
  size_t off = 0;
  auto until = Clock::now() + 3s;  // the attack's length
  int writes_ok = 0, writes = 0;
  std::string first_failure;
  while (Clock::now() < until) {
    push(fd, gets, &off);
    for (size_t i = 0; i < c.nodes.size(); ++i) peak[i] = std::max(peak[i], c.nodes[i]->rss_bytes());
    ++writes;
    auto put = client->put("other" + std::to_string(writes), "v", {.w = 3});
    writes_ok += put.ok();
    if (!put.ok() && first_failure.empty()) first_failure = put.status().to_string();
  }
  if (!first_failure.empty()) WARN("the first failed write: " << first_failure);
  for (size_t i = 0; i < c.nodes.size(); ++i) {
    WARN(c.specs[i].id << ": idle RSS " << idle[i] / kMiB << " MiB, peak " << peak[i] / kMiB << " MiB");
    if (!kSanitized) CHECK(peak[i] < idle[i] + kRssBound);
  }
  WARN(writes_ok << " of " << writes << " W=3 writes of another client succeeded meanwhile");
  // A W=3 write needs the attacked node too. Its loop, busy with 4 MiB values,
  // can miss heartbeats long enough (about 660 ms) on a loaded machine for a
  // peer to suspect it down for a moment, and a write then fails at once
  // naming it: a few such are allowed, a node that stops serving is not.
  if (kSanitized) {
    CHECK(writes_ok * 10 >= writes * 9);
  } else {
    CHECK(writes_ok * 100 >= writes * 99);
  }
  for (auto& n : c.nodes) {
    auto st = client->status(n->endpoint());
    REQUIRE(st.ok());
    CHECK(st->field("peers").find(":down") == std::string::npos);
  }
  // Its replies piled up past output_limit_mb: the connection was cut.
  CHECK(eventually([&] { return closed_by_node(fd); }, 10000ms));
  CHECK_THAT(c.nodes[0]->log(), Catch::Contains("(limits.output_limit_mb)") || Catch::Contains("output_limit_mb ("));
  ::close(fd);
}

TEST_CASE("an idle connection is closed after idle_timeout_s; a busy one is not", "[cluster][limits]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}}, "buffered", "[limits]\nidle_timeout_s = 1\n");
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  int idle = open_to(port);
  int busy = open_to(port);
  std::string ping;
  net::encode_frame(wire::Message{1, wire::PingRequest{}}, ping);
  bool idle_closed = false;
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && !idle_closed) {
    size_t off = 0;
    push(busy, ping, &off);  // a ping every 100 ms keeps it in use
    ::usleep(100000);
    idle_closed = closed_by_node(idle);
  }
  CHECK(idle_closed);
  CHECK(!closed_by_node(busy));
  CHECK_THAT(node.log(), Catch::Contains("(limits.idle_timeout_s)"));
  ::close(idle);
  ::close(busy);
}
