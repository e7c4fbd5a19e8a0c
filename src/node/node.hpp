// A tally node: the client-facing request handlers, the quorum coordinator,
// the replica side, hinted handoff and the failure detector, talking to the
// world only through its Env (the very same object runs in tallyd and in the
// simulator).
//
// Files: node.cpp (lifecycle, dispatch, client requests), coordinator.cpp
// (put/get/delete over N replicas), replica.cpp (the replica side and hint
// hand-off), peers.cpp (connections to other nodes, heartbeats), metadata.cpp
// (the metadata group: joining, cluster info and changes, following the map).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/config.hpp"
#include "meta/cluster_map.hpp"
#include "net/codec.hpp"
#include "net/messages.hpp"
#include "node/env.hpp"
#include "node/failure_detector.hpp"
#include "node/meta_group.hpp"
#include "node/resp_server.hpp"
#include "quorum/dvv.hpp"
#include "quorum/hlc.hpp"
#include "quorum/quorum_tally.hpp"
#include "ring/ring.hpp"
#include "store/hint_store.hpp"
#include "store/record_store.hpp"

namespace tally {

constexpr std::string_view kTallyVersion = "0.2.0";

struct NodeTimings {
  uint64_t heartbeat_interval_us = 100'000;
  uint64_t hint_replay_interval_us = 200'000;
  size_t hints_per_replay = 64;
};

class Node final : public NetworkHandler, public RespBackend {
 public:
  // Answers one request: called once with the reply (or an ErrorReply).
  using Respond = std::function<void(wire::Body)>;

  // `self` must be one of `config.nodes`. With `join` ("host:port" of any
  // member) the node joins that running cluster instead of founding one from
  // the config: it asks for an id, follows the metadata log as a learner, and
  // once caught up takes its place on the ring.
  Node(Env& env, ClusterConfig config, NodeEntry self, NodeTimings timings = {}, std::string join = {});
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
  void set_initial_map(meta::ClusterMap map) { genesis_ = std::move(map); }

  // Stops taking requests; `done` runs once every write already accepted has
  // reached the disk (so nothing acknowledged is cut short).
  void stop(std::function<void()> done);

  const NodeEntry& self() const { return self_; }
  ring::NodeId id() const { return id_; }
  const store::RecordStore& store() const { return store_; }
  const store::HintStore& hints() const { return hints_; }
  const ring::Ring& ring() const { return ring_; }
  const meta::ClusterMap& cluster_map() const { return map_; }
  const MetaGroup& meta() const { return meta_; }

  // Runs a client request arriving by another door than the wire protocol
  // (the RESP listener): answered exactly as the same request on a connection.
  void submit(wire::Body request, Respond respond);

  // RespBackend: the RESP listener's requests, run as submit() runs them.
  void request(wire::Body request, std::function<void(wire::Body reply)> done) override {
    submit(std::move(request), std::move(done));
  }

  // NetworkHandler
  void on_accept(ConnId conn) override;
  void on_connected(ConnId conn) override;
  void on_frame(ConnId conn, std::string_view payload) override;
  void on_closed(ConnId conn, const Status& why) override;

 private:
  struct WriteOp;
  struct ReadOp;
  using ReplyFn = std::function<void(Result<wire::Message>)>;

  // ---- node.cpp: requests from clients ----
  // `refreshed`: the map was already fetched from the leader once for this
  // request (a keyspace it did not know).
  void dispatch(wire::Message msg, Respond respond, bool refreshed = false);
  Respond responder(ConnId conn, uint64_t id);
  static void fail(const Respond& respond, const Status& status);
  void handle_status(const Respond& respond);
  void reply(ConnId conn, uint64_t id, wire::Body body);
  // The keyspace, after checking key size and R/W: the problems a request can
  // have before it runs.
  Result<meta::Keyspace> check(const std::string& keyspace, const std::string& key,
                               const wire::RequestOptions& opt, bool write) const;
  uint32_t timeout_ms(const wire::RequestOptions& opt) const;
  std::string name_of(ring::NodeId id) const;
  void write_started();
  void write_finished();

  // ---- coordinator.cpp ----
  void coordinate_write(Respond respond, const meta::Keyspace& ks, std::string key,
                        quorum::ClientWrite write, quorum::VersionVector context, bool blind,
                        const wire::RequestOptions& opt, bool is_delete);
  // Forwards a write to a replica when this node is not one (only replicas
  // mint dots); true when it did (or refused a second hop). `opt` lives in `request`.
  bool forward_unless_replica(const Respond& respond, const meta::Keyspace& ks, const std::string& key,
                              wire::RequestOptions& opt, wire::Body& request);
  void forward_write(Respond respond, ring::NodeId to, wire::Body request, uint32_t timeout_ms);
  void send_replica_writes(const std::shared_ptr<WriteOp>& op);
  void finish_write(const std::shared_ptr<WriteOp>& op);
  void coordinate_get(Respond respond, const meta::Keyspace& ks, std::string key,
                      const wire::RequestOptions& opt);
  void answer_read(const std::shared_ptr<ReadOp>& op);
  wire::GetReply get_reply(const ReadOp& op) const;
  void finish_read(const std::shared_ptr<ReadOp>& op);
  ring::PreferenceList replicas_of(const meta::Keyspace& ks, const std::string& key) const;
  int replicas_for(const meta::Keyspace& ks) const;
  // DVV sync, or last-writer-wins for lww keyspaces.
  quorum::DvvSet merge(const std::string& keyspace, const quorum::DvvSet& a, const quorum::DvvSet& b) const;

  // ---- replica.cpp ----
  void handle_replica_write(Respond respond, wire::ReplicaWrite& req);
  void handle_replica_read(Respond respond, wire::ReplicaRead& req);
  // Merges `record` into the local copy of (keyspace, key); `done` after it is durable.
  void apply_locally(const std::string& keyspace, const std::string& key, quorum::DvvSet record,
                     std::function<void(Status)> done);
  void replay_hints();

  // ---- peers.cpp ----
  // Sends a request to node `peer` and calls `done` with its reply, or with
  // kTimeout / kUnavailable. Never calls back inside the call.
  void call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done);
  // The same on a given connection (one to a node not yet known by id).
  void call_on(ConnId conn, std::string who, wire::Body request, uint64_t timeout_us, ReplyFn done);
  // The connection to `peer`, opened if need be; 0 when its address is not
  // known.
  ConnId peer_conn(ring::NodeId peer);
  // A heartbeat from `peer` came on `conn`, a connection we accepted: calls
  // to the peer take it over when the peer's id is the smaller.
  void adopt_peer_conn(ConnId conn, ring::NodeId peer);
  // Closes `conn`, which no new call uses, once no call waits on it.
  void retire_when_idle(ConnId conn);
  void on_reply(ConnId conn, wire::Message msg);
  void fail_calls_on(ConnId conn, const Status& why);
  void send_heartbeats();
  bool is_up(ring::NodeId peer) const;

  // ---- metadata.cpp ----
  void start_metadata();
  void join_cluster();
  void send_raft(raft::Message message);
  void on_raft(ConnId conn, const wire::RaftMessage& message);
  void handle_cluster_info(const wire::ClusterInfoRequest& req, Respond respond);
  wire::ClusterInfoReply cluster_info() const;
  void handle_meta_change(wire::MetaChangeRequest req, Respond respond);
  // Passes a metadata request to the leader; false when none is known.
  bool forward_to_leader(wire::Body request, const Respond& respond);
  // Takes `map` for the data path if it is newer than the one in use.
  void adopt(const meta::ClusterMap& map, std::string_view source);
  // Fetches the map from `from` (the metadata leader when kNoNode), then `then`.
  void refresh_map(ring::NodeId from, std::function<void()> then);
  // A peer spoke of a newer epoch than ours.
  void saw_epoch(uint64_t epoch, ring::NodeId from);
  void maybe_finish_join();
  const meta::Member* known_member(ring::NodeId id) const;

  Env& env_;
  ClusterConfig config_;
  NodeEntry self_;
  NodeTimings timings_;
  Logger log_;
  std::string join_;  // "host:port" to join through; empty for a founder
  std::optional<meta::ClusterMap> genesis_;  // a founder's initial map, from the config
  // The map and ring the data path uses: the metadata group's applied map,
  // or a newer one fetched from a peer that spoke of a higher epoch.
  meta::ClusterMap map_;
  ring::Ring ring_;
  ring::NodeId id_ = ring::kNoNode;
  store::RecordStore store_;
  store::HintStore hints_;
  quorum::HybridClock clock_;
  FailureDetector fd_;
  MetaGroup meta_;
  std::unique_ptr<RespServer> resp_;  // when the config gives this node a resp_listen
  net::DecodeLimits decode_limits_;
  // Where Raft messages from a node arrived: the way back to a node whose
  // address is not in our map yet (a joiner before it has applied the log).
  std::unordered_map<ring::NodeId, ConnId> raft_inbound_;
  bool refreshing_ = false;
  std::vector<std::function<void()>> after_refresh_;
  TimerId join_timer_ = 0;
  bool finishing_join_ = false;
  // The fault this node plays on purpose (wire::FaultRequest).
  uint32_t fault_delay_ms_ = 0;
  bool fault_silent_ = false;

  std::unordered_set<ConnId> conns_;
  // The connection to each peer (peers.cpp says which), and the calls waiting
  // on them.
  std::unordered_map<ring::NodeId, ConnId> peer_conns_;
  std::unordered_map<ConnId, ring::NodeId> conn_peer_;
  std::unordered_set<ConnId> retiring_;  // see retire_when_idle
  struct Call {
    ConnId conn;
    TimerId timer;
    ReplyFn done;
    std::string who;  // the peer, for the timeout's message
  };
  std::unordered_map<uint64_t, Call> calls_;
  // Takes a finished call (answered or timed out) out of calls_; a retiring
  // connection it was the last call on closes.
  Call take_call(std::unordered_map<uint64_t, Call>::iterator c);
  uint64_t next_call_id_ = 1;

  TimerId heartbeat_timer_ = 0;
  TimerId replay_timer_ = 0;
  bool replaying_ = false;
  std::string replay_cursor_;

  uint64_t started_us_ = 0;
  uint64_t requests_ = 0;
  uint64_t protocol_errors_ = 0;
  uint64_t forwarded_ = 0;
  uint64_t read_repairs_ = 0;
  uint64_t hints_delivered_ = 0;
  uint64_t quorum_failures_ = 0;
  int writes_in_flight_ = 0;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace tally
