// The synchronous client: one blocking connection at a time, failing over
// across the configured endpoints.
#include "tally/client.hpp"

#include <algorithm>
#include <thread>

#include "client/connection.hpp"
#include "common/address.hpp"

namespace tally {

std::string NodeStatus::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return {};
}

const MemberInfo* ClusterInfo::member(std::string_view name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

namespace {

using client::Clock;

std::string_view state_name(meta::NodeState s) {
  switch (s) {
    case meta::NodeState::kJoining: return "joining";
    case meta::NodeState::kNormal: return "normal";
    case meta::NodeState::kLeaving: return "leaving";
    case meta::NodeState::kRemoved: return "removed";
  }
  return "unknown";
}

bool contains(const std::vector<uint64_t>& ids, uint64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

ClusterInfo to_cluster_info(const wire::ClusterInfoReply& r) {
  ClusterInfo out;
  out.answered_by = r.answered_by;
  out.term = r.term;
  out.commit = r.commit;
  out.applied = r.applied;
  out.epoch = r.map.epoch;
  for (const auto& m : r.map.members) {
    MemberInfo mi;
    mi.id = m.id;
    mi.name = m.name;
    mi.address = m.address;
    mi.zone = m.zone;
    mi.state = std::string(state_name(m.state));
    mi.raft = contains(r.voters, m.id) ? "voter" : contains(r.learners, m.id) ? "learner" : "none";
    mi.up = m.state != meta::NodeState::kRemoved && !contains(r.down, m.id);
    mi.tokens = m.tokens;
    if (m.id == r.leader) out.leader = m.name;
    out.members.push_back(std::move(mi));
  }
  for (const auto& k : r.map.keyspaces) {
    out.keyspaces.push_back(
        KeyspaceInfo{k.name, k.n, k.r, k.w, k.mode == meta::ConflictMode::kLww ? "lww" : "siblings"});
  }
  return out;
}
using client::Connection;

Status error_of(const wire::ErrorReply& e) { return Status(e.code, e.message); }

class SyncClient final : public Client {
 public:
  SyncClient(ClientOptions options, std::vector<HostPort> endpoints)
      : options_(std::move(options)), endpoints_(std::move(endpoints)) {}

  Result<std::string> put(std::string_view key, std::string_view value,
                          const WriteOptions& o) override {
    Status bad = check_write(key, o);
    if (!bad.ok()) return bad;
    wire::PutRequest req{keyspace(o.keyspace), std::string(key), std::string(value), o.context,
                         wire::RequestOptions{0, static_cast<uint8_t>(o.w.value_or(0)), o.timeout_ms, o.sloppy}};
    auto reply = call(std::move(req), /*idempotent=*/false);
    if (!reply.ok()) return reply.status();
    if (auto* r = std::get_if<wire::PutReply>(&reply->body)) return std::move(r->context);
    return unexpected(*reply);
  }

  Result<GetResult> get(std::string_view key, const ReadOptions& o) override {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    if (o.r && (*o.r < 1 || *o.r > 255)) {
      return Status::InvalidArgument("R=" + std::to_string(*o.r) + " is out of range: R must be at least 1");
    }
    wire::GetRequest req{keyspace(o.keyspace), std::string(key),
                         wire::RequestOptions{0, 0, o.timeout_ms, false}};
    req.options.r = static_cast<uint8_t>(o.r.value_or(0));
    req.options.blocking_repair = o.blocking_repair;
    auto reply = call(std::move(req), /*idempotent=*/true);
    if (!reply.ok()) return reply.status();
    if (auto* r = std::get_if<wire::GetReply>(&reply->body)) {
      return GetResult{std::move(r->values), std::move(r->context)};
    }
    return unexpected(*reply);
  }

  Status del(std::string_view key, const WriteOptions& o) override {
    Status bad = check_write(key, o);
    if (!bad.ok()) return bad;
    wire::DeleteRequest req{keyspace(o.keyspace), std::string(key), o.context,
                            wire::RequestOptions{0, static_cast<uint8_t>(o.w.value_or(0)), o.timeout_ms, o.sloppy}};
    // Deleting twice is harmless, so a delete may be retried elsewhere.
    auto reply = call(std::move(req), /*idempotent=*/true);
    if (!reply.ok()) return reply.status();
    if (std::holds_alternative<wire::DeleteReply>(reply->body)) return Status::Ok();
    return unexpected(*reply);
  }

  Result<NodeStatus> status(std::string_view endpoint) override {
    if (!endpoint.empty()) {
      auto hp = parse_host_port(endpoint);
      if (!hp.ok()) return hp.status();
      auto conn = Connection::open(*hp, options_.connect_timeout_ms);
      if (!conn.ok()) return conn.status();
      auto reply = roundtrip(*conn, wire::StatusRequest{});
      if (!reply.ok()) return reply.status();
      return to_status(*reply, hp->to_string());
    }
    auto reply = call(wire::StatusRequest{}, /*idempotent=*/true);
    if (!reply.ok()) return reply.status();
    return to_status(*reply, conn_.peer());
  }

  Result<std::string> ping() override {
    auto reply = call(wire::PingRequest{}, /*idempotent=*/true);
    if (!reply.ok()) return reply.status();
    if (auto* r = std::get_if<wire::PingReply>(&reply->body)) return r->node_id;
    return unexpected(*reply);
  }

  Result<ClusterInfo> cluster_info(bool linearizable) override {
    auto reply = metadata(wire::ClusterInfoRequest{linearizable, false});
    if (!reply.ok()) return reply.status();
    if (auto* r = std::get_if<wire::ClusterInfoReply>(&reply->body)) return to_cluster_info(*r);
    return unexpected(*reply);
  }

  Result<ChangeResult> create_keyspace(const KeyspaceSpec& spec) override {
    return keyspace_change(wire::MetaOp::kCreateKeyspace, spec);
  }
  Result<ChangeResult> alter_keyspace(const KeyspaceSpec& spec) override {
    return keyspace_change(wire::MetaOp::kAlterKeyspace, spec);
  }
  Result<ChangeResult> drop_keyspace(std::string_view name) override {
    return keyspace_change(wire::MetaOp::kDropKeyspace, KeyspaceSpec{std::string(name)});
  }
  Result<ChangeResult> join_node(std::string_view name, std::string_view address, std::string_view zone) override {
    wire::MetaChangeRequest req;
    req.op = wire::MetaOp::kJoin;
    req.node = std::string(name);
    req.address = std::string(address);
    req.zone = std::string(zone);
    return change(std::move(req));
  }
  Result<ChangeResult> leave_node(std::string_view name) override { return node_change(wire::MetaOp::kLeave, name); }
  Result<ChangeResult> remove_node(std::string_view name) override { return node_change(wire::MetaOp::kRemove, name); }
  Result<ChangeResult> promote_node(std::string_view name) override {
    return node_change(wire::MetaOp::kPromote, name);
  }
  Result<ChangeResult> demote_node(std::string_view name) override { return node_change(wire::MetaOp::kDemote, name); }

 private:
  std::string keyspace(const std::string& ks) const { return ks.empty() ? options_.keyspace : ks; }

  static Status check_write(std::string_view key, const WriteOptions& o) {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    if (o.w && (*o.w < 1 || *o.w > 255)) {
      return Status::InvalidArgument("W=" + std::to_string(*o.w) + " is out of range: W must be at least 1");
    }
    return Status::Ok();
  }

  static Status unexpected(const wire::Message& m) {
    if (auto* e = std::get_if<wire::ErrorReply>(&m.body)) return error_of(*e);
    return Status::ProtocolError("unexpected reply type " +
                                 std::to_string(static_cast<int>(wire::type_of(m.body))));
  }

  Result<ChangeResult> node_change(wire::MetaOp op, std::string_view name) {
    if (name.empty()) return Status::InvalidArgument("no node name given");
    wire::MetaChangeRequest req;
    req.op = op;
    req.node = std::string(name);
    return change(std::move(req));
  }

  Result<ChangeResult> keyspace_change(wire::MetaOp op, const KeyspaceSpec& spec) {
    if (spec.name.empty()) return Status::InvalidArgument("no keyspace name given");
    auto quorum = [](int v, const char* what) -> Status {
      if (v < 0 || v > 255) return Status::InvalidArgument(std::string(what) + "=" + std::to_string(v) + " is out of range 1..255");
      return Status::Ok();
    };
    for (auto [v, what] : {std::pair{spec.n, "n"}, std::pair{spec.r, "r"}, std::pair{spec.w, "w"}}) {
      Status s = quorum(v, what);
      if (!s.ok()) return s;
    }
    wire::MetaChangeRequest req;
    req.op = op;
    req.keyspace = spec.name;
    req.n = static_cast<uint8_t>(spec.n);
    req.r = static_cast<uint8_t>(spec.r);
    req.w = static_cast<uint8_t>(spec.w);
    if (spec.mode == "siblings") {
      req.mode = 1;
    } else if (spec.mode == "lww") {
      req.mode = 2;
    } else if (!spec.mode.empty()) {
      return Status::InvalidArgument("mode must be 'siblings' or 'lww', not '" + spec.mode + "'");
    }
    return change(std::move(req));
  }

  Result<ChangeResult> change(wire::MetaChangeRequest req) {
    auto reply = metadata(std::move(req));
    if (!reply.ok()) return reply.status();
    if (auto* r = std::get_if<wire::MetaChangeReply>(&reply->body)) return ChangeResult{r->epoch, r->index, r->node_id};
    return unexpected(*reply);
  }

  // A metadata request, retried while the group cannot take it yet (no
  // leader, a leader not yet settled, a change that leadership lost): those
  // answers say the change was not made, so sending it again is safe.
  Result<wire::Message> metadata(wire::Body body) {
    auto deadline = Clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
    for (;;) {
      auto reply = call(body, /*idempotent=*/false, /*skip_unavailable=*/false);
      Status s = reply.ok() ? Status::Ok() : reply.status();
      if (reply.ok()) {
        if (auto* e = std::get_if<wire::ErrorReply>(&reply->body)) s = error_of(*e);
      }
      bool again = s.code() == Code::kNotLeader || s.code() == Code::kAborted ||
                   (s.code() == Code::kUnavailable && reply.ok());
      if (!again || Clock::now() + std::chrono::milliseconds(25) > deadline) return reply;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

  static Result<NodeStatus> to_status(const wire::Message& m, std::string endpoint) {
    if (auto* r = std::get_if<wire::StatusReply>(&m.body)) return NodeStatus{std::move(endpoint), r->fields};
    return unexpected(m);
  }

  Clock::time_point deadline_for(const wire::Body& body) const {
    uint32_t server = 0;
    if (auto* p = std::get_if<wire::PutRequest>(&body)) server = p->options.timeout_ms;
    if (auto* g = std::get_if<wire::GetRequest>(&body)) server = g->options.timeout_ms;
    if (auto* d = std::get_if<wire::DeleteRequest>(&body)) server = d->options.timeout_ms;
    return Clock::now() + std::chrono::milliseconds(server + options_.request_timeout_ms);
  }

  Result<wire::Message> roundtrip(Connection& conn, wire::Body body) {
    uint64_t id = next_id_++;
    auto deadline = deadline_for(body);
    Status s = conn.send(wire::Message{id, std::move(body)}, deadline);
    if (!s.ok()) return s;
    for (;;) {
      auto m = conn.receive(deadline);
      if (!m.ok()) return m.status();
      if (m->request_id == id) return m;
      // A reply to a request we gave up on: skip it.
    }
  }

  // Sends to the current endpoint, moving on to the next when one cannot be
  // reached. A request that may have reached a node is retried elsewhere only
  // when it is idempotent: a put without context re-sent would add a sibling.
  // `skip_unavailable`: an Unavailable answer (a node shutting down) moves on
  // to the next endpoint; metadata requests take it back instead, to retry.
  Result<wire::Message> call(wire::Body body, bool idempotent, bool skip_unavailable = true) {
    std::string failures;
    for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
      const HostPort& ep = endpoints_[current_];
      // A node that died while the connection sat idle: reconnect (to it or,
      // failing that, the next endpoint) before sending, so the request is
      // known not to have been sent and may go elsewhere.
      if (conn_.is_open() && conn_.peer_closed()) conn_.close();
      if (!conn_.is_open()) {
        auto c = Connection::open(ep, options_.connect_timeout_ms);
        if (!c.ok()) {
          failures += (failures.empty() ? "" : "; ") + c.status().message();
          current_ = (current_ + 1) % endpoints_.size();
          continue;
        }
        conn_ = std::move(*c);
      }
      uint64_t id = next_id_++;
      auto deadline = deadline_for(body);
      bool wrote_any = false;
      Status s = conn_.send(wire::Message{id, body}, deadline, &wrote_any);
      if (s.ok()) {
        for (;;) {
          auto m = conn_.receive(deadline);
          if (!m.ok()) {
            s = m.status();
            break;
          }
          if (m->request_id != id) continue;
          if (auto* e = std::get_if<wire::ErrorReply>(&m->body)) {
            // A node that is shutting down has not run the request: go elsewhere.
            if (e->code == Code::kUnavailable && skip_unavailable && endpoints_.size() > 1) {
              s = error_of(*e);
              wrote_any = false;
              break;
            }
          }
          return m;
        }
      }
      conn_.close();
      failures += (failures.empty() ? "" : "; ") + ep.to_string() + ": " + s.message();
      current_ = (current_ + 1) % endpoints_.size();
      if (s.code() == Code::kTimeout) return s;
      if (wrote_any && !idempotent) {
        return Status::Unavailable("lost the connection to " + ep.to_string() +
                                   " after sending the request; it may or may not have been applied (" +
                                   s.message() + ")");
      }
    }
    return Status::Unavailable("no node reachable: " + failures);
  }

  ClientOptions options_;
  std::vector<HostPort> endpoints_;
  size_t current_ = 0;
  Connection conn_;
  uint64_t next_id_ = 1;
};

}  // namespace

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no endpoints given");
  std::vector<HostPort> eps;
  for (const auto& e : options.endpoints) {
    auto list = parse_endpoint_list(e);
    if (!list.ok()) return list.status();
    eps.insert(eps.end(), list->begin(), list->end());
  }
  if (options.keyspace.empty()) options.keyspace = "default";
  return std::unique_ptr<Client>(new SyncClient(std::move(options), std::move(eps)));
}

}  // namespace tally
