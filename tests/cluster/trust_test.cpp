// Only peers speak for peers (docs/security.md): on a cluster with a secret,
// a plain socket that has not proved it cannot inject faults, forge Raft
// messages or heartbeats, or change the membership; a node holding another
// secret cannot join; fault injection exists only on nodes started with it;
// a cluster without a secret does not start unless told --insecure.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>

#include "net/codec.hpp"
#include "net/frame.hpp"
#include "net/messages.hpp"
#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;
using namespace std::chrono_literals;

namespace {

// A plain TCP connection speaking the wire protocol, with no secret.
class RawPeer {
 public:
  explicit RawPeer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~RawPeer() { ::close(fd_); }

  void send(uint64_t id, wire::Body body) {
    std::string frame;
    net::encode_frame(wire::Message{id, std::move(body)}, frame);
    REQUIRE(::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(frame.size()));
  }
  // The next message the node sends within `within`; nullopt when none came
  // (or the node closed the connection).
  std::optional<wire::Message> receive(std::chrono::milliseconds within = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + within;
    std::string payload;
    while (!reader_.next(payload)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      if (!reader_.feed(std::string_view(buf, static_cast<size_t>(n))).ok()) return std::nullopt;
    }
    auto m = net::decode_payload(payload);
    if (!m.ok()) return std::nullopt;
    return *m;
  }
  // The code of the error the node answers request `id` with; kOk for any
  // other answer, kTimeout for none.
  Code answer_code(uint64_t id) {
    for (;;) {
      auto m = receive();
      if (!m) return Code::kTimeout;
      if (m->request_id != id) continue;
      auto* e = std::get_if<wire::ErrorReply>(&m->body);
      return e ? e->code : Code::kOk;
    }
  }

 private:
  int fd_ = -1;
  net::FrameReader reader_{16u << 20};
};

int port_of(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

raft::Message raft_message(raft::MessageType type, uint64_t from, uint64_t to, uint64_t term) {
  raft::Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

}  // namespace

TEST_CASE(
    "a socket without the secret cannot inject faults, forge Raft or heartbeats, or change the "
    "membership",
    "[cluster][trust]") {
  LocalCluster c({});
  REQUIRE(c.start().ok());
  auto admin = connect_client(c.endpoints());
  std::string leader;
  std::string term;
  REQUIRE(eventually(
      [&] {
        auto st = admin->status(c.nodes[0]->endpoint());
        if (!st.ok() || st->field("meta_leader") == "unknown") return false;
        leader = st->field("meta_leader");
        term = st->field("meta_term");
        return true;
      },
      10000ms));
  REQUIRE(admin->put("k", "before", {.w = 3}).ok());
  const int leader_index = leader[1] - '1';
  const int follower_index = (leader_index + 1) % 3;
  const int n3 = 2;

  // Fault injection, from a plain socket, on n3.
  RawPeer attacker(port_of(c.nodes[n3]->endpoint()));
  attacker.send(7, wire::FaultRequest{0, true});
  CHECK(attacker.answer_code(7) == Code::kUnauthenticated);
  // Membership: removing a node.
  wire::MetaChangeRequest remove;
  remove.op = wire::MetaOp::kRemove;
  remove.node = "n1";
  attacker.send(8, remove);
  CHECK(attacker.answer_code(8) == Code::kUnauthenticated);

  // Forged Raft at the leader: a TimeoutNow "from" a follower (which would
  // move leadership), and heartbeats of a huge term "from" each voter.
  RawPeer forger(port_of(c.nodes[leader_index]->endpoint()));
  forger.send(0, wire::RaftMessage{raft_message(raft::MessageType::kTimeoutNow, follower_index + 1,
                                                leader_index + 1, std::stoull(term))});
  for (uint64_t from = 1; from <= 3; ++from) {
    forger.send(0, wire::RaftMessage{raft_message(raft::MessageType::kHeartbeat, from,
                                                  leader_index + 1, UINT64_MAX)});
  }
  // Heartbeats "from n1" to n3 every 5 ms for a second: the connection would
  // become n3's way to n1, and n1's real heartbeats would go unanswered.
  RawPeer impostor(port_of(c.nodes[n3]->endpoint()));
  for (uint64_t i = 0; i < 200; ++i) {
    impostor.send(100 + i, wire::PingRequest{1});
    ::usleep(5000);  // the attack's own pace, not a wait for an outcome
  }
  CHECK(impostor.answer_code(100) == Code::kUnauthenticated);

  // Nothing changed: every node sees the same leader and term, no peer down,
  // no fault in force, and a write and a read at N=3 go through.
  for (auto& n : c.nodes) {
    auto st = admin->status(n->endpoint());
    REQUIRE(st.ok());
    INFO(n->endpoint() << " " << st->field("peers"));
    CHECK(st->field("meta_leader") == leader);
    CHECK(st->field("meta_term") == term);
    CHECK(st->field("peers").find(":down") == std::string::npos);
    CHECK(st->field("fault").empty());
  }
  CHECK(admin->put("k", "after", {.w = 3}).ok());
  auto got = admin->get("k", {.r = 3});
  REQUIRE(got.ok());
  CHECK(std::find(got->values.begin(), got->values.end(), "after") != got->values.end());
  // The refusals are counted and logged with the sender's address.
  auto st3 = admin->status(c.nodes[n3]->endpoint());
  REQUIRE(st3.ok());
  CHECK(std::stoull(st3->field("auth_refused")) >= 202);
  CHECK_THAT(c.nodes[n3]->log(), Catch::Contains("refused fault from 127.0.0.1:"));
  CHECK_THAT(c.nodes[leader_index]->log(), Catch::Contains("refused raft message from 127.0.0.1:"));
}

TEST_CASE("a node holding another secret cannot join the cluster", "[cluster][trust]") {
  LocalCluster c({});
  REQUIRE(c.start().ok());
  const std::string secret = secret_file();
  auto admin = connect_client(c.endpoints());
  NodeSpec n4{"n4", free_port()};
  TempDir dir4;
  // n4's config names a secret file of its own.
  std::string config4 = write_config(dir4.path, {n4}, "buffered");
  {
    std::ofstream wrong(dir4.path + "/secret");
    wrong << "not the cluster's secret, but long enough\n";
  }
  ::chmod((dir4.path + "/secret").c_str(), 0600);
  {
    std::ifstream in(config4);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto at = text.find(secret);
    REQUIRE(at != std::string::npos);
    text.replace(at, secret.size(), dir4.path + "/secret");
    std::ofstream(config4, std::ios::trunc) << text;
  }
  TallydProcess p4(config4, "n4", n4.port, dir4.path + "/n4.log", c.nodes[0]->endpoint());
  REQUIRE(p4.start().ok());
  // The joiner finds out that the node it joins through does not hold its secret.
  CHECK(eventually(
      [&] { return p4.log().find("did not prove the cluster secret") != std::string::npos; },
      10000ms));
  auto info = admin->cluster_info();
  REQUIRE(info.ok());
  CHECK(info->member("n4") == nullptr);
  INFO(p4.log());
  // Its own tools cannot act as an administrator of the cluster either.
  ClientOptions o;
  o.endpoints = {c.nodes[0]->endpoint()};
  o.secret_file = dir4.path + "/secret";
  auto outsider = Client::connect(o);
  REQUIRE(outsider.ok());
  auto made = (*outsider)->create_keyspace(KeyspaceSpec{"theirs"});
  REQUIRE(!made.ok());
  CHECK_THAT(made.status().message(), Catch::Contains("did not prove the cluster secret"));
  // Nor can a socket that answers the challenge without the secret: its proof
  // is refused, counted and the connection closed.
  RawPeer guesser(port_of(c.nodes[0]->endpoint()));
  guesser.send(0, wire::AuthHello{std::string(32, 'x'), "guesser"});
  auto challenge = guesser.receive();
  REQUIRE(challenge);
  REQUIRE(std::holds_alternative<wire::AuthChallenge>(challenge->body));
  guesser.send(0, wire::AuthProof{std::string(32, 'y')});
  CHECK(guesser.answer_code(0) == Code::kUnauthenticated);
  CHECK(!guesser.receive());  // closed
  CHECK(std::stoull(admin->status(c.nodes[0]->endpoint())->field("auth_failures")) >= 1);
  CHECK_THAT(c.nodes[0]->log(),
             Catch::Contains("wrong proof of the cluster secret from 'guesser'"));
}

TEST_CASE("fault injection is off unless tallyd is started with it, and needs the secret",
          "[cluster][trust]") {
  TempDir dir;
  int port = free_port();
  std::string cfg = write_config(dir.path, {{"n1", port}});
  TallydProcess node(cfg, "n1", port, dir.path + "/n1.log");
  node.set_flags({});
  REQUIRE(node.start().ok());
  auto admin = connect_client(node.endpoint());
  Fault silent;
  silent.silent = true;
  Status off = admin->set_fault(node.endpoint(), silent);
  CHECK_THAT(off.message(), Catch::Contains("fault injection is off"));
  REQUIRE(node.terminate() == 0);

  node.set_flags({"--enable-fault-injection"});
  REQUIRE(node.start().ok());
  ClientOptions o;
  o.endpoints = {node.endpoint()};
  auto anonymous = Client::connect(o);
  REQUIRE(anonymous.ok());
  CHECK((*anonymous)->set_fault(node.endpoint(), silent).code() == Code::kUnauthenticated);
  CHECK(admin->set_fault(node.endpoint(), silent).ok());
  CHECK(admin->status(node.endpoint())->field("fault") == "silent");
}

TEST_CASE("a cluster without a secret starts only with --insecure, which it warns about",
          "[cluster][trust]") {
  TempDir dir;
  int p1 = free_port(), p2 = free_port();
  std::string cfg = dir.path + "/open.toml";
  {
    std::ofstream out(cfg);
    out << "[[nodes]]\nid = \"n1\"\nlisten = \"127.0.0.1:" << p1 << "\"\ndata_dir = \"n1\"\n\n"
        << "[[nodes]]\nid = \"n2\"\nlisten = \"127.0.0.1:" << p2 << "\"\ndata_dir = \"n2\"\n";
  }
  CommandResult r = run(build_dir() + "/tallyd --config " + cfg + " --node n1");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("no [cluster] secret_file"));

  TallydProcess n1(cfg, "n1", p1, dir.path + "/n1.log");
  n1.set_flags({"--insecure"});
  REQUIRE(n1.start().ok());
  CHECK_THAT(n1.log(), Catch::Contains("running --insecure"));

  // A secret file others can read is refused, naming the fix.
  std::string loose = dir.path + "/loose";
  {
    std::ofstream s(loose);
    s << "a secret that others can read, alas\n";
  }
  ::chmod(loose.c_str(), 0644);
  std::string cfg2 = dir.path + "/loose.toml";
  {
    std::ofstream out(cfg2);
    out << "[cluster]\nsecret_file = \"loose\"\n\n[[nodes]]\nid = \"n1\"\nlisten = \"127.0.0.1:"
        << p2 << "\"\ndata_dir = \"m1\"\n";
  }
  r = run(build_dir() + "/tallyd --config " + cfg2);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("chmod 600"));
}
