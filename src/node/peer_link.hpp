// Calls between nodes: the connections to peers, request/reply matching with
// timeouts, heartbeats that feed the failure detector, and the transport the
// metadata group's Raft messages ride on.
//
// PeerCalls is the narrow part the data path uses (call, is_up, name_of): the
// coordinator and the replica side see only that, so tests can hand them a
// scripted fake instead of a network.
//
// PeerLink owns: the connections to peers (one per pair, see peer_link.cpp),
// the calls waiting on them, the heartbeat timer and the failure detector.
// It reads the ClusterView (who the members are, where they listen) and never
// changes it; it knows nothing of keys, quorums or the store.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/address.hpp"
#include "common/log.hpp"
#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/connection_auth.hpp"
#include "node/env.hpp"
#include "node/failure_detector.hpp"
#include "raft/message.hpp"

namespace tally {

class PeerCalls {
 public:
  using ReplyFn = std::function<void(Result<wire::Message>)>;
  virtual ~PeerCalls() = default;

  // Sends `request` to node `peer`; `done` runs once, later (never inside the
  // call): with the peer's reply (which may be an ErrorReply), kTimeout when
  // none came within `timeout_us`, kUnavailable when the connection was lost
  // first (the request may or may not have run), or InvalidArgument when no
  // address is known for `peer`.
  virtual void call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done) = 0;
  // Whether the failure detector holds `peer` up; this node always is.
  virtual bool is_up(ring::NodeId peer) const = 0;
  // The peer's name for messages ("n2"), "node 7" when it is not known.
  virtual std::string name_of(ring::NodeId peer) const = 0;
  // `local_deadline_us`, a time on this node's monotonic clock (Env::now_us),
  // as a time on `peer`'s, erring early: what a request handed to the peer
  // carries as its deadline. nullopt when the offset is not known (no
  // heartbeat answered yet, or a node older than the estimate).
  virtual std::optional<uint64_t> deadline_for(ring::NodeId peer, uint64_t local_deadline_us) const = 0;
};

class PeerLink final : public PeerCalls {
 public:
  struct Hooks {
    // The member with this id in the newest map this node knows of (a node
    // that joined a moment ago may be in the metadata group's applied map
    // before the data path takes that map); null when unknown.
    std::function<const meta::Member*(ring::NodeId)> member;
  };

  // Connections are opened, and frames sent, through `auth`: on a cluster
  // with a secret nothing but the handshake goes out before the other end
  // has proved it.
  PeerLink(Env& env, Logger log, const ClusterView& view, ConnectionAuth& auth, Hooks hooks,
           uint64_t heartbeat_interval_us);

  // Starts heartbeating every member of the view; stop() ends that.
  void start();
  void stop();

  // PeerCalls
  void call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done) override;
  bool is_up(ring::NodeId peer) const override;
  std::string name_of(ring::NodeId peer) const override;
  std::optional<uint64_t> deadline_for(ring::NodeId peer, uint64_t local_deadline_us) const override;

  // A call on a connection of its own to `addr` (a node not known by id yet,
  // as when joining through it), closed once the call is over. `who` names it
  // in errors.
  void call_address(const HostPort& addr, std::string who, wire::Body request, uint64_t timeout_us,
                    ReplyFn done);

  // Raft's transport: best effort (Raft resends). A node not in any map yet
  // (a joiner) is reached on the connection its own Raft messages came on.
  void send_raft(raft::Message message);
  void raft_arrived(ConnId conn, ring::NodeId from);

  // The failure detector starts watching a member (again: idempotent).
  void watch(ring::NodeId peer);

  // Connection events, passed on by the node.
  void on_accept(ConnId conn) { accepted_.insert(conn); }
  void on_closed(ConnId conn, const Status& why);
  // A reply to one of our calls; false when no call waits for it.
  bool on_reply(ConnId conn, wire::Message reply);
  // A heartbeat from `peer` came on `conn`: calls to the peer take that
  // connection over when the peer's id is the smaller (one per pair).
  void on_ping(ConnId conn, ring::NodeId peer);

  // The failure detector's phi for `peer` now (0: not watched, or this node).
  double phi(ring::NodeId peer) const { return peer == view_.self ? 0.0 : fd_.phi(peer, env_.now_us()); }

  // Connections accepted from other nodes and clients, still open.
  size_t accepted_connections() const { return accepted_.size(); }
  // Accepted and not known as a peer's: a client's (or a peer's before its
  // first heartbeat on it).
  bool client_connection(ConnId conn) const { return accepted_.contains(conn) && !conn_peer_.contains(conn); }

 private:
  struct Call {
    ConnId conn;
    TimerId timer;
    ReplyFn done;
    std::string who;  // the peer, for the timeout's message
  };
  using Calls = std::unordered_map<uint64_t, Call>;

  void call_on(ConnId conn, std::string who, wire::Body request, uint64_t timeout_us, ReplyFn done);
  // The connection to `peer`, opened if need be; 0 when its address is not known.
  ConnId peer_conn(ring::NodeId peer);
  // Closes `conn`, which no new call uses, once no call waits on it.
  void retire_when_idle(ConnId conn);
  // Takes a finished call (answered or timed out) out of calls_; a retiring
  // connection it was the last call on closes.
  Call take_call(Calls::iterator c);
  void send_heartbeats();

  Env& env_;
  Logger log_;
  const ClusterView& view_;
  ConnectionAuth& auth_;
  Hooks hooks_;
  uint64_t heartbeat_interval_us_;
  FailureDetector fd_;
  TimerId heartbeat_timer_ = 0;

  std::unordered_set<ConnId> accepted_;  // connections others opened to us
  // The connection to each peer (peer_link.cpp says which), and back.
  std::unordered_map<ring::NodeId, ConnId> peer_conns_;
  std::unordered_map<ConnId, ring::NodeId> conn_peer_;
  std::unordered_set<ConnId> retiring_;  // see retire_when_idle
  // Where Raft messages from a node arrived: the way back to a node whose
  // address is not in our map yet (a joiner before it has applied the log).
  std::unordered_map<ring::NodeId, ConnId> raft_inbound_;
  Calls calls_;
  uint64_t next_call_id_ = 1;

  // Each peer's monotonic clock against ours, from the last heartbeats (the
  // answer carries the peer's clock): NTP's estimate, kept per sample with
  // its error bound, half the round trip.
  struct PeerClock {
    struct Sample {
      int64_t offset_us = 0;  // peer's clock minus ours
      uint64_t error_us = 0;
    };
    std::array<Sample, 8> samples{};
    size_t next = 0, count = 0;
    void add(uint64_t sent_us, uint64_t received_us, uint64_t peer_now_us);
  };
  std::unordered_map<ring::NodeId, PeerClock> clocks_;
};

}  // namespace tally
