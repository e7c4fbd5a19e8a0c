// RespServer on the simulator's byte streams: a client that pipelines
// commands cut into random chunks, against a node whose answers come back
// after random delays, gets every reply once and in order; QUIT and protocol
// errors close the connection after their reply; a session at its pipeline
// limit stops reading and loses nothing; the simulated stream itself keeps
// its bytes in order and resets across a partition.
#include "node/resp_server.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "sim/sim_world.hpp"

namespace tally {
namespace {

using sim::SimHost;
using sim::SimWorld;

const HostPort kNode{"10.0.0.1", 7400};
const HostPort kResp{"10.0.0.1", 6379};

// A key-value map that answers each request after a random delay on the
// node's host, so answers overtake each other.
class SlowBackend final : public RespBackend {
 public:
  SlowBackend(SimHost& host, uint64_t max_delay_us) : host_(host), max_delay_us_(max_delay_us) {}
  std::map<std::string, std::string> data;
  int requests = 0;

  void request(wire::Body req, std::function<void(wire::Body)> done) override {
    ++requests;
    uint64_t delay = host_.random() % (max_delay_us_ + 1);
    host_.set_timer(delay,
                    [this, req = std::move(req), done = std::move(done)] { done(answer(req)); });
  }

 private:
  wire::Body answer(const wire::Body& req) {
    if (auto* g = std::get_if<wire::GetRequest>(&req)) {
      auto it = data.find(g->key);
      if (it == data.end()) return wire::GetReply{};
      return wire::GetReply{{it->second}, "ctx"};
    }
    if (auto* p = std::get_if<wire::PutRequest>(&req)) {
      data[p->key] = p->value;
      return wire::PutReply{"ctx"};
    }
    return wire::ErrorReply{Code::kInvalidArgument, "unsupported in this test"};
  }

  SimHost& host_;
  uint64_t max_delay_us_;
};

// The client's end of a stream: everything received, and how it ended.
class StreamClient final : public StreamHandler {
 public:
  std::string received;
  bool closed = false;
  Status why;
  void on_accept(ConnId) override { FAIL("a client end is never accepted"); }
  void on_data(ConnId, std::string_view bytes) override {
    REQUIRE_FALSE(closed);
    received.append(bytes);
  }
  void on_closed(ConnId, const Status& s) override {
    closed = true;
    why = s;
  }
};

std::string request(const std::vector<std::string>& words) {
  std::string out;
  resp::put_array_header(out, words.size());
  for (const auto& w : words) resp::put_bulk(out, w);
  return out;
}

struct Setup {
  SimWorld world;
  SimHost& node;
  SimHost& client_host;
  SlowBackend backend;
  RespServer server;
  StreamClient client;
  ConnId conn = 0;

  explicit Setup(uint64_t seed, size_t max_pipeline = 1024, uint64_t max_delay_us = 5000)
      : world(seed),
        node(world.add_host("n1", kNode)),
        client_host(world.add_host("c1", HostPort{"10.0.0.2", 9000})),
        backend(node, max_delay_us),
        server(node, backend, session_options(max_pipeline), node.log().child("resp")) {
    REQUIRE(server.start(kResp).ok());
    conn = client_host.connect_stream(kResp, &client);
  }

  static RespSessionOptions session_options(size_t max_pipeline) {
    RespSessionOptions o;
    o.max_pipeline = max_pipeline;
    return o;
  }

  // Sends `bytes` cut into random chunks, each after a random pause.
  void send_chunked(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      size_t n = 1 + world.rng().uniform(std::min<size_t>(bytes.size() - at, 200));
      client_host.send_raw(conn, bytes.substr(at, n));
      at += n;
      world.run_for(world.rng().uniform(300));
    }
  }
};

TEST_CASE("pipelined commands in random chunks get every reply once and in order",
          "[resp_server][sim]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    Setup s(seed);
    std::string wire;
    std::string want;
    for (int i = 0; i < 200; ++i) {
      std::string key = "k" + std::to_string(i % 17);
      switch (i % 4) {
        case 0:
          wire += request({"SET", key, "v" + std::to_string(i)});
          want += "+OK\r\n";
          break;
        case 1:
          wire += "PING\r\n";
          want += "+PONG\r\n";
          break;
        case 2:
          wire += request({"ECHO", std::to_string(i)});
          want +=
              "$" + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
          break;
        default:
          wire += request({"FOO", key});
          want += "-ERR unknown command 'FOO', with args beginning with: '" + key + "' \r\n";
      }
    }
    s.send_chunked(wire);
    s.world.run_for(1'000'000);
    CHECK(s.client.received == want);
    CHECK_FALSE(s.client.closed);
    CHECK(s.server.connections() == 1);
  }
}

TEST_CASE("reads see the writes pipelined before them on the same connection",
          "[resp_server][sim]") {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    INFO("seed " << seed);
    Setup s(seed);  // answers overtake each other, but not on the same key
    std::string wire, want;
    for (int i = 0; i < 30; ++i) {
      std::string key = "k" + std::to_string(i % 3), value = std::to_string(i);
      wire += request({"SET", key, value}) + request({"GET", key});
      want += "+OK\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    }
    s.send_chunked(wire);
    s.world.run_for(1'000'000);
    CHECK(s.client.received == want);
  }
}

TEST_CASE("a session at its pipeline limit stops reading and loses nothing", "[resp_server][sim]") {
  Setup s(3, 2, 20'000);
  std::string want;
  // Sent at once, in 60 segments: the session takes two commands, then the
  // stream holds the rest back until it reads again.
  for (int i = 0; i < 60; ++i) {
    s.client_host.send_raw(s.conn, request({"SET", "k" + std::to_string(i), "v"}));
    want += "+OK\r\n";
  }
  s.world.run_for(5'000'000);
  CHECK(s.client.received == want);
  CHECK(s.backend.requests == 60);  // one write per SET
}

TEST_CASE("QUIT's reply arrives before the close", "[resp_server][sim]") {
  Setup s(5);
  s.send_chunked(request({"SET", "k", "v"}) + "QUIT\r\nPING\r\n");
  s.world.run_for(1'000'000);
  CHECK(s.client.received == "+OK\r\n+OK\r\n");
  CHECK(s.client.closed);
  CHECK(s.server.connections() == 0);
}

TEST_CASE("a protocol error is answered, then the connection closed", "[resp_server][sim]") {
  Setup s(6);
  s.send_chunked("PING\r\n*1\r\n$-5\r\n");
  s.world.run_for(1'000'000);
  CHECK(s.client.received == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
  CHECK(s.client.closed);
  CHECK(s.server.connections() == 0);
}

TEST_CASE("a client that closes is forgotten; late answers go nowhere", "[resp_server][sim]") {
  Setup s(8, 1024, 50'000);
  s.send_chunked(request({"GET", "k"}));
  s.world.run_for(2'000);
  s.client_host.close(s.conn, Status::Ok());
  s.world.run_for(200'000);
  CHECK(s.server.connections() == 0);
  CHECK(s.backend.requests == 1);
}

TEST_CASE("a stream cannot be opened to a missing listener", "[resp_server][sim]") {
  Setup s(9);
  StreamClient other;
  s.client_host.connect_stream(HostPort{"10.0.0.1", 1234}, &other);
  s.world.run_for(100'000);
  CHECK(other.closed);
  CHECK(other.why.code() == Code::kUnavailable);
  // A stream listener takes its host's name, on another port than the framed one.
  CHECK(s.client_host.listen_stream(HostPort{"10.0.0.9", 6379}, &other).code() == Code::kIoError);
  CHECK(s.client_host.listen_stream(HostPort{"10.0.0.2", 9000}, &other).code() == Code::kIoError);
}

TEST_CASE("a send across a partition resets the stream at both ends", "[resp_server][sim]") {
  Setup s(10);
  s.send_chunked("PING\r\n");
  s.world.run_for(100'000);
  REQUIRE(s.client.received == "+PONG\r\n");
  s.world.cut(0, 1);
  s.client_host.send_raw(s.conn, "PING\r\n");
  s.world.run_for(100'000);
  CHECK(s.client.closed);
  CHECK(s.server.connections() == 0);
}

TEST_CASE("the same seed replays the same stream run", "[resp_server][sim]") {
  auto run = [](uint64_t seed) {
    Setup s(seed);
    std::string wire;
    for (int i = 0; i < 50; ++i)
      wire += request({"SET", "k" + std::to_string(i % 5), std::to_string(i)});
    for (int i = 0; i < 5; ++i) wire += request({"GET", "k" + std::to_string(i)});
    s.send_chunked(wire);
    s.world.run_for(1'000'000);
    return std::make_pair(s.world.trace_hash(), s.client.received);
  };
  CHECK(run(42) == run(42));
  CHECK(run(42).first != run(43).first);
}

}  // namespace
}  // namespace tally
