#include "node/node.hpp"

#include <algorithm>

#include "net/codec.hpp"

namespace tally {

namespace {

// What only other nodes and administrators may send (docs/security.md): on a
// cluster with a secret, refused on connections that have not proved it.
// Clients keep puts, gets, deletes, status, cluster info, pings and their
// own reads of one node's copy.
bool only_from_peers(const wire::Body& body) {
  switch (wire::type_of(body)) {
    case wire::MsgType::kReplicaWrite:
    case wire::MsgType::kReplicaRead:
    case wire::MsgType::kRaft:
    case wire::MsgType::kStream:
    case wire::MsgType::kAeCompare:
    case wire::MsgType::kAeFetch:
    case wire::MsgType::kAePush:
    case wire::MsgType::kMetaChange:  // membership and keyspaces: administrators and joining nodes
    case wire::MsgType::kFault:
    case wire::MsgType::kRepair:
    case wire::MsgType::kPaxos:
      return true;
    case wire::MsgType::kPing:  // a heartbeat names its sender; a client's ping does not
      return std::get<wire::PingRequest>(body).from != 0;
    case wire::MsgType::kLocalGet:
      return std::get<wire::LocalGetRequest>(body).forwarded;
    case wire::MsgType::kPut:
      return std::get<wire::PutRequest>(body).options.forwarded;
    case wire::MsgType::kGet:
      return std::get<wire::GetRequest>(body).options.forwarded;
    case wire::MsgType::kDelete:
      return std::get<wire::DeleteRequest>(body).options.forwarded;
    default:
      return false;
  }
}

}  // namespace

Node::Node(Env& env, ClusterConfig config, NodeEntry self, NodeTimings timings, std::string join,
           NodeFeatures features)
    : env_(env),
      config_(std::move(config)),
      self_(std::move(self)),
      log_(env.log().child(self_.id)),
      store_(env.disk(), config_.durability, [&env](std::function<void()> fn) { env.defer(std::move(fn)); },
             config_.record_cache_bytes, config_.key_filter_bytes),
      recovery_(env, log_.child("store"), stats_,
                DiskRecovery::Hooks{[this](const Status& why) { store_.disk_failed(why); },
                                    [this] {
                                      // The store first: the others read back through it.
                                      store_.disk_reopened();
                                      replica_.disk_reopened();
                                      anti_entropy_.disk_reopened();
                                    }}),
      features_(features),
      auth_(env, log_.child("auth"), stats_, config_.secret, self_.id, config_.requirepass),
      meta_(env, log_.child("meta"),
            MetaGroup::Hooks{[this](raft::Message m) { peers_.send_raft(std::move(m)); },
                             [this](const meta::ClusterMap& map) { follower_.adopt(map, "metadata log"); },
                             [this](std::function<void()> fn) { recovery_.when_writable(std::move(fn)); }}),
      // The follower keeps a reference to peers_, built next; it calls it from start() on.
      follower_(env, log_, config_, self_, std::move(join), meta_, peers_),
      peers_(env, log_, follower_.view(), auth_,
             PeerLink::Hooks{[this](ring::NodeId id) { return follower_.known_member(id); }},
             timings.heartbeat_interval_us),
      limiter_(uint64_t{config_.stream_rate_mb} << 20),
      replica_(env, log_, follower_.view(), store_, peers_, stats_, drain_,
               ReplicaOptions{config_.max_hints, timings.hint_replay_interval_us, timings.hints_per_replay,
                              &limiter_, uint64_t{config_.anti_entropy.tombstone_grace_s} * 1000}),
      streamer_(env, log_.child("stream"), follower_.view(), store_, replica_, peers_, stats_, limiter_,
                [this](wire::MetaChangeRequest req, Respond respond) {
                  follower_.handle_meta_change(std::move(req), std::move(respond));
                },
                [this](uint64_t epoch, ring::NodeId from) { follower_.saw_epoch(epoch, from); },
                timings.stream),
      cleanup_(env, log_.child("cleanup"), follower_.view(), store_, replica_, stats_,
               CleanupOptions{.grace_us = uint64_t{config_.cleanup_grace_s} * 1'000'000,
                              .check_interval_us = timings.cleanup_check_interval_us}),
      anti_entropy_(env, log_.child("ae"), follower_.view(), store_, peers_, stats_, replica_,
                    AntiEntropyOptions{.interval_us = uint64_t{config_.anti_entropy.interval_ms} * 1000,
                                       .bytes_per_sec = uint64_t{config_.anti_entropy.rate_kb_per_sec} * 1024,
                                       .tombstone_grace_us = uint64_t{config_.anti_entropy.tombstone_grace_s} * 1'000'000,
                                       .background = config_.anti_entropy.background},
                    AntiEntropy::Hooks{[this](uint64_t epoch, ring::NodeId from) {
                      follower_.saw_epoch(epoch, from);
                    }}),
      paxos_(follower_.view(), store_, stats_, drain_),
      coordinator_(CoordinatorContext{env, log_, follower_.view(), peers_, store_, replica_, stats_, drain_,
                                      [this](uint64_t epoch, ring::NodeId from) {
                                        follower_.saw_epoch(epoch, from);
                                      },
                                      [this](ring::NodeId from, std::function<void()> then) {
                                        follower_.refresh(from, std::move(then));
                                      },
                                      paxos_},
                   CoordinatorOptions{self_.id, config_.request_timeout_ms, config_.limits.max_key_bytes,
                                      config_.limits.max_value_bytes}),
      local_get_(follower_.view(), store_, peers_,
                 LocalGetOptions{self_.id, config_.request_timeout_ms, config_.limits.max_key_bytes}) {}

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
  stats_.set_started(env_.now_us());
  Status s = env_.listen(self_.listen, this);
  if (!s.ok()) return s;
  if (self_.resp_listen) {
    RespSessionOptions o;
    o.limits = RespServer::limits_for(config_.limits);
    o.version = std::string(kVersion);
    o.password = config_.requirepass;
    o.wrong_password = [this] { stats_.add(Counter::kPasswordFailures); };
    resp_ = std::make_unique<RespServer>(env_, *this, std::move(o), log_.child("resp"));
    s = resp_->start(*self_.resp_listen);
    if (!s.ok()) return Status(s.code(), "RESP listener: " + s.message());
    TALLY_LOG(log_, kInfo) << "speaking the Redis protocol on " << self_.resp_listen->to_string();
  }
  if (self_.metrics_listen) {
    metrics_ = std::make_unique<MetricsServer>(env_, [this] { return metrics_text(); }, stats_,
                                               log_.child("metrics"));
    s = metrics_->start(*self_.metrics_listen);
    if (!s.ok()) return Status(s.code(), "metrics listener: " + s.message());
  }
  recovery_.start();
  store_.start_key_filter();
  replica_.start();
  streamer_.start();
  cleanup_.start();
  store_.set_observer([this](const std::string& dkey, const quorum::DvvSet* record) {
    anti_entropy_.observe(dkey, record);
  });
  anti_entropy_.start();
  peers_.start();
  TALLY_LOG(log_, kInfo) << "listening on " << self_.listen.to_string() << " (durability "
                         << durability_name(config_.durability) << ")"
                         << (follower_.joining() ? ", joining through " + follower_.join_through() : "");
  if (!follower_.joining() && !follower_.has_genesis()) {
    auto genesis = initial_map(config_);
    if (!genesis.ok()) return genesis.status();
    follower_.set_genesis(std::move(*genesis));
  }
  follower_.start();
  return Status::Ok();
}

void Node::stop(std::function<void()> done) {
  stopping_ = true;
  recovery_.stop();
  peers_.stop();
  replica_.stop();
  streamer_.stop();
  cleanup_.stop();
  anti_entropy_.stop();
  follower_.stop();
  meta_.stop();
  if (resp_) resp_->stop();
  if (metrics_) metrics_->stop();
  if (drain_.in_flight() > 0) {
    TALLY_LOG(log_, kInfo) << "waiting for " << drain_.in_flight() << " writes to finish";
  }
  // Every write through: the next start may mint on under the epochs it finds.
  drain_.when_drained([this, done = std::move(done)]() mutable {
    replica_.mark_clean_stop([this, done = std::move(done)](Status s) {
      if (!s.ok()) {
        TALLY_LOG(log_, kWarn) << "cannot mark the stop clean (the next start takes a new mint epoch): "
                               << s.to_string();
      }
      done();
    });
  });
}

void Node::on_frame(ConnId conn, std::string_view payload) {
  net::DecodeLimits limits;
  limits.max_bytes = config_.limits.max_frame_bytes;
  auto msg = net::decode_payload(payload, limits);
  if (!msg.ok()) {
    // A frame that does not decode: we cannot know which request it was, so
    // we cannot answer it. Close this connection alone (docs/architecture.md,
    // "Wire format").
    stats_.add(Counter::kProtocolErrors);
    TALLY_LOG(log_, kWarn) << "closing connection " << conn << ": " << msg.status().to_string();
    env_.close(conn, msg.status());
    return;
  }
  if (auth_.on_message(conn, *msg)) return;
  const wire::MsgType type = wire::type_of(msg->body);
  if (!auth_.trusted(conn) && only_from_peers(msg->body)) {
    auth_.refuse(conn, wire::name_of(msg->body));
    if (type != wire::MsgType::kRaft) {
      env_.send(conn, net::encode_payload(wire::Message{
                          msg->request_id,
                          wire::ErrorReply{Code::kUnauthenticated,
                                           std::string(wire::name_of(msg->body)) +
                                               " is only taken from other nodes and administrators: the "
                                               "connection must prove the cluster secret first"}}));
    }
    return;
  }
  if (!wire::is_reply(type) && !auth_.client_allowed(conn) &&
      !(type == wire::MsgType::kPing && std::get<wire::PingRequest>(msg->body).from == 0)) {
    env_.send(conn, net::encode_payload(wire::Message{
                        msg->request_id, wire::ErrorReply{Code::kUnauthenticated,
                                                          "NOAUTH node " + self_.id + " requires a password "
                                                          "(requirepass): give it first (the client's password "
                                                          "option, tally --password)"}}));
    return;
  }
  if (wire::is_reply(type)) {
    if (!auth_.trusted(conn) || !peers_.on_reply(conn, std::move(*msg))) {
      // A reply nobody waits for. From a client, it is a reply sent as a
      // request, which gets an answer saying so; between nodes it is a late
      // answer to a call that timed out, dropped (answering it would answer
      // an answer).
      if (peers_.client_connection(conn)) {
        stats_.add(Counter::kProtocolErrors);
        env_.send(conn, net::encode_payload(wire::Message{
                            0, wire::ErrorReply{Code::kProtocolError,
                                                "message type " + std::to_string(static_cast<int>(type)) + " (" +
                                                    std::string(wire::name_of(msg->body)) +
                                                    ") is a reply, not a request"}}));
      }
    }
    return;
  }
  if (auto* raft = std::get_if<wire::RaftMessage>(&msg->body)) {
    follower_.on_raft(conn, *raft);
    return;
  }
  if (auto* ping = std::get_if<wire::PingRequest>(&msg->body)) peers_.on_ping(conn, ping->from);
  uint64_t id = msg->request_id;
  if (!peers_.client_connection(conn)) {
    dispatch(std::move(*msg), [this, conn, id](wire::Body body) {
      env_.send(conn, net::encode_payload(wire::Message{id, std::move(body)}));
    });
    return;
  }
  // A client's requests in flight are bounded: past kMaxClientRequestsInFlight
  // its connection is not read until half have been answered, so a client
  // that sends without waiting holds a bounded share of the node (the replies
  // it does not read are bounded by the env's output limits). Not peers':
  // a peer's connection also carries the answers to this node's own calls.
  if (++client_in_flight_[conn] == kMaxClientRequestsInFlight) env_.pause_reading(conn);
  dispatch(std::move(*msg), [this, conn, id](wire::Body body) {
    env_.send(conn, net::encode_payload(wire::Message{id, std::move(body)}));
    auto it = client_in_flight_.find(conn);
    if (it == client_in_flight_.end()) return;
    if (--it->second == kMaxClientRequestsInFlight / 2) env_.resume_reading(conn);
  });
}

void Node::submit(wire::Body request, Respond respond) {
  dispatch(wire::Message{0, std::move(request)}, std::move(respond));
}

void Node::dispatch(wire::Message msg, Respond respond, bool refreshed) {
  if (!refreshed) stats_.add(Counter::kRequests);
  if (stopping_) return fail(respond, Status::Unavailable("node " + self_.id + " is shutting down"));
  const wire::MsgType type = wire::type_of(msg.body);
  const bool anti_entropy = type == wire::MsgType::kAeCompare || type == wire::MsgType::kAeFetch ||
                            type == wire::MsgType::kAePush;
  const bool data = type == wire::MsgType::kPut || type == wire::MsgType::kGet || type == wire::MsgType::kDelete ||
                    type == wire::MsgType::kReplicaWrite || type == wire::MsgType::kReplicaRead ||
                    type == wire::MsgType::kLocalGet || anti_entropy || type == wire::MsgType::kRepair ||
                    type == wire::MsgType::kPaxos;
  if (data && follower_.view().epoch() == 0) {
    return fail(respond, Status::Unavailable("node " + self_.id + " has no cluster map yet (" +
                                             follower_.why_no_map() + ")"));
  }
  const bool from_peer = type == wire::MsgType::kReplicaWrite || type == wire::MsgType::kReplicaRead ||
                         type == wire::MsgType::kStream || anti_entropy || type == wire::MsgType::kPaxos ||
                         (type == wire::MsgType::kPing && std::get<wire::PingRequest>(msg.body).from != 0) ||
                         (type == wire::MsgType::kLocalGet && std::get<wire::LocalGetRequest>(msg.body).forwarded);
  if (from_peer && fault_.silent) return;  // playing dead to the other nodes
  if (from_peer && fault_.delay_ms && type != wire::MsgType::kPing) {
    respond = [this, respond = std::move(respond)](wire::Body body) {
      env_.set_timer(uint64_t{fault_.delay_ms} * 1000,
                     [respond, body = std::move(body)]() mutable { respond(std::move(body)); });
    };
  }
  switch (type) {
    case wire::MsgType::kPing:
      return respond(wire::PingReply{self_.id, env_.now_us()});
    case wire::MsgType::kFault:
      return fault(std::get<wire::FaultRequest>(msg.body), respond);
    case wire::MsgType::kStatus:
      return status(respond);
    case wire::MsgType::kPut:
    case wire::MsgType::kDelete:
    case wire::MsgType::kGet:
    case wire::MsgType::kReplicaWrite:
    case wire::MsgType::kReplicaRead:
      return data_request(std::move(msg), std::move(respond), refreshed);
    case wire::MsgType::kPaxos: {
      auto& req = std::get<wire::PaxosRequest>(msg.body);
      follower_.saw_epoch(req.epoch, ring::kNoNode);
      return paxos_.handle(std::move(req), std::move(respond));
    }
    case wire::MsgType::kStream:
      return streamer_.handle_pull(std::get<wire::StreamRequest>(msg.body), std::move(respond));
    case wire::MsgType::kLocalGet:
      return local_get(std::move(msg), std::move(respond), refreshed);
    case wire::MsgType::kAeCompare:
      return anti_entropy_.handle_compare(std::get<wire::AeCompare>(msg.body), std::move(respond));
    case wire::MsgType::kAeFetch:
      return anti_entropy_.handle_fetch(std::get<wire::AeFetch>(msg.body), std::move(respond));
    case wire::MsgType::kAePush:
      return anti_entropy_.handle_push(std::get<wire::AePush>(msg.body), std::move(respond));
    case wire::MsgType::kRepair:
      return anti_entropy_.handle_repair(std::get<wire::RepairRequest>(msg.body), std::move(respond));
    case wire::MsgType::kClusterInfo:
      return follower_.handle_cluster_info(std::get<wire::ClusterInfoRequest>(msg.body), std::move(respond));
    case wire::MsgType::kMetaChange:
      return follower_.handle_meta_change(std::move(std::get<wire::MetaChangeRequest>(msg.body)),
                                          std::move(respond));
    default:
      stats_.add(Counter::kProtocolErrors);
      fail(respond, Status::ProtocolError("message type " + std::to_string(static_cast<int>(type)) +
                                          " is not a request"));
  }
}

// Puts, deletes and gets from clients; replica reads and writes from
// coordinators.
void Node::data_request(wire::Message msg, Respond respond, bool refreshed) {
  if (auto* w = std::get_if<wire::ReplicaWrite>(&msg.body)) {
    follower_.saw_epoch(w->epoch, ring::kNoNode);
    return replica_.handle_write(*w, std::move(respond));
  }
  if (auto* r = std::get_if<wire::ReplicaRead>(&msg.body)) {
    follower_.saw_epoch(r->epoch, ring::kNoNode);
    return replica_.handle_read(*r, std::move(respond));
  }
  auto ks = coordinator_.check(msg.body);
  if (ks.ok()) {
    // Latency and outcome by operation and R or W, for the requests this
    // node coordinates for a client (a forwarded one is the sender's).
    if (auto* put = std::get_if<wire::PutRequest>(&msg.body); put && !put->options.forwarded) {
      respond = timed(RequestOp::kPut, put->options.w ? put->options.w : ks->w, std::move(respond));
    } else if (auto* del = std::get_if<wire::DeleteRequest>(&msg.body); del && !del->options.forwarded) {
      respond = timed(RequestOp::kDelete, del->options.w ? del->options.w : ks->w, std::move(respond));
    } else if (auto* get = std::get_if<wire::GetRequest>(&msg.body); get && !get->options.forwarded) {
      respond = timed(RequestOp::kGet, get->options.r ? get->options.r : ks->r, std::move(respond));
    }
    return coordinator_.run(std::move(msg.body), *ks, std::move(respond));
  }
  if (retry_with_leaders_map(ks.status(), msg, respond, refreshed)) return;
  fail(respond, ks.status());
}

Respond Node::timed(RequestOp op, int quorum, Respond respond) {
  return [this, op, quorum, start = env_.now_us(), respond = std::move(respond)](wire::Body reply) {
    RequestOutcome outcome = RequestOutcome::kOk;
    if (const auto* e = std::get_if<wire::ErrorReply>(&reply)) {
      outcome = e->code == Code::kQuorumNotReached ? RequestOutcome::kQuorumNotReached
                : e->code == Code::kUnavailable    ? RequestOutcome::kUnavailable
                : e->code == Code::kTimeout        ? RequestOutcome::kTimeout
                                                   : RequestOutcome::kError;
    }
    stats_.requests().record(op, static_cast<uint8_t>(std::clamp(quorum, 0, 255)), outcome, env_.now_us() - start);
    respond(std::move(reply));
  };
}

// An operator's read of one node's own copy (LocalGetService).
void Node::local_get(wire::Message msg, Respond respond, bool refreshed) {
  auto& request = std::get<wire::LocalGetRequest>(msg.body);
  Status bad = local_get_.check(request);
  if (bad.ok()) return local_get_.run(std::move(request), std::move(respond));
  if (retry_with_leaders_map(bad, msg, respond, refreshed)) return;
  fail(respond, bad);
}

bool Node::retry_with_leaders_map(const Status& refused, wire::Message& msg, Respond& respond, bool refreshed) {
  const auto leader = static_cast<ring::NodeId>(meta_.leader());
  if (refused.code() != Code::kUnknownKeyspace || refreshed || leader == ring::kNoNode || leader == id()) {
    return false;
  }
  follower_.refresh(ring::kNoNode, [this, msg = std::move(msg), respond = std::move(respond)]() mutable {
    dispatch(std::move(msg), std::move(respond), true);
  });
  return true;
}

void Node::fault(const wire::FaultRequest& f, const Respond& respond) {
  if (!features_.fault_injection) {
    return fail(respond, Status::InvalidArgument("fault injection is off on node " + self_.id +
                                                 " (tallyd --enable-fault-injection turns it on)"));
  }
  fault_ = FaultPlan{f.delay_ms, f.silent};
  env_.set_clock_offset_ms(f.clock_offset_ms);
  TALLY_LOG(log_, kWarn) << "fault injection: "
                         << (f.silent     ? std::string("silent to the other nodes")
                             : f.delay_ms ? "replica answers delayed by " + std::to_string(f.delay_ms) + " ms"
                                          : std::string("none"))
                         << (f.clock_offset_ms ? "; wall clock off by " + std::to_string(f.clock_offset_ms) + " ms"
                                               : std::string());
  respond(wire::FaultReply{});
}

}  // namespace tally
