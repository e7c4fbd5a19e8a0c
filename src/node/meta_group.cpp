#include "node/meta_group.hpp"

#include <algorithm>

#include "codec/meta_codec.hpp"
#include "ring/token_allocator.hpp"

namespace tally {

namespace {

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

MetaGroup::MetaGroup(Env& env, Logger log, Hooks hooks, MetaGroupOptions options)
    : env_(env), log_(std::move(log)), hooks_(std::move(hooks)), options_(options), store_(env.disk()) {}

MetaGroup::~MetaGroup() {
  *alive_ = false;
  if (tick_timer_) env_.cancel_timer(tick_timer_);
}

std::string MetaGroup::role_name() const {
  if (!raft_) return failed_.ok() ? "starting" : "failed";
  if (raft_->role() == raft::Role::kFollower && !raft_->membership().is_voter(self_)) {
    return raft_->membership().is_learner(self_) ? "learner" : "outside the group";
  }
  return std::string(raft::role_name(raft_->role()));
}

void MetaGroup::start(raft::NodeId self, std::vector<raft::NodeId> voters, std::vector<raft::NodeId> learners,
                      std::optional<meta::ClusterMap> genesis, std::function<void(Status)> done) {
  self_ = self;
  genesis_ = std::move(genesis);
  voters_ = voters;
  learners_ = learners;
  std::weak_ptr<bool> alive = alive_;
  store_.load([this, alive, voters = std::move(voters), learners = std::move(learners),
               done = std::move(done)](Result<raft::PersistentState> state) mutable {
    if (alive.expired() || stopped_) return;
    if (!state.ok()) {
      failed_ = state.status();
      return done(Status(state.status().code(), "cannot read the metadata log: " + state.status().message()));
    }
    raft::RaftConfig cfg;
    cfg.id = self_;
    cfg.election_ticks = options_.election_ticks;
    cfg.heartbeat_ticks = options_.heartbeat_ticks;
    cfg.seed = env_.random() | 1;
    cfg.applied = applied_;  // 0 at start; on a restart, what map_ already holds
    if (state->empty()) {
      cfg.bootstrap_voters = std::move(voters);
      cfg.bootstrap_learners = std::move(learners);
    }
    std::shared_ptr<const raft::Snapshot> snapshot = state->snapshot;
    auto node = raft::RaftNode::open(cfg, std::move(*state));
    if (!node.ok()) {
      failed_ = node.status();
      return done(Status(node.status().code(), "cannot start the metadata group: " + node.status().message()));
    }
    raft_ = std::move(*node);
    if (snapshot && snapshot->metadata.index > applied_) restore(*snapshot);
    tick_timer_ = env_.set_timer(options_.tick_us, [this] { tick(); });
    TALLY_LOG(log_, kInfo) << "metadata group: node " << self_ << " as " << role_name() << ", "
                           << raft_->membership().to_string() << ", term " << raft_->term() << ", log to "
                           << raft_->last_index();
    schedule();
    done(Status::Ok());
  });
}

void MetaGroup::stop() {
  stopped_ = true;
  if (tick_timer_) env_.cancel_timer(tick_timer_);
  tick_timer_ = 0;
  fail_pending(Status::Unavailable("the node is stopping"));
}

void MetaGroup::tick() {
  tick_timer_ = env_.set_timer(options_.tick_us, [this] { tick(); });
  if (!running()) return;
  raft_->tick();
  schedule();
}

void MetaGroup::step(const raft::Message& message) {
  if (!running() || stopped_) return;
  Status s = raft_->step(message);
  if (!s.ok()) {
    TALLY_LOG(log_, kWarn) << "metadata group: dropped " << message.to_string() << ": " << s.to_string();
    return;
  }
  schedule();
}

// Inputs of one loop turn are batched into one Ready (one disk write).
void MetaGroup::schedule() {
  if (scheduled_ || persisting_) return;
  scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  env_.defer([this, alive] {
    if (alive.expired()) return;
    scheduled_ = false;
    pump();
  });
}

// One Ready at a time, in the order ready.hpp lays down: persist, then send,
// then apply, then advance.
void MetaGroup::pump() {
  if (persisting_ || stopped_ || !running() || !raft_->has_ready()) return;
  persisting_ = true;
  auto rd = std::make_shared<raft::Ready>(raft_->ready());
  if (rd->soft_state) {
    if (rd->soft_state->leader != raft::kNoNode && rd->soft_state->leader != last_leader_) {
      last_leader_ = rd->soft_state->leader;
      ++leader_changes_;
    }
    TALLY_LOG(log_, kInfo) << "metadata group: " << role_name() << " in term " << raft_->term() << ", leader "
                           << rd->soft_state->leader;
    if (rd->soft_state->role == raft::Role::kLeader && genesis_ && map_.epoch == 0) {
      // The founders' first leader writes the initial map as the first command.
      auto r = raft_->propose(codec::encode_meta_command(meta::InitCluster{*genesis_}));
      if (!r.ok()) {
        TALLY_LOG(log_, kWarn) << "cannot propose the initial map: " << r.status().to_string();
      }
    }
  }
  std::weak_ptr<bool> alive = alive_;
  store_.persist(*rd, [this, alive, rd](Status s) {
    if (alive.expired()) return;
    if (!s.ok()) {
      // The disk failed under Raft: going on could break what we promised to
      // peers (nothing of this Ready was sent).
      return write_failed(s, "persist its log");
    }
    for (auto& m : rd->messages) hooks_.send(std::move(m));
    uint64_t epoch_before = map_.epoch;
    // A movement's progress changes the map without bumping its epoch.
    std::optional<meta::Movement> movement_before;
    if (!rd->committed_entries.empty()) movement_before = map_.movement;
    bool changed = false;
    if (rd->snapshot) {
      restore(*rd->snapshot);
      changed = true;
    }
    for (const auto& e : rd->committed_entries) {
      apply(e);
    }
    changed = changed || map_.epoch != epoch_before ||
              (!rd->committed_entries.empty() && movement_before != map_.movement);
    for (const auto& rs : rd->read_states) {
      auto it = reads_.find(rs.request_ctx);
      if (it == reads_.end()) continue;
      auto done = std::move(it->second);
      reads_.erase(it);
      done(Status::Ok());
    }
    for (uint64_t ctx : rd->aborted_reads) {
      auto it = reads_.find(ctx);
      if (it == reads_.end()) continue;
      auto done = std::move(it->second);
      reads_.erase(it);
      done(Status::Unavailable("metadata leadership was lost before the read was confirmed; retry"));
    }
    raft_->advance();
    persisting_ = false;
    if (changed) hooks_.applied(map_);
    maybe_snapshot();
    schedule();
  });
}

void MetaGroup::apply(const raft::Entry& entry) {
  Status result;
  if (!entry.data.empty()) {
    auto command = codec::decode_meta_command(entry.data);
    if (!command.ok()) {
      result = command.status();
      TALLY_LOG(log_, kError) << "metadata entry " << entry.index << " does not decode: " << result.to_string();
    } else {
      result = meta::apply(map_, *command);
      if (!result.ok()) {
        TALLY_LOG(log_, kDebug) << "metadata entry " << entry.index << " changed nothing: " << result.to_string();
      }
    }
  }
  applied_ = entry.index;
  auto it = pending_.find(entry.index);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  env_.cancel_timer(p.timer);
  if (p.term != entry.term) {
    p.done(Status::Aborted("metadata leadership changed before the change committed; it was not made"));
  } else if (!result.ok()) {
    p.done(result);
  } else {
    p.done(wire::MetaChangeReply{p.node_id, map_.epoch, entry.index});
  }
}

void MetaGroup::restore(const raft::Snapshot& snapshot) {
  auto map = codec::decode_cluster_map(snapshot.data);
  if (!map.ok()) {
    TALLY_LOG(log_, kError) << "metadata snapshot at " << snapshot.metadata.index
                            << " does not decode: " << map.status().to_string();
    return;
  }
  map_ = std::move(*map);
  applied_ = snapshot_index_ = snapshot.metadata.index;
  // Changes proposed at or before the snapshot: their outcome is not known here.
  while (!pending_.empty() && pending_.begin()->first <= applied_) {
    Pending p = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    env_.cancel_timer(p.timer);
    p.done(Status::Aborted("the outcome of the change is unknown (a snapshot replaced the log); check and retry"));
  }
}

void MetaGroup::maybe_snapshot() {
  if (!running() || applied_ < snapshot_index_ + options_.snapshot_every) return;
  auto snap = raft_->compact(applied_, codec::encode_cluster_map(map_));
  if (!snap.ok()) {
    TALLY_LOG(log_, kWarn) << "metadata snapshot at " << applied_ << " not taken: " << snap.status().to_string();
    return;
  }
  snapshot_index_ = applied_;
  std::weak_ptr<bool> alive = alive_;
  store_.compact(*snap, [this, alive, index = applied_](Status s) {
    if (alive.expired() || s.ok()) return;
    // The log store's bounds in memory moved past what the disk holds.
    write_failed(s, "store its snapshot at " + std::to_string(index));
  });
}

void MetaGroup::write_failed(const Status& why, std::string_view what) {
  const bool was_running = failed_.ok();
  failed_ = why;
  fail_pending(Status::IoError("the metadata log cannot be written: " + why.message()));
  if (!hooks_.when_writable) {
    TALLY_LOG(log_, kError) << "metadata group stopped: cannot " << what << ": " << why.to_string();
    return;
  }
  if (was_running) {
    TALLY_LOG(log_, kError) << "metadata group paused until the disk takes writes: cannot " << what << ": "
                            << why.to_string();
  }
  if (restart_pending_) return;
  restart_pending_ = true;
  std::weak_ptr<bool> alive = alive_;
  hooks_.when_writable([this, alive] {
    if (!alive.expired()) restart_from_disk();
  });
}

void MetaGroup::restart_from_disk() {
  restart_pending_ = false;
  if (stopped_) return;
  ++restarts_;
  // Callbacks of the run before (a Ready being handled) are dropped with it.
  alive_ = std::make_shared<bool>(true);
  if (tick_timer_) env_.cancel_timer(tick_timer_);
  tick_timer_ = 0;
  raft_.reset();
  failed_ = Status::Ok();
  persisting_ = false;
  scheduled_ = false;
  std::weak_ptr<bool> alive = alive_;
  start(self_, voters_, learners_, genesis_, [this, alive](Status s) {
    if (!s.ok()) {
      // The disk takes writes but could not be read (too many open files, say): try again.
      TALLY_LOG(log_, kError) << "metadata group cannot start again from its log yet: " << s.to_string();
      restart_pending_ = true;
      env_.set_timer(1'000'000, [this, alive] {
        if (!alive.expired()) restart_from_disk();
      });
    } else {
      TALLY_LOG(log_, kInfo) << "metadata group started again from its log on disk";
    }
  });
}

void MetaGroup::fail_pending(const Status& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [index, p] : pending) {
    env_.cancel_timer(p.timer);
    p.done(why);
  }
  auto reads = std::move(reads_);
  reads_.clear();
  for (auto& [ctx, done] : reads) done(why);
}

// ---- operators' changes --------------------------------------------------------

Result<MetaGroup::Plan> MetaGroup::plan(const wire::MetaChangeRequest& req) const {
  const raft::Membership members = raft_->membership();
  auto named = [&](const std::string& name) -> Result<const meta::Member*> {
    const meta::Member* found = nullptr;
    for (const auto& m : map_.members) {
      if (m.name == name && m.state != meta::NodeState::kRemoved) found = &m;
    }
    if (!found) return Status::NotFound("no node named '" + name + "' in the cluster");
    return found;
  };
  Plan plan;
  switch (req.op) {
    case wire::MetaOp::kJoin: {
      if (!valid_node_name(req.node)) {
        return Status::InvalidArgument("node name '" + req.node + "' must be 1-64 characters of A-Z a-z 0-9 _ -");
      }
      auto addr = parse_host_port(req.address);
      if (!addr.ok()) return Status::InvalidArgument("node address: " + addr.status().message());
      std::string zone = req.zone.empty() ? "default" : req.zone;
      for (const auto& m : map_.members) {
        if (m.state == meta::NodeState::kRemoved || m.name != req.node) continue;
        if (m.address != req.address) {
          return Status::InvalidArgument("node name '" + req.node + "' is taken by the node at " + m.address);
        }
        // The same node asking again (it restarted before it saved its id).
        plan.node_id = m.id;
        if (!members.contains(m.id)) plan.conf = raft::ConfChange{raft::ConfChangeType::kAddLearner, m.id};
        return plan;
      }
      uint64_t id = 0;
      for (const auto& m : map_.members) id = std::max<uint64_t>(id, m.id);
      for (auto v : members.voters) id = std::max(id, v);
      for (auto l : members.learners) id = std::max(id, l);
      ++id;
      auto ring = map_.build_ring_with_joining();
      if (!ring.ok()) return ring.status();
      int rf = 1;
      for (const auto& k : map_.keyspaces) rf = std::max(rf, k.n);
      auto tokens = ring::allocate_tokens(*ring, static_cast<ring::NodeId>(id), zone, meta::kDefaultTokensPerNode,
                                          std::min(rf, ring::kMaxReplicas));
      if (!tokens.ok()) return tokens.status();
      meta::Member m{static_cast<ring::NodeId>(id), req.node, req.address, zone, std::move(*tokens),
                     meta::NodeState::kJoining};
      plan.node_id = id;
      plan.conf = raft::ConfChange{raft::ConfChangeType::kAddLearner, id};
      plan.command = meta::AddNode{std::move(m)};
      break;
    }
    case wire::MetaOp::kFinishJoin:
    case wire::MetaOp::kLeave:
    case wire::MetaOp::kRemove: {
      auto m = named(req.node);
      if (!m.ok()) return m.status();
      meta::NodeState to = req.op == wire::MetaOp::kFinishJoin ? meta::NodeState::kNormal
                           : req.op == wire::MetaOp::kLeave    ? meta::NodeState::kLeaving
                                                               : meta::NodeState::kRemoved;
      if (req.op == wire::MetaOp::kRemove && (*m)->state == meta::NodeState::kNormal) {
        return Status::InvalidArgument("node " + req.node + " is normal: have it leave first (tally node leave " +
                                       req.node + "; its ranges are streamed to the others, from the surviving "
                                       "replicas if it is down), then remove it");
      }
      plan.node_id = (*m)->id;
      plan.command = meta::SetNodeState{(*m)->id, to};
      if (req.op == wire::MetaOp::kRemove && members.contains((*m)->id)) {
        plan.conf = raft::ConfChange{raft::ConfChangeType::kRemoveNode, (*m)->id};
      }
      break;
    }
    case wire::MetaOp::kStreamUpdate: {
      auto m = named(req.node);
      if (!m.ok()) return m.status();
      meta::StreamUpdate u;
      u.movement = req.stream_movement;
      u.to = (*m)->id;
      for (uint64_t i : req.stream_transfers) {
        if (i > UINT32_MAX) return Status::InvalidArgument("transfer index " + std::to_string(i) + " is out of range");
        u.transfers.push_back(static_cast<uint32_t>(i));
      }
      u.cursor = req.stream_cursor;
      u.done = req.stream_done;
      u.keys = req.stream_keys;
      u.bytes = req.stream_bytes;
      u.now_ms = env_.wall_ms();
      plan.node_id = (*m)->id;
      plan.command = std::move(u);
      break;
    }
    case wire::MetaOp::kPromote:
    case wire::MetaOp::kDemote: {
      auto m = named(req.node);
      if (!m.ok()) return m.status();
      bool promote = req.op == wire::MetaOp::kPromote;
      plan.node_id = (*m)->id;
      plan.conf = raft::ConfChange{promote ? raft::ConfChangeType::kPromoteLearner : raft::ConfChangeType::kDemoteVoter,
                                   (*m)->id};
      Status s = raft::validate_conf_change(members, *plan.conf);
      if (!s.ok()) {
        return Status::InvalidArgument("cannot " + std::string(promote ? "promote " : "demote ") + req.node + ": " +
                                       (promote ? "it is not a learner" : "it is not a voter, or the last one") +
                                       " (voters and learners: " + members.to_string() + ")");
      }
      return plan;
    }
    case wire::MetaOp::kCreateKeyspace: {
      meta::Keyspace ks;
      ks.name = req.keyspace;
      ks.n = req.n ? req.n : 3;
      ks.r = req.r ? req.r : ks.n / 2 + 1;
      ks.w = req.w ? req.w : ks.n / 2 + 1;
      if (req.mode) ks.mode = meta::mode_of_code(req.mode);
      plan.command = meta::CreateKeyspace{ks};
      break;
    }
    case wire::MetaOp::kAlterKeyspace: {
      const meta::Keyspace* cur = map_.keyspace(req.keyspace);
      if (!cur) return Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist");
      meta::Keyspace ks = *cur;
      if (req.n) ks.n = req.n;
      if (req.r) ks.r = req.r;
      if (req.w) ks.w = req.w;
      if (req.mode) ks.mode = meta::mode_of_code(req.mode);
      // A linearizable keyspace keeps each key's Paxos state, the others keep
      // versions: neither can be read as the other.
      if (ks.mode != cur->mode &&
          (ks.mode == meta::ConflictMode::kLinearizable || cur->mode == meta::ConflictMode::kLinearizable)) {
        return Status::InvalidArgument("keyspace '" + req.keyspace + "' is " + std::string(meta::mode_name(cur->mode)) +
                                       ": a keyspace cannot change to or from mode linearizable (create a new one)");
      }
      plan.command = meta::AlterKeyspace{ks};
      break;
    }
    case wire::MetaOp::kDropKeyspace:
      plan.command = meta::DropKeyspace{req.keyspace};
      break;
  }
  if (plan.command) {
    // What the state machine will say, said now.
    meta::ClusterMap trial = map_;
    Status s = meta::apply(trial, *plan.command);
    if (!s.ok()) return s;
  }
  return plan;
}

void MetaGroup::change(const wire::MetaChangeRequest& request, ChangeDone done) {
  if (!running()) {
    return done(Status::Unavailable("the metadata group is not running on this node" +
                                    (failed_.ok() ? std::string() : ": " + failed_.message())));
  }
  if (!is_leader()) {
    return done(Status::NotLeader("not the metadata leader (leader: node " + std::to_string(leader()) + ")"));
  }
  if (map_.epoch == 0) return done(Status::Unavailable("the cluster map is not initialized yet; retry"));
  auto p = plan(request);
  if (!p.ok()) return done(p.status());
  propose(std::move(*p), std::move(done));
}

void MetaGroup::propose(Plan plan, ChangeDone done) {
  if (!plan.conf && !plan.command) {
    return done(wire::MetaChangeReply{plan.node_id, map_.epoch, applied_});
  }
  std::string data = plan.command ? codec::encode_meta_command(*plan.command) : std::string();
  Result<raft::EntryId> at = plan.conf ? raft_->propose_conf_change(*plan.conf, std::move(data))
                                       : raft_->propose(std::move(data));
  if (!at.ok()) return done(at.status());
  Pending p;
  p.term = at->term;
  p.node_id = plan.node_id;
  p.done = std::move(done);
  uint64_t index = at->index;
  p.timer = env_.set_timer(options_.proposal_timeout_us, [this, index] {
    auto it = pending_.find(index);
    if (it == pending_.end()) return;
    Pending expired = std::move(it->second);
    pending_.erase(it);
    expired.done(Status::Timeout("the change was not committed within " +
                                 std::to_string(options_.proposal_timeout_us / 1000) +
                                 " ms (is a majority of the voters up?); it may still be made"));
  });
  pending_[index] = std::move(p);
  schedule();
}

void MetaGroup::read_barrier(std::function<void(Status)> done) {
  if (!running()) return done(Status::Unavailable("the metadata group is not running on this node"));
  uint64_t ctx = next_read_++;
  Status s = raft_->read_index(ctx);
  if (!s.ok()) return done(s);
  reads_[ctx] = std::move(done);
  schedule();
}

}  // namespace tally
