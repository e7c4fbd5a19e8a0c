// One operation on a key of a linearizable keyspace, coordinated by any node:
// Paxos attempts (quorum/paxos.hpp) on the key's N replicas until the
// operation is decided, with a backoff with jitter between attempts that
// lose to other proposers, until the request's deadline
// (docs/architecture.md, "Linearizable keyspaces").
//
// Answers: a get with the key's value; a put with whether it applied (a
// condition may fail) and the key's value when it did not; a delete. When it
// gives up: kContention when nothing it proposed can have been accepted,
// kQuorumNotReached when a majority did not answer and nothing of it can
// have been accepted, and kTimeout "outcome unknown" when an attempt may
// still take effect.
//
// Owns: the proposer's state and the current attempt's tally. Lives as long
// as a callback holds it; start() begins.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/linear_version.hpp"
#include "node/coordinator_context.hpp"
#include "node/paxos_acceptor.hpp"
#include "node/respond.hpp"
#include "quorum/paxos.hpp"

namespace tally {

// The context a linearizable key's get and put answer with is its version,
// common/linear_version.hpp. Errors: kInvalidArgument naming what is wrong.
Result<uint64_t> parse_version_context(std::string_view context);

struct CasRequest {
  enum class Answer { kGet, kPut, kDelete };
  std::string keyspace;
  std::string key;
  quorum::CasOp op;
  Answer answer = Answer::kPut;
  std::vector<ring::NodeId> replicas;  // the key's N replicas
  uint64_t deadline_us = 0;            // our monotonic clock
};

// A proposal a majority of the key's replicas accepted (so it is decided),
// with the register it was made from (the state its prepare adopted; equal to
// it when the proposal only finished that state). Lets the simulator's checks
// follow each key's chain of decided registers as the replicas decided them
// (tests/sim/lock_sim_test.cpp).
struct PaxosDecision {
  const std::string& keyspace;
  const std::string& key;
  const quorum::Ballot& ballot;
  const quorum::Register& parent;
  const quorum::Register& chosen;
};
using PaxosDecisionWatch = std::function<void(const PaxosDecision&)>;
// Called in every node of the process on each decision; unset unless a test sets it.
PaxosDecisionWatch& paxos_decision_watch();

class PaxosFsm : public std::enable_shared_from_this<PaxosFsm> {
 public:
  // A ballot above `above`, unique to this node.
  using NextBallot = std::function<quorum::Ballot(const quorum::Ballot& above)>;
  PaxosFsm(CoordinatorContext& ctx, PaxosAcceptor& local, NextBallot next_ballot, CasRequest request,
           Respond respond);
  void start();

 private:
  void attempt();
  // Sends phase `phase` of the current attempt to every replica.
  void send_all(wire::PaxosPhase phase);
  void answered(uint64_t attempt, wire::PaxosPhase phase, ring::NodeId node, const wire::PaxosReply* reply,
                Status error);
  void prepared();
  void accepted();
  // The attempt lost: back off and try again, or give up at the deadline.
  void retry(const std::string& why);
  void reply();
  void give_up(Status why);

  CoordinatorContext& ctx_;
  PaxosAcceptor& local_;
  NextBallot next_ballot_;
  CasRequest req_;
  Respond respond_;
  quorum::Proposer proposer_;
  std::unique_ptr<quorum::PaxosRound> round_;
  quorum::Ballot ballot_;
  quorum::Ballot highest_seen_;
  uint64_t attempt_ = 0;
  bool in_phase2_ = false;
  bool done_ = false;
  std::string last_error_;  // the last replica error, for the message when giving up
  bool lost_quorum_ = false;  // the last attempt failed for want of answers, not to a higher ballot
};

}  // namespace tally
