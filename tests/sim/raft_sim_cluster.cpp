#include "raft_sim_cluster.hpp"

#include <algorithm>
#include <iostream>

namespace tally::raft::sim {

namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash_bytes(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

uint64_t entry_content(const Entry& e) {
  uint64_t h = mix(static_cast<uint64_t>(e.type), hash_bytes(e.data));
  if (e.type == EntryType::kConfChange) {
    h = mix(h, (static_cast<uint64_t>(e.change.type) << 56) ^ e.change.node);
  }
  return h;
}

std::string num(uint64_t v) { return std::to_string(v); }

const char* kind_name(int kind) {
  static const char* names[] = {"tick",  "deliver", "persist", "send",
                                "apply", "restart", "fault",   "client"};
  return names[kind];
}

}  // namespace

Simulation::Simulation(uint64_t seed, SimOptions options)
    : seed_(seed), options_(options), rng_(mix(seed, 0x7a11e7)) {
  drop_per_mille_ = rng_.uniform(60);
  dup_per_mille_ = rng_.uniform(40);
  change_percent_ = std::vector<uint64_t>{5, 15, 40}[rng_.uniform(3)];
  // Some networks are slow next to the election timeout: elections compete more.
  max_delay_ = std::vector<uint64_t>{12, 12, 30, 50}[rng_.uniform(4)];
  std::vector<NodeId> voters, learners;
  NodeId id = 1;
  for (int i = 0; i < options_.voters; ++i) voters.push_back(id++);
  for (int i = 0; i < options_.learners; ++i) learners.push_back(id++);
  NodeId last = id + options_.spares - 1;
  for (NodeId n = 1; n <= last; ++n) {
    Node& node = nodes_[n];
    node.id = n;
    RaftConfig& c = node.config;
    c.id = n;
    c.election_ticks = options_.election_ticks;
    c.heartbeat_ticks = options_.heartbeat_ticks;
    c.seed = rng_.next();
    c.max_entries_per_append = 1 + rng_.uniform(4);
    c.max_inflight_appends = 1 + rng_.uniform(4);
    c.check_invariants = true;
    if (n < id) {  // founders; spares start empty and wait to be added
      c.bootstrap_voters = voters;
      c.bootstrap_learners = learners;
    }
    auto r = RaftNode::open(c, PersistentState{});
    if (!r.ok()) fail("open: " + r.status().to_string());
    node.raft = std::move(r).value();
    schedule(rng_.uniform(kTick), EventKind::kTick, n);
  }
  schedule(kTick * (1 + rng_.uniform(10)), EventKind::kFault, kNoNode);
  schedule(kTick * (1 + rng_.uniform(5)), EventKind::kClient, kNoNode);
}

void Simulation::schedule(uint64_t delay, EventKind kind, NodeId node, Message m) {
  uint64_t inc = node != kNoNode && nodes_.count(node) ? nodes_[node].incarnation : 0;
  queue_.push(Event{now_ + delay, seq_++, kind, node, inc, std::move(m)});
}

void Simulation::run() {
  const uint64_t fault_end = options_.fault_ticks * kTick;
  const uint64_t deadline = fault_end + options_.liveness_ticks * kTick;
  try {
    for (Node* n : [&] {
           std::vector<Node*> v;
           for (auto& [id, n] : nodes_) v.push_back(&n);
           return v;
         }()) {
      pump(*n);
    }
    while (!queue_.empty()) {
      Event e = queue_.top();
      queue_.pop();
      now_ = e.time;
      if (faults_on_ && now_ >= fault_end) heal();
      if (now_ > deadline) {
        fail("liveness: no leader committed a final entry on every member within " +
             num(options_.liveness_ticks) + " ticks of healing");
      }
      ++events_;
      handle(e);
      if (!faults_on_ && live_and_done()) return;
    }
    fail("the event queue ran dry");
  } catch (const std::logic_error& e) {
    fail(std::string("a node broke an invariant: ") + e.what());
  }
}

void Simulation::handle(const Event& e) {
  record(e);
  switch (e.kind) {
    case EventKind::kTick: {
      Node& n = nodes_[e.node];
      schedule(kTick - 1 + rng_.uniform(3), EventKind::kTick, e.node);  // a little drift
      if (!n.raft) return;
      n.raft->tick();
      pump(n);
      check(n);
      return;
    }
    case EventKind::kDeliver: {
      auto it = nodes_.find(e.message.to);
      if (it == nodes_.end() || !it->second.raft) return;
      if (blocked_.count({e.message.from, e.message.to})) return;
      Node& n = it->second;
      Status s = n.raft->step(e.message);
      if (!s.ok()) fail("step refused a message: " + s.to_string());
      pump(n);
      check(n);
      return;
    }
    case EventKind::kPersist:
    case EventKind::kSend:
    case EventKind::kApply: {
      Node& n = nodes_[e.node];
      if (!n.raft || e.incarnation != n.incarnation || !n.ready) return;
      if (e.kind == EventKind::kPersist) persist(n);
      if (e.kind == EventKind::kSend) send(n);
      if (e.kind == EventKind::kApply) apply(n);
      if (n.raft) check(n);
      return;
    }
    case EventKind::kRestart:
      restart(nodes_[e.node]);
      return;
    case EventKind::kFault:
      if (!faults_on_) return;
      fault();
      schedule(kTick * (2 + rng_.uniform(20)), EventKind::kFault, kNoNode);
      return;
    case EventKind::kClient:
      client();
      schedule(1 + rng_.uniform(2 * kTick), EventKind::kClient, kNoNode);
      return;
  }
}

// ---- the Ready pipeline -------------------------------------------------------

void Simulation::pump(Node& n) {
  if (!n.raft || n.ready || !n.raft->has_ready()) return;
  n.ready = n.raft->ready();
  n.persisted = false;
  if (faults_on_ && rng_.chance(3, 1000)) {  // crash before anything reached the disk
    crash(n);
    return;
  }
  schedule(rng_.uniform(4), EventKind::kPersist, n.id);
}

void Simulation::persist(Node& n) {
  n.disk.persist(*n.ready);
  n.persisted = true;
  if (faults_on_ && rng_.chance(5, 1000)) {  // crash between persisting and sending
    crash(n);
    return;
  }
  schedule(rng_.uniform(3), EventKind::kSend, n.id);
}

void Simulation::send(Node& n) {
  for (Message& m : n.ready->messages) transmit(std::move(m));
  n.ready->messages.clear();
  if (faults_on_ && rng_.chance(2, 1000)) {  // crash before applying and advancing
    crash(n);
    return;
  }
  schedule(rng_.uniform(3), EventKind::kApply, n.id);
}

void Simulation::apply(Node& n) {
  Ready& rd = *n.ready;
  if (rd.snapshot) {
    const Snapshot& snap = *rd.snapshot;
    size_t colon = snap.data.find(':');
    uint64_t index = std::stoull(snap.data.substr(0, colon));
    uint64_t hash = std::stoull(snap.data.substr(colon + 1));
    if (index != snap.metadata.index) fail("snapshot data and metadata disagree");
    if (index <= sm_hashes_.size() && sm_hashes_[index - 1] != hash) {
      fail("State Machine Safety: node " + num(n.id) + " installs a snapshot at " + num(index) +
           " whose state differs from what others applied there");
    }
    n.sm_index = index;
    n.sm_hash = hash;
    ++snapshots_installed_;
  }
  for (const Entry& e : rd.committed_entries) apply_to_sm(n, e);
  for (const ReadState& rs : rd.read_states) {
    if (rs.index > n.sm_index) {
      fail("read " + num(rs.request_ctx) + " released at " + num(rs.index) +
           " before it was applied (" + num(n.sm_index) + ")");
    }
    auto it = reads_.find(rs.request_ctx);
    if (it == reads_.end()) fail("read " + num(rs.request_ctx) + " released twice or never issued");
    if (rs.index < it->second.must_cover) {
      fail("stale read: read " + num(rs.request_ctx) + " on node " + num(n.id) + " at index " +
           num(rs.index) + ", but index " + num(it->second.must_cover) +
           " was known committed when it was issued");
    }
    reads_.erase(it);
    ++reads_served_;
  }
  for (uint64_t ctx : rd.aborted_reads) reads_.erase(ctx);
  n.ready.reset();
  n.raft->advance();
  maybe_compact(n);
  pump(n);
}

void Simulation::apply_to_sm(Node& n, const Entry& e) {
  if (e.index != n.sm_index + 1) {
    fail("node " + num(n.id) + " applies index " + num(e.index) + " after " + num(n.sm_index));
  }
  n.sm_hash = mix(n.sm_hash, mix(e.term, entry_content(e)));
  n.sm_index = e.index;
  if (e.index <= sm_hashes_.size()) {
    if (sm_hashes_[e.index - 1] != n.sm_hash) {
      fail("State Machine Safety: node " + num(n.id) + " applied a different entry at " +
           num(e.index) + " (term " + num(e.term) + ") than another node");
    }
  } else {
    sm_hashes_.push_back(n.sm_hash);
  }
  if (e.type == EntryType::kConfChange) ++conf_changes_applied_;
  if (e.data == "final" && final_index_ == 0) final_index_ = e.index;
}

void Simulation::maybe_compact(Node& n) {
  RaftNode& r = *n.raft;
  uint64_t applied = r.applied_index();
  if (applied != n.sm_index) fail("raft applied index and state machine disagree");
  if (applied < r.log().snapshot_index() + 16 || !rng_.chance(1, 4)) return;
  auto snap = r.compact(applied, num(n.sm_index) + ":" + num(n.sm_hash));
  if (!snap.ok()) fail("compact: " + snap.status().to_string());
  Status s = n.disk.compact(*snap);
  if (!s.ok()) fail("disk compact: " + s.to_string());
}

void Simulation::transmit(Message m) {
  if (faults_on_ && rng_.chance(drop_per_mille_, 1000)) return;
  auto delay = [&] {
    uint64_t d = 1 + rng_.uniform(max_delay_);
    if (faults_on_ && rng_.chance(1, 20)) d += rng_.uniform(8 * kTick);  // late, reordered
    return d;
  };
  if (faults_on_ && rng_.chance(dup_per_mille_, 1000)) {
    schedule(delay(), EventKind::kDeliver, kNoNode, m);
  }
  schedule(delay(), EventKind::kDeliver, kNoNode, std::move(m));
}

// ---- faults and clients -------------------------------------------------------

void Simulation::crash(Node& n) {
  trace("crash node " + num(n.id) +
        (n.ready ? (n.persisted ? " (Ready persisted, not sent)" : " (Ready not persisted)") : ""));
  n.raft.reset();
  n.ready.reset();
  ++n.incarnation;
  if (faults_on_) schedule(kTick * (5 + rng_.uniform(60)), EventKind::kRestart, n.id);
}

void Simulation::restart(Node& n) {
  if (n.raft) return;
  PersistentState ps = n.disk.load();
  n.sm_index = 0;
  n.sm_hash = 0;
  if (ps.snapshot) {
    const std::string& d = ps.snapshot->data;
    size_t colon = d.find(':');
    n.sm_index = std::stoull(d.substr(0, colon));
    n.sm_hash = std::stoull(d.substr(colon + 1));
  }
  RaftConfig c = n.config;
  c.seed = rng_.next();
  auto r = RaftNode::open(c, std::move(ps));
  if (!r.ok()) fail("restart of node " + num(n.id) + ": " + r.status().to_string());
  n.raft = std::move(r).value();
  n.recorded_commit = 0;
  pump(n);
  check(n);
}

void Simulation::fault() {
  std::vector<NodeId> ids;
  for (auto& [id, n] : nodes_) ids.push_back(id);
  NodeId victim = ids[rng_.uniform(ids.size())];
  // Half the time the fault hits a leader: leader changes in the middle of
  // replication are where Raft's subtle cases (Figure 8) live.
  if (rng_.chance(1, 2)) {
    NodeId l = some_leader();
    if (l != kNoNode) victim = l;
  }
  uint64_t r = rng_.uniform(100);
  if (r < 22) {
    int down = 0;
    for (auto& [id, n] : nodes_) down += !n.raft;
    if (nodes_[victim].raft && down < 2) crash(nodes_[victim]);
  } else if (r < 40) {
    std::set<NodeId> side;
    for (NodeId id : ids) {
      if (rng_.chance(1, 2)) side.insert(id);
    }
    for (NodeId a : ids) {
      for (NodeId b : ids) {
        if (side.count(a) != side.count(b)) blocked_.insert({a, b});
      }
    }
    trace("partition");
  } else if (r < 50) {
    for (NodeId other : ids) {
      if (other != victim) {
        blocked_.insert({victim, other});
        blocked_.insert({other, victim});
      }
    }
    trace("isolate node " + num(victim));
  } else if (r < 58) {
    NodeId other = ids[rng_.uniform(ids.size())];
    if (other != victim) blocked_.insert({victim, other});  // one way only
    trace("block " + num(victim) + "->" + num(other));
  } else if (r < 85) {
    blocked_.clear();
    trace("heal links");
  } else {
    drop_per_mille_ = rng_.uniform(100);
    dup_per_mille_ = rng_.uniform(60);
  }
}

NodeId Simulation::some_leader() {
  std::vector<NodeId> leaders;
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.raft->role() == Role::kLeader) leaders.push_back(id);
  }
  if (leaders.empty()) return kNoNode;
  return leaders[rng_.uniform(leaders.size())];
}

void Simulation::client() {
  NodeId l = some_leader();
  if (l == kNoNode) return;
  Node& n = nodes_[l];
  RaftNode& r = *n.raft;
  if (!faults_on_) {
    if (final_index_ == 0) (void)r.propose("final");
    pump(n);
    return;
  }
  // What the client does: propose, read, change the membership, or transfer
  // leadership, in proportions that vary by seed (some runs are membership-heavy).
  enum Op { kPropose, kRead, kChange, kTransfer, kNothing };
  Op op = kNothing;
  uint64_t choice = rng_.uniform(100);
  if (choice < change_percent_) {
    op = kChange;
  } else if (choice < change_percent_ + 15) {
    op = kRead;
  } else if (choice < change_percent_ + 20) {
    op = kTransfer;
  } else if (choice < 95) {
    op = kPropose;
  }
  // A leader with uncommitted entries (a new one, before its no-op commits, or one
  // cut off from its followers) is where the membership rules matter most (the
  // 2015 single-server-change bug): aim membership changes there.
  if (r.commit_index() < r.last_index() && rng_.chance(1, 2)) op = kChange;
  if (op == kPropose) {
    (void)r.propose("s" + num(seed_) + "-" + num(++next_proposal_));
  } else if (op == kRead) {
    uint64_t ctx = ++next_read_;
    if (r.read_index(ctx).ok()) reads_[ctx] = PendingRead{committed_.size()};
  } else if (op == kChange) {
    const Membership& m = r.membership();
    std::vector<ConfChange> options;
    if (m.voters.size() > 3) {
      for (NodeId v : m.voters) {
        options.push_back({ConfChangeType::kRemoveNode, v});
        options.push_back({ConfChangeType::kDemoteVoter, v});
      }
    }
    for (NodeId lr : m.learners) {
      options.push_back({ConfChangeType::kRemoveNode, lr});
      if (m.voters.size() < 6) options.push_back({ConfChangeType::kPromoteLearner, lr});
    }
    for (auto& [id, other] : nodes_) {
      if (m.contains(id)) continue;
      options.push_back({ConfChangeType::kAddLearner, id});
      if (m.voters.size() < 6 && rng_.chance(1, 3)) {
        options.push_back({ConfChangeType::kAddVoter, id});
      }
    }
    if (!options.empty()) {
      ConfChange cc = options[rng_.uniform(options.size())];
      Result<EntryId> res = r.propose_conf_change(cc);
      if (res.ok()) {
        trace("propose " + std::string(conf_change_type_name(cc.type)) + " " + num(cc.node) +
              " at " + num(res->index));
      }
    }
  } else if (op == kTransfer) {
    const Membership& m = r.membership();
    NodeId target = m.voters[rng_.uniform(m.voters.size())];
    (void)r.transfer_leadership(target);
  }
  pump(n);
  check(n);
}

void Simulation::heal() {
  faults_on_ = false;
  blocked_.clear();
  trace("heal everything, restart every crashed node");
  for (auto& [id, n] : nodes_) restart(n);
}

bool Simulation::live_and_done() {
  if (final_index_ == 0) return false;
  const Membership* members = nullptr;
  for (auto& [id, n] : nodes_) {
    if (n.raft && n.raft->role() == Role::kLeader) members = &n.raft->membership();
  }
  if (!members) return false;
  for (const auto* list : {&members->voters, &members->learners}) {
    for (NodeId id : *list) {
      const Node& n = nodes_.at(id);
      if (!n.raft || n.sm_index < final_index_) return false;
    }
  }
  return true;
}

// ---- checking -----------------------------------------------------------------

void Simulation::check(Node& n) {
  if (!n.raft) return;  // it crashed while handling the event
  check_new_leader(n);
  check_commit(n);
  check_log(n);
}

void Simulation::check_log(Node& n) {
  const RaftLog& log = n.raft->log();
  uint64_t prev_term = log.snapshot_term();
  for (uint64_t i = log.first_index(); i <= log.last_index(); ++i) {
    const Entry& e = log.at(i);
    EntryFacts facts{entry_content(e), prev_term};
    auto [it, inserted] = entries_.emplace(std::make_pair(i, e.term), facts);
    if (!inserted &&
        (it->second.content != facts.content || it->second.prev_term != facts.prev_term)) {
      fail("Log Matching: node " + num(n.id) + " holds entry (" + num(i) + ", term " + num(e.term) +
           ") that differs from another node's, or follows another term");
    }
    prev_term = e.term;
  }
}

void Simulation::check_commit(Node& n) {
  const RaftNode& r = *n.raft;
  uint64_t commit = r.commit_index();
  for (uint64_t i = std::max(n.recorded_commit, r.log().snapshot_index()) + 1; i <= commit; ++i) {
    uint64_t term = *r.log().term(i);
    if (i <= committed_.size()) {
      Committed& c = committed_[i - 1];
      if (c.entry_term != 0 && c.entry_term != term) {
        fail("State Machine Safety: node " + num(n.id) + " commits (" + num(i) + ", term " +
             num(term) + ") where (" + num(i) + ", term " + num(c.entry_term) + ") was committed");
      }
      c.entry_term = term;
      c.seen_in_term = std::min(c.seen_in_term, r.term());
    } else {
      while (committed_.size() + 1 < i) committed_.push_back(Committed{0, UINT64_MAX});
      committed_.push_back(Committed{term, r.term()});
    }
  }
  n.recorded_commit = std::max(n.recorded_commit, commit);
}

void Simulation::check_new_leader(Node& n) {
  const RaftNode& r = *n.raft;
  if (r.role() != Role::kLeader) return;
  auto [it, inserted] = leaders_.emplace(r.term(), n.id);
  if (it->second != n.id) {
    fail("Election Safety: nodes " + num(it->second) + " and " + num(n.id) + " both lead term " +
         num(r.term()));
  }
  if (!inserted) return;
  // Leader Completeness (§5.4.3): a leader of term T holds every entry committed
  // by a leader of an earlier term. An entry first seen committed by a node in
  // term U was committed by a leader of term <= U.
  for (uint64_t i = r.log().snapshot_index() + 1; i <= committed_.size(); ++i) {
    const Committed& c = committed_[i - 1];
    if (c.entry_term == 0 || c.seen_in_term >= r.term()) continue;
    if (!r.log().match_term(i, c.entry_term)) {
      fail("Leader Completeness: node " + num(n.id) + " leads term " + num(r.term()) +
           " without committed entry (" + num(i) + ", term " + num(c.entry_term) + ")");
    }
  }
}

void Simulation::record(const Event& e) {
  Record r{now_, e.kind, e.node, {}, {}};
  if (e.kind == EventKind::kDeliver) {
    r.message = e.message;
    r.message.entries.clear();  // keep the count in the text instead
    r.text = num(e.message.entries.size());
  }
  if (options_.trace) {
    recent_.push_back(r);
    std::cout << "[seed " << seed_ << "] " << format(recent_.back()) << "\n";
    recent_.pop_back();
  }
  recent_.push_back(std::move(r));
  if (recent_.size() > 60) recent_.pop_front();
}

void Simulation::trace(const std::string& line) {
  if (options_.trace) std::cout << "[seed " << seed_ << "] t=" << now_ << " " << line << "\n";
  recent_.push_back(Record{now_, EventKind::kFault, kNoNode, {}, line});
  if (recent_.size() > 60) recent_.pop_front();
}

std::string Simulation::format(const Record& r) const {
  std::string line = "t=" + num(r.time) + " ";
  if (r.kind == EventKind::kDeliver) {
    return line + "deliver " + r.message.to_string() + " (" + r.text + " entries)";
  }
  if (!r.text.empty()) return line + r.text;
  line += kind_name(static_cast<int>(r.kind));
  if (r.node != kNoNode) line += " node " + num(r.node);
  return line;
}

void Simulation::fail(const std::string& what) {
  std::ostringstream out;
  out << what << "\n  at t=" << now_ << " after " << events_ << " events; last events:\n";
  for (const Record& r : recent_) out << "    " << format(r) << "\n";
  throw Violation(out.str());
}

}  // namespace tally::raft::sim
