// Membership changes one server at a time (dissertation §4.1-4.2, with the 2015
// correction), learners, and removing the leader.
#include <catch2/catch.hpp>

#include "raft/raft_node.hpp"
#include "raft_test_harness.hpp"

namespace tally::raft {
namespace {

using test::Cluster;

ConfChange add_voter(NodeId id) { return {ConfChangeType::kAddVoter, id}; }
ConfChange add_learner(NodeId id) { return {ConfChangeType::kAddLearner, id}; }
ConfChange promote(NodeId id) { return {ConfChangeType::kPromoteLearner, id}; }
ConfChange remove(NodeId id) { return {ConfChangeType::kRemoveNode, id}; }

TEST_CASE(
    "raft: a new leader refuses a membership change until it has committed an entry "
    "of its term, so the 2015 single-server-change bug cannot lose an entry",
    "[raft][membership]") {
  // Ongaro's counterexample (raft-dev, 2015). Without the rule: S1 adds S5 (C1,
  // uncommitted, only on S5); S2 is elected by S2-S4 and removes S4 (C2), which
  // commits on {S2, S3}; S1 is then elected by S1, S4, S5 (a majority of C1) and
  // overwrites the committed C2. With the rule, S2 must first commit its no-op,
  // which needs S4 in the old configuration; S4 then holds a term-3 entry and
  // never votes for S1.
  Cluster c({1, 2, 3, 4});
  c.add_empty_node(5);
  c.campaign(1);
  REQUIRE(c.node(1).commit_index() == 5);

  // S1 adds S5; only S5 gets it. C1 = {1,2,3,4,5} is in force on both, uncommitted.
  c.partition({1, 5});
  Result<EntryId> c1 = c.node(1).propose_conf_change(add_voter(5));
  REQUIRE(c1.ok());
  c.stabilize();
  REQUIRE(c.node(5).log().match_term(c1->index, c1->term));
  REQUIRE(c.node(1).membership().voters == std::vector<NodeId>{1, 2, 3, 4, 5});
  REQUIRE(c.node(1).commit_index() < c1->index);

  // S2 is elected by S2, S3, S4; its no-op has not reached anyone yet.
  c.set_drop([](const Message& m) { return m.from == 2 && m.type == MessageType::kAppend; });
  c.forget_leader({2, 3, 4});
  c.elect(2);
  REQUIRE(c.node(2).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  Result<EntryId> early = c.node(2).propose_conf_change(remove(4));
  REQUIRE(early.status().code() == Code::kUnavailable);
  REQUIRE(early.status().message().find("not yet committed an entry of its term") !=
          std::string::npos);

  // Once its no-op commits (on S2, S3 and S4: a majority of {1,2,3,4}) it may.
  c.set_drop(nullptr);
  c.advance_time(1);
  REQUIRE(c.node(2).commit_index() >= c.node(2).last_index());
  REQUIRE(c.node(4).log().last_term() == c.node(2).term());
  Result<EntryId> c2 = c.node(2).propose_conf_change(remove(4));
  REQUIRE(c2.ok());
  c.stabilize();
  c.advance_time(1);
  REQUIRE(c.node(2).commit_index() >= c2->index);
  REQUIRE(c.node(3).commit_index() >= c2->index);

  // S1, S4 and S5 (a majority of C1) try, for a long time, to elect S1 or anyone.
  c.heal();
  c.partition({1, 4, 5});
  const uint64_t term2 = c.node(2).term();
  for (int t = 0; t < 200; ++t) {
    c.advance_time(1);
    for (NodeId id : {1, 4, 5}) {
      INFO("node " << id << " at tick " << t);
      REQUIRE_FALSE((c.node(id).role() == Role::kLeader && c.node(id).term() > term2));
    }
  }
  // The committed C2 is still where it was, and survives the healing.
  c.heal();
  c.advance_time(50);
  for (NodeId id : {1, 2, 3}) {
    INFO("node " << id);
    REQUIRE(c.node(id).log().match_term(c2->index, c2->term));
    REQUIRE(c.node(id).membership().voters == std::vector<NodeId>{1, 2, 3});
  }
  NodeId l = c.leader();
  REQUIRE((l == 1 || l == 2 || l == 3));
}

TEST_CASE("raft: only one membership change may be uncommitted at a time", "[raft][membership]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(1);
  REQUIRE(c.node(1).propose_conf_change(add_learner(4)).ok());
  Result<EntryId> second = c.node(1).propose_conf_change(add_learner(5));
  REQUIRE(second.status().code() == Code::kUnavailable);
  c.heal();
  c.stabilize();
  c.advance_time(1);
  REQUIRE(c.node(1).propose_conf_change(add_learner(5)).ok());
}

TEST_CASE("raft: invalid membership changes are refused with a reason", "[raft][membership]") {
  Cluster c({1, 2, 3}, {4});
  c.campaign(1);
  REQUIRE(c.node(2).propose_conf_change(add_learner(9)).status().code() == Code::kNotLeader);
  REQUIRE(c.node(1).propose_conf_change(add_voter(2)).status().code() == Code::kInvalidArgument);
  REQUIRE(c.node(1).propose_conf_change(add_learner(4)).status().code() == Code::kInvalidArgument);
  REQUIRE(c.node(1).propose_conf_change(promote(3)).status().code() == Code::kInvalidArgument);
  REQUIRE(c.node(1).propose_conf_change(remove(9)).status().code() == Code::kInvalidArgument);
  REQUIRE(c.node(1).propose_conf_change(add_voter(kNoNode)).status().code() ==
          Code::kInvalidArgument);
  Cluster single({1});
  single.campaign(1);
  Result<EntryId> last = single.node(1).propose_conf_change(remove(1));
  REQUIRE(last.status().code() == Code::kInvalidArgument);
  REQUIRE(last.status().message().find("last voter") != std::string::npos);
}

TEST_CASE("raft: a configuration is used as soon as it is appended, before it commits",
          "[raft][membership]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  // Add a voter that is down: the leader's quorum is now 3 of {1,2,3,4} at once.
  Result<EntryId> add = c.node(1).propose_conf_change(add_voter(4));
  REQUIRE(add.ok());
  REQUIRE(c.node(1).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  c.stabilize();
  REQUIRE(c.node(1).commit_index() >= add->index);  // by 1, 2 and 3: 3 of 4
  c.isolate(3);
  EntryId x = c.propose(1, "x");
  REQUIRE(c.node(1).commit_index() < x.index);  // 1 and 2 are 2 of 4: not a majority
  c.heal();
  c.advance_time(1);
  REQUIRE(c.node(1).commit_index() >= x.index);
}

TEST_CASE("raft: a configuration rolls back when its uncommitted entry is overwritten",
          "[raft][membership]") {
  Cluster c({1, 2, 3, 4, 5});
  c.campaign(1);
  c.partition({1, 2});
  c.block(2, 1);  // 2 gets the change, the leader never hears back
  REQUIRE(c.node(1).propose_conf_change(add_learner(6)).ok());
  c.stabilize();
  REQUIRE(c.node(2).membership().is_learner(6));
  c.heal();
  c.isolate(1);
  c.forget_leader({2, 3, 4, 5});
  c.elect(3);  // 3, 4, 5: 2 refuses (its log is longer) but is not needed
  c.propose(3, "x");
  c.advance_time(1);
  REQUIRE_FALSE(c.node(2).membership().is_learner(6));
  REQUIRE(c.node(2).membership() == c.node(3).membership());
  REQUIRE(c.commands(2) == std::vector<std::string>{"x"});
}

TEST_CASE("raft: learners receive the log but never vote and never count towards commit",
          "[raft][membership][learner]") {
  Cluster c({1, 2, 3}, {4});
  c.campaign(1);
  c.propose(1, "x");
  c.advance_time(1);
  REQUIRE(c.commands(4) == std::vector<std::string>{"x"});

  // With both other voters cut off, the learner's acknowledgement must not make a
  // majority with the leader.
  c.isolate(2);
  c.isolate(3);
  EntryId y = c.propose(1, "y");
  REQUIRE(c.node(4).log().match_term(y.index, y.term));
  REQUIRE(c.node(1).commit_index() < y.index);

  // A learner never campaigns, however long it hears nothing.
  c.heal();
  c.isolate(1);
  c.clear_delivered();
  for (int t = 0; t < 100; ++t) {
    c.tick(4);
    c.stabilize();
  }
  for (const Message& m : c.delivered()) {
    REQUIRE((m.from != 4 || (m.type != MessageType::kPreVote && m.type != MessageType::kVote)));
  }
  REQUIRE(c.node(4).campaign().code() == Code::kInvalidArgument);

  // A (pre-)vote granted by a learner is not counted.
  c.isolate(2);
  c.isolate(3);
  c.forget_leader({2});
  c.isolate(2);
  c.campaign(2);
  REQUIRE(c.node(2).role() == Role::kPreCandidate);
  Message grant;
  grant.type = MessageType::kPreVoteResponse;
  grant.from = 4;
  grant.to = 2;
  grant.term = c.node(2).term() + 1;
  REQUIRE(c.node(2).step(grant).ok());
  REQUIRE(c.node(2).role() == Role::kPreCandidate);
}

TEST_CASE("raft: a new server catches up as a learner, then is promoted and counts",
          "[raft][membership][learner]") {
  Cluster c({1, 2, 3});
  c.add_empty_node(4);
  c.campaign(1);
  for (int i = 0; i < 10; ++i) c.propose(1, "v" + std::to_string(i));
  c.compact(1);  // the newcomer needs a snapshot
  REQUIRE(c.node(1).propose_conf_change(add_learner(4)).ok());
  c.stabilize();
  c.advance_time(2);
  REQUIRE(c.commands(4) == c.commands(1));
  REQUIRE(c.node(4).membership().is_learner(4));
  REQUIRE(c.node(1).propose_conf_change(promote(4)).ok());
  c.stabilize();
  c.advance_time(1);
  REQUIRE(c.node(4).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  // Now 4 counts: with 2 and 3 cut off, 1 and 4 are 2 of 4, not enough; with 3
  // back, 1, 3 and 4 are.
  c.isolate(2);
  c.isolate(3);
  EntryId z = c.propose(1, "z");
  REQUIRE(c.node(1).commit_index() < z.index);
  c.heal();
  c.isolate(2);
  c.advance_time(1);
  REQUIRE(c.node(1).commit_index() >= z.index);
  // And it can lead.
  c.heal();
  REQUIRE(c.node(1).transfer_leadership(4).ok());
  c.stabilize();
  REQUIRE(c.leader() == 4);
}

TEST_CASE("raft: a removed leader keeps leading until its removal commits, then steps down",
          "[raft][membership]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.block(3, 1);  // 3's acknowledgements are lost for now
  Result<EntryId> rm = c.node(1).propose_conf_change(remove(1));
  REQUIRE(rm.ok());
  c.stabilize();
  // In the new configuration {2,3} the leader does not count itself: 2 alone is
  // not a majority, so the removal is not committed and 1 still leads.
  REQUIRE(c.node(1).role() == Role::kLeader);
  REQUIRE(c.node(1).commit_index() < rm->index);
  c.heal();
  c.advance_time(1);
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(c.node(2).commit_index() >= rm->index);
  c.clear_delivered();
  c.advance_time(50);
  NodeId l = c.leader();
  REQUIRE((l == 2 || l == 3));
  for (const Message& m : c.delivered()) {
    REQUIRE((m.from != 1 || m.type != MessageType::kPreVote));
  }
  c.propose(l, "after");
  REQUIRE(c.commands(l).back() == "after");
}

TEST_CASE("raft: a demoted leader keeps the log as a learner, hands over, and never campaigns",
          "[raft][membership][learner]") {
  Cluster c({1, 2, 3, 4});
  c.campaign(1);
  c.propose(1, "a");
  REQUIRE(c.node(1).propose_conf_change(ConfChange{ConfChangeType::kDemoteVoter, 1}).ok());
  c.stabilize();
  c.advance_time(1);
  REQUIRE(c.node(2).membership().voters == std::vector<NodeId>{2, 3, 4});
  REQUIRE(c.node(2).membership().learners == std::vector<NodeId>{1});
  REQUIRE(c.node(1).role() == Role::kFollower);
  c.advance_time(50);
  NodeId l = c.leader();
  REQUIRE((l == 2 || l == 3 || l == 4));
  c.propose(l, "after");
  c.stabilize();
  // Still a learner: it receives the log.
  REQUIRE(c.commands(1).back() == "after");
  REQUIRE(c.node(1).role() == Role::kFollower);
  // The last voter cannot be demoted; a learner cannot be demoted.
  Membership three{{1, 2, 3}, {}};
  Membership one{{1}, {2}};
  REQUIRE(validate_conf_change(one, ConfChange{ConfChangeType::kDemoteVoter, 1}).code() == Code::kInvalidArgument);
  REQUIRE(validate_conf_change(one, ConfChange{ConfChangeType::kDemoteVoter, 2}).code() == Code::kInvalidArgument);
  REQUIRE(validate_conf_change(three, ConfChange{ConfChangeType::kDemoteVoter, 2}).ok());
}

}  // namespace
}  // namespace tally::raft
