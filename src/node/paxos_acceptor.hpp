// The replica side of linearizable keyspaces: each key's Paxos acceptor
// state (quorum/paxos.hpp), kept in the record store under its own prefix,
// answering prepares and accepts once the state they leave is durable.
//
// Messages for one key are taken one at a time, in arrival order: each reads
// the state the one before left (from memory while it is busy, else from the
// disk), applies the acceptor's rule and, when the state changed, writes it
// and waits for it to be durable before answering. An error of the disk
// fails the message and forgets what memory held of the key, so the next
// message reads the disk afresh.
//
// Owns: the per-key queues of messages in progress. Reads the ClusterView
// (which keyspaces exist and in which mode, the epoch answers carry); shares
// the record store with the rest of the node.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/node_stats.hpp"
#include "node/respond.hpp"
#include "node/write_drain.hpp"
#include "quorum/paxos.hpp"
#include "store/record_store.hpp"

namespace tally {

class PaxosAcceptor {
 public:
  PaxosAcceptor(const ClusterView& view, store::RecordStore& store, NodeStats& stats, WriteDrain& drain);

  // A proposer's prepare or accept, from a peer or from this node's own
  // proposer: answered with a PaxosReply once durable, or an error.
  void handle(wire::PaxosRequest request, Respond respond);

  // The disk key of (keyspace, key)'s Paxos state.
  static std::string state_key(std::string_view keyspace, std::string_view key);

 private:
  struct Pending {
    wire::PaxosRequest request;
    Respond respond;
  };
  struct Slot {
    std::vector<Pending> queue;
    size_t head = 0;
    bool busy = false;
    bool loaded = false;
    quorum::AcceptorState state;
  };
  using SlotEntry = std::pair<const std::string, Slot>;
  void run_next(SlotEntry* slot);
  void run(SlotEntry* slot);
  void finish(SlotEntry* slot);

  const ClusterView& view_;
  store::RecordStore& store_;
  NodeStats& stats_;
  WriteDrain& drain_;
  std::unordered_map<std::string, Slot> slots_;  // keys with messages in progress only
};

}  // namespace tally
