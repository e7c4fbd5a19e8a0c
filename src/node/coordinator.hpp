// The coordinator: a client's put, delete or get, carried out over the key's
// N replicas (docs/architecture.md, "Request path"). Each request runs as its
// own state machine (PutFsm, GetFsm, as Riak's put and get FSMs); this class
// checks a request, decides who coordinates it, and starts its machine.
//
// Only a replica of a key mints the key's dots (a dot minted twice for two
// values loses one of them: docs/architecture.md, "Why only a replica mints a
// key's dots"), so a node that is not a replica hands writes to one.
//
// Owns: the node's hybrid logical clock (lww tags). Uses, through its
// CoordinatorContext (coordinator_context.hpp): the peers (PeerCalls), the
// record store, the replica side (local repair, hints), the counters and the
// write drain. Reads the ClusterView; never changes it (a newer epoch in a
// reply goes to the saw_epoch hook).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "net/messages.hpp"
#include "node/coordinator_context.hpp"
#include "node/respond.hpp"
#include "quorum/hlc.hpp"

namespace tally {

struct CoordinatorOptions {
  std::string node_name;               // this node's name in the config, for errors
  uint32_t request_timeout_ms = 1000;  // a request's timeout when it names none
  size_t max_key_bytes = 64 << 10;
  size_t max_value_bytes = 4 << 20;
};

class Coordinator {
 public:
  Coordinator(CoordinatorContext context, CoordinatorOptions options);
  // Its requests hold its context by reference: it stays where it was built.
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The keyspace of a PutRequest, DeleteRequest or GetRequest, after checking
  // what a request can get wrong before it runs: an unknown keyspace
  // (kUnknownKeyspace, naming the ones there are), an empty or too large key,
  // a too large value, R or W beyond N, a time to live above wire::kMaxTtlMs.
  Result<meta::Keyspace> check(const wire::Body& request) const;

  // Runs a request that passed check() against `ks`: answers through
  // `respond`, once.
  void run(wire::Body request, const meta::Keyspace& ks, Respond respond);

 private:
  // A put or a delete.
  void write(wire::Body request, const meta::Keyspace& ks, Respond respond);
  void get(wire::GetRequest request, const meta::Keyspace& ks, Respond respond);
  // Any request on a linearizable keyspace: a Paxos operation (PaxosFsm).
  void linearizable(wire::Body request, const meta::Keyspace& ks, Respond respond);
  // A Paxos ballot above `above` and above every ballot this node made.
  quorum::Ballot ballot_above(const quorum::Ballot& above);
  // When a write arrived: the tag it carries and the time on our monotonic
  // clock after which it must not be applied (a forwarded write: as the
  // forwarding node says; kTimeout when that time has passed already).
  struct Arrival {
    quorum::HlcTimestamp tag;
    uint64_t deadline_us = 0;
  };
  Result<Arrival> arrival(const wire::RequestOptions& opt);
  // Forwards a write to a replica when this node is not one of the key's;
  // true when it did (or refused a second hop, or found every replica down).
  // `opt` lives in `request`; the forward carries `arrived`.
  bool forward_unless_replica(const Respond& respond, const meta::Keyspace& ks, const std::string& key,
                              wire::RequestOptions& opt, wire::Body& request, const Arrival& arrived);
  void forward_write(Respond respond, ring::NodeId to, wire::Body request, uint32_t timeout_ms);
  quorum::HlcTimestamp tag();
  uint32_t timeout_ms(const wire::RequestOptions& opt) const {
    return opt.timeout_ms ? opt.timeout_ms : options_.request_timeout_ms;
  }
  // The wall time by which anything written after a request that arrived at
  // `arrival_ms` is tagged, within the HLC's allowed skew: an overwrite's
  // horizon, and the bound of a forward that carries no deadline.
  uint64_t horizon_ms(uint64_t arrival_ms, const wire::RequestOptions& opt) const {
    return arrival_ms + uint64_t{timeout_ms(opt)} + quorum::HybridClock::kDefaultMaxOffsetMs;
  }

  CoordinatorContext ctx_;
  CoordinatorOptions options_;
  quorum::HybridClock clock_{ring::kNoNode};
  quorum::Ballot last_ballot_;
};

}  // namespace tally
