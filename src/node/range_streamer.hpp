// Ranges following the ring: the node's side of a ring movement
// (docs/architecture.md, Range movement). As a receiver it pulls, from one of
// their sources, the ranges a join or a leave gives it, merges each record
// into its own copy, and reports its progress to the metadata group, whose
// last report completes the movement. As a sender it answers other nodes'
// pulls from its store.
//
// Owns: the receiving session (which transfers, from which source, the
// cursor), the sources it gave up on for a while, the unreported progress.
// Uses: the ClusterView (the movement and its transfers), the record store
// (scans, as a sender), the ReplicaService (merges, as a receiver), the
// PeerCalls, the node-wide RateLimiter, and `propose` for its reports. It
// never routes a client request and never changes the map itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "node/peer_link.hpp"
#include "node/rate_limiter.hpp"
#include "node/replica_service.hpp"
#include "node/respond.hpp"
#include "store/record_store.hpp"

namespace tally {

struct StreamOptions {
  uint32_t batch_bytes = 1 << 20;        // about this much per pull
  uint32_t scan_keys = 2048;             // keys a sender looks at per pull, at most
  uint64_t check_interval_us = 200'000;  // how often an idle receiver looks for work
  uint64_t report_interval_us = 1'000'000;
  uint64_t pull_timeout_us = 10'000'000;
  uint64_t source_backoff_us = 2'000'000;  // a source that failed is left alone this long
};

class RangeStreamer {
 public:
  // `propose` hands a metadata change to the metadata group (through its
  // leader) and answers with its outcome; `saw_epoch` reports a peer's newer
  // epoch.
  using Propose = std::function<void(wire::MetaChangeRequest, Respond)>;
  using SawEpoch = std::function<void(uint64_t epoch, ring::NodeId from)>;

  RangeStreamer(Env& env, Logger log, const ClusterView& view, store::RecordStore& store, ReplicaService& replica,
                PeerCalls& peers, NodeStats& stats, RateLimiter& limiter, Propose propose, SawEpoch saw_epoch,
                StreamOptions options);

  void start();
  void stop();

  // A receiver's pull (wire::StreamRequest), answered from our store.
  void handle_pull(const wire::StreamRequest& req, Respond respond);

  // Whether a session is receiving now.
  bool receiving() const { return session_.has_value(); }

 private:
  struct Session {
    uint64_t movement = 0;
    std::string keyspace;
    ring::NodeId source = ring::kNoNode;
    std::vector<uint32_t> transfers;  // indexes into the movement's transfers
    std::vector<wire::StreamRange> ranges;
    std::string cursor;
    bool from_start = true;
    // From the replaced replica (one source is enough, and the cursor on
    // record applies), or from one of the survivors when it is down (every
    // survivor is needed; each is streamed whole).
    bool survivors = false;
    bool reporting_done = false;  // the last batch is in: reporting until the report commits
  };

  void tick();
  void schedule(uint64_t delay_us);
  // Picks the next session from the movement's transfers to this node.
  std::optional<Session> plan();
  // The transfers of the finished session that are now wholly in.
  std::vector<uint32_t> completed() const;
  void pull();
  void received(wire::StreamReply reply);
  void report(bool done);
  void give_up(const std::string& why);

  Env& env_;
  Logger log_;
  const ClusterView& view_;
  store::RecordStore& store_;
  ReplicaService& replica_;
  PeerCalls& peers_;
  NodeStats& stats_;
  RateLimiter& limiter_;
  Propose propose_;
  SawEpoch saw_epoch_;
  StreamOptions options_;

  std::optional<Session> session_;
  std::map<ring::NodeId, uint64_t> resting_;  // source -> until (now_us) it is not asked
  // What this node knows of the movement (by its epoch) before the map says
  // it: transfers reported done, transfers in survivor mode (their replaced
  // replica was down when we looked) and the survivors streamed whole.
  uint64_t known_movement_ = 0;
  std::set<uint32_t> reported_done_;
  std::set<uint32_t> survivor_mode_;
  std::map<uint32_t, std::set<ring::NodeId>> streamed_from_;
  uint64_t unreported_keys_ = 0;
  uint64_t unreported_bytes_ = 0;
  uint64_t last_report_us_ = 0;
  TimerId timer_ = 0;
  bool stopped_ = false;
};

}  // namespace tally
