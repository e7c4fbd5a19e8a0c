// The synchronous client: one blocking connection at a time, failing over
// across the configured endpoints.
#include "tally/client.hpp"

#include <algorithm>
#include <thread>

#include "client/engine.hpp"
#include "common/address.hpp"
#include "common/auth.hpp"

namespace tally {

std::string NodeStatus::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return {};
}

bool ReplicaCopy::is_replica() const {
  return replicas.empty() || std::find(replicas.begin(), replicas.end(), node) != replicas.end();
}

const MemberInfo* ClusterInfo::member(std::string_view name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

namespace {

using client::Clock;


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
    mi.state = std::string(meta::node_state_name(m.state));
    mi.raft = contains(r.voters, m.id) ? "voter" : contains(r.learners, m.id) ? "learner" : "none";
    mi.up = m.state != meta::NodeState::kRemoved && m.state != meta::NodeState::kLeft && !contains(r.down, m.id);
    mi.tokens = m.tokens;
    if (m.id == r.leader) out.leader = m.name;
    out.members.push_back(std::move(mi));
  }
  for (const auto& k : r.map.keyspaces) {
    out.keyspaces.push_back(
        KeyspaceInfo{k.name, k.n, k.r, k.w, std::string(meta::mode_name(k.mode))});
  }
  if (const auto& mv = r.map.movement) {
    MovementInfo mi;
    mi.kind = std::string(meta::movement_kind_name(mv->kind));
    const meta::Member* who = r.map.member(mv->node);
    mi.node = who ? who->name : std::to_string(mv->node);
    mi.epoch = mv->epoch;
    mi.ranges = mv->transfers.size();
    for (const auto& t : mv->transfers) {
      mi.ranges_done += t.state == meta::TransferState::kDone;
      mi.ranges_streaming += t.state == meta::TransferState::kStreaming;
    }
    mi.keys = mv->keys;
    mi.bytes = mv->bytes;
    mi.started_ms = mv->started_ms;
    mi.updated_ms = mv->updated_ms;
    out.movement = std::move(mi);
  }
  return out;
}

using client::Engine;
using client::Request;

Status error_of(const wire::ErrorReply& e) { return Status(e.code, e.message); }

// The ring as a cluster map places a keyspace's keys.
struct RingView {
  meta::ClusterMap map;
  ring::Ring ring;
  std::string keyspace;
  int n = 0;
  std::string name_of(ring::NodeId id) const {
    const meta::Member* m = map.member(id);
    return m ? m->name : std::to_string(id);
  }
  std::vector<std::string> replicas_of(std::string_view key) const {
    std::vector<std::string> out;
    for (ring::NodeId id : ring.preference_list(ring::key_position(keyspace, key), n)) out.push_back(name_of(id));
    return out;
  }
  static Result<RingView> of(meta::ClusterMap map, std::string keyspace) {
    RingView v;
    v.map = std::move(map);
    v.keyspace = std::move(keyspace);
    const meta::Keyspace* k = v.map.keyspace(v.keyspace);
    if (!k) return Status::UnknownKeyspace("keyspace '" + v.keyspace + "' does not exist");
    auto ring = v.map.build_ring();
    if (!ring.ok()) return ring.status();
    v.ring = std::move(*ring);
    v.n = std::min(k->n, v.ring.node_count());
    return v;
  }
};

// One node's copy as the public API shows it: ids named through `view` (by
// number when there is no map), the key's replicas from it.
ReplicaCopy to_replica_copy(wire::LocalGetReply reply, std::string_view key, const RingView* view) {
  auto name = [view](quorum::ActorId actor) {
    const quorum::ReplicaId id = quorum::node_of(actor);
    return view ? view->name_of(id) : std::to_string(id);
  };
  ReplicaCopy out;
  out.node = std::move(reply.answered_by);
  out.epoch = reply.epoch;
  out.found = reply.found;
  for (auto& s : reply.record.siblings) {
    out.siblings.push_back(ReplicaVersion{std::move(s.value), s.tombstone, name(s.dot.replica),
                                          quorum::epoch_of(s.dot.replica), s.dot.counter, s.timestamp.wall_ms,
                                          s.timestamp.logical, s.expires_ms});
  }
  for (const auto& [actor, counter] : reply.record.clock.entries) {
    out.clock.push_back(ReplicaCopy::ClockEntry{name(actor), quorum::epoch_of(actor), counter});
  }
  if (view) out.replicas = view->replicas_of(key);
  return out;
}

// Request bodies and what their replies mean, shared by both faces.
struct Calls {
  explicit Calls(const Engine& e) : engine(e) {}
  const Engine& engine;

  std::string keyspace(const std::string& ks) const { return ks.empty() ? engine.options().keyspace : ks; }

  static Status check_write(std::string_view key, const WriteOptions& o) {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    if (o.w && (*o.w < 1 || *o.w > 255)) {
      return Status::InvalidArgument("W=" + std::to_string(*o.w) + " is out of range: W must be at least 1");
    }
    if (o.fence_lock.empty() != (o.fence_token == 0)) {
      return Status::InvalidArgument("a fenced write needs both fence_lock and a fence_token above zero");
    }
    const int conditions = int{o.if_absent} + int{o.if_present} + int{o.if_value.has_value()} + int{!o.if_version.empty()};
    if (conditions > 1) {
      return Status::InvalidArgument("at most one condition (if_absent, if_present, if_value, if_version), not " +
                                     std::to_string(conditions));
    }
    return Status::Ok();
  }
  static Status check_delete(const WriteOptions& o) {
    if (o.ttl_ms != 0) return Status::InvalidArgument("del takes no ttl: a delete does not expire");
    if (!o.fence_lock.empty() || o.fence_token != 0) {
      return Status::InvalidArgument("del takes no fence: only a put can be fenced (put a value that means "
                                     "\"gone\" with fence_lock and fence_token instead)");
    }
    return check_unconditional(o, "del");
  }
  static Status check_unconditional(const WriteOptions& o, const char* call) {
    if (!o.conditional()) return Status::Ok();
    return Status::InvalidArgument(std::string(call) + " takes no condition: a conditional write answers whether "
                                   "it applied, call put_if");
  }
  static Status check_read(std::string_view key, const ReadOptions& o) {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    if (o.r && (*o.r < 1 || *o.r > 255)) {
      return Status::InvalidArgument("R=" + std::to_string(*o.r) + " is out of range: R must be at least 1");
    }
    return Status::Ok();
  }

  Clock::time_point deadline(uint32_t server_ms) const {
    return Clock::now() + std::chrono::milliseconds(server_ms + engine.options().request_timeout_ms);
  }

  // A request about `key`, routed to its replicas.
  Request keyed(const std::string& ks, std::string_view key, uint32_t timeout_ms, bool idempotent) const {
    Request r;
    r.keyspace = keyspace(ks);
    r.key = std::string(key);
    r.idempotent = idempotent;
    r.deadline = deadline(timeout_ms);
    return r;
  }
  static wire::RequestOptions write_options(const WriteOptions& o) {
    wire::RequestOptions opt;
    opt.w = static_cast<uint8_t>(o.w.value_or(0));
    opt.timeout_ms = o.timeout_ms;
    opt.sloppy = o.sloppy;
    opt.overwrite = o.overwrite;
    return opt;
  }

  Request put(std::string_view key, std::string_view value, const WriteOptions& o) const {
    Request r = keyed(o.keyspace, key, o.timeout_ms, /*idempotent=*/false);  // sent twice: maybe a sibling
    wire::PutRequest put{r.keyspace, r.key, std::string(value), o.context, write_options(o)};
    put.ttl_ms = o.ttl_ms;
    put.fence_lock = o.fence_lock;
    put.fence_token = o.fence_token;
    if (o.if_absent) {
      put.condition = static_cast<uint8_t>(quorum::Condition::kIfAbsent);
    } else if (o.if_present) {
      put.condition = static_cast<uint8_t>(quorum::Condition::kIfPresent);
    } else if (o.if_value) {
      put.condition = static_cast<uint8_t>(quorum::Condition::kIfValue);
      put.expected = *o.if_value;
    } else if (!o.if_version.empty()) {
      put.condition = static_cast<uint8_t>(quorum::Condition::kIfVersion);
      put.context = o.if_version;
    }
    r.body = std::move(put);
    return r;
  }
  Request get(std::string_view key, const ReadOptions& o) const {
    Request r = keyed(o.keyspace, key, o.timeout_ms, /*idempotent=*/true);
    wire::RequestOptions opt;
    opt.r = static_cast<uint8_t>(o.r.value_or(0));
    opt.timeout_ms = o.timeout_ms;
    opt.blocking_repair = o.blocking_repair;
    r.body = wire::GetRequest{r.keyspace, r.key, opt};
    return r;
  }
  Request del(std::string_view key, const WriteOptions& o) const {
    Request r = keyed(o.keyspace, key, o.timeout_ms, /*idempotent=*/true);  // deleting twice is harmless
    r.body = wire::DeleteRequest{r.keyspace, r.key, o.context, write_options(o)};
    return r;
  }

  static Status check_replica_read(std::string_view key, std::string_view node) {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    if (node.empty()) {
      return Status::InvalidArgument("no node given: name one, as `tally cluster status` lists them");
    }
    return Status::Ok();
  }
  // To any node: the one that gets it asks `node`.
  Request local_get(std::string_view key, std::string_view node, const ReplicaReadOptions& o) const {
    Request r;
    r.idempotent = true;
    r.deadline = deadline(o.timeout_ms);
    r.body = wire::LocalGetRequest{keyspace(o.keyspace), std::string(key), std::string(node), o.timeout_ms, false};
    return r;
  }
  // A node's own copy of the cluster map (no leader needed), to name ids and
  // the key's replicas.
  Request ring_info() const {
    Request r;
    r.idempotent = true;
    r.deadline = deadline(0);
    r.body = wire::ClusterInfoRequest{false, false};
    return r;
  }
  static Result<wire::LocalGetReply> local_get_reply(Result<wire::Message> m) {
    if (m.ok()) {
      if (auto* r = std::get_if<wire::LocalGetReply>(&m->body)) return std::move(*r);
    }
    return unexpected(m);
  }
  // The copy, named through the map in `info` when it came.
  ReplicaCopy replica_copy(wire::LocalGetReply reply, std::string_view key, const std::string& ks,
                           Result<wire::Message> info) const {
    std::optional<RingView> view;
    if (info.ok()) {
      if (auto* i = std::get_if<wire::ClusterInfoReply>(&info->body)) {
        auto v = RingView::of(std::move(i->map), keyspace(ks));
        if (v.ok()) view = std::move(*v);
      }
    }
    return to_replica_copy(std::move(reply), key, view ? &*view : nullptr);
  }

  static Status unexpected(const Result<wire::Message>& m) {
    if (!m.ok()) return m.status();
    if (auto* e = std::get_if<wire::ErrorReply>(&m->body)) return error_of(*e);
    return Status::ProtocolError("unexpected reply type " +
                                 std::to_string(static_cast<int>(wire::type_of(m->body))));
  }
  static Result<std::string> put_result(Result<wire::Message> m) {
    if (m.ok()) {
      if (auto* r = std::get_if<wire::PutReply>(&m->body)) return std::move(r->context);
    }
    return unexpected(m);
  }
  static Result<CasResult> cas_result(Result<wire::Message> m) {
    if (m.ok()) {
      if (auto* r = std::get_if<wire::PutReply>(&m->body)) {
        CasResult out;
        out.applied = !r->not_applied;
        if (r->not_applied && r->current_found) out.current = std::move(r->current);
        out.context = std::move(r->context);
        return out;
      }
    }
    return unexpected(m);
  }
  static Result<GetResult> get_result(Result<wire::Message> m) {
    if (m.ok()) {
      if (auto* r = std::get_if<wire::GetReply>(&m->body)) {
        return GetResult{std::move(r->values), std::move(r->context), std::move(r->ttl_ms)};
      }
    }
    return unexpected(m);
  }
  static Status del_result(Result<wire::Message> m) {
    if (m.ok() && std::holds_alternative<wire::DeleteReply>(m->body)) return Status::Ok();
    return unexpected(m);
  }
};

class SyncClient final : public Client {
 public:
  SyncClient(ClientOptions options, std::vector<HostPort> endpoints, std::string secret)
      : engine_(std::move(options), std::move(endpoints), std::move(secret)), calls_(engine_) {}

  Result<std::string> put(std::string_view key, std::string_view value, const WriteOptions& o) override {
    Status bad = Calls::check_write(key, o);
    if (bad.ok()) bad = Calls::check_unconditional(o, "put");
    if (!bad.ok()) return bad;
    return Calls::put_result(wait(calls_.put(key, value, o)));
  }
  Result<CasResult> put_if(std::string_view key, std::string_view value, const WriteOptions& o) override {
    Status bad = Calls::check_write(key, o);
    if (!bad.ok()) return bad;
    return Calls::cas_result(wait(calls_.put(key, value, o)));
  }

  Result<GetResult> get(std::string_view key, const ReadOptions& o) override {
    Status bad = Calls::check_read(key, o);
    if (!bad.ok()) return bad;
    return Calls::get_result(wait(calls_.get(key, o)));
  }

  Status del(std::string_view key, const WriteOptions& o) override {
    Status bad = Calls::check_write(key, o);
    if (bad.ok()) bad = Calls::check_delete(o);
    if (!bad.ok()) return bad;
    return Calls::del_result(wait(calls_.del(key, o)));
  }

  Result<ReplicaCopy> get_replica(std::string_view key, std::string_view node,
                                  const ReplicaReadOptions& o) override {
    Status bad = Calls::check_replica_read(key, node);
    if (!bad.ok()) return bad;
    auto reply = Calls::local_get_reply(wait(calls_.local_get(key, node, o)));
    if (!reply.ok()) return reply.status();
    return calls_.replica_copy(std::move(*reply), key, o.keyspace, wait(calls_.ring_info()));
  }

  Result<NodeStatus> status(std::string_view endpoint) override {
    Request r = simple(wire::StatusRequest{});
    std::string who;
    if (!endpoint.empty()) {
      auto hp = parse_host_port(endpoint);
      if (!hp.ok()) return hp.status();
      r.target = *hp;
      who = hp->to_string();
    }
    auto reply = wait(std::move(r));
    if (reply.ok()) {
      if (auto* st = std::get_if<wire::StatusReply>(&reply->body)) {
        if (who.empty()) who = st->fields.empty() ? std::string() : field_of(st->fields, "listen");
        return NodeStatus{who, st->fields};
      }
    }
    return Calls::unexpected(reply);
  }

  Result<std::string> ping() override {
    auto reply = wait(simple(wire::PingRequest{}));
    if (reply.ok()) {
      if (auto* r = std::get_if<wire::PingReply>(&reply->body)) return r->node_id;
    }
    return Calls::unexpected(reply);
  }

  Result<ClusterInfo> cluster_info(bool linearizable) override {
    auto reply = metadata(wire::ClusterInfoRequest{linearizable, false});
    if (reply.ok()) {
      if (auto* r = std::get_if<wire::ClusterInfoReply>(&reply->body)) return to_cluster_info(*r);
    }
    return Calls::unexpected(reply);
  }

  Result<std::vector<std::string>> replicas(std::string_view key, std::string_view keyspace) override {
    if (key.empty()) return Status::InvalidArgument("key must not be empty");
    auto view = ring_view(keyspace);
    if (!view.ok()) return view.status();
    return view->replicas_of(key);
  }

  Result<std::vector<Share>> ownership(std::string_view keyspace) override {
    auto view = ring_view(keyspace);
    if (!view.ok()) return view.status();
    std::vector<Share> out;
    for (const auto& o : view->ring.ownership(view->n)) {
      const ring::NodeTokens* t = view->ring.find(o.node);
      out.push_back(Share{view->name_of(o.node), t ? t->tokens.size() : 0, o.replicated});
    }
    return out;
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

  Status set_fault(std::string_view endpoint, const Fault& fault) override {
    auto hp = parse_host_port(endpoint);
    if (!hp.ok()) return hp.status();
    Request r = simple(wire::FaultRequest{fault.delay_ms, fault.silent});
    r.target = *hp;
    auto reply = wait(std::move(r));
    if (reply.ok() && std::holds_alternative<wire::FaultReply>(reply->body)) return Status::Ok();
    return Calls::unexpected(reply);
  }

  Result<RepairProgress> repair(std::string_view endpoint, std::string_view keyspace, bool start) override {
    auto hp = parse_host_port(endpoint);
    if (!hp.ok()) return hp.status();
    Request r = simple(wire::RepairRequest{std::string(keyspace), start});
    r.target = *hp;
    auto reply = wait(std::move(r));
    if (reply.ok()) {
      if (auto* p = std::get_if<wire::RepairReply>(&reply->body)) {
        return RepairProgress{p->running,        p->ranges_total,  p->ranges_done,
                              p->ranges_skipped, p->keys_repaired, p->elapsed_ms};
      }
    }
    return Calls::unexpected(reply);
  }

 private:
  static std::string field_of(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name) {
    for (const auto& [k, v] : fields) {
      if (k == name) return v;
    }
    return {};
  }

  Result<RingView> ring_view(std::string_view keyspace) {
    auto reply = metadata(wire::ClusterInfoRequest{false, false});
    if (!reply.ok()) return reply.status();
    auto* info = std::get_if<wire::ClusterInfoReply>(&reply->body);
    if (!info) return Calls::unexpected(reply);
    return RingView::of(std::move(info->map), calls_.keyspace(std::string(keyspace)));
  }

  Request simple(wire::Body body) const {
    Request r;
    r.body = std::move(body);
    r.idempotent = true;
    r.deadline = calls_.deadline(0);
    return r;
  }

  Result<wire::Message> wait(Request r) {
    auto promise = std::make_shared<std::promise<Result<wire::Message>>>();
    auto future = promise->get_future();
    r.done = [promise](Result<wire::Message> m) { promise->set_value(std::move(m)); };
    engine_.submit(std::move(r));
    return future.get();
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
    for (auto [v, what] : {std::pair{spec.n, "n"}, std::pair{spec.r, "r"}, std::pair{spec.w, "w"}}) {
      if (v < 0 || v > 255) {
        return Status::InvalidArgument(std::string(what) + "=" + std::to_string(v) + " is out of range 1..255");
      }
    }
    wire::MetaChangeRequest req;
    req.op = op;
    req.keyspace = spec.name;
    req.n = static_cast<uint8_t>(spec.n);
    req.r = static_cast<uint8_t>(spec.r);
    req.w = static_cast<uint8_t>(spec.w);
    if (!spec.mode.empty()) {
      auto mode = meta::mode_from_name(spec.mode);
      if (!mode) return Status::InvalidArgument("mode must be " + std::string(meta::kModeNames) + ", not '" + spec.mode + "'");
      req.mode = meta::mode_code(*mode);
    }
    return change(std::move(req));
  }

  Result<ChangeResult> change(wire::MetaChangeRequest req) {
    auto reply = metadata(std::move(req));
    if (reply.ok()) {
      if (auto* r = std::get_if<wire::MetaChangeReply>(&reply->body)) return ChangeResult{r->epoch, r->index, r->node_id};
    }
    return Calls::unexpected(reply);
  }

  // A metadata request, retried while the group cannot take it yet (no
  // leader, a leader not yet settled, a change that leadership lost): those
  // answers say the change was not made, so sending it again is safe.
  Result<wire::Message> metadata(wire::Body body) {
    auto deadline = Clock::now() + std::chrono::milliseconds(engine_.options().request_timeout_ms);
    for (;;) {
      Request r = simple(body);
      r.idempotent = std::holds_alternative<wire::ClusterInfoRequest>(body);
      r.retry_unavailable = false;
      auto reply = wait(std::move(r));
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

  Engine engine_;
  Calls calls_;
};

class AsyncClientImpl final : public AsyncClient {
 public:
  AsyncClientImpl(ClientOptions options, std::vector<HostPort> endpoints, std::string secret)
      : engine_(std::move(options), std::move(endpoints), std::move(secret)), calls_(engine_) {}

  void put(std::string_view key, std::string_view value, const WriteOptions& o, PutDone done) override {
    Status bad = Calls::check_write(key, o);
    if (bad.ok()) bad = Calls::check_unconditional(o, "put");
    if (!bad.ok()) return refuse(bad, [done = std::move(done)](Status s) { done(s); });
    Request r = calls_.put(key, value, o);
    r.done = [done = std::move(done)](Result<wire::Message> m) { done(Calls::put_result(std::move(m))); };
    engine_.submit(std::move(r));
  }
  void put_if(std::string_view key, std::string_view value, const WriteOptions& o, CasDone done) override {
    Status bad = Calls::check_write(key, o);
    if (!bad.ok()) return refuse(bad, [done = std::move(done)](Status s) { done(s); });
    Request r = calls_.put(key, value, o);
    r.done = [done = std::move(done)](Result<wire::Message> m) { done(Calls::cas_result(std::move(m))); };
    engine_.submit(std::move(r));
  }
  void get(std::string_view key, const ReadOptions& o, GetDone done) override {
    Status bad = Calls::check_read(key, o);
    if (!bad.ok()) return refuse(bad, [done = std::move(done)](Status s) { done(s); });
    Request r = calls_.get(key, o);
    r.done = [done = std::move(done)](Result<wire::Message> m) { done(Calls::get_result(std::move(m))); };
    engine_.submit(std::move(r));
  }
  void del(std::string_view key, const WriteOptions& o, DelDone done) override {
    Status bad = Calls::check_write(key, o);
    if (bad.ok()) bad = Calls::check_delete(o);
    if (!bad.ok()) return refuse(bad, std::move(done));
    Request r = calls_.del(key, o);
    r.done = [done = std::move(done)](Result<wire::Message> m) { done(Calls::del_result(std::move(m))); };
    engine_.submit(std::move(r));
  }
  void get_replica(std::string_view key, std::string_view node, const ReplicaReadOptions& o,
                   GetReplicaDone done) override {
    Status bad = Calls::check_replica_read(key, node);
    if (!bad.ok()) return refuse(bad, [done = std::move(done)](Status s) { done(s); });
    Request r = calls_.local_get(key, node, o);
    // The copy first; then, from the I/O thread, the map that names its ids.
    r.done = [this, key = std::string(key), ks = o.keyspace, done = std::move(done)](Result<wire::Message> m) {
      auto reply = Calls::local_get_reply(std::move(m));
      if (!reply.ok()) return done(reply.status());
      Request info = calls_.ring_info();
      info.done = [this, key, ks, done, reply = std::move(*reply)](Result<wire::Message> i) mutable {
        done(calls_.replica_copy(std::move(reply), key, ks, std::move(i)));
      };
      engine_.submit(std::move(info));
    };
    engine_.submit(std::move(r));
  }
  size_t in_flight() const override { return engine_.in_flight(); }

 private:
  // A request refused before it is sent still answers on the I/O thread,
  // never inside the call: through the engine, as an already-failed request.
  void refuse(Status why, std::function<void(Status)> done) {
    Request r;
    r.deadline = Clock::time_point::min();
    r.done = [why, done = std::move(done)](Result<wire::Message>) { done(why); };
    engine_.submit(std::move(r));
  }

  Engine engine_;
  Calls calls_;
};

}  // namespace

namespace {

// Checks the options both faces take; the endpoints, parsed.
struct Checked {
  std::vector<HostPort> endpoints;
  std::string secret;  // the contents of options.secret_file
};

Result<Checked> checked(ClientOptions& options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no endpoints given");
  Checked c;
  for (const auto& e : options.endpoints) {
    auto list = parse_endpoint_list(e);
    if (!list.ok()) return list.status();
    c.endpoints.insert(c.endpoints.end(), list->begin(), list->end());
  }
  if (options.keyspace.empty()) options.keyspace = "default";
  if (!options.secret_file.empty()) {
    auto secret = auth::read_secret_file(options.secret_file);
    if (!secret.ok()) return Status::InvalidArgument(secret.status().message());
    c.secret = std::move(*secret);
  }
  return c;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  auto c = checked(options);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Client>(new SyncClient(std::move(options), std::move(c->endpoints), std::move(c->secret)));
}

Result<std::unique_ptr<AsyncClient>> AsyncClient::connect(ClientOptions options) {
  auto c = checked(options);
  if (!c.ok()) return c.status();
  return std::unique_ptr<AsyncClient>(
      new AsyncClientImpl(std::move(options), std::move(c->endpoints), std::move(c->secret)));
}

std::future<Result<std::string>> AsyncClient::put(std::string_view key, std::string_view value,
                                                  const WriteOptions& options) {
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  put(key, value, options, [promise](Result<std::string> r) { promise->set_value(std::move(r)); });
  return promise->get_future();
}

std::future<Result<CasResult>> AsyncClient::put_if(std::string_view key, std::string_view value,
                                                  const WriteOptions& options) {
  auto promise = std::make_shared<std::promise<Result<CasResult>>>();
  put_if(key, value, options, [promise](Result<CasResult> r) { promise->set_value(std::move(r)); });
  return promise->get_future();
}

std::future<Result<GetResult>> AsyncClient::get(std::string_view key, const ReadOptions& options) {
  auto promise = std::make_shared<std::promise<Result<GetResult>>>();
  get(key, options, [promise](Result<GetResult> r) { promise->set_value(std::move(r)); });
  return promise->get_future();
}

std::future<Result<ReplicaCopy>> AsyncClient::get_replica(std::string_view key, std::string_view node,
                                                          const ReplicaReadOptions& options) {
  auto promise = std::make_shared<std::promise<Result<ReplicaCopy>>>();
  get_replica(key, node, options, [promise](Result<ReplicaCopy> r) { promise->set_value(std::move(r)); });
  return promise->get_future();
}

std::future<Status> AsyncClient::del(std::string_view key, const WriteOptions& options) {
  auto promise = std::make_shared<std::promise<Status>>();
  del(key, options, [promise](Status s) { promise->set_value(std::move(s)); });
  return promise->get_future();
}

}  // namespace tally
