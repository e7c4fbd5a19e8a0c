// Bad input never takes a node down: malformed, truncated and oversized frames
// close only the connection that sent them, with a logged error; a bad config
// is refused with its file, line and key.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

int raw_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

std::string header(uint32_t len) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(len >> 24);
  h[1] = static_cast<char>(len >> 16);
  h[2] = static_cast<char>(len >> 8);
  h[3] = static_cast<char>(len);
  return h;
}

// True when the node closes the connection within 3 s (reads until EOF).
bool closed_by_node(int fd) {
  char buf[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset
  }
}

}  // namespace

TEST_CASE("malformed, truncated and oversized frames close only their connection", "[cluster]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());
  auto client = connect_client(node.endpoint());
  REQUIRE(client->put("survivor", "before").ok());

  struct Case {
    const char* name;
    std::string bytes;
    bool half_close;  // the sender stops writing (a truncated frame)
  };
  std::vector<Case> cases = {
      {"garbage body", header(10) + std::string("\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1", 10), false},
      {"oversized header", header(0x7fffffff), false},
      {"zero-length frame", header(0), false},
      {"not an array", header(1) + std::string("\x05", 1), false},
      {"array too short", header(3) + std::string("\x92\x01\x04", 3), false},
      {"wrong protocol version", header(4) + std::string("\x93\x07\x02\x01", 4), false},
      {"unknown message type", header(4) + std::string("\x93\x01\x63\x01", 4), false},
      {"truncated msgpack in a whole frame", header(3) + std::string("\x95\x01\x04", 3), false},
      {"truncated frame", header(100) + std::string("0123456789"), true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    int fd = raw_connect(port);
    REQUIRE(::send(fd, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(c.bytes.size()));
    if (c.half_close) ::shutdown(fd, SHUT_WR);
    CHECK(closed_by_node(fd));
    ::close(fd);
    // The node keeps serving everyone else, on the connection it already had.
    auto r = client->put("survivor", c.name);
    REQUIRE(r.ok());
  }
  auto got = client->get("survivor");
  REQUIRE(got.ok());
  CHECK(node.running());
  std::string log = node.log();
  CHECK(log.find("exceeds the limit") != std::string::npos);
  CHECK(log.find("empty frame") != std::string::npos);
  CHECK(log.find("truncated frame") != std::string::npos);
  CHECK(log.find("malformed message") != std::string::npos);
  CHECK(log.find("unsupported protocol version 7") != std::string::npos);
  auto st = client->status();
  REQUIRE(st.ok());
  CHECK(std::stoi(st->field("protocol_errors")) >= 5);
}

TEST_CASE("a request over the size limits gets an error reply naming the limit", "[cluster]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  REQUIRE(node.start().ok());
  REQUIRE(node.wait_serving().ok());
  auto client = connect_client(node.endpoint());
  auto big_key = client->put(std::string(70000, 'k'), "v");
  REQUIRE_FALSE(big_key.ok());
  CHECK(big_key.status().code() == Code::kTooLarge);
  CHECK(big_key.status().message() == "key is 70000 bytes, the limit is 65536");
  auto big_value = client->put("k", std::string(4 * 1024 * 1024 + 1, 'v'));
  REQUIRE_FALSE(big_value.ok());
  CHECK(big_value.status().code() == Code::kTooLarge);
  auto bad_ks = client->get("k", {.keyspace = "nope"});
  CHECK(bad_ks.status().code() == Code::kUnknownKeyspace);
  auto bad_ctx = client->put("k", "v", {.context = "not a context"});
  CHECK(bad_ctx.status().code() == Code::kInvalidArgument);
  CHECK(client->put("k", "fine").ok());
}

TEST_CASE("tallyd refuses a bad config naming the file, the line and the key", "[cluster]") {
  TempDir dir;
  std::string path = dir.path + "/bad.toml";
  std::ofstream(path) << "# a comment\n[storage]\ndurability = \"fast\"\n\n[[nodes]]\nid = \"n1\"\n"
                         "listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\n";
  auto r = run(build_dir() + "/tallyd --config " + path + " --node n1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find(path + ":3: key 'storage.durability': expected \"fsync\" or \"buffered\", got \"fast\"") !=
        std::string::npos);

  std::ofstream(path) << "[[nodes]]\nid = \"n1\"\nlisten = \"127.0.0.1:1\"\ndata_dir = \"d\"\nzone = 3\n";
  r = run(build_dir() + "/tallyd --config " + path);
  CHECK(r.exit_code == 2);
  CHECK(r.out.find(path + ":5: key 'nodes.zone': expected a string") != std::string::npos);

  r = run(build_dir() + "/tallyd --config " + dir.path + "/missing.toml");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("missing.toml: cannot open config file") != std::string::npos);
}
