#include "node/local_get_service.hpp"

namespace tally {

LocalGetService::LocalGetService(const ClusterView& view, store::RecordStore& store,
                                 PeerCalls& peers, LocalGetOptions options)
    : view_(view), store_(store), peers_(peers), options_(std::move(options)) {}

Status LocalGetService::check(const wire::LocalGetRequest& request) const {
  if (!view_.map.keyspace(request.keyspace)) {
    std::string known;
    for (const auto& k : view_.map.keyspaces) known += (known.empty() ? "" : ", ") + k.name;
    return Status::UnknownKeyspace("keyspace '" + request.keyspace +
                                   "' does not exist (there are: " + known + ")");
  }
  if (request.key.empty()) return Status::InvalidArgument("key must not be empty");
  if (request.key.size() > options_.max_key_bytes) {
    return Status::TooLarge("key is " + std::to_string(request.key.size()) +
                            " bytes, the limit is " + std::to_string(options_.max_key_bytes));
  }
  return Status::Ok();
}

std::string LocalGetService::member_names() const {
  std::string names;
  for (const auto& m : view_.map.members) {
    names += (names.empty() ? "" : ", ") + m.name +
             (m.state == meta::NodeState::kRemoved ? " (removed)" : "");
  }
  return names;
}

void LocalGetService::run(wire::LocalGetRequest request, Respond respond) {
  const meta::Member* target = nullptr;
  for (const auto& m : view_.map.members) {
    if (m.name == request.node) target = &m;
  }
  if (!target) {
    return fail(respond, Status::InvalidArgument(
                             "no node named '" + request.node +
                             "' in the cluster (the nodes are: " + member_names() + ")"));
  }
  if (target->state == meta::NodeState::kRemoved) {
    return fail(respond,
                Status::InvalidArgument("node " + request.node +
                                        " was removed from the cluster: it serves no copies"));
  }
  if (target->id == view_.self) return read_own(request, std::move(respond));
  if (request.forwarded) {
    // Never hand it on twice: the sender and we disagree about who is who.
    return fail(respond, Status::Unavailable("node " + options_.node_name +
                                             " was handed the read of " + request.node +
                                             "'s copy; the nodes disagree about the cluster map"));
  }
  const ring::NodeId to = target->id;
  if (!peers_.is_up(to)) {
    return fail(respond, Status::Unavailable(
                             "node " + request.node + " is down (" + options_.node_name +
                             "'s failure detector has not heard from it): its copy cannot be "
                             "read now"));
  }
  const uint32_t timeout_ms = request.timeout_ms ? request.timeout_ms : options_.request_timeout_ms;
  request.forwarded = true;
  peers_.call(
      to, std::move(request), uint64_t{timeout_ms} * 1000,
      [respond = std::move(respond), name = target->name, timeout_ms](Result<wire::Message> r) {
        if (r.ok()) return respond(std::move(r->body));  // its copy, or its own error
        std::string why = r.status().code() == Code::kTimeout
                              ? "no answer within " + std::to_string(timeout_ms) + " ms"
                              : r.status().message();
        fail(respond, Status(r.status().code(), "cannot read node " + name + "'s copy: " + why));
      });
}

void LocalGetService::read_own(const wire::LocalGetRequest& request, Respond respond) {
  store_.get(request.keyspace, request.key,
             [this, respond = std::move(respond)](Result<std::optional<quorum::DvvSet>> r) {
               if (!r.ok()) return fail(respond, r.status());
               wire::LocalGetReply out;
               out.answered_by = options_.node_name;
               out.epoch = view_.epoch();
               if (r->has_value()) {
                 out.found = true;
                 out.record = std::move(**r);
               }
               respond(std::move(out));
             });
}

}  // namespace tally
