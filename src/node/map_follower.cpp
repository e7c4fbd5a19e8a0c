#include "node/map_follower.hpp"

#include <algorithm>

namespace tally {

namespace {

constexpr uint64_t kMetaRequestTimeoutUs = 6'000'000;  // above MetaGroupOptions::proposal_timeout_us
constexpr uint64_t kJoinRetryUs = 1'000'000;
// A metadata request waits this long for a leader it can reach (an election
// takes a few hundred ms), looking every kLeaderPollUs.
constexpr uint64_t kLeaderWaitUs = 2'000'000;
constexpr uint64_t kLeaderPollUs = 20'000;

// Until Raft assigns ids, a founder's id is its 1-based position in the
// config's node list: the same on every node, for as long as the file is.
ring::NodeId id_of(const ClusterConfig& cfg, const std::string& name) {
  for (size_t i = 0; i < cfg.nodes.size(); ++i) {
    if (cfg.nodes[i].id == name) return static_cast<ring::NodeId>(i + 1);
  }
  return ring::kNoNode;
}

}  // namespace

MapFollower::MapFollower(Env& env, Logger log, const ClusterConfig& config, const NodeEntry& self,
                         std::string join, MetaGroup& meta, PeerLink& peers)
    : env_(env),
      log_(std::move(log)),
      config_(config),
      self_(self),
      join_(std::move(join)),
      meta_(meta),
      peers_(peers) {
  view_.self = join_.empty() ? id_of(config_, self_.id) : ring::kNoNode;
}

void MapFollower::start() { start_metadata(); }

void MapFollower::stop() {
  stopped_ = true;
  if (join_timer_) env_.cancel_timer(join_timer_);
  join_timer_ = 0;
}

const meta::Member* MapFollower::known_member(ring::NodeId id) const {
  const meta::Member* m = view_.map.member(id);
  return m ? m : meta_.map().member(id);
}

void MapFollower::start_metadata() {
  if (!join_.empty() && view_.self == ring::kNoNode) {
    // A joiner: it may have been given an id in an earlier life.
    meta_.load_node_id([this](Result<uint64_t> id) {
      if (!id.ok()) {
        TALLY_LOG(log_, kError) << "cannot read this node's id: " << id.status().to_string();
        return;
      }
      if (*id == 0) return join_cluster();
      view_.self = static_cast<ring::NodeId>(*id);
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
  meta_.start(view_.self, std::move(voters), std::move(learners), genesis_, [this](Status s) {
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

void MapFollower::join_cluster() {
  join_timer_ = 0;
  if (stopped_) return;
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
  peers_.call_address(*addr, join_, std::move(req), kMetaRequestTimeoutUs, [this](Result<wire::Message> r) {
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
      view_.self = static_cast<ring::NodeId>(id);
      start_metadata();
    });
  });
}

void MapFollower::on_raft(ConnId conn, const wire::RaftMessage& message) {
  if (message.msg.to != view_.self || view_.self == ring::kNoNode) return;  // not (yet) for us
  peers_.raft_arrived(conn, static_cast<ring::NodeId>(message.msg.from));
  meta_.step(message.msg);
}

void MapFollower::to_leader(std::shared_ptr<LeaderCall> c) {
  if (stopped_) return fail(c->respond, Status::Unavailable("node " + self_.id + " is stopping"));
  const auto leader = static_cast<ring::NodeId>(meta_.leader());
  if (leader == view_.self && meta_.is_leader()) return c->here();
  const bool reachable =
      leader != ring::kNoNode && leader != view_.self && known_member(leader) && peers_.is_up(leader);
  if (!reachable) {
    // An election, or a leader this node cannot reach: wait a little for
    // one it can (an election takes a few hundred ms), then say so.
    if (env_.now_us() - c->since_us >= kLeaderWaitUs) {
      return fail(c->respond,
                  Status::Unavailable("no metadata leader reachable from " + self_.id + " within " +
                                      std::to_string(kLeaderWaitUs / 1000) + " ms (" +
                                      (leader == ring::kNoNode || leader == view_.self
                                           ? std::string("none known")
                                           : "leader " + peers_.name_of(leader) + " is down as " + self_.id +
                                                 " sees it") +
                                      "); nothing was sent: retry"));
    }
    env_.set_timer(kLeaderPollUs, [this, c] { to_leader(c); });
    return;
  }
  // In flight to `leader`: answered by its reply or, should it lose the lead
  // or go down first, at once rather than after the call's timeout.
  const uint64_t attempt = ++c->attempt;
  peers_.call(leader, c->request, kMetaRequestTimeoutUs, [this, c, attempt, leader](Result<wire::Message> r) {
    if (c->attempt != attempt) return;  // given up on, or sent again
    ++c->attempt;  // answered: the watch ends
    env_.cancel_timer(c->watch);
    const auto* e = r.ok() ? std::get_if<wire::ErrorReply>(&r->body) : nullptr;
    if (e && (e->code == Code::kNotLeader || e->code == Code::kUnavailable)) {
      // It did not run it (it lost the lead, or knows no leader itself):
      // follow the lead, within the wait.
      if (env_.now_us() - c->since_us < kLeaderWaitUs) {
        env_.set_timer(kLeaderPollUs, [this, c] { to_leader(c); });
        return;
      }
    }
    if (r.ok()) return c->respond(std::move(r->body));
    fail(c->respond,
         Status(r.status().code(), "metadata leader " + peers_.name_of(leader) + ": " + r.status().message()));
  });
  c->watch = env_.set_timer(kLeaderPollUs, [this, c, attempt, leader] { watch_leader(c, attempt, leader); });
}

void MapFollower::watch_leader(std::shared_ptr<LeaderCall> c, uint64_t attempt, ring::NodeId to) {
  if (c->attempt != attempt) return;
  if (static_cast<ring::NodeId>(meta_.leader()) == to && peers_.is_up(to)) {
    c->watch = env_.set_timer(kLeaderPollUs, [this, c, attempt, to] { watch_leader(c, attempt, to); });
    return;
  }
  // The node we handed it to lost the lead or went down: its reply, if one
  // ever comes, is not waited for.
  ++c->attempt;
  if (c->may_repeat) return to_leader(c);  // a read: ask the new leader
  fail(c->respond, Status::Timeout("metadata leader " + peers_.name_of(to) + " " +
                                   (peers_.is_up(to) ? "lost the lead" : "went down as " + self_.id + " sees it") +
                                   " while the change was with it: it may or may not have been applied (the "
                                   "cluster map shows whether it was); retry if not"));
}

void MapFollower::handle_cluster_info(const wire::ClusterInfoRequest& req, Respond respond) {
  if (!req.linearizable) return respond(cluster_info());
  if (meta_.is_leader()) {
    meta_.read_barrier([this, respond](Status s) {
      if (!s.ok()) return fail(respond, s);
      respond(cluster_info());
    });
    return;
  }
  if (req.forwarded) {
    return fail(respond, Status::Unavailable("node " + self_.id + " is not the metadata leader (an election?); retry"));
  }
  wire::ClusterInfoRequest fwd = req;
  fwd.forwarded = true;
  to_leader(std::make_shared<LeaderCall>(LeaderCall{
      std::move(fwd), respond, true, [this, req, respond] { handle_cluster_info(req, respond); }, env_.now_us()}));
}

wire::ClusterInfoReply MapFollower::cluster_info() const {
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
  r.map = meta_.map().epoch >= view_.map.epoch ? meta_.map() : view_.map;
  for (const auto& m : r.map.members) {
    if (m.state != meta::NodeState::kRemoved && !peers_.is_up(m.id)) r.down.push_back(m.id);
  }
  return r;
}

void MapFollower::handle_meta_change(wire::MetaChangeRequest req, Respond respond) {
  if (meta_.is_leader()) {
    meta_.change(req, [respond](Result<wire::MetaChangeReply> r) {
      if (!r.ok()) return fail(respond, r.status());
      respond(*r);
    });
    return;
  }
  if (req.forwarded) {
    // Handed on once already: the other node thought we lead. Not run here,
    // so it may follow the lead elsewhere.
    return fail(respond, Status::Unavailable("node " + self_.id + " is not the metadata leader (an election?); retry"));
  }
  wire::MetaChangeRequest fwd = req;
  fwd.forwarded = true;
  to_leader(std::make_shared<LeaderCall>(LeaderCall{
      std::move(fwd), respond, false,
      [this, req = std::move(req), respond]() mutable { handle_meta_change(std::move(req), respond); },
      env_.now_us()}));
}

void MapFollower::adopt(const meta::ClusterMap& map, std::string_view source) {
  if (map.epoch == 0 || map.epoch < view_.map.epoch || map == view_.map) return;
  auto ring = map.build_ring();
  if (!ring.ok()) {
    TALLY_LOG(log_, kError) << "cluster map epoch " << map.epoch << " from the " << source
                            << " has no usable ring: " << ring.status().to_string();
    return;
  }
  ring::Ring after;
  if (map.movement) {
    auto next = map.build_ring_after();
    if (!next.ok()) {
      TALLY_LOG(log_, kError) << "cluster map epoch " << map.epoch << " from the " << source
                              << " has no usable ring after its movement: " << next.status().to_string();
      return;
    }
    after = std::move(*next);
  }
  const bool new_epoch = map.epoch != view_.map.epoch;
  view_.map = map;
  view_.ring = std::move(*ring);
  view_.after = std::move(after);
  for (const auto& m : view_.map.members) {
    if (m.id != view_.self && m.state != meta::NodeState::kRemoved) peers_.watch(m.id);
  }
  if (!new_epoch) return;  // a movement's progress: nothing routes differently
  const meta::Member* me = view_.map.member(view_.self);
  std::string moving;
  if (const auto& mv = view_.map.movement) {
    const meta::Member* who = view_.map.member(mv->node);
    moving = "; ring movement: " + (who ? who->name : std::to_string(mv->node)) + " " +
             std::string(meta::movement_kind_name(mv->kind)) + ", " + std::to_string(mv->done_count()) + " of " +
             std::to_string(mv->transfers.size()) + " ranges streamed";
  }
  TALLY_LOG(log_, kInfo) << "cluster map epoch " << view_.map.epoch << " (from the " << source << "): "
                         << view_.ring.node_count() << " nodes on the ring, " << view_.map.keyspaces.size()
                         << " keyspaces; this node is "
                         << (me ? std::string(meta::node_state_name(me->state)) : std::string("not a member"))
                         << moving;
}

void MapFollower::refresh(ring::NodeId from, std::function<void()> then) {
  if (then) after_refresh_.push_back(std::move(then));
  if (refreshing_) return;
  if (from == ring::kNoNode) from = static_cast<ring::NodeId>(meta_.leader());
  auto finish = [this] {
    refreshing_ = false;
    auto waiting = std::move(after_refresh_);
    after_refresh_.clear();
    for (auto& fn : waiting) fn();
  };
  if (from == ring::kNoNode || from == view_.self || !known_member(from)) return finish();
  refreshing_ = true;
  peers_.call(from, wire::ClusterInfoRequest{}, 1'000'000, [this, finish](Result<wire::Message> r) {
    if (r.ok()) {
      if (auto* info = std::get_if<wire::ClusterInfoReply>(&r->body)) adopt(info->map, "node " + info->answered_by);
    }
    finish();
  });
}

void MapFollower::saw_epoch(uint64_t epoch, ring::NodeId from) {
  view_.newest_heard = std::max(view_.newest_heard, epoch);
  if (epoch <= view_.map.epoch || refreshing_) return;
  // The log brings it within a heartbeat; fetching it at once closes the
  // window in which this node routes by an older ring than its peers.
  refresh(from, nullptr);
}

}  // namespace tally
