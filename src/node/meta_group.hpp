// A node's place in the metadata Raft group (docs/architecture.md, "The
// metadata group"): it hosts the pure Raft core (src/raft), persists what each
// Ready asks through RaftLogStore, applies committed commands to the cluster
// map (src/meta), and turns the operators' requests (join, leave,
// keyspaces...) into log entries.
//
// Every node runs one: voters decide, the others are learners that receive
// the log, so every node applies the same map. The data path never waits for
// it: the node reads the applied map (map()) and is told when it changes.
//
// Threading: the node's event loop only, like everything behind an Env.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/log.hpp"
#include "meta/cluster_map.hpp"
#include "meta/commands.hpp"
#include "net/messages.hpp"
#include "node/env.hpp"
#include "raft/raft_node.hpp"
#include "store/raft_log_store.hpp"

namespace tally {

struct MetaGroupOptions {
  uint64_t tick_us = 10'000;  // the Raft clock; 15 ticks = 150-300 ms election timeouts
  uint32_t election_ticks = 15;
  uint32_t heartbeat_ticks = 3;
  uint64_t snapshot_every = 1000;             // applied entries between snapshots
  uint64_t proposal_timeout_us = 5'000'000;   // a change not applied by then fails
};

class MetaGroup {
 public:
  struct Hooks {
    // Sends a Raft message to node msg.to (best effort: Raft resends).
    std::function<void(raft::Message)> send;
    // The applied map changed: a command applied, or a snapshot restored.
    std::function<void(const meta::ClusterMap&)> applied;
    // Runs `fn` once the disk takes writes again (DiskRecovery::when_writable);
    // none: a failed write of the log stops the group for good.
    std::function<void(std::function<void()> fn)> when_writable = nullptr;
  };
  using ChangeDone = std::function<void(Result<wire::MetaChangeReply>)>;

  MetaGroup(Env& env, Logger log, Hooks hooks, MetaGroupOptions options = {});
  ~MetaGroup();

  // The id this node was given when it joined (0: never joined), and saving it.
  void load_node_id(std::function<void(Result<uint64_t>)> done) { store_.load_node_id(std::move(done)); }
  void save_node_id(uint64_t id, std::function<void(Status)> done) { store_.save_node_id(id, std::move(done)); }

  // Reads the persisted state and starts taking part as `self`. With nothing
  // persisted and `voters` non-empty, this node is a founder: it bootstraps
  // the group (voters and learners, the same lists on every founder) and, when
  // it becomes the first leader, proposes `genesis` as the first map. `done`
  // once the node runs (its committed entries replayed), or with the disk's
  // error (corruption), after which it takes no part.
  void start(raft::NodeId self, std::vector<raft::NodeId> voters, std::vector<raft::NodeId> learners,
             std::optional<meta::ClusterMap> genesis, std::function<void(Status)> done);
  // Stops ticking and taking input; pending changes and reads fail.
  void stop();
  // A message from a peer.
  void step(const raft::Message& message);

  // Carries out an operator's change (leader only: NotLeader naming the
  // leader otherwise). Checked against the current map first, so a change
  // that cannot apply is refused with the reason before it is proposed;
  // `done` once it is applied here, with the new epoch.
  void change(const wire::MetaChangeRequest& request, ChangeDone done);

  // Linearizable read barrier (ReadIndex, leader only): `done(Ok)` once map()
  // holds every change committed before the call.
  void read_barrier(std::function<void(Status)> done);

  bool running() const { return raft_ != nullptr && failed_.ok(); }
  const meta::ClusterMap& map() const { return map_; }
  raft::NodeId self() const { return self_; }
  raft::NodeId leader() const { return raft_ ? raft_->leader() : raft::kNoNode; }
  bool is_leader() const { return raft_ && raft_->role() == raft::Role::kLeader; }
  uint64_t term() const { return raft_ ? raft_->term() : 0; }
  uint64_t commit_index() const { return raft_ ? raft_->commit_index() : 0; }
  uint64_t applied_index() const { return applied_; }
  std::string role_name() const;
  // Times this node saw the group's leader change to another known node.
  uint64_t leader_changes() const { return leader_changes_; }
  // Times this node started over from its log after a failed write.
  uint64_t restarts() const { return restarts_; }
  raft::Membership membership() const { return raft_ ? raft_->membership() : raft::Membership{}; }

 private:
  struct Pending {
    uint64_t term = 0;
    uint64_t node_id = 0;  // kJoin: the id given
    TimerId timer = 0;
    ChangeDone done;
  };

  void tick();
  void schedule();
  void pump();
  void apply(const raft::Entry& entry);
  void restore(const raft::Snapshot& snapshot);
  void maybe_snapshot();
  void fail_pending(const Status& why);
  // A write of the log failed (a full disk, too many open files): Raft's
  // state in memory may be ahead of its log on disk, so until the disk takes
  // writes again this node takes no part (no vote, no append acknowledged);
  // then it starts again from what the disk holds, as a restarted process
  // would, keeping the map it applied (Raft hands out only entries after it).
  void write_failed(const Status& why, std::string_view what);
  void restart_from_disk();
  // The log entry that makes `request` happen: a command, and for changes of
  // the Raft group a conf change carrying it.
  struct Plan {
    std::optional<raft::ConfChange> conf;
    std::optional<meta::Command> command;
    uint64_t node_id = 0;
  };
  Result<Plan> plan(const wire::MetaChangeRequest& request) const;
  void propose(Plan plan, ChangeDone done);

  Env& env_;
  Logger log_;
  Hooks hooks_;
  MetaGroupOptions options_;
  store::RaftLogStore store_;
  std::unique_ptr<raft::RaftNode> raft_;
  raft::NodeId self_ = raft::kNoNode;
  std::optional<meta::ClusterMap> genesis_;
  std::vector<raft::NodeId> voters_, learners_;  // start()'s, for a restart
  bool restart_pending_ = false;
  uint64_t restarts_ = 0;
  meta::ClusterMap map_;
  uint64_t applied_ = 0;
  raft::NodeId last_leader_ = raft::kNoNode;  // for leader_changes_
  uint64_t leader_changes_ = 0;
  uint64_t snapshot_index_ = 0;
  Status failed_;
  bool stopped_ = false;
  bool scheduled_ = false;
  bool persisting_ = false;
  TimerId tick_timer_ = 0;
  std::map<uint64_t, Pending> pending_;  // by log index
  std::map<uint64_t, std::function<void(Status)>> reads_;
  uint64_t next_read_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tally
