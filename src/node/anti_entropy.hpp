// Anti-entropy and tombstone collection (docs/architecture.md, "Anti-entropy"
// and "Tombstones"): a Merkle tree per (keyspace, token range) this node
// replicates, kept up to date on every write the store takes; exchanges with
// the other replicas of each range that descend only into differing
// subtrees and merge the records of the differing leaves both ways, with the
// keyspace's own merge; and the collection of tombstones every replica of
// their key is known to hold.
//
// Owns: the trees, the tombstones it tracks (with the replicas seen holding
// each), the exchange schedule and its rate limit, the progress of an
// operator's repair. Shares: the record store (it merges into it and erases
// collected tombstones, only through the store's per-key order) and the
// ReplicaService's merge and dot floor. Reads the ClusterView. It never
// coordinates a client request, never writes hints and never changes the map.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.hpp"
#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "node/peer_link.hpp"
#include "node/replica_service.hpp"
#include "node/respond.hpp"
#include "quorum/merkle_tree.hpp"
#include "store/record_store.hpp"

namespace tally {

struct AntiEntropyOptions {
  // Background exchanges run one (range, peer) pair at a time, this long
  // apart: a node replicating R ranges of N=3 compares all of them with both
  // peers in about 2·R·interval.
  uint64_t interval_us = 100'000;
  // Records fetched and pushed, in bytes per second: after an exchange that
  // moved B bytes the next one waits at least B / rate. Repairs too.
  uint64_t bytes_per_sec = 8ULL << 20;
  // How long a tombstone is kept after this node took it, at least, even
  // once every replica holds it: longer than any write or read repair of the
  // key may still be in flight (docs/architecture.md, "Tombstones").
  uint64_t tombstone_grace_us = 600'000'000;
  bool background = true;  // false: only on demand (`tally repair`)
};

class AntiEntropy {
 public:
  struct Hooks {
    // A reply or request carried `epoch` (a newer one makes the node refresh its map).
    std::function<void(uint64_t epoch, ring::NodeId from)> saw_epoch;
  };

  AntiEntropy(Env& env, Logger log, const ClusterView& view, store::RecordStore& store,
              PeerCalls& peers, NodeStats& stats, ReplicaService& replica,
              AntiEntropyOptions options, Hooks hooks);

  // Builds the trees from a scan of the store and starts the exchanges.
  void start();
  void stop();

  // The store's observer (store::RecordStore::Observer): every record taken.
  void observe(const std::string& dkey, const quorum::DvvSet* record);
  // The store reopened its database after a disk error: the trees and the
  // tombstones followed records of failed batches the disk may not hold, so
  // they are built again from a scan on the next tick.
  void disk_reopened();

  void handle_compare(const wire::AeCompare& req, Respond respond);
  void handle_fetch(const wire::AeFetch& req, Respond respond);
  void handle_push(wire::AePush& req, Respond respond);
  void handle_repair(const wire::RepairRequest& req, Respond respond);

  // While a member joins or leaves, ranges are changing hands and the
  // replicas of a key are not settled: no tombstone is collected then.
  static bool movement_in_progress(const meta::ClusterMap& map);

  size_t tombstones_held() const { return tombs_.size(); }
  size_t trees() const { return tree_count_; }
  size_t keys_in_trees() const;
  bool building() const { return building_; }

 private:
  struct Tree {
    quorum::MerkleTree tree;
    ring::PreferenceList replicas;
  };
  struct KeyspaceTrees {
    uint64_t seed = 0;
    std::map<uint64_t, Tree> by_end;  // keyed by the range's end token
  };
  // One (range, peer) pair to compare.
  struct Task {
    std::string keyspace;
    uint64_t range_end = 0;
    ring::NodeId peer = ring::kNoNode;
  };
  struct Exchange;
  // A tombstone this node holds, and the replicas of its key seen holding
  // the very same record (or none of the key) since it took this record.
  struct Tomb {
    std::string keyspace;
    std::string key;
    uint64_t position = 0;
    uint64_t summary = 0;
    uint64_t self_counter = 0;  // the clock's largest entry for this node (any mint epoch): the dot floor it needs
    uint64_t since_us = 0;
    std::vector<ring::NodeId> confirmed;
    bool collecting = false;
  };
  struct RepairProgress {
    bool running = false;
    uint64_t total = 0, done = 0, skipped = 0, keys_repaired = 0;
    uint64_t started_us = 0, finished_us = 0;
  };
  using Layout =
      std::vector<std::tuple<std::string, uint64_t, uint64_t, std::vector<ring::NodeId>>>;

  Layout layout() const;
  void rebuild(Layout layout);
  void scan_from(std::string start, uint64_t generation);
  Tree* find_tree(const std::string& keyspace, uint64_t range_start, uint64_t range_end);
  // The tree a key of `keyspace` at `position` belongs to, or nullptr.
  Tree* tree_of(std::string_view keyspace, uint64_t position);
  void track(const std::string& dkey, std::string_view keyspace, std::string_view key,
             const quorum::DvvSet* record);

  void tick();
  void schedule(uint64_t delay_us);
  std::vector<Task> tasks(const std::string& keyspace) const;
  void run(Task task);
  void compare(std::shared_ptr<Exchange> ex);
  void fetch_next(std::shared_ptr<Exchange> ex);
  void reconcile(std::shared_ptr<Exchange> ex, std::vector<std::string> my_keys,
                 std::map<std::string, quorum::DvvSet> theirs);
  void push(std::shared_ptr<Exchange> ex,
            std::vector<std::pair<std::string, quorum::DvvSet>> records);
  void finish(std::shared_ptr<Exchange> ex, bool skipped);
  // Merges a peer's record into ours; `done(true)` when our copy changed. A
  // tombstone for a key we hold nothing of is not taken.
  void merge_in(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                std::function<void(bool)> done);

  void confirm(const std::string& dkey, ring::NodeId peer);
  void confirm_subtrees(const std::string& keyspace, const Tree& tree, int level,
                        const std::vector<uint32_t>& equal, ring::NodeId peer);
  void collect();

  Env& env_;
  Logger log_;
  const ClusterView& view_;
  store::RecordStore& store_;
  PeerCalls& peers_;
  NodeStats& stats_;
  ReplicaService& replica_;
  AntiEntropyOptions options_;
  Hooks hooks_;

  std::map<std::string, KeyspaceTrees, std::less<>> trees_;
  size_t tree_count_ = 0;
  Layout layout_;
  uint64_t layout_epoch_ = 0;
  bool building_ = false;
  uint64_t build_generation_ = 0;
  std::unordered_set<std::string> seen_while_building_;  // their scan result is older: skipped

  std::unordered_map<std::string, Tomb> tombs_;  // by data key

  std::deque<Task> queue_;
  bool exchanging_ = false;
  TimerId timer_ = 0;
  bool stopped_ = false;
  RepairProgress repair_;
  bool repair_waiting_ = false;  // asked for; starts once the trees are built
  std::string repair_keyspace_;
};

}  // namespace tally
