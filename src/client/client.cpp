// The synchronous client: one blocking connection at a time, failing over
// across the configured endpoints.
#include "tally/client.hpp"

#include <algorithm>

#include "client/connection.hpp"
#include "common/address.hpp"

namespace tally {

std::string NodeStatus::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return {};
}

namespace {

using client::Clock;
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
  Result<wire::Message> call(wire::Body body, bool idempotent) {
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
            if (e->code == Code::kUnavailable && endpoints_.size() > 1) {
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
