// raft/config.hpp — how one Raft server is set up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::raft {

struct RaftConfig {
  // This server's id; never kNoNode.
  NodeId id = kNoNode;

  // Election timeout, in ticks. Each follower waits a random number of ticks in
  // [election_ticks, 2 * election_ticks) without hearing from a leader before it
  // campaigns (§5.2, §9.3: randomization makes split votes rare). With the node's
  // 10 ms tick, 15 gives the 150-300 ms of the paper. It is also the CheckQuorum
  // window and the PreVote "lease": a follower that heard from a leader less than
  // election_ticks ago refuses to vote for anyone else.
  uint32_t election_ticks = 15;

  // A leader sends heartbeats every heartbeat_ticks. Must be well below
  // election_ticks (the paper: broadcast time << election timeout), or followers
  // campaign against a healthy leader.
  uint32_t heartbeat_ticks = 3;

  // Seeds the PRNG behind the randomized election timeout. Give every server a
  // different seed (the simulation derives them from its own), or servers time out
  // together and split votes forever.
  uint64_t seed = 1;

  // PreVote (dissertation §9.6): before raising its term a server asks whether it
  // could win. A partitioned server then cannot inflate its term and depose a
  // healthy leader when it rejoins. Use together with check_quorum.
  bool pre_vote = true;

  // CheckQuorum (dissertation §6.2): a leader that has not heard from a majority
  // within election_ticks steps down, and a follower ignores vote requests while it
  // hears from a leader. Without it PreVote can leave a partially partitioned
  // cluster without a leader for a long time (the etcd outage of November 2020).
  bool check_quorum = true;

  // Flow control: at most this many entries per append message, and at most this
  // many unacknowledged appends in flight to one follower.
  size_t max_entries_per_append = 64;
  size_t max_inflight_appends = 8;
  // At most this many committed entries handed out per Ready.
  size_t max_committed_per_ready = 1024;

  // The cluster to bootstrap when the persisted state is empty (a brand new
  // server of the founding group): every founder must be given the same lists.
  // The bootstrap writes one conf-change entry per member at term 1, identical on
  // every founder, so a server added later learns the founding configuration from
  // the log like any other change. Leave both empty for a server that joins an
  // existing cluster: it starts with no configuration and waits for the leader.
  std::vector<NodeId> bootstrap_voters;
  std::vector<NodeId> bootstrap_learners;

  // The index the application's state machine has already applied when the node
  // is (re)started; 0 means "the persisted snapshot's index". Committed entries
  // after it are handed out again for applying. It may be past the persisted
  // commit index (a commit-only hard state is written lazily), not past the log.
  uint64_t applied = 0;

  // Run check_invariants() after every input and throw std::logic_error when one
  // fails (LogCabin style). For tests and the simulation; costs O(log) per call.
  bool check_invariants = false;

  // InvalidArgument naming the first field that does not make sense.
  Status validate() const;
};

}  // namespace tally::raft
