#include "node/coordinator.hpp"

#include "net/codec.hpp"
#include "node/get_fsm.hpp"
#include "node/paxos_fsm.hpp"
#include "node/put_fsm.hpp"

namespace tally {

Coordinator::Coordinator(CoordinatorContext context, CoordinatorOptions options)
    : ctx_(std::move(context)), options_(options) {}

Result<meta::Keyspace> Coordinator::check(const wire::Body& request) const {
  const std::string* keyspace = nullptr;
  const std::string* key = nullptr;
  const wire::RequestOptions* opt = nullptr;
  bool write = true;
  if (auto* put = std::get_if<wire::PutRequest>(&request)) {
    keyspace = &put->keyspace, key = &put->key, opt = &put->options;
  } else if (auto* del = std::get_if<wire::DeleteRequest>(&request)) {
    keyspace = &del->keyspace, key = &del->key, opt = &del->options;
  } else if (auto* get = std::get_if<wire::GetRequest>(&request)) {
    keyspace = &get->keyspace, key = &get->key, opt = &get->options, write = false;
  } else {
    return Status::InvalidArgument("not a data request");
  }
  const meta::Keyspace* ks = ctx_.view.map.keyspace(*keyspace);
  if (!ks) {
    std::string known;
    for (const auto& k : ctx_.view.map.keyspaces) known += (known.empty() ? "" : ", ") + k.name;
    return Status::UnknownKeyspace("keyspace '" + *keyspace + "' does not exist (there are: " + known + ")");
  }
  if (key->empty()) return Status::InvalidArgument("key must not be empty");
  if (key->size() > options_.max_key_bytes) {
    return Status::TooLarge("key is " + std::to_string(key->size()) + " bytes, the limit is " +
                            std::to_string(options_.max_key_bytes));
  }
  int n = ctx_.view.replicas_for(*ks);
  auto* put = std::get_if<wire::PutRequest>(&request);
  if (ks->mode == meta::ConflictMode::kLinearizable) {
    if (opt->r || opt->w) {
      return Status::InvalidArgument("R and W do not apply to keyspace '" + *keyspace +
                                     "': it is linearizable (every operation is decided by a majority of its N=" +
                                     std::to_string(n) + " replicas); leave them unset");
    }
    if (put && put->condition > static_cast<uint8_t>(quorum::Condition::kIfVersion)) {
      return Status::InvalidArgument("unknown condition " + std::to_string(put->condition));
    }
  } else if (put && put->condition != 0) {
    return Status::InvalidArgument("conditional writes (if absent, if value, if version, SET NX/XX, CAS) need a "
                                   "linearizable keyspace; keyspace '" + *keyspace + "' is " +
                                   std::string(meta::mode_name(ks->mode)));
  }
  if (put && put->fence_lock.empty() != (put->fence_token == 0)) {
    return Status::InvalidArgument("a fenced write names both a lock and a token above zero (NAME:TOKEN)");
  }
  if (put && !put->fence_lock.empty() && opt->sloppy) {
    return Status::InvalidArgument("a fenced write cannot be sloppy: a stand-in keeps a hint without checking the "
                                   "key's fence, so its acknowledgement would not mean the fence was checked");
  }
  int asked = write ? opt->w : opt->r;
  if (asked > n) {
    return Status::InvalidArgument(std::string(write ? "W=" : "R=") + std::to_string(asked) +
                                   " is out of range 1..N=" + std::to_string(n) + " of keyspace '" + *keyspace +
                                   "'");
  }
  if (put && put->ttl_ms > wire::kMaxTtlMs) {
    return Status::InvalidArgument("time to live of " + std::to_string(put->ttl_ms) + " ms is above the limit of " +
                                   std::to_string(wire::kMaxTtlMs / 1000) + " s (ten years)");
  }
  if (put && put->value.size() > options_.max_value_bytes) {
    return Status::TooLarge("value is " + std::to_string(put->value.size()) + " bytes, the limit is " +
                            std::to_string(options_.max_value_bytes));
  }
  return *ks;
}

void Coordinator::run(wire::Body request, const meta::Keyspace& ks, Respond respond) {
  if (ks.mode == meta::ConflictMode::kLinearizable) return linearizable(std::move(request), ks, std::move(respond));
  switch (wire::type_of(request)) {
    case wire::MsgType::kPut:
    case wire::MsgType::kDelete:
      return write(std::move(request), ks, std::move(respond));
    case wire::MsgType::kGet:
      return get(std::move(std::get<wire::GetRequest>(request)), ks, std::move(respond));
    default:
      fail(respond, Status::InvalidArgument("not a data request"));
  }
}

quorum::HlcTimestamp Coordinator::tag() {
  // A joiner learns its id after it was built: its tags carry that id.
  if (clock_.node() != ctx_.view.self) clock_ = quorum::HybridClock(ctx_.view.self);
  return clock_.now(ctx_.env.wall_ms());
}

quorum::Ballot Coordinator::ballot_above(const quorum::Ballot& above) {
  auto next = [](const quorum::Ballot& b) { return quorum::Ballot{b.wall_ms, b.logical + 1, b.node}; };
  quorum::Ballot b = std::max({tag(), next(above), next(last_ballot_)});
  b.node = ctx_.view.self;
  last_ballot_ = b;
  return b;
}

void Coordinator::linearizable(wire::Body request, const meta::Keyspace& ks, Respond respond) {
  CasRequest req;
  req.keyspace = ks.name;
  const wire::RequestOptions* opt = nullptr;
  if (auto* get = std::get_if<wire::GetRequest>(&request)) {
    req.key = std::move(get->key);
    req.answer = CasRequest::Answer::kGet;
    opt = &get->options;
  } else if (auto* del = std::get_if<wire::DeleteRequest>(&request)) {
    req.key = std::move(del->key);
    req.answer = CasRequest::Answer::kDelete;
    req.op.kind = quorum::CasKind::kDelete;
    opt = &del->options;
  } else if (auto* put = std::get_if<wire::PutRequest>(&request)) {
    req.key = std::move(put->key);
    req.answer = CasRequest::Answer::kPut;
    req.op.kind = quorum::CasKind::kPut;
    req.op.value = std::move(put->value);
    req.op.condition = static_cast<quorum::Condition>(put->condition);
    req.op.expected = std::move(put->expected);
    if (put->ttl_ms != 0) req.op.expires_ms = tag().wall_ms + put->ttl_ms;
    req.op.fence_lock = std::move(put->fence_lock);
    req.op.fence_token = put->fence_token;
    if (req.op.condition == quorum::Condition::kIfVersion) {
      auto seq = parse_version_context(put->context);
      if (!seq.ok()) return fail(respond, Status::InvalidArgument("if-version: " + seq.status().message()));
      req.op.expected_seq = *seq;
    }
    opt = &put->options;
  } else {
    return fail(respond, Status::InvalidArgument("not a data request"));
  }
  if (req.op.kind != quorum::CasKind::kRead) {
    // Nonzero and unique to this operation: the proposer knows its own change by it.
    do req.op.id = ctx_.env.random(); while (req.op.id == 0);
  }
  for (auto node : ctx_.view.replicas_of(ks, req.key)) req.replicas.push_back(node);
  req.deadline_us = ctx_.env.now_us() + uint64_t{timeout_ms(*opt)} * 1000;
  std::make_shared<PaxosFsm>(
      ctx_, ctx_.paxos, [this](const quorum::Ballot& above) { return ballot_above(above); }, std::move(req),
      std::move(respond))
      ->start();
}

void Coordinator::write(wire::Body request, const meta::Keyspace& ks, Respond respond) {
  auto* put = std::get_if<wire::PutRequest>(&request);
  auto* del = std::get_if<wire::DeleteRequest>(&request);
  std::string& key = put ? put->key : del->key;
  const std::string& context = put ? put->context : del->context;
  wire::RequestOptions& opt = put ? put->options : del->options;
  // When the request arrived, as its tag and its deadline: on the node that
  // took it from the client, or (a forwarded write) as that node says
  // (docs/architecture.md, "Late writes").
  auto arrived = arrival(opt);
  if (!arrived.ok()) return fail(respond, arrived.status());
  if (forward_unless_replica(respond, ks, key, opt, request, *arrived)) return;
  if (!ctx_.replica.ready()) {
    // Until it knows the dots it minted before, a node mints none.
    return fail(respond, Status::Unavailable("node " + options_.node_name + " coordinates no writes: " +
                                             ctx_.replica.why_not_ready()));
  }
  auto ctx = net::decode_context(context);
  if (!ctx.ok()) return fail(respond, ctx.status());
  const int n = ctx_.view.replicas_for(ks);
  WriteRequest w{ks.name, std::move(key),
                 put ? quorum::ClientWrite::Put(std::move(put->value), arrived->tag)
                     : quorum::ClientWrite::Delete(arrived->tag),
                 std::move(*ctx)};
  // The expiry counts from the write's tag: when the client's request arrived.
  if (put && put->ttl_ms != 0) w.write.expires_ms = arrived->tag.wall_ms + put->ttl_ms;
  if (put && !put->fence_lock.empty()) {
    w.write.fence_lock = std::move(put->fence_lock);
    w.write.fence_token = put->fence_token;
  }
  // Without a context, a delete deletes every version the coordinating
  // replica held when the request arrived (as Riak's client reads before it
  // deletes): a user who types `tally del k` means the key, not one more
  // concurrent version. A put does so only when it asks to (`overwrite`, as
  // RESP SET does).
  w.blind = context.empty() && (del || opt.overwrite);
  w.is_delete = del != nullptr;
  w.lww = ks.mode == meta::ConflictMode::kLww;
  w.n = n;
  w.w = opt.w ? opt.w : std::min(ks.w, n);
  w.sloppy = opt.sloppy;
  w.deadline_us = arrived->deadline_us;
  const uint64_t now = ctx_.env.now_us();
  // Anything really written after this request arrived is here before its
  // deadline, tagged by a clock within the HLC's allowed skew of the arrival's.
  w.horizon_ms = horizon_ms(arrived->tag.wall_ms, opt);
  w.timeout_ms = static_cast<uint32_t>(std::max<uint64_t>(1, (arrived->deadline_us - now + 999) / 1000));
  std::make_shared<PutFsm>(ctx_, std::move(w), std::move(respond))->start();
}

Result<Coordinator::Arrival> Coordinator::arrival(const wire::RequestOptions& opt) {
  const uint64_t now = ctx_.env.now_us();
  Arrival a{{}, now + uint64_t{timeout_ms(opt)} * 1000};
  if (!opt.forwarded) {
    a.tag = tag();
    return a;
  }
  // Only a peer hands a forwarded write over (node.cpp refuses it from
  // anyone else), so its word on arrival is taken.
  if (opt.deadline_us != 0) {
    if (now >= opt.deadline_us) {
      ctx_.stats.add(Counter::kLateWrites);
      return Status::Timeout("the write reached replica " + options_.node_name + " " +
                             std::to_string((now - opt.deadline_us) / 1000) +
                             " ms after its deadline (held up between nodes): not applied");
    }
    a.deadline_us = std::min(a.deadline_us, opt.deadline_us);
  } else if (opt.arrival_ms != 0) {
    // The forwarder had no estimate of our clock yet (no heartbeat answer
    // from us): bound the write by wall clocks instead, with the skew the HLC
    // allows, as its overwrite's horizon is. Without a bound, a forward held
    // up for seconds (a partition healing) was applied late, and its horizon
    // superseded writes acknowledged since (the fault suite's staged heal).
    const uint64_t last_ms = horizon_ms(opt.arrival_ms, opt);
    const uint64_t wall = ctx_.env.wall_ms();
    if (wall >= last_ms) {
      ctx_.stats.add(Counter::kLateWrites);
      return Status::Timeout("the write reached replica " + options_.node_name + " " +
                             std::to_string(wall - opt.arrival_ms) +
                             " ms after it arrived, past its timeout and the clocks' allowed skew (held up "
                             "between nodes): not applied");
    }
    a.deadline_us = std::min(a.deadline_us, now + (last_ms - wall) * 1000);
  }
  if (opt.arrival_ms != 0) {
    const quorum::HlcTimestamp given{opt.arrival_ms, opt.arrival_logical, opt.arrival_node};
    tag();  // a joiner's clock carries its id first
    if (clock_.update(given, ctx_.env.wall_ms()).ok()) {
      a.tag = given;  // the write is tagged when the client's request arrived
      return a;
    }
    // A forwarder whose clock runs ahead of ours by more than the HLC allows:
    // our own tag, not its future.
  }
  a.tag = tag();
  return a;
}
void Coordinator::get(wire::GetRequest request, const meta::Keyspace& ks, Respond respond) {
  const int n = ctx_.view.replicas_for(ks);
  ReadRequest r{ks, std::move(request.key)};
  r.r = request.options.r ? request.options.r : std::min(ks.r, n);
  r.blocking_repair = request.options.blocking_repair;
  r.timeout_ms = timeout_ms(request.options);
  r.now_ms = tag().wall_ms;
  std::make_shared<GetFsm>(ctx_, std::move(r), std::move(respond))->start();
}

bool Coordinator::forward_unless_replica(const Respond& respond, const meta::Keyspace& ks, const std::string& key,
                                         wire::RequestOptions& opt, wire::Body& request, const Arrival& arrived) {
  ring::PreferenceList primaries = ctx_.view.replicas_of(ks, key);
  if (primaries.contains(ctx_.view.self)) return false;
  if (opt.forwarded) {
    // Never forward twice: the sender and we disagree on the ring.
    fail(respond, Status::Unavailable("node " + options_.node_name +
                                      " is not a replica of the key; the nodes disagree about the ring"));
    return true;
  }
  // Hand the request, as the client sent it, to the first replica that is up:
  // it decodes the context and mints the dot. None up: fail now rather than
  // wait out the timeout on a node we already believe down.
  ring::NodeId to = ring::kNoNode;
  std::string down;
  for (ring::NodeId p : primaries) {
    if (ctx_.peers.is_up(p)) {
      to = p;
      break;
    }
    down += (down.empty() ? "" : ", ") + ctx_.peers.name_of(p);
  }
  if (to == ring::kNoNode) {
    ctx_.stats.add(Counter::kQuorumFailures);
    fail(respond, Status::Unavailable("every replica of the key is down as node " + options_.node_name +
                                      " sees it (" + down + "): the write was not sent anywhere"));
    return true;
  }
  opt.forwarded = true;
  // The receiver applies it only before our deadline, in its clock (0: no
  // estimate of its clock yet, as with a node older than deadlines).
  opt.deadline_us = ctx_.peers.deadline_for(to, arrived.deadline_us).value_or(0);
  opt.arrival_ms = arrived.tag.wall_ms;
  opt.arrival_logical = arrived.tag.logical;
  opt.arrival_node = arrived.tag.node;
  const uint64_t now = ctx_.env.now_us();
  const auto left_ms = static_cast<uint32_t>(arrived.deadline_us > now ? (arrived.deadline_us - now) / 1000 : 0);
  forward_write(respond, to, std::move(request), left_ms);
  return true;
}

void Coordinator::forward_write(Respond respond, ring::NodeId to, wire::Body request, uint32_t timeout_ms) {
  ctx_.stats.add(Counter::kForwarded);
  ctx_.drain.started();
  ctx_.peers.call(to, std::move(request), (uint64_t{timeout_ms} + 500) * 1000,
                  [this, respond, to](Result<wire::Message> r) {
                    if (r.ok()) {
                      respond(std::move(r->body));
                    } else if (r.status().code() == Code::kUnavailable) {
                      // The connection went while the write may have been on its way: its
                      // outcome is unknown. (kUnavailable from a node means "not run": a
                      // client may send that request elsewhere, and must not send this one.)
                      fail(respond, Status::IoError("lost the connection to replica " + ctx_.peers.name_of(to) +
                                                    " while handing it the write; it may or may not have been "
                                                    "applied (" + r.status().message() + ")"));
                    } else {
                      fail(respond, Status(r.status().code(), "could not hand the write to replica " +
                                                                  ctx_.peers.name_of(to) + ": " +
                                                                  r.status().message()));
                    }
                    ctx_.drain.finished();
                  });
}

}  // namespace tally
