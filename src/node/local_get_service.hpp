// An operator's look at one node's own copy of a key (`tally get KEY
// --replica NODE`, wire::LocalGetRequest): the record as that node stores it,
// siblings, tombstones and clock, read without a quorum, without read repair
// and without touching hints, so anyone can see where a key lives and where
// it does not. Any node takes the request: the named node reads its own
// store; any other hands the request to it over the peer link, once.
//
// Owns nothing but its options. Reads the ClusterView (keyspaces, members,
// the epoch its answers carry) and the record store; calls peers through
// PeerCalls. It never writes, never coordinates and never changes the map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/messages.hpp"
#include "node/cluster_view.hpp"
#include "node/peer_link.hpp"
#include "node/respond.hpp"
#include "store/record_store.hpp"

namespace tally {

struct LocalGetOptions {
  std::string node_name;               // this node's name in the config
  uint32_t request_timeout_ms = 1000;  // the hand-over's timeout when the request names none
  size_t max_key_bytes = 64 << 10;
};

class LocalGetService {
 public:
  LocalGetService(const ClusterView& view, store::RecordStore& store, PeerCalls& peers,
                  LocalGetOptions options);

  // What the request can get wrong before it runs: an unknown keyspace
  // (kUnknownKeyspace, naming the ones there are), an empty or too large key.
  Status check(const wire::LocalGetRequest& request) const;

  // Answers a request that passed check(), through `respond`, once: a
  // LocalGetReply, or an error naming the problem: a node name that is not
  // a member (kInvalidArgument, naming the members), a removed node
  // (kInvalidArgument), a node this one holds down or cannot reach
  // (kUnavailable or kTimeout, naming it).
  void run(wire::LocalGetRequest request, Respond respond);

 private:
  // The members' names, "n1, n2, n3 (removed)", for errors.
  std::string member_names() const;
  void read_own(const wire::LocalGetRequest& request, Respond respond);

  const ClusterView& view_;
  store::RecordStore& store_;
  PeerCalls& peers_;
  LocalGetOptions options_;
};

}  // namespace tally
