// A tally node: its rooms, built and wired here, and the door every request
// comes in by. The very same object runs in tallyd and in the simulator; it
// talks to the world only through its Env.
//
// The rooms (each header says what it owns and what it may not touch):
//   PeerLink        connections to peers, calls with timeouts, heartbeats
//   MapFollower     the metadata group's side: joining, following the map
//   Coordinator     a client's put, delete and get (PutFsm, GetFsm; PaxosFsm on linearizable keyspaces)
//   PaxosAcceptor   each key's Paxos state on linearizable keyspaces
//   ReplicaService  replica reads and writes, hints and their replay
//   RangeStreamer   ranges following the ring: pulled in, sent out
//   RangeCleanup    the copies of ranges given away, dropped once the ring is still
//   LocalGetService an operator's read of one node's own copy of a key
//   AntiEntropy     Merkle trees per range, exchanges, repair, tombstone collection
//   NodeStats       the counters `status`, INFO and /metrics report
//   MetricsServer   the metrics door: GET /metrics over HTTP (node_metrics.cpp renders it)
//   DiskRecovery    reopening the store's database after a disk error
// Node keeps construction, lifecycle (start, the drain on stop) and dispatch
// (node.cpp); the `status` answer (node_status.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/config.hpp"
#include "common/log.hpp"
#include "meta/cluster_map.hpp"
#include "net/messages.hpp"
#include "node/anti_entropy.hpp"
#include "node/paxos_acceptor.hpp"
#include "node/connection_auth.hpp"
#include "node/coordinator.hpp"
#include "node/disk_recovery.hpp"
#include "node/local_get_service.hpp"
#include "node/env.hpp"
#include "node/map_follower.hpp"
#include "node/meta_group.hpp"
#include "node/metrics_server.hpp"
#include "node/node_stats.hpp"
#include "node/peer_link.hpp"
#include "node/range_cleanup.hpp"
#include "node/range_streamer.hpp"
#include "node/rate_limiter.hpp"
#include "node/replica_service.hpp"
#include "node/respond.hpp"
#include "node/resp_server.hpp"
#include "node/write_drain.hpp"
#include "ring/ring.hpp"
#include "store/hint_store.hpp"
#include "store/record_store.hpp"
#include "tally/version.hpp"

namespace tally {

struct NodeTimings {
  uint64_t heartbeat_interval_us = 100'000;
  uint64_t hint_replay_interval_us = 200'000;
  size_t hints_per_replay = 256;
  StreamOptions stream;
  uint64_t cleanup_check_interval_us = 1'000'000;
};

// What a node is started with beyond its config (tallyd's flags).
struct NodeFeatures {
  // Accept FaultRequest (from authenticated connections only): for tests and
  // tally-bench, never on by default (tallyd --enable-fault-injection).
  bool fault_injection = false;
};

class Node final : public NetworkHandler, public RespBackend {
 public:
  // `self` must be one of `config.nodes`. With `join` ("host:port" of any
  // member) the node joins that running cluster instead of founding one from
  // the config: it asks for an id, follows the metadata log as a learner, and
  // once caught up takes its place on the ring.
  //
  // With `config.secret` set, only connections that prove it (ConnectionAuth)
  // may send what peers and administrators send (only_from_peers in node.cpp).
  Node(Env& env, ClusterConfig config, NodeEntry self, NodeTimings timings = {}, std::string join = {},
       NodeFeatures features = {});
  ~Node() override;

  // Binds the listener, starts heartbeats and hint hand-off, and starts the
  // metadata group (reading its log back; a new founder computes the initial
  // map from the config). Requests that need the cluster map are refused with
  // kUnavailable until the node has one. Errors: the config's initial map
  // cannot be built, the address cannot be bound.
  Status start();

  // The map a founder starts from: the config's nodes, in its order, with
  // their tokens and the config's keyspaces (the same on every founder).
  static Result<meta::ClusterMap> initial_map(const ClusterConfig& config);
  // Hands start() that map already computed (a simulator starting a hundred
  // founders computes it once); it must be initial_map(config).
  void set_initial_map(meta::ClusterMap map) { follower_.set_genesis(std::move(map)); }

  // Stops taking requests; `done` runs once every write already accepted has
  // reached the disk (so nothing acknowledged is cut short).
  void stop(std::function<void()> done);

  const NodeEntry& self() const { return self_; }
  ring::NodeId id() const { return follower_.view().self; }
  const store::RecordStore& store() const { return store_; }
  const store::HintStore& hints() const { return replica_.hints(); }
  const AntiEntropy& anti_entropy() const { return anti_entropy_; }
  const ring::Ring& ring() const { return follower_.view().ring; }
  const meta::ClusterMap& cluster_map() const { return follower_.view().map; }
  const MetaGroup& meta() const { return meta_; }
  const NodeStats& stats() const { return stats_; }

  // The node's metrics in the Prometheus text format (node_metrics.cpp):
  // the counters of `status` and every gauge it shows, as the metrics door
  // serves them.
  std::string metrics_text() const;

  // Runs a client request arriving by another door than the wire protocol
  // (the RESP listener): answered exactly as the same request on a connection.
  void submit(wire::Body request, Respond respond);

  // RespBackend: the RESP listener's requests, run as submit() runs them.
  void request(wire::Body request, std::function<void(wire::Body reply)> done) override {
    submit(std::move(request), std::move(done));
  }

  // NetworkHandler
  void on_accept(ConnId conn) override { peers_.on_accept(conn); }
  void on_connected(ConnId) override {}
  void on_frame(ConnId conn, std::string_view payload) override;
  void on_closed(ConnId conn, const Status& why) override {
    client_in_flight_.erase(conn);
    auth_.on_closed(conn);
    peers_.on_closed(conn, why);
  }

 private:
  // The fault this node plays on purpose (wire::FaultRequest).
  struct FaultPlan {
    uint32_t delay_ms = 0;  // replica answers held this long
    bool silent = false;    // no answer at all to other nodes
  };

  // The request table. `refreshed`: the map was already fetched from the
  // metadata leader once for this request (a keyspace it did not know).
  void dispatch(wire::Message msg, Respond respond, bool refreshed = false);
  void data_request(wire::Message msg, Respond respond, bool refreshed);
  void local_get(wire::Message msg, Respond respond, bool refreshed);
  // A request refused for a keyspace this node does not know may name one
  // created a moment ago: fetches the metadata leader's map and dispatches the
  // request again, once. False when it did not (another error, already
  // refreshed, no leader to ask).
  bool retry_with_leaders_map(const Status& refused, wire::Message& msg, Respond& respond, bool refreshed);
  void fault(const wire::FaultRequest& f, const Respond& respond);
  void status(const Respond& respond) const;  // node_status.cpp
  // `respond`, recording the request's latency and outcome in stats_ when it runs.
  Respond timed(RequestOp op, int quorum, Respond respond);

  Env& env_;
  const ClusterConfig config_;
  const NodeEntry self_;
  Logger log_;
  store::RecordStore store_;
  NodeStats stats_;
  DiskRecovery recovery_;
  NodeFeatures features_;
  ConnectionAuth auth_;
  WriteDrain drain_;
  FaultPlan fault_;
  MetaGroup meta_;
  MapFollower follower_;
  PeerLink peers_;
  RateLimiter limiter_;  // background bytes: range streams and hint replay
  ReplicaService replica_;
  RangeStreamer streamer_;
  RangeCleanup cleanup_;
  AntiEntropy anti_entropy_;
  PaxosAcceptor paxos_;
  Coordinator coordinator_;
  LocalGetService local_get_;
  std::unique_ptr<RespServer> resp_;  // when the config gives this node a resp_listen
  std::unique_ptr<MetricsServer> metrics_;  // when the config gives this node a metrics_listen
  // Requests of each client connection not answered yet (on_frame).
  static constexpr uint32_t kMaxClientRequestsInFlight = 1024;
  std::unordered_map<ConnId, uint32_t> client_in_flight_;
  bool stopping_ = false;
};

}  // namespace tally
