#include "node/coordinator.hpp"

#include "net/codec.hpp"
#include "node/get_fsm.hpp"
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
  int asked = write ? opt->w : opt->r;
  if (asked > n) {
    return Status::InvalidArgument(std::string(write ? "W=" : "R=") + std::to_string(asked) +
                                   " is out of range 1..N=" + std::to_string(n) + " of keyspace '" + *keyspace +
                                   "'");
  }
  if (auto* put = std::get_if<wire::PutRequest>(&request); put && put->value.size() > options_.max_value_bytes) {
    return Status::TooLarge("value is " + std::to_string(put->value.size()) + " bytes, the limit is " +
                            std::to_string(options_.max_value_bytes));
  }
  return *ks;
}

void Coordinator::run(wire::Body request, const meta::Keyspace& ks, Respond respond) {
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

void Coordinator::write(wire::Body request, const meta::Keyspace& ks, Respond respond) {
  auto* put = std::get_if<wire::PutRequest>(&request);
  auto* del = std::get_if<wire::DeleteRequest>(&request);
  std::string& key = put ? put->key : del->key;
  const std::string& context = put ? put->context : del->context;
  wire::RequestOptions& opt = put ? put->options : del->options;
  if (forward_unless_replica(respond, ks, key, opt, request)) return;
  if (!ctx_.replica.ready()) {
    // Until it knows the dots it minted before, a node mints none.
    const Status& why = ctx_.replica.load_error();
    return fail(respond, Status::Unavailable("node " + options_.node_name + " coordinates no writes: " +
                                             (why.ok() ? "still reading its dot floor" : why.message())));
  }
  auto ctx = net::decode_context(context);
  if (!ctx.ok()) return fail(respond, ctx.status());
  const int n = ctx_.view.replicas_for(ks);
  WriteRequest w{ks.name, std::move(key),
                 put ? quorum::ClientWrite::Put(std::move(put->value), tag()) : quorum::ClientWrite::Delete(tag()),
                 std::move(*ctx)};
  // Without a context, a delete deletes every version the coordinating
  // replica holds (as Riak's client reads before it deletes): a user who
  // types `tally del k` means the key, not one more concurrent version. A
  // put does so only when it asks to (`overwrite`, as RESP SET does).
  w.blind = context.empty() && (del || opt.overwrite);
  w.is_delete = del != nullptr;
  w.lww = ks.mode == meta::ConflictMode::kLww;
  w.n = n;
  w.w = opt.w ? opt.w : std::min(ks.w, n);
  w.sloppy = opt.sloppy;
  w.timeout_ms = timeout_ms(opt);
  std::make_shared<PutFsm>(ctx_, std::move(w), std::move(respond))->start();
}

void Coordinator::get(wire::GetRequest request, const meta::Keyspace& ks, Respond respond) {
  const int n = ctx_.view.replicas_for(ks);
  ReadRequest r{ks, std::move(request.key)};
  r.r = request.options.r ? request.options.r : std::min(ks.r, n);
  r.blocking_repair = request.options.blocking_repair;
  r.timeout_ms = timeout_ms(request.options);
  std::make_shared<GetFsm>(ctx_, std::move(r), std::move(respond))->start();
}

bool Coordinator::forward_unless_replica(const Respond& respond, const meta::Keyspace& ks, const std::string& key,
                                         wire::RequestOptions& opt, wire::Body& request) {
  ring::PreferenceList primaries = ctx_.view.replicas_of(ks, key);
  if (primaries.contains(ctx_.view.self)) return false;
  if (opt.forwarded) {
    // Never forward twice: the sender and we disagree on the ring.
    fail(respond, Status::Unavailable("node " + options_.node_name +
                                      " is not a replica of the key; the nodes disagree about the ring"));
    return true;
  }
  // Hand the request, as the client sent it, to the first replica that is up
  // (the first one if none is): it decodes the context and mints the tag.
  ring::NodeId to = primaries[0];
  for (ring::NodeId p : primaries) {
    if (ctx_.peers.is_up(p)) {
      to = p;
      break;
    }
  }
  opt.forwarded = true;
  const uint32_t timeout = timeout_ms(opt);  // before `request`, which holds `opt`, moves
  forward_write(respond, to, std::move(request), timeout);
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
