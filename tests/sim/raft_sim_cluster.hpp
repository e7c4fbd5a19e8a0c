// raft_sim_cluster.hpp — a seeded, randomized simulation of a Raft group.
//
// One PRNG (SplitMix64) drives everything: message delays, loss, duplication and
// reordering, partitions (symmetric and one-way), crashes and restarts, client
// proposals, ReadIndex reads, leadership transfers, membership changes (remove and
// re-add voters, add and promote learners) and log compaction. The same seed
// replays the same run exactly.
//
// Each node handles its Readies the way a real node would, in stages that other
// events can interleave with: take the Ready, persist it to its MemoryStorage
// "disk", send its messages, apply and advance. A crash can hit between any two
// stages; it keeps exactly what the disk holds (a crash after persisting and before
// sending loses the messages, one before persisting loses the Ready entirely).
//
// After every event the checker verifies:
//   Election Safety      at most one leader per term;
//   Log Matching         two logs holding an entry with the same index and term
//                        hold the same entry, preceded by the same term;
//   Leader Completeness  a node that becomes leader holds every committed entry;
//   State Machine Safety no two nodes commit, or apply, different entries at an
//                        index (state machines are compared by a hash chain,
//                        snapshots included);
//   Linearizable reads   a read released by ReadIndex reflects every entry known
//                        committed anywhere when it was issued;
// and every node's own check_invariants(). At the end, with faults healed, a
// leader must be elected and a last proposal must be applied by every member.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "raft/raft_node.hpp"
#include "raft/random.hpp"
#include "raft/storage.hpp"

namespace tally::raft::sim {

// A broken property: the message says which, where and when.
struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SimOptions {
  int voters = 5;
  int learners = 1;
  int spares = 1;  // servers that start empty and may be added later
  uint32_t election_ticks = 10;
  uint32_t heartbeat_ticks = 2;
  int fault_ticks = 1000;    // the faulty part of the run
  int liveness_ticks = 400;  // the most the healed cluster may take to finish
  bool trace = false;        // print every event (for replaying one seed)
};

class Simulation {
 public:
  Simulation(uint64_t seed, SimOptions options);

  // Runs the whole scenario; throws Violation on the first broken property.
  void run();

  // Figures for the caller's report.
  uint64_t events() const { return events_; }
  uint64_t committed() const { return committed_.size(); }
  int elections() const { return static_cast<int>(leaders_.size()); }
  int snapshots_installed() const { return snapshots_installed_; }
  int conf_changes_applied() const { return conf_changes_applied_; }
  int reads_served() const { return reads_served_; }

 private:
  static constexpr uint64_t kTick = 10;  // time units per tick

  enum class EventKind { kTick, kDeliver, kPersist, kSend, kApply, kRestart, kFault, kClient };
  struct Event {
    uint64_t time;
    uint64_t seq;
    EventKind kind;
    NodeId node;
    uint64_t incarnation;  // stale events of a crashed incarnation are ignored
    Message message;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  struct Node {
    NodeId id = kNoNode;
    RaftConfig config;
    MemoryStorage disk;
    std::unique_ptr<RaftNode> raft;  // null while crashed
    uint64_t incarnation = 0;
    std::optional<Ready> ready;  // handed out, not yet advanced
    bool persisted = false;
    // The state machine: a hash chain over every applied entry.
    uint64_t sm_index = 0;
    uint64_t sm_hash = 0;
    uint64_t recorded_commit = 0;  // commit index already fed to the checker
  };

  struct PendingRead {
    uint64_t must_cover;  // the highest index known committed when it was issued
  };

  // The last events, formatted only when a violation is reported.
  struct Record {
    uint64_t time;
    EventKind kind;
    NodeId node;
    Message message;   // kDeliver only, without its entries and snapshot
    std::string text;  // faults and other notes
  };

  // Driving.
  void schedule(uint64_t delay, EventKind kind, NodeId node, Message m = {});
  void handle(const Event& e);
  void pump(Node& n);
  void persist(Node& n);
  void send(Node& n);
  void apply(Node& n);
  void transmit(Message m);
  void crash(Node& n);
  void restart(Node& n);
  void fault();
  void client();
  void maybe_compact(Node& n);
  void heal();
  bool live_and_done();
  NodeId some_leader();

  // Checking.
  void check(Node& n);
  void check_log(Node& n);
  void check_commit(Node& n);
  void check_new_leader(Node& n);
  void apply_to_sm(Node& n, const Entry& e);
  [[noreturn]] void fail(const std::string& what);
  void trace(const std::string& line);
  void record(const Event& e);
  std::string format(const Record& r) const;

  uint64_t seed_;
  SimOptions options_;
  SplitMix64 rng_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  uint64_t events_ = 0;
  bool faults_on_ = true;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  std::map<NodeId, Node> nodes_;
  std::set<std::pair<NodeId, NodeId>> blocked_;  // (from, to) links that drop everything
  uint64_t drop_per_mille_ = 0;
  uint64_t dup_per_mille_ = 0;
  uint64_t max_delay_ = 12;       // usual message delay is 1..max_delay_ time units
  uint64_t change_percent_ = 15;  // share of client operations that change membership
  uint64_t next_proposal_ = 0;
  uint64_t next_read_ = 0;

  // Checker state.
  std::map<uint64_t, NodeId> leaders_;  // term -> its leader
  struct EntryFacts {
    uint64_t content;    // hash of type, data and change
    uint64_t prev_term;  // term of the entry before it (Log Matching, by induction)
  };
  std::map<std::pair<uint64_t, uint64_t>, EntryFacts> entries_;  // (index, term)
  struct Committed {
    uint64_t entry_term;    // 0 if not known (a gap)
    uint64_t seen_in_term;  // the lowest term in which a node saw it committed
  };
  std::vector<Committed> committed_;  // committed_[i - 1]: the committed entry at i
  std::vector<uint64_t> sm_hashes_;   // sm_hashes_[i - 1] = state machine hash after i
  std::map<uint64_t, PendingRead> reads_;
  int snapshots_installed_ = 0;
  int conf_changes_applied_ = 0;
  int reads_served_ = 0;
  uint64_t final_index_ = 0;  // where the liveness phase's "final" entry was applied
  std::deque<Record> recent_;
};

}  // namespace tally::raft::sim
