// The node's side of the metadata group: starting (as a founder from the
// config, or by joining a running cluster), carrying Raft messages between
// nodes, answering cluster info and changes from any node (a follower hands
// them to the leader), and following the map: the data path switches to each
// newer map it learns of, from the log or from a peer with a higher epoch.
#include "node/node.hpp"

namespace tally {

namespace {

constexpr uint64_t kMetaRequestTimeoutUs = 6'000'000;  // above MetaGroupOptions::proposal_timeout_us
constexpr uint64_t kJoinRetryUs = 1'000'000;

}  // namespace

void Node::start_metadata() {
  if (!join_.empty() && id_ == ring::kNoNode) {
    // A joiner: it may have been given an id in an earlier life.
    meta_.load_node_id([this](Result<uint64_t> id) {
      if (!id.ok()) {
        TALLY_LOG(log_, kError) << "cannot read this node's id: " << id.status().to_string();
        return;
      }
      if (*id == 0) return join_cluster();
      id_ = static_cast<ring::NodeId>(*id);
      clock_ = quorum::HybridClock(id_);
      start_metadata();
    });
    return;
  }
  std::vector<raft::NodeId> voters, learners;
  if (join_.empty()) {
    // Founders: the config's voters vote, every other node of the file learns.
    for (size_t i = 0; i < config_.nodes.size(); ++i) {
      bool voter = std::find(config_.voters.begin(), config_.voters.end(), config_.nodes[i].id) != config_.voters.end();
      (voter ? voters : learners).push_back(i + 1);
    }
  }
  meta_.start(id_, std::move(voters), std::move(learners), genesis_, [this](Status s) {
    if (!s.ok()) {
      TALLY_LOG(log_, kError) << s.to_string();
      return;
    }
    // A founder whose log holds no map yet (a new cluster, or one whose first
    // entries were not committed here) serves with the config's meanwhile: it
    // is the map the first leader proposes.
    if (meta_.map().epoch == 0 && genesis_) adopt(*genesis_, "config");
  });
}

void Node::join_cluster() {
  join_timer_ = 0;
  if (stopping_) return;
  auto addr = parse_host_port(join_);
  if (!addr.ok()) {
    TALLY_LOG(log_, kError) << "cannot join through '" << join_ << "': " << addr.status().to_string();
    return;
  }
  wire::MetaChangeRequest req;
  req.op = wire::MetaOp::kJoin;
  req.node = self_.id;
  req.address = self_.listen.to_string();
  req.zone = self_.zone;
  ConnId conn = env_.connect(*addr);
  call_on(conn, join_, std::move(req), kMetaRequestTimeoutUs, [this, conn](Result<wire::Message> r) {
    env_.close(conn, Status::Ok());
    Status err;
    if (!r.ok()) {
      err = r.status();
    } else if (auto* e = std::get_if<wire::ErrorReply>(&r->body)) {
      err = Status(e->code, e->message);
    } else if (!std::holds_alternative<wire::MetaChangeReply>(r->body)) {
      err = Status::ProtocolError("unexpected reply to a join");
    }
    if (!err.ok()) {
      TALLY_LOG(log_, kWarn) << "join through " << join_ << " failed: " << err.to_string() << "; retrying";
      join_timer_ = env_.set_timer(kJoinRetryUs, [this] { join_cluster(); });
      return;
    }
    uint64_t id = std::get<wire::MetaChangeReply>(r->body).node_id;
    meta_.save_node_id(id, [this, id](Status s) {
      if (!s.ok()) {
        TALLY_LOG(log_, kError) << "cannot save this node's id " << id << ": " << s.to_string();
        return;
      }
      TALLY_LOG(log_, kInfo) << "joined the cluster as node " << id << "; catching up as a learner";
      id_ = static_cast<ring::NodeId>(id);
      clock_ = quorum::HybridClock(id_);
      start_metadata();
    });
  });
}

void Node::send_raft(raft::Message message) {
  ConnId conn = peer_conn(static_cast<ring::NodeId>(message.to));
  if (conn == 0) {
    auto it = raft_inbound_.find(static_cast<ring::NodeId>(message.to));
    if (it == raft_inbound_.end()) return;  // no way to it yet; Raft sends again
    conn = it->second;
  }
  env_.send(conn, net::encode_payload(wire::Message{0, wire::RaftMessage{std::move(message)}}));
}

void Node::on_raft(ConnId conn, const wire::RaftMessage& message) {
  if (message.msg.to != id_ || id_ == ring::kNoNode) return;  // not (yet) for us
  raft_inbound_[static_cast<ring::NodeId>(message.msg.from)] = conn;
  meta_.step(message.msg);
}

bool Node::forward_to_leader(wire::Body request, const Respond& respond) {
  ring::NodeId leader = static_cast<ring::NodeId>(meta_.leader());
  if (leader == ring::kNoNode || leader == id_ || !known_member(leader)) return false;
  call(leader, std::move(request), kMetaRequestTimeoutUs, [this, respond, leader](Result<wire::Message> r) {
    if (r.ok()) return respond(std::move(r->body));
    fail(respond, Status(r.status().code(), "metadata leader " + name_of(leader) + ": " + r.status().message()));
  });
  return true;
}

void Node::handle_cluster_info(const wire::ClusterInfoRequest& req, Respond respond) {
  if (!req.linearizable) return respond(cluster_info());
  if (meta_.is_leader()) {
    meta_.read_barrier([this, respond](Status s) {
      if (!s.ok()) return fail(respond, s);
      respond(cluster_info());
    });
    return;
  }
  wire::ClusterInfoRequest fwd = req;
  fwd.forwarded = true;
  if (req.forwarded || !forward_to_leader(fwd, respond)) {
    fail(respond, Status::Unavailable("no metadata leader is known to " + self_.id + " (an election?); retry"));
  }
}

wire::ClusterInfoReply Node::cluster_info() const {
  wire::ClusterInfoReply r;
  r.answered_by = self_.id;
  r.leader = meta_.leader();
  r.term = meta_.term();
  r.commit = meta_.commit_index();
  r.applied = meta_.applied_index();
  raft::Membership members = meta_.membership();
  r.voters = members.voters;
  r.learners = members.learners;
  // The newer of the applied map and the one the data path uses.
  r.map = meta_.map().epoch >= map_.epoch ? meta_.map() : map_;
  for (const auto& m : r.map.members) {
    if (m.state != meta::NodeState::kRemoved && !is_up(m.id)) r.down.push_back(m.id);
  }
  return r;
}

void Node::handle_meta_change(wire::MetaChangeRequest req, Respond respond) {
  if (meta_.is_leader()) {
    meta_.change(req, [respond](Result<wire::MetaChangeReply> r) {
      if (!r.ok()) return fail(respond, r.status());
      respond(*r);
    });
    return;
  }
  bool forwarded = req.forwarded;
  req.forwarded = true;
  if (forwarded || !forward_to_leader(std::move(req), respond)) {
    fail(respond, Status::Unavailable("no metadata leader is known to " + self_.id + " (an election?); retry"));
  }
}

void Node::adopt(const meta::ClusterMap& map, std::string_view source) {
  if (map.epoch == 0 || map.epoch < map_.epoch || map == map_) return;
  auto ring = map.build_ring();
  if (!ring.ok()) {
    TALLY_LOG(log_, kError) << "cluster map epoch " << map.epoch << " from the " << source
                            << " has no usable ring: " << ring.status().to_string();
    return;
  }
  map_ = map;
  ring_ = std::move(*ring);
  for (const auto& m : map_.members) {
    if (m.id != id_ && m.state != meta::NodeState::kRemoved) fd_.watch(m.id, env_.now_us());
  }
  const meta::Member* me = map_.member(id_);
  TALLY_LOG(log_, kInfo) << "cluster map epoch " << map_.epoch << " (from the " << source << "): "
                         << ring_.node_count() << " nodes on the ring, " << map_.keyspaces.size()
                         << " keyspaces; this node is "
                         << (me ? std::string(meta::node_state_name(me->state)) : std::string("not a member"));
  maybe_finish_join();
}

void Node::refresh_map(ring::NodeId from, std::function<void()> then) {
  if (then) after_refresh_.push_back(std::move(then));
  if (refreshing_) return;
  if (from == ring::kNoNode) from = static_cast<ring::NodeId>(meta_.leader());
  auto finish = [this] {
    refreshing_ = false;
    auto waiting = std::move(after_refresh_);
    after_refresh_.clear();
    for (auto& fn : waiting) fn();
  };
  if (from == ring::kNoNode || from == id_ || !known_member(from)) return finish();
  refreshing_ = true;
  call(from, wire::ClusterInfoRequest{}, 1'000'000, [this, finish](Result<wire::Message> r) {
    if (r.ok()) {
      if (auto* info = std::get_if<wire::ClusterInfoReply>(&r->body)) adopt(info->map, "node " + info->answered_by);
    }
    finish();
  });
}

void Node::saw_epoch(uint64_t epoch, ring::NodeId from) {
  if (epoch <= map_.epoch || refreshing_) return;
  // The log brings it within a heartbeat; fetching it at once closes the
  // window in which this node routes by an older ring than its peers.
  refresh_map(from, nullptr);
}

// A joiner that has applied its own arrival has caught up far enough to take
// its place on the ring (data streaming is not there yet: until it is, the
// ranges it takes fill through writes, read repair and hints).
void Node::maybe_finish_join() {
  if (join_.empty() || finishing_join_ || stopping_) return;
  const meta::Member* me = meta_.map().member(id_);
  if (!me || me->state != meta::NodeState::kJoining) return;
  finishing_join_ = true;
  wire::MetaChangeRequest req;
  req.op = wire::MetaOp::kFinishJoin;
  req.node = self_.id;
  handle_meta_change(std::move(req), [this](wire::Body reply) {
    finishing_join_ = false;
    if (auto* e = std::get_if<wire::ErrorReply>(&reply)) {
      TALLY_LOG(log_, kWarn) << "cannot take a place on the ring yet: " << e->message << "; retrying";
      join_timer_ = env_.set_timer(kJoinRetryUs, [this] {
        join_timer_ = 0;
        maybe_finish_join();
      });
    }
  });
}

}  // namespace tally
