// Linearizable reads with ReadIndex (dissertation §6.4) and leadership transfer
// (§3.10).
#include <algorithm>
#include <catch2/catch.hpp>

#include "raft/raft_node.hpp"
#include "raft_test_harness.hpp"

namespace tally::raft {
namespace {

using test::Cluster;
using test::ClusterOptions;

bool has_read(Cluster& c, NodeId id, uint64_t ctx) {
  const auto& reads = c.state(id).reads;
  return std::any_of(reads.begin(), reads.end(),
                     [ctx](const ReadState& r) { return r.request_ctx == ctx; });
}

uint64_t read_index_of(Cluster& c, NodeId id, uint64_t ctx) {
  for (const ReadState& r : c.state(id).reads) {
    if (r.request_ctx == ctx) return r.index;
  }
  FAIL("no read " << ctx << " on node " << id);
  return 0;
}

bool was_aborted(Cluster& c, NodeId id, uint64_t ctx) {
  const auto& a = c.state(id).aborted_reads;
  return std::find(a.begin(), a.end(), ctx) != a.end();
}

TEST_CASE(
    "raft: a read is released only after a majority confirms leadership, at the "
    "commit index, once applied",
    "[raft][read]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  EntryId x = c.propose(1, "x");
  c.isolate(2);
  c.isolate(3);
  REQUIRE(c.node(1).read_index(42).ok());
  c.process(1);
  c.tick(1, 3);
  c.stabilize();
  REQUIRE_FALSE(has_read(c, 1, 42));  // nobody confirmed leadership yet
  c.heal();
  c.advance_time(1);
  REQUIRE(read_index_of(c, 1, 42) == x.index);
  REQUIRE(c.state(1).sm.applied >= x.index);
}

TEST_CASE("raft: reads not yet confirmed are aborted when leadership is lost", "[raft][read]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(1);
  REQUIRE(c.node(1).read_index(43).ok());
  c.process(1);
  c.tick(1, static_cast<int>(c.options().election_ticks));  // CheckQuorum deposes it
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(was_aborted(c, 1, 43));
  REQUIRE_FALSE(has_read(c, 1, 43));
  REQUIRE(c.node(1).read_index(44).code() == Code::kNotLeader);
}

TEST_CASE("raft: a new leader serves reads only after its no-op commits", "[raft][read]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  EntryId x = c.propose(1, "x");
  c.isolate(1);
  c.set_drop([](const Message& m) { return m.from == 2 && m.type == MessageType::kAppend; });
  c.forget_leader({2, 3});
  c.elect(2);
  // Leadership is confirmed by heartbeats, but the no-op is not committed: the
  // commit index of this leader might still be behind, so the read waits.
  REQUIRE(c.node(2).read_index(7).ok());
  c.advance_time(3);
  REQUIRE(c.node(2).role() == Role::kLeader);
  REQUIRE_FALSE(has_read(c, 2, 7));
  c.set_drop(nullptr);
  c.advance_time(2);
  REQUIRE(has_read(c, 2, 7));
  REQUIRE(read_index_of(c, 2, 7) > x.index);  // at least the new leader's no-op
}

TEST_CASE("raft: a deposed leader cannot serve a read: no stale read after a leader change",
          "[raft][read]") {
  // CheckQuorum off, so the old leader believes it leads for as long as possible.
  ClusterOptions o;
  o.check_quorum = false;
  Cluster c({1, 2, 3}, {}, o);
  c.campaign(1);
  c.propose(1, "x");
  c.isolate(1);
  REQUIRE(c.node(1).read_index(9).ok());
  c.process(1);
  c.elect(2);
  EntryId y = c.propose(2, "y");  // a write the old leader has not seen
  c.tick(1, 50);                  // it still thinks it leads, and waits
  REQUIRE(c.node(1).role() == Role::kLeader);
  REQUIRE_FALSE(has_read(c, 1, 9));
  c.heal();
  c.advance_time(3);
  // It learned of term 3 from the answers to its heartbeats and stepped down.
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE_FALSE(has_read(c, 1, 9));
  REQUIRE(was_aborted(c, 1, 9));
  // The new leader's reads see y.
  REQUIRE(c.node(2).read_index(10).ok());
  c.advance_time(1);
  REQUIRE(read_index_of(c, 2, 10) >= y.index);
}

TEST_CASE("raft: a single voter confirms a read at once; followers refuse reads", "[raft][read]") {
  Cluster single({1});
  single.campaign(1);
  EntryId x = single.propose(1, "x");
  REQUIRE(single.node(1).read_index(5).ok());
  single.process(1);
  REQUIRE(read_index_of(single, 1, 5) == x.index);

  Cluster c({1, 2, 3});
  c.campaign(1);
  Status s = c.node(2).read_index(6);
  REQUIRE(s.code() == Code::kNotLeader);
}

TEST_CASE("raft: leadership transfer catches the target up and hands over with TimeoutNow",
          "[raft][transfer]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(3);
  for (int i = 0; i < 5; ++i) c.propose(1, "v" + std::to_string(i));
  c.heal();
  const uint64_t term = c.node(1).term();
  REQUIRE(c.node(1).transfer_leadership(3).ok());
  REQUIRE(c.node(1).transfer_target() == 3);
  // Proposals stop while the transfer runs (§3.10).
  REQUIRE(c.node(1).propose("during").status().code() == Code::kAborted);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 9}).status().code() ==
          Code::kAborted);
  c.process(1);
  c.stabilize();
  // 2 still heard from leader 1 recently, yet voted: the transfer's election
  // bypasses the PreVote/CheckQuorum lease.
  REQUIRE(c.leader() == 3);
  REQUIRE(c.node(3).term() == term + 1);
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(c.commands(3).size() == 5);
  c.propose(3, "after");
  c.advance_time(1);
  for (NodeId id : {1, 2, 3}) REQUIRE(c.commands(id).back() == "after");
}

TEST_CASE("raft: a transfer that cannot complete is abandoned after an election timeout",
          "[raft][transfer]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(3);
  REQUIRE(c.node(1).transfer_leadership(3).ok());
  REQUIRE(c.node(1).propose("x").status().code() == Code::kAborted);
  for (uint32_t t = 0; t < c.options().election_ticks; ++t) {
    c.tick(1);
    c.stabilize();
  }
  REQUIRE(c.node(1).role() == Role::kLeader);
  REQUIRE(c.node(1).transfer_target() == kNoNode);
  REQUIRE(c.node(1).propose("x").ok());
}

TEST_CASE("raft: leadership can be transferred only to a voter, only by the leader",
          "[raft][transfer]") {
  Cluster c({1, 2, 3}, {4});
  c.campaign(1);
  REQUIRE(c.node(1).transfer_leadership(4).code() == Code::kInvalidArgument);
  REQUIRE(c.node(1).transfer_leadership(9).code() == Code::kInvalidArgument);
  REQUIRE(c.node(2).transfer_leadership(3).code() == Code::kNotLeader);
  REQUIRE(c.node(1).transfer_leadership(1).ok());
  REQUIRE(c.node(1).transfer_target() == kNoNode);
}

}  // namespace
}  // namespace tally::raft
