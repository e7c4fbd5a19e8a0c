#include "node/node.hpp"

namespace tally {

namespace {

// Until Raft assigns ids, a node's id is its 1-based position in the config's
// node list: the same on every node, for as long as the file is.
ring::NodeId id_of(const ClusterConfig& cfg, const std::string& name) {
  for (size_t i = 0; i < cfg.nodes.size(); ++i) {
    if (cfg.nodes[i].id == name) return static_cast<ring::NodeId>(i + 1);
  }
  return ring::kNoNode;
}

}  // namespace

Node::Node(Env& env, ClusterConfig config, NodeEntry self, NodeTimings timings, std::string join)
    : env_(env),
      config_(std::move(config)),
      self_(std::move(self)),
      timings_(timings),
      log_(env.log().child(self_.id)),
      join_(std::move(join)),
      id_(join_.empty() ? id_of(config_, self_.id) : ring::kNoNode),
      store_(env.disk(), config_.durability, [&env](std::function<void()> fn) { env.defer(std::move(fn)); },
             config_.record_cache_bytes),
      hints_(store_, config_.max_hints,
             [this](const std::string& keyspace, const quorum::DvvSet& a, const quorum::DvvSet& b) {
               return merge(keyspace, a, b);
             }),
      clock_(id_),
      meta_(env, log_.child("meta"),
            MetaGroup::Hooks{[this](raft::Message m) { send_raft(std::move(m)); },
                             [this](const meta::ClusterMap& map) { adopt(map, "metadata log"); }}) {
  decode_limits_.max_bytes = config_.limits.max_frame_bytes;
}

Node::~Node() = default;

Result<meta::ClusterMap> Node::initial_map(const ClusterConfig& config) {
  std::vector<meta::Member> members;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    const auto& n = config.nodes[i];
    members.push_back(meta::Member{static_cast<ring::NodeId>(i + 1), n.id, n.listen.to_string(), n.zone, {}});
  }
  return meta::bootstrap(std::move(members), config.keyspaces);
}

Status Node::start() {
  started_us_ = env_.now_us();
  Status s = env_.listen(self_.listen, this);
  if (!s.ok()) return s;
  if (self_.resp_listen) {
    RespSessionOptions o;
    o.limits = RespServer::limits_for(config_.limits);
    o.version = std::string(kTallyVersion);
    resp_ = std::make_unique<RespServer>(env_, *this, std::move(o), log_.child("resp"));
    s = resp_->start(*self_.resp_listen);
    if (!s.ok()) return Status(s.code(), "RESP listener: " + s.message());
    TALLY_LOG(log_, kInfo) << "speaking the Redis protocol on " << self_.resp_listen->to_string();
  }
  hints_.load([this](Status st) {
    if (!st.ok()) {
      TALLY_LOG(log_, kError) << "cannot count hints: " << st.to_string();
    }
  });
  heartbeat_timer_ = env_.set_timer(timings_.heartbeat_interval_us, [this] { send_heartbeats(); });
  replay_timer_ = env_.set_timer(timings_.hint_replay_interval_us, [this] { replay_hints(); });
  TALLY_LOG(log_, kInfo) << "listening on " << self_.listen.to_string() << " (durability "
                         << durability_name(config_.durability) << ")"
                         << (join_.empty() ? "" : ", joining through " + join_);
  if (join_.empty() && !genesis_) {
    auto genesis = initial_map(config_);
    if (!genesis.ok()) return genesis.status();
    genesis_ = std::move(*genesis);
  }
  start_metadata();
  return Status::Ok();
}

void Node::stop(std::function<void()> done) {
  stopping_ = true;
  env_.cancel_timer(heartbeat_timer_);
  env_.cancel_timer(replay_timer_);
  if (join_timer_) env_.cancel_timer(join_timer_);
  meta_.stop();
  if (resp_) resp_->stop();
  if (writes_in_flight_ == 0) {
    done();
  } else {
    TALLY_LOG(log_, kInfo) << "waiting for " << writes_in_flight_ << " writes to finish";
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
void Node::on_connected(ConnId) {}

void Node::on_closed(ConnId conn, const Status& why) {
  conns_.erase(conn);
  for (auto it = raft_inbound_.begin(); it != raft_inbound_.end();) {
    it = it->second == conn ? raft_inbound_.erase(it) : std::next(it);
  }
  fail_calls_on(conn, why);
}

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
  if (wire::is_reply(wire::type_of(msg->body))) {
    on_reply(conn, std::move(*msg));
    return;
  }
  if (auto* raft = std::get_if<wire::RaftMessage>(&msg->body)) {
    on_raft(conn, *raft);
    return;
  }
  if (auto* ping = std::get_if<wire::PingRequest>(&msg->body)) adopt_peer_conn(conn, ping->from);
  uint64_t id = msg->request_id;
  dispatch(std::move(*msg), responder(conn, id));
}

void Node::submit(wire::Body request, Respond respond) {
  dispatch(wire::Message{0, std::move(request)}, std::move(respond));
}

Node::Respond Node::responder(ConnId conn, uint64_t id) {
  return [this, conn, id](wire::Body body) { reply(conn, id, std::move(body)); };
}

void Node::fail(const Respond& respond, const Status& status) {
  respond(wire::ErrorReply{status.code(), status.message()});
}

// The request table: one small function per message type.
void Node::dispatch(wire::Message msg, Respond respond, bool refreshed) {
  if (!refreshed) ++requests_;
  if (stopping_) return fail(respond, Status::Unavailable("node " + self_.id + " is shutting down"));
  const wire::MsgType type = wire::type_of(msg.body);
  const bool data = type == wire::MsgType::kPut || type == wire::MsgType::kGet || type == wire::MsgType::kDelete ||
                    type == wire::MsgType::kReplicaWrite || type == wire::MsgType::kReplicaRead;
  if (data && map_.epoch == 0) {
    return fail(respond, Status::Unavailable("node " + self_.id + " has no cluster map yet (" +
                                             (join_.empty() ? "reading its metadata log" : "joining") + ")"));
  }
  // A keyspace this node does not know may be one created a moment ago: ask
  // the metadata leader for its map once before saying it does not exist.
  auto unknown_keyspace = [&](const Status& s) {
    if (s.code() != Code::kUnknownKeyspace || refreshed || meta_.leader() == raft::kNoNode ||
        meta_.leader() == id_) {
      return false;
    }
    refresh_map(ring::kNoNode, [this, msg, respond]() mutable { dispatch(std::move(msg), std::move(respond), true); });
    return true;
  };
  const bool from_peer = type == wire::MsgType::kReplicaWrite || type == wire::MsgType::kReplicaRead ||
                         (type == wire::MsgType::kPing && std::get<wire::PingRequest>(msg.body).from != 0);
  if (from_peer && fault_silent_) return;  // playing dead to the other nodes
  if (from_peer && fault_delay_ms_ && type != wire::MsgType::kPing) {
    respond = [this, respond = std::move(respond)](wire::Body body) {
      env_.set_timer(uint64_t{fault_delay_ms_} * 1000,
                     [respond, body = std::move(body)]() mutable { respond(std::move(body)); });
    };
  }
  switch (type) {
    case wire::MsgType::kPing:
      return respond(wire::PingReply{self_.id});
    case wire::MsgType::kFault: {
      const auto& f = std::get<wire::FaultRequest>(msg.body);
      fault_delay_ms_ = f.delay_ms;
      fault_silent_ = f.silent;
      TALLY_LOG(log_, kWarn) << "fault injection: "
                             << (f.silent ? std::string("silent to the other nodes")
                                 : f.delay_ms ? "replica answers delayed by " + std::to_string(f.delay_ms) + " ms"
                                              : std::string("none"));
      return respond(wire::FaultReply{});
    }
    case wire::MsgType::kStatus:
      return handle_status(respond);
    case wire::MsgType::kPut: {
      auto& req = std::get<wire::PutRequest>(msg.body);
      auto ks = check(req.keyspace, req.key, req.options, true);
      if (ks.ok() && req.value.size() > config_.limits.max_value_bytes) {
        ks = Status::TooLarge("value is " + std::to_string(req.value.size()) + " bytes, the limit is " +
                              std::to_string(config_.limits.max_value_bytes));
      }
      if (!ks.ok()) return unknown_keyspace(ks.status()) ? void() : fail(respond, ks.status());
      if (forward_unless_replica(respond, *ks, req.key, req.options, msg.body)) return;
      auto ctx = net::decode_context(req.context);
      if (!ctx.ok()) return fail(respond, ctx.status());
      quorum::ClientWrite write = quorum::ClientWrite::Put(std::move(req.value), clock_.now(env_.wall_ms()));
      bool blind = req.options.overwrite && req.context.empty();
      return coordinate_write(std::move(respond), *ks, std::move(req.key), std::move(write), std::move(*ctx), blind,
                              req.options, false);
    }
    case wire::MsgType::kDelete: {
      auto& req = std::get<wire::DeleteRequest>(msg.body);
      auto ks = check(req.keyspace, req.key, req.options, true);
      if (!ks.ok()) return unknown_keyspace(ks.status()) ? void() : fail(respond, ks.status());
      if (forward_unless_replica(respond, *ks, req.key, req.options, msg.body)) return;
      auto ctx = net::decode_context(req.context);
      if (!ctx.ok()) return fail(respond, ctx.status());
      // A delete without a context deletes every version the coordinating
      // replica holds (as Riak's client reads before it deletes): a user who
      // types `tally del k` means the key, not one more concurrent version.
      bool blind = req.context.empty();
      return coordinate_write(std::move(respond), *ks, std::move(req.key),
                              quorum::ClientWrite::Delete(clock_.now(env_.wall_ms())), std::move(*ctx), blind,
                              req.options, true);
    }
    case wire::MsgType::kGet: {
      auto& req = std::get<wire::GetRequest>(msg.body);
      auto ks = check(req.keyspace, req.key, req.options, false);
      if (!ks.ok()) return unknown_keyspace(ks.status()) ? void() : fail(respond, ks.status());
      return coordinate_get(std::move(respond), *ks, std::move(req.key), req.options);
    }
    case wire::MsgType::kReplicaWrite: {
      auto& req = std::get<wire::ReplicaWrite>(msg.body);
      saw_epoch(req.epoch, ring::kNoNode);
      return handle_replica_write(std::move(respond), req);
    }
    case wire::MsgType::kReplicaRead: {
      auto& req = std::get<wire::ReplicaRead>(msg.body);
      saw_epoch(req.epoch, ring::kNoNode);
      return handle_replica_read(std::move(respond), req);
    }
    case wire::MsgType::kClusterInfo:
      return handle_cluster_info(std::get<wire::ClusterInfoRequest>(msg.body), std::move(respond));
    case wire::MsgType::kMetaChange:
      return handle_meta_change(std::move(std::get<wire::MetaChangeRequest>(msg.body)), std::move(respond));
    default:
      ++protocol_errors_;
      fail(respond, Status::ProtocolError("message type " + std::to_string(static_cast<int>(type)) +
                                          " is not a request"));
  }
}

Result<meta::Keyspace> Node::check(const std::string& keyspace, const std::string& key,
                                   const wire::RequestOptions& opt, bool write) const {
  const meta::Keyspace* ks = map_.keyspace(keyspace);
  if (!ks) {
    std::string known;
    for (const auto& k : map_.keyspaces) known += (known.empty() ? "" : ", ") + k.name;
    return Status::UnknownKeyspace("keyspace '" + keyspace + "' does not exist (there are: " + known + ")");
  }
  if (key.empty()) return Status::InvalidArgument("key must not be empty");
  if (key.size() > config_.limits.max_key_bytes) {
    return Status::TooLarge("key is " + std::to_string(key.size()) + " bytes, the limit is " +
                            std::to_string(config_.limits.max_key_bytes));
  }
  int n = replicas_for(*ks);
  int asked = write ? opt.w : opt.r;
  if (asked > n) {
    return Status::InvalidArgument(std::string(write ? "W=" : "R=") + std::to_string(asked) +
                                   " is out of range 1..N=" + std::to_string(n) + " of keyspace '" +
                                   keyspace + "'");
  }
  return *ks;
}

uint32_t Node::timeout_ms(const wire::RequestOptions& opt) const {
  return opt.timeout_ms ? opt.timeout_ms : config_.request_timeout_ms;
}

std::string Node::name_of(ring::NodeId id) const {
  const meta::Member* m = known_member(id);
  return m ? m->name : "node " + std::to_string(id);
}

void Node::reply(ConnId conn, uint64_t id, wire::Body body) {
  env_.send(conn, net::encode_payload(wire::Message{id, std::move(body)}));
}

void Node::handle_status(const Respond& respond) {
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
  const auto& cache = store_.cache();
  add("record_cache", std::to_string(cache.entries()) + " records, " + std::to_string(cache.bytes() >> 20) + " of " +
                          std::to_string(config_.record_cache_bytes >> 20) + " MiB, " + std::to_string(cache.hits()) +
                          " hits, " + std::to_string(cache.misses()) + " misses");
  add("node_id", std::to_string(id_));
  add("ring_epoch", std::to_string(map_.epoch));
  add("meta_role", meta_.role_name());
  add("meta_term", std::to_string(meta_.term()));
  add("meta_leader", meta_.leader() ? name_of(meta_.leader()) : "unknown");
  add("meta_commit", std::to_string(meta_.commit_index()));
  add("meta_applied", std::to_string(meta_.applied_index()));
  add("ring", std::to_string(ring_.node_count()) + " nodes, " + std::to_string(ring_.token_count()) + " tokens");
  std::string peers;
  for (const auto& m : map_.members) {
    if (m.id == id_ || m.state == meta::NodeState::kRemoved) continue;
    peers += (peers.empty() ? "" : " ") + m.name + (is_up(m.id) ? ":up" : ":down");
  }
  add("peers", peers);
  std::string keyspaces;
  for (const auto& k : map_.keyspaces) {
    keyspaces += (keyspaces.empty() ? "" : " ") + k.name + "(N=" + std::to_string(replicas_for(k)) +
                 ",R=" + std::to_string(k.r) + ",W=" + std::to_string(k.w) +
                 (k.mode == meta::ConflictMode::kLww ? ",lww)" : ",siblings)");
  }
  add("keyspaces", keyspaces);
  add("hints_pending", std::to_string(hints_.count()));
  add("hints_refused", std::to_string(hints_.refused()));
  add("hints_delivered", std::to_string(hints_delivered_));
  add("connections", std::to_string(conns_.size()));
  if (resp_) {
    add("resp_listen", self_.resp_listen->to_string());
    add("resp_connections", std::to_string(resp_->connections()));
  }
  add("requests", std::to_string(requests_));
  add("forwarded", std::to_string(forwarded_));
  add("quorum_failures", std::to_string(quorum_failures_));
  add("read_repairs", std::to_string(read_repairs_));
  if (fault_silent_ || fault_delay_ms_) {
    add("fault", fault_silent_ ? "silent" : "delay " + std::to_string(fault_delay_ms_) + " ms");
  }
  add("protocol_errors", std::to_string(protocol_errors_));
  add("records_written", std::to_string(st.writes));
  add("write_batches", std::to_string(st.batches));
  add("reads", std::to_string(st.reads));
  respond(std::move(r));
}

}  // namespace tally
