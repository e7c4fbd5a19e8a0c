// The node's side of the metadata group: it starts the node's MetaGroup (as
// a founder from the config, or by joining a running cluster through
// `--join`), carries its Raft messages, answers cluster info and metadata
// changes from any node (a follower hands them to the leader), and follows
// the map: the data path switches to each newer map it learns of, from the
// metadata log or from a peer that spoke of a higher epoch.
//
// Owns: the ClusterView (the only room that changes it: this node's id, the
// map and ring in use), the join and map-refresh state. Uses the MetaGroup
// (which the node owns) and the PeerLink for its calls. It never touches the
// record store or a request's data.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/log.hpp"
#include "meta/cluster_map.hpp"
#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/meta_group.hpp"
#include "node/peer_link.hpp"
#include "node/respond.hpp"

namespace tally {

class MapFollower {
 public:
  // `self` must be one of `config.nodes`. With `join` ("host:port" of any
  // member) the node joins that cluster instead of founding one: it asks for
  // an id, follows the metadata log as a learner, and once caught up takes
  // its place on the ring. `peers` is used from start() on, not before.
  MapFollower(Env& env, Logger log, const ClusterConfig& config, const NodeEntry& self, std::string join,
              MetaGroup& meta, PeerLink& peers);

  // The map a founder serves with until its log holds one (it is the map the
  // first leader proposes); must be set before start() on a founder.
  void set_genesis(meta::ClusterMap map) { genesis_ = std::move(map); }
  bool has_genesis() const { return genesis_.has_value(); }
  bool joining() const { return !join_.empty(); }
  // What a node without a map yet waits for: its join, or its metadata log.
  const char* why_no_map() const { return joining() ? "joining" : "reading its metadata log"; }
  const std::string& join_through() const { return join_; }

  // Starts the metadata group (a joiner first asks for its id); stop() ends
  // retries and the group.
  void start();
  void stop();

  const ClusterView& view() const { return view_; }

  // A Raft message from a peer.
  void on_raft(ConnId conn, const wire::RaftMessage& message);
  // Cluster info (linearizable: through the leader's read barrier) and
  // operators' changes, answered here or by the leader.
  void handle_cluster_info(const wire::ClusterInfoRequest& req, Respond respond);
  void handle_meta_change(wire::MetaChangeRequest req, Respond respond);

  // Takes `map` for the data path if it is newer than the one in use.
  void adopt(const meta::ClusterMap& map, std::string_view source);
  // Fetches the map from `from` (the metadata leader when kNoNode), then
  // runs `then` (whether or not a newer map came).
  void refresh(ring::NodeId from, std::function<void()> then);
  // A peer spoke of epoch `epoch`: fetch the map when it is newer than ours.
  void saw_epoch(uint64_t epoch, ring::NodeId from);

  // The member with this id in the data path's map or the metadata group's.
  const meta::Member* known_member(ring::NodeId id) const;

 private:
  void start_metadata();
  void join_cluster();
  wire::ClusterInfoReply cluster_info() const;
  // A metadata request handed to the leader, following the lead as it moves:
  // sent to the leader this node sees up (waiting up to a couple of seconds
  // for one while an election runs); answered early when that node loses the
  // lead or goes down (sent again to the new leader when `may_repeat`, a
  // read; a change gets an error saying its outcome is unknown); run by
  // `here` when this node becomes the leader meanwhile.
  struct LeaderCall {
    wire::Body request;
    Respond respond;
    bool may_repeat = false;
    std::function<void()> here;
    uint64_t since_us = 0;
    uint64_t attempt = 0;  // bumped when an attempt is answered or given up: its late events are ignored
    TimerId watch = 0;
  };
  void to_leader(std::shared_ptr<LeaderCall> c);
  // Every kLeaderPollUs while attempt `attempt` is with `to`.
  void watch_leader(std::shared_ptr<LeaderCall> c, uint64_t attempt, ring::NodeId to);

  Env& env_;
  Logger log_;
  const ClusterConfig& config_;
  const NodeEntry& self_;
  std::string join_;  // "host:port" to join through; empty for a founder
  MetaGroup& meta_;
  PeerLink& peers_;
  ClusterView view_;
  std::optional<meta::ClusterMap> genesis_;  // a founder's initial map, from the config
  bool stopped_ = false;
  bool refreshing_ = false;
  std::vector<std::function<void()>> after_refresh_;
  TimerId join_timer_ = 0;
};

}  // namespace tally
