// raft/raft_node.hpp — one Raft server as a pure, deterministic state machine.
//
// Inputs: step() a message from a peer, tick() the logical clock, and the client
// calls (propose, propose_conf_change, read_index, transfer_leadership, campaign,
// compact). Output: a Ready (has_ready / ready / advance; see ready.hpp for the
// persistence contract). The node does no I/O, reads no clock and starts no thread,
// so a test can run a whole cluster in one process, message by message, and a seed
// replays a run exactly (etcd-io/raft's shape).
//
// The protocol follows the Raft paper (Ongaro & Ousterhout 2014) and Ongaro's
// dissertation (2014); docs/raft.md maps each feature to its section.
//
// Not thread-safe: the owner serialises every call.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/config.hpp"
#include "raft/log.hpp"
#include "raft/membership.hpp"
#include "raft/message.hpp"
#include "raft/progress.hpp"
#include "raft/random.hpp"
#include "raft/read_index.hpp"
#include "raft/ready.hpp"
#include "raft/storage.hpp"
#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::raft {

class RaftNode {
 public:
  // Starts a server from what it persisted (empty for a new one). A new server
  // with config.bootstrap_voters set founds a cluster; one without waits to be
  // contacted by a leader. InvalidArgument for a bad config, Corruption if the
  // persisted state is inconsistent (entries not contiguous, commit past the log).
  // The application restores its state machine from state.snapshot itself.
  static Result<std::unique_ptr<RaftNode>> open(const RaftConfig& config, PersistentState state);

  // ---- inputs ----------------------------------------------------------------

  // Handles a message from a peer. InvalidArgument if it is not addressed to this
  // node or carries no term; every well-formed message is Ok, including the many
  // Raft ignores (stale terms, duplicates).
  Status step(const Message& message);

  // Advances the logical clock by one tick: election timeouts, heartbeats,
  // CheckQuorum, and the timeouts of leadership transfer and snapshot sending.
  void tick();

  // Appends `data` as a command (leader only) and returns its position; it is
  // committed if an entry with that index and term reaches committed_entries.
  // NotLeader (naming the leader, if known) on a non-leader; Aborted while a
  // leadership transfer is in progress (§3.10); InvalidArgument for empty data
  // (empty entries are the leaders' no-ops).
  Result<EntryId> propose(std::string data);

  // Appends a single-server membership change (leader only); it takes effect on
  // every server as soon as it is in that server's log (§4.1). `context` is
  // carried in the entry's data for the application. Besides propose()'s errors:
  // Unavailable while another change is uncommitted, or while the leader has not
  // yet committed an entry of its own term (the single-server-change bug, raft-dev
  // 2015: §4.1 as corrected); InvalidArgument for a change that does not apply
  // (adding a member, removing a non-member or the last voter).
  Result<EntryId> propose_conf_change(ConfChange change, std::string context = {});

  // Starts a linearizable read (ReadIndex, §6.4; leader only). The read is
  // released in a later Ready's read_states with this request_ctx, once leadership
  // has been confirmed by a majority and the read index has been applied; or
  // listed in aborted_reads if leadership is lost first. NotLeader on a
  // non-leader. request_ctx is the caller's, echoed back, and need not be unique.
  Status read_index(uint64_t request_ctx);

  // Hands leadership to `target` (§3.10): stops accepting proposals, brings the
  // target's log up to date, then tells it to start an election at once. Gives up
  // after an election timeout. Ok if this node is the target. NotLeader on a
  // non-leader; InvalidArgument if target is not a voter.
  Status transfer_leadership(NodeId target);

  // Starts an election now, as if the election timeout had fired (with PreVote if
  // configured). Ok and nothing on a leader; InvalidArgument on a non-voter.
  Status campaign();

  // The application took a snapshot of its state machine at `index` (<= the
  // applied index): Raft drops the log up to it and keeps the snapshot to send to
  // followers that fall behind. Returns the snapshot, with the term and the
  // configuration at `index` filled in, for the caller to persist
  // (MemoryStorage::compact). InvalidArgument if index is past applied or not
  // past the current snapshot.
  Result<std::shared_ptr<const Snapshot>> compact(uint64_t index, std::string data);

  // ---- output ----------------------------------------------------------------

  // True when ready() would return something to do. Always false between ready()
  // and advance().
  bool has_ready() const;
  // The next batch of work (ready.hpp). Throws std::logic_error if the previous
  // Ready was not advance()d.
  Ready ready();
  // The last Ready was handled (persisted, sent, applied).
  void advance();

  // ---- observation -----------------------------------------------------------

  NodeId id() const { return config_.id; }
  uint64_t term() const { return term_; }
  NodeId vote() const { return vote_; }
  Role role() const { return role_; }
  NodeId leader() const { return lead_; }
  uint64_t commit_index() const { return log_.committed(); }
  uint64_t applied_index() const { return log_.applied(); }
  uint64_t last_index() const { return log_.last_index(); }
  // The configuration in force (the latest in this node's log).
  const Membership& membership() const { return configs_.current(); }
  const RaftLog& log() const { return log_; }
  // The node leadership is being transferred to, kNoNode if none.
  NodeId transfer_target() const { return transfer_target_; }
  // A leader's view of a peer's log; nullptr on a non-leader or for a non-member.
  const Progress* progress(NodeId peer) const;

  // Checks the node's internal invariants (LogCabin style): log shape, commit and
  // apply marks, role bookkeeping, the configuration as derived from the log, the
  // leader's progress and read queue. Internal naming the first broken one.
  Status check_invariants() const;

 private:
  enum class ElectionKind { kPreVote, kVote, kLeaderTransfer };

  explicit RaftNode(const RaftConfig& config);
  Status restore(PersistentState state);
  void bootstrap();
  void after_input();

  // Roles and elections (raft_election.cpp).
  void become_follower(uint64_t term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset_timers();
  void start_election(ElectionKind kind);
  void handle_vote_request(const Message& m);
  void handle_vote_response(const Message& m);
  bool promotable() const;
  bool in_lease() const;
  bool quorum_active() const;
  void tick_follower();
  void tick_leader();
  Status not_leader() const;

  // Replication, as leader and as follower (raft_replication.cpp).
  void send(Message m);
  void append_entry(Entry entry);
  bool send_append(NodeId to, bool send_if_empty);
  void broadcast_append();
  void broadcast_heartbeat();
  bool maybe_commit();
  bool after_commit_advanced();
  void sync_progress_with_membership();
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void handle_append_response(const Message& m);
  void handle_heartbeat_response(const Message& m);

  // Reads and leadership transfer (raft_read.cpp).
  void start_reads(const std::vector<uint64_t>& request_ctxs);
  void confirm_reads();
  void abort_transfer();

  RaftConfig config_;
  SplitMix64 rng_;

  // Persistent state (Figure 2), plus the log's own commit/apply/durability marks.
  uint64_t term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  ConfigHistory configs_;
  // The latest snapshot (taken here or received), sent to followers that need
  // entries compacted away. Null until the log is first compacted.
  std::shared_ptr<const Snapshot> snapshot_;
  bool snapshot_to_apply_ = false;  // snapshot_ came from the leader; hand it out

  // Volatile state.
  Role role_ = Role::kFollower;
  NodeId lead_ = kNoNode;
  uint64_t now_ = 0;  // ticks since start
  uint64_t election_elapsed_ = 0;
  uint64_t heartbeat_elapsed_ = 0;
  uint64_t randomized_election_timeout_ = 0;
  std::map<NodeId, bool> votes_;  // (pre-)candidate: who granted or refused
  std::vector<Message> msgs_;

  // Leader state.
  std::map<NodeId, Progress> progress_;  // every member but this node
  uint64_t term_start_index_ = 0;        // index of this term's no-op
  NodeId transfer_target_ = kNoNode;
  uint64_t transfer_elapsed_ = 0;
  ReadIndexQueue reads_;
  std::vector<uint64_t> aborted_reads_;

  // Ready bookkeeping: what the last Ready handed out, acknowledged by advance().
  struct HandedOut {
    bool outstanding = false;
    std::optional<EntryId> last_entry;  // last entry handed out to persist
    std::optional<EntryId> snapshot;    // snapshot handed out to persist and apply
    uint64_t applying = 0;              // applied index once this Ready is applied
  };
  HandedOut handed_out_;
  HardState last_hard_state_;
  SoftState last_soft_state_;
};

}  // namespace tally::raft
