#include "node/node.hpp"

#include "quorum/dvv.hpp"

namespace tally {

namespace {

// Until cluster metadata assigns ids, a node's replica id is its 1-based
// position in the config's node list: stable for as long as the file is.
quorum::ReplicaId replica_id_of(const ClusterConfig& cfg, const std::string& id) {
  for (size_t i = 0; i < cfg.nodes.size(); ++i) {
    if (cfg.nodes[i].id == id) return static_cast<quorum::ReplicaId>(i + 1);
  }
  return 0;
}

constexpr std::string_view kDefaultKeyspace = "default";
// A node serves its keys alone until the quorum data path lands.
constexpr int kReplicasServed = 1;

}  // namespace

Node::Node(Env& env, ClusterConfig config, NodeEntry self)
    : env_(env),
      config_(std::move(config)),
      self_(std::move(self)),
      replica_id_(replica_id_of(config_, self_.id)),
      log_(env.log().child(self_.id)),
      store_(env.disk(), config_.durability, [&env](std::function<void()> fn) { env.defer(std::move(fn)); }),
      clock_(replica_id_) {
  decode_limits_.max_bytes = config_.limits.max_frame_bytes;
}

Status Node::start() {
  started_us_ = env_.now_us();
  Status s = env_.listen(self_.listen, this);
  if (!s.ok()) return s;
  TALLY_LOG(log_, kInfo) << "listening on " << self_.listen.to_string() << " (durability "
                         << durability_name(config_.durability) << ")";
  return Status::Ok();
}

void Node::stop(std::function<void()> done) {
  stopping_ = true;
  if (writes_in_flight_ == 0) {
    done();
  } else {
    TALLY_LOG(log_, kInfo) << "waiting for " << writes_in_flight_ << " writes to reach the disk";
    on_drained_ = std::move(done);
  }
}

void Node::write_started() { ++writes_in_flight_; }

void Node::write_finished() {
  if (--writes_in_flight_ == 0 && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    done();
  }
}

void Node::on_accept(ConnId conn) { conns_.insert(conn); }
void Node::on_connected(ConnId conn) { conns_.insert(conn); }
void Node::on_closed(ConnId conn, const Status&) { conns_.erase(conn); }

void Node::on_frame(ConnId conn, std::string_view payload) {
  auto msg = net::decode_payload(payload, decode_limits_);
  if (!msg.ok()) {
    // A frame that does not decode: we cannot know which request it was, so
    // we cannot answer it. Close this connection alone (DESIGN.md §6).
    ++protocol_errors_;
    TALLY_LOG(log_, kWarn) << "closing connection " << conn << ": " << msg.status().to_string();
    env_.close(conn, msg.status());
    return;
  }
  handle(conn, std::move(*msg));
}

// The request table: one small function per message type.
void Node::handle(ConnId conn, wire::Message msg) {
  ++requests_;
  if (stopping_) {
    reply_error(conn, msg.request_id, Status::Unavailable("node " + self_.id + " is shutting down"));
    return;
  }
  switch (wire::type_of(msg.body)) {
    case wire::MsgType::kPing: return handle_ping(conn, msg.request_id);
    case wire::MsgType::kPut: return handle_put(conn, msg.request_id, std::get<wire::PutRequest>(msg.body));
    case wire::MsgType::kGet: return handle_get(conn, msg.request_id, std::get<wire::GetRequest>(msg.body));
    case wire::MsgType::kDelete:
      return handle_delete(conn, msg.request_id, std::get<wire::DeleteRequest>(msg.body));
    case wire::MsgType::kStatus: return handle_status(conn, msg.request_id);
    default:
      ++protocol_errors_;
      reply_error(conn, msg.request_id,
                  Status::ProtocolError("message type " +
                                        std::to_string(static_cast<int>(wire::type_of(msg.body))) +
                                        " is a reply, not a request"));
  }
}

Status Node::validate(const std::string& keyspace, const std::string& key,
                      const wire::RequestOptions& opt) const {
  if (keyspace != kDefaultKeyspace) {
    return Status::UnknownKeyspace("keyspace '" + keyspace + "' does not exist (this node has: default)");
  }
  if (key.empty()) return Status::InvalidArgument("key must not be empty");
  if (key.size() > config_.limits.max_key_bytes) {
    return Status::TooLarge("key is " + std::to_string(key.size()) + " bytes, the limit is " +
                            std::to_string(config_.limits.max_key_bytes));
  }
  for (auto [name, v] : {std::pair{"R", opt.r}, std::pair{"W", opt.w}}) {
    if (v > kReplicasServed) {
      return Status::InvalidArgument(std::string(name) + "=" + std::to_string(v) + " exceeds N=" +
                                     std::to_string(kReplicasServed) + " of keyspace '" + keyspace +
                                     "' (this node serves its keys alone)");
    }
  }
  return Status::Ok();
}

void Node::reply(ConnId conn, uint64_t id, wire::Body body) {
  env_.send(conn, net::encode_payload(wire::Message{id, std::move(body)}));
}

void Node::reply_error(ConnId conn, uint64_t id, const Status& status) {
  reply(conn, id, wire::ErrorReply{status.code(), status.message()});
}

void Node::handle_ping(ConnId conn, uint64_t id) { reply(conn, id, wire::PingReply{self_.id}); }

void Node::handle_put(ConnId conn, uint64_t id, wire::PutRequest& req) {
  Status s = validate(req.keyspace, req.key, req.options);
  if (s.ok() && req.value.size() > config_.limits.max_value_bytes) {
    s = Status::TooLarge("value is " + std::to_string(req.value.size()) + " bytes, the limit is " +
                         std::to_string(config_.limits.max_value_bytes));
  }
  auto ctx = net::decode_context(req.context);
  if (s.ok() && !ctx.ok()) s = ctx.status();
  if (!s.ok()) return reply_error(conn, id, s);

  quorum::ClientWrite write = quorum::ClientWrite::Put(std::move(req.value), clock_.now(env_.wall_ms()));
  write_started();
  store_.update(
      req.keyspace, req.key,
      [this, ctx = std::move(*ctx), write = std::move(write)](const std::optional<quorum::DvvSet>& cur) {
        return quorum::update(cur.value_or(quorum::DvvSet{}), ctx, write, replica_id_);
      },
      [this, conn, id](Result<quorum::DvvSet> r) {
        if (r.ok()) {
          reply(conn, id, wire::PutReply{net::encode_context(quorum::join(*r))});
        } else {
          reply_error(conn, id, r.status());
        }
        write_finished();
      });
}

void Node::handle_get(ConnId conn, uint64_t id, wire::GetRequest& req) {
  Status s = validate(req.keyspace, req.key, req.options);
  if (!s.ok()) return reply_error(conn, id, s);
  store_.get(req.keyspace, req.key, [this, conn, id](Result<std::optional<quorum::DvvSet>> r) {
    if (!r.ok()) return reply_error(conn, id, r.status());
    wire::GetReply out;
    if (r->has_value()) {
      out.values = quorum::values(**r);
      out.context = net::encode_context(quorum::join(**r));
    }
    reply(conn, id, std::move(out));
  });
}

void Node::handle_delete(ConnId conn, uint64_t id, wire::DeleteRequest& req) {
  Status s = validate(req.keyspace, req.key, req.options);
  auto ctx = net::decode_context(req.context);
  if (s.ok() && !ctx.ok()) s = ctx.status();
  if (!s.ok()) return reply_error(conn, id, s);
  quorum::ClientWrite write = quorum::ClientWrite::Delete(clock_.now(env_.wall_ms()));
  write_started();
  store_.update(
      req.keyspace, req.key,
      [this, ctx = std::move(*ctx), write, blind = req.context.empty()](
          const std::optional<quorum::DvvSet>& cur) {
        // A delete without a context deletes every version the replica holds
        // (as Riak's client reads before it deletes): a user who types
        // `tally del k` means the key, not one more concurrent version.
        const quorum::DvvSet state = cur.value_or(quorum::DvvSet{});
        return quorum::update(state, blind ? quorum::join(state) : ctx, write, replica_id_);
      },
      [this, conn, id](Result<quorum::DvvSet> r) {
        if (r.ok()) {
          reply(conn, id, wire::DeleteReply{});
        } else {
          reply_error(conn, id, r.status());
        }
        write_finished();
      });
}

void Node::handle_status(ConnId conn, uint64_t id) {
  const auto& st = store_.stats();
  wire::StatusReply r;
  auto add = [&](std::string k, std::string v) { r.fields.emplace_back(std::move(k), std::move(v)); };
  add("node", self_.id);
  add("version", std::string(kTallyVersion));
  add("listen", self_.listen.to_string());
  add("zone", self_.zone);
  add("uptime_ms", std::to_string((env_.now_us() - started_us_) / 1000));
  add("durability", std::string(durability_name(config_.durability)));
  add("store", store_.health().ok() ? "ok" : store_.health().to_string());
  add("connections", std::to_string(conns_.size()));
  add("requests", std::to_string(requests_));
  add("protocol_errors", std::to_string(protocol_errors_));
  add("records_written", std::to_string(st.writes));
  add("write_batches", std::to_string(st.batches));
  add("reads", std::to_string(st.reads));
  reply(conn, id, std::move(r));
}

}  // namespace tally
