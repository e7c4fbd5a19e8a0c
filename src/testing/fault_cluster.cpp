#include "testing/fault_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "common/auth.hpp"
#include "net/codec.hpp"
#include "net/frame.hpp"
#include "net/messages.hpp"
#include "tally/client.hpp"
#include "testing/wait.hpp"

namespace tally::clustertest {

namespace {

using namespace std::chrono_literals;

// One request over a connection that proves the cluster secret first, as an
// administrator's client does (docs/security.md): for the fault fields the
// public client's tally::Fault does not carry (the clock offset).
class AdminWire {
 public:
  ~AdminWire() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status open(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return Status::Unavailable("cannot connect to " + host + ":" + std::to_string(port));
    }
    auto secret = auth::read_secret_file(secret_file());
    if (!secret.ok()) return secret.status();
    const std::string nonce = auth::fresh_nonce();
    send(0, wire::AuthHello{nonce, "fault-suite"});
    auto reply = receive();
    if (!reply.ok()) return reply.status();
    auto* challenge = std::get_if<wire::AuthChallenge>(&reply->body);
    if (!challenge) return Status::ProtocolError("no challenge to our hello");
    if (!auth::proof_matches(auth::acceptor_proof(*secret, nonce, challenge->nonce), challenge->proof)) {
      return Status::Unauthenticated("the node did not prove the cluster secret");
    }
    send(0, wire::AuthProof{auth::connector_proof(*secret, nonce, challenge->nonce)});
    return Status::Ok();
  }

  void send(uint64_t id, wire::Body body) {
    std::string frame;
    net::encode_frame(wire::Message{id, std::move(body)}, frame);
    ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
  }

  // The next message with request id `id` (others, such as AuthOk, skipped).
  Result<wire::Message> receive(uint64_t id = 0, std::chrono::milliseconds within = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      std::string payload;
      while (!reader_.next(payload)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
          return Status::Timeout("no answer within " + std::to_string(within.count()) + " ms");
        }
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return Status::Unavailable("the node closed the connection");
        Status fed = reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
        if (!fed.ok()) return fed;
      }
      auto m = net::decode_payload(payload);
      if (!m.ok()) return m.status();
      if (m->request_id == id) return *m;
    }
  }

 private:
  int fd_ = -1;
  net::FrameReader reader_{16u << 20};
};

}  // namespace

Result<std::unique_ptr<FaultCluster>> FaultCluster::create(const Options& options) {
  auto net = FaultNet::create(options.nodes);
  if (!net.ok()) return net.status();
  std::unique_ptr<FaultCluster> c(new FaultCluster());
  c->net = std::move(*net);
  for (int i = 0; i < options.nodes; ++i) {
    c->specs.push_back({"n" + std::to_string(i + 1), kPort, kRespPort, c->net->address(i)});
  }
  std::string extra = options.extra;
  if (extra.find("voters") == std::string::npos && options.nodes >= 3) {
    // Three founding voters, as conf/local-cluster.toml has; the others learn.
    extra = (extra.find("[cluster]") == std::string::npos ? "[cluster]\n" : "") + extra;
    extra.insert(extra.find("[cluster]\n") + 10, "voters = [\"n1\", \"n2\", \"n3\"]\n");
  }
  c->config = write_config(c->dir.path, c->specs, options.durability, extra);
  for (int i = 0; i < options.nodes; ++i) {
    auto p = std::make_unique<TallydProcess>(c->config, c->specs[i].id, kPort,
                                             c->dir.path + "/" + c->specs[i].id + ".log");
    p->place_in(c->net->netns(i), c->net->address(i));
    c->nodes.push_back(std::move(p));
  }
  return c;
}

Status FaultCluster::start() {
  for (auto& n : nodes) {
    Status s = n->start();
    if (!s.ok()) return s;
  }
  auto admin = connect_client(endpoints());
  std::string shown;
  bool healthy = eventually(
      [&] {
        for (int i = 0; i < size(); ++i) {
          auto st = admin->status(endpoint(i));
          if (!st.ok()) {
            shown = name(i) + ": " + st.status().to_string();
            return false;
          }
          for (int j = 0; j < size(); ++j) {
            if (j != i && !peers_field_lists(st->field("peers"), name(j) + ":up")) {
              shown = name(i) + " shows peers '" + st->field("peers") + "'";
              return false;
            }
          }
          if (st->field("meta_leader") == "unknown" || st->field("keyspaces").empty()) {
            shown = name(i) + " knows no metadata leader or map yet";
            return false;
          }
        }
        return true;
      },
      20000ms, 50ms);
  return healthy ? Status::Ok() : Status::Timeout("the cluster did not become healthy within 20 s: " + shown);
}

std::string FaultCluster::endpoints() const {
  std::string out;
  for (int i = 0; i < size(); ++i) out += (out.empty() ? "" : ",") + endpoint(i);
  return out;
}

int FaultCluster::index_of(const std::string& node_name) const {
  for (int i = 0; i < size(); ++i) {
    if (specs[i].id == node_name) return i;
  }
  return -1;
}

Status FaultCluster::set_clock_offset(int node, int64_t ms) {
  AdminWire w;
  Status s = w.open(host(node), kPort);
  if (!s.ok()) return s;
  wire::FaultRequest f;
  f.clock_offset_ms = ms;
  w.send(1, f);
  auto reply = w.receive(1);
  if (!reply.ok()) return reply.status();
  if (auto* e = std::get_if<wire::ErrorReply>(&reply->body)) return Status(e->code, e->message);
  if (!std::holds_alternative<wire::FaultReply>(reply->body)) return Status::ProtocolError("not a fault reply");
  return Status::Ok();
}

Status FaultCluster::wait_peer(const std::vector<int>& observers, int peer, bool up,
                               std::chrono::milliseconds within) {
  std::vector<std::string> eps;
  for (int o : observers) eps.push_back(endpoint(o));
  return wait_for_peer_state(eps, name(peer), up, within);
}

ReplicaState read_replicas(Client& client, const std::vector<std::string>& keys, const std::string& keyspace) {
  ReplicaState out;
  out.converged = true;
  ReplicaReadOptions o;
  o.keyspace = keyspace;
  for (const auto& key : keys) {
    auto replicas = client.replicas(key, keyspace);
    if (!replicas.ok()) {
      out.converged = false;
      out.why_not = "replicas of " + key + ": " + replicas.status().to_string();
      continue;
    }
    std::vector<std::string> first;
    auto& all = out.values[key];
    for (size_t i = 0; i < replicas->size(); ++i) {
      auto copy = client.get_replica(key, (*replicas)[i], o);
      if (!copy.ok()) {
        if (out.converged) out.why_not = (*replicas)[i] + " on " + key + ": " + copy.status().to_string();
        out.converged = false;
        continue;
      }
      std::vector<std::string> values;
      for (const auto& v : copy->siblings) {
        if (!v.tombstone) values.push_back(v.value);
      }
      std::sort(values.begin(), values.end());
      for (const auto& v : values) {
        if (std::find(all.begin(), all.end(), v) == all.end()) all.push_back(v);
      }
      if (i == 0) {
        first = values;
      } else if (values != first && out.converged) {
        out.converged = false;
        out.why_not = key + ": " + (*replicas)[0] + " and " + (*replicas)[i] + " hold different values";
      }
    }
  }
  return out;
}

}  // namespace tally::clustertest
