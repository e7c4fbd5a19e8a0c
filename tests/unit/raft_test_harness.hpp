// raft_test_harness.hpp — a cluster of pure Raft nodes in one process, stepped
// message by message, for scripted scenarios (tests/unit/raft_*.cpp).
//
// Each node owns a MemoryStorage "disk" and a toy state machine (the list of
// commands it applied). Messages go into one FIFO queue; nothing is delivered,
// and no node ticks, unless the test says so. Links can be cut one way or both.
// A Ready is handled at once and in full (persist, send, apply, advance): the
// crash-in-the-middle cases are the simulation's job (tests/sim).
//
// After every step the harness checks, and FAILs the test on:
//   Election Safety      at most one leader per term, ever;
//   State Machine Safety no two nodes apply different entries at an index;
//   Leader Completeness  a new leader holds every entry applied anywhere so far;
// plus every node's check_invariants() (RaftConfig::check_invariants is on).
#pragma once

#include <catch2/catch.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/raft_node.hpp"
#include "raft/storage.hpp"

namespace tally::raft::test {

struct ClusterOptions {
  uint32_t election_ticks = 10;
  uint32_t heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  size_t max_entries_per_append = 64;
  size_t max_inflight_appends = 8;
  uint64_t seed = 7;
};

// The toy state machine: the commands applied, in order, each with its index. A
// snapshot carries them as "index:command" lines.
struct StateMachine {
  uint64_t applied = 0;
  std::vector<std::string> commands;
  std::vector<uint64_t> command_indexes;
  std::vector<ConfChange> changes;

  // The state at `upto` (<= applied).
  std::string encode(uint64_t upto) const {
    std::string out;
    for (size_t i = 0; i < commands.size() && command_indexes[i] <= upto; ++i) {
      out += std::to_string(command_indexes[i]) + ":" + commands[i] + "\n";
    }
    return out;
  }
  void restore(const Snapshot& snap) {
    applied = snap.metadata.index;
    commands.clear();
    command_indexes.clear();
    changes.clear();
    size_t start = 0;
    const std::string& d = snap.data;
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] != '\n') continue;
      std::string line = d.substr(start, i - start);
      size_t colon = line.find(':');
      command_indexes.push_back(std::stoull(line.substr(0, colon)));
      commands.push_back(line.substr(colon + 1));
      start = i + 1;
    }
  }
};

struct TestNode {
  RaftConfig config;
  MemoryStorage disk;
  std::unique_ptr<RaftNode> raft;  // null while crashed
  StateMachine sm;
  std::vector<ReadState> reads;  // released by ReadIndex
  std::vector<uint64_t> aborted_reads;
};

class Cluster {
 public:
  // A founding group: every id in voters and learners bootstraps the same config.
  explicit Cluster(std::vector<NodeId> voters, std::vector<NodeId> learners = {},
                   ClusterOptions options = {})
      : options_(options) {
    for (NodeId id : voters) start_node(id, voters, learners);
    for (NodeId id : learners) start_node(id, voters, learners);
    process_all();
  }

  // A server that will join later: it starts with an empty log and no config.
  void add_empty_node(NodeId id) { start_node(id, {}, {}); }

  RaftNode& node(NodeId id) {
    REQUIRE(nodes_.count(id));
    REQUIRE(nodes_[id].raft);
    return *nodes_[id].raft;
  }
  TestNode& state(NodeId id) { return nodes_.at(id); }
  // A node that does not exist (e.g. added to the config but never started) is down.
  bool up(NodeId id) const {
    auto it = nodes_.find(id);
    return it != nodes_.end() && it->second.raft != nullptr;
  }
  std::vector<NodeId> ids() const {
    std::vector<NodeId> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }
  std::deque<Message>& queue() { return queue_; }
  const ClusterOptions& options() const { return options_; }

  // ---- driving ---------------------------------------------------------------

  // Handles every Ready `id` has: persist, enqueue messages, apply, advance.
  void process(NodeId id) {
    TestNode& n = nodes_.at(id);
    if (held_.count(id)) return;
    while (n.raft && n.raft->has_ready()) {
      Ready rd = n.raft->ready();
      n.disk.persist(rd);
      for (Message& m : rd.messages) enqueue(std::move(m));
      if (rd.snapshot) {
        check_snapshot(id, *rd.snapshot);
        n.sm.restore(*rd.snapshot);
      }
      for (const Entry& e : rd.committed_entries) apply(id, e);
      for (const ReadState& r : rd.read_states) {
        REQUIRE(r.index <= n.sm.applied);
        n.reads.push_back(r);
      }
      for (uint64_t ctx : rd.aborted_reads) n.aborted_reads.push_back(ctx);
      n.raft->advance();
    }
    check_safety(id);
  }

  void process_all() {
    for (auto& [id, n] : nodes_) process(id);
  }

  // Delivers the oldest queued message (dropping it if its link is cut or its
  // target is down). False when the queue is empty.
  bool deliver_one() {
    if (queue_.empty()) return false;
    Message m = std::move(queue_.front());
    queue_.pop_front();
    if (!link_ok(m.from, m.to) || !up(m.to) || (drop_ && drop_(m))) return true;
    delivered_.push_back(m);
    Status s = nodes_.at(m.to).raft->step(m);
    REQUIRE(s.ok());
    process(m.to);
    return true;
  }

  // Delivers messages until none is left (ticks are never generated here, so a
  // cluster always goes quiet).
  void stabilize() {
    process_all();
    for (int steps = 0; deliver_one(); ++steps) REQUIRE(steps < 1000000);
  }

  // Ticks one node n times (handling its Readies, not delivering).
  void tick(NodeId id, int n = 1) {
    for (int i = 0; i < n; ++i) {
      if (!up(id)) return;
      nodes_.at(id).raft->tick();
      process(id);
    }
  }

  // Lets `ticks` ticks pass on every live node, delivering everything in between.
  void advance_time(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      for (auto& [id, n] : nodes_) {
        if (n.raft) {
          n.raft->tick();
          process(id);
        }
      }
      stabilize();
    }
  }

  // Makes `ids` forget their leader without raising any term: each is cut off
  // and ticked for an election timeout (with PreVote an isolated node cannot
  // raise its term), then reconnected.
  void forget_leader(const std::vector<NodeId>& ids) {
    auto saved = blocked_;
    for (NodeId id : ids) isolate(id);
    for (NodeId id : ids) tick(id, static_cast<int>(options_.election_ticks));
    drop_queued();
    blocked_ = saved;
  }

  // Campaigns on `id` and delivers everything; the test then checks the outcome.
  void campaign(NodeId id) {
    REQUIRE(node(id).campaign().ok());
    process(id);
    stabilize();
  }

  // Campaigns on `id` until it leads (a node whose term is behind first learns
  // the current term from the refusals, then wins at the next one).
  void elect(NodeId id) {
    for (int attempt = 0; attempt < 3 && node(id).role() != Role::kLeader; ++attempt) {
      campaign(id);
    }
    REQUIRE(node(id).role() == Role::kLeader);
  }

  // Proposes on `id` (which must accept) and delivers everything.
  EntryId propose(NodeId id, const std::string& data) {
    Result<EntryId> r = node(id).propose(data);
    REQUIRE(r.ok());
    process(id);
    stabilize();
    return *r;
  }

  // Takes a snapshot of `id`'s state machine at `index` (default: all it applied),
  // compacts its log and stores the snapshot on its disk.
  std::shared_ptr<const Snapshot> compact(NodeId id, uint64_t index = 0) {
    TestNode& n = nodes_.at(id);
    if (index == 0) index = n.sm.applied;
    auto r = node(id).compact(index, n.sm.encode(index));
    REQUIRE(r.ok());
    REQUIRE(n.disk.compact(*r).ok());
    return *r;
  }

  // ---- faults ----------------------------------------------------------------

  void block(NodeId from, NodeId to) { blocked_.insert({from, to}); }
  void cut(NodeId a, NodeId b) {
    block(a, b);
    block(b, a);
  }
  void isolate(NodeId id) {
    for (const auto& [other, n] : nodes_) {
      if (other != id) cut(id, other);
    }
  }
  // Splits the cluster: no message crosses between `side` and the rest.
  void partition(const std::set<NodeId>& side) {
    for (const auto& [a, na] : nodes_) {
      for (const auto& [b, nb] : nodes_) {
        if (side.count(a) != side.count(b)) block(a, b);
      }
    }
  }
  void heal() { blocked_.clear(); }
  void set_drop(std::function<bool(const Message&)> drop) { drop_ = std::move(drop); }
  void drop_queued() { queue_.clear(); }

  // While held, a node's Readies are not handled: nothing it does is persisted or
  // sent, so a crash loses it all.
  void hold(NodeId id) { held_.insert(id); }
  void release(NodeId id) {
    held_.erase(id);
    process(id);
  }

  // Loses the node's volatile state; its disk survives.
  void crash(NodeId id) { nodes_.at(id).raft.reset(); }
  void restart(NodeId id) {
    TestNode& n = nodes_.at(id);
    REQUIRE(!n.raft);
    PersistentState ps = n.disk.load();
    n.sm = StateMachine{};
    if (ps.snapshot) n.sm.restore(*ps.snapshot);
    RaftConfig config = n.config;
    config.applied = 0;  // the state machine is rebuilt from the snapshot and the log
    auto r = RaftNode::open(config, std::move(ps));
    REQUIRE(r.ok());
    n.raft = std::move(*r);
    process(id);
  }

  // ---- observation -----------------------------------------------------------

  // The node that is leader in the highest term, kNoNode if none is.
  NodeId leader() const {
    NodeId best = kNoNode;
    uint64_t best_term = 0;
    for (const auto& [id, n] : nodes_) {
      if (n.raft && n.raft->role() == Role::kLeader && n.raft->term() >= best_term) {
        best = id;
        best_term = n.raft->term();
      }
    }
    return best;
  }
  const std::vector<std::string>& commands(NodeId id) { return nodes_.at(id).sm.commands; }
  // Every message delivered so far, in order.
  const std::vector<Message>& delivered() const { return delivered_; }
  void clear_delivered() { delivered_.clear(); }
  // The entry applied at `index` by some node, if any.
  const Entry* applied_at(uint64_t index) const {
    auto it = applied_.find(index);
    return it == applied_.end() ? nullptr : &it->second;
  }

 private:
  void start_node(NodeId id, const std::vector<NodeId>& voters,
                  const std::vector<NodeId>& learners) {
    TestNode& n = nodes_[id];
    n.config.id = id;
    n.config.election_ticks = options_.election_ticks;
    n.config.heartbeat_ticks = options_.heartbeat_ticks;
    n.config.pre_vote = options_.pre_vote;
    n.config.check_quorum = options_.check_quorum;
    n.config.max_entries_per_append = options_.max_entries_per_append;
    n.config.max_inflight_appends = options_.max_inflight_appends;
    n.config.seed = options_.seed * 1000 + id;
    n.config.bootstrap_voters = voters;
    n.config.bootstrap_learners = learners;
    n.config.check_invariants = true;
    auto r = RaftNode::open(n.config, PersistentState{});
    REQUIRE(r.ok());
    n.raft = std::move(*r);
  }

  bool link_ok(NodeId from, NodeId to) const { return !blocked_.count({from, to}); }

  void enqueue(Message m) {
    if (!link_ok(m.from, m.to)) return;  // a cut link loses what is sent over it
    queue_.push_back(std::move(m));
  }

  void apply(NodeId id, const Entry& e) {
    StateMachine& sm = nodes_.at(id).sm;
    INFO("node " << id << " applies index " << e.index);
    REQUIRE(e.index == sm.applied + 1);
    sm.applied = e.index;
    if (e.type == EntryType::kNormal && !e.data.empty()) {
      sm.commands.push_back(e.data);
      sm.command_indexes.push_back(e.index);
    }
    if (e.type == EntryType::kConfChange) sm.changes.push_back(e.change);
    auto [it, inserted] = applied_.emplace(e.index, e);
    if (!inserted) {
      INFO("State Machine Safety: node " << id << " applies (" << e.index << ", term " << e.term
                                         << ") but (" << it->second.index << ", term "
                                         << it->second.term << ") was applied before");
      REQUIRE(it->second == e);
    }
  }

  void check_snapshot(NodeId id, const Snapshot& snap) {
    // A snapshot must agree with the entries applied anywhere up to its index.
    auto it = applied_.find(snap.metadata.index);
    if (it != applied_.end()) {
      INFO("node " << id << " installs a snapshot at " << snap.metadata.index);
      REQUIRE(it->second.term == snap.metadata.term);
    }
  }

  void check_safety(NodeId id) {
    const TestNode& n = nodes_.at(id);
    if (!n.raft) return;
    const RaftNode& r = *n.raft;
    if (r.role() != Role::kLeader) return;
    auto [it, inserted] = leaders_.emplace(r.term(), id);
    INFO("Election Safety: term " << r.term() << " has leaders " << it->second << " and " << id);
    REQUIRE(it->second == id);
    if (!inserted) return;
    // A new leader: it must hold every entry applied anywhere (Leader Completeness).
    for (const auto& [index, e] : applied_) {
      if (index <= r.log().snapshot_index()) continue;
      INFO("Leader Completeness: leader " << id << " of term " << r.term()
                                          << " lacks applied entry " << index);
      REQUIRE(r.log().match_term(index, e.term));
    }
  }

  ClusterOptions options_;
  std::map<NodeId, TestNode> nodes_;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  std::function<bool(const Message&)> drop_;
  std::vector<Message> delivered_;
  std::set<NodeId> held_;
  std::map<uint64_t, NodeId> leaders_;  // term -> leader
  std::map<uint64_t, Entry> applied_;   // index -> the entry applied there
};

}  // namespace tally::raft::test
