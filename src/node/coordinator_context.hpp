// What a coordinated request (the Coordinator, and each PutFsm and GetFsm it
// starts) may use: the rooms of its node, by reference. The coordinator owns
// the one context; its requests hold it by reference, so it outlives them.
#pragma once

#include <cstdint>
#include <functional>

#include "common/log.hpp"
#include "node/cluster_view.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"
#include "node/paxos_acceptor.hpp"
#include "node/peer_link.hpp"
#include "node/replica_service.hpp"
#include "node/write_drain.hpp"
#include "store/record_store.hpp"

namespace tally {

struct CoordinatorContext {
  Env& env;
  Logger log;
  const ClusterView& view;
  PeerCalls& peers;
  store::RecordStore& store;
  ReplicaService& replica;
  NodeStats& stats;
  WriteDrain& drain;
  // A replica answered with a newer epoch than the view's.
  std::function<void(uint64_t epoch, ring::NodeId from)> saw_epoch;
  // Fetch the map from `from` (a replica that fenced us off), then `then`.
  std::function<void(ring::NodeId from, std::function<void()> then)> refresh;
  // This node's Paxos acceptor (linearizable keyspaces).
  PaxosAcceptor& paxos;
};

}  // namespace tally
