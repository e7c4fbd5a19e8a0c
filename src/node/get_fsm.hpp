// One coordinated read: ask the key's replicas that are up (this node's own
// copy through the store), answer with the merged siblings and a context once
// R replied (after repairing the stale ones, when the request asks for
// blocking repair), and once every replica answered, repair in the background
// the ones that were behind.
//
// Owns: the request's ReadTally (the round's timer and bookkeeping are its
// ReplicaRound's). Lives as long as a callback holds
// it (shared_ptr); start() begins, nothing else is called from outside.
#pragma once

#include <memory>
#include <string>

#include "meta/cluster_map.hpp"
#include "node/replica_round.hpp"
#include "quorum/quorum_tally.hpp"

namespace tally {

struct ReadRequest {
  meta::Keyspace keyspace;  // a copy: the map may change while the read runs
  std::string key;
  int r = 0;
  bool blocking_repair = false;
  uint32_t timeout_ms = 0;
  // The coordinator's HLC wall time when the read arrived: values whose time
  // to live ran out by then read as absent.
  uint64_t now_ms = 0;
};

class GetFsm : public ReplicaRound, public std::enable_shared_from_this<GetFsm> {
 public:
  GetFsm(CoordinatorContext& ctx, ReadRequest request, Respond respond);
  void start();

 private:
  friend class ReplicaRound;
  // Asks every replica the view names (again, after a map refresh).
  void ask_replicas();
  void ask(ring::NodeId node);
  // Answers once the tally decides (repairing first if asked to).
  void progress();
  void repair_then_answer(std::vector<ring::NodeId> stale);
  // Background read repair once every replica answered (or the time is up).
  void finish();
  wire::GetReply reply() const;
  void repair(ring::NodeId node, std::function<void(Status)> done);

  ReadRequest req_;
  std::unique_ptr<quorum::ReadTally> tally_;
  bool repairing_ = false;  // blocking repair in progress
  bool refreshed_ = false;  // a replica fenced us off once: the map was fetched and the read asked again
};

}  // namespace tally
