// Snapshots, log compaction and InstallSnapshot (§7, dissertation ch. 5, Figure 13),
// and the snapshot bugs that shipped elsewhere.
#include <catch2/catch.hpp>

#include "raft/raft_node.hpp"
#include "raft_test_harness.hpp"

namespace tally::raft {
namespace {

using test::Cluster;
using test::ClusterOptions;

int count_messages(const Cluster& c, MessageType type, NodeId to) {
  int n = 0;
  for (const Message& m : c.delivered()) n += m.type == type && m.to == to;
  return n;
}

TEST_CASE(
    "raft: compaction drops applied entries and records the configuration at its "
    "index",
    "[raft][snapshot]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  for (const char* cmd : {"a", "b", "c"}) c.propose(1, cmd);
  RaftNode& n = c.node(1);
  uint64_t applied = n.applied_index();
  REQUIRE(applied == 7);
  REQUIRE(n.compact(applied + 1, "").status().code() == Code::kInvalidArgument);
  auto snap = c.compact(1, 6);
  REQUIRE(snap->metadata.index == 6);
  REQUIRE(snap->metadata.term == 2);
  REQUIRE(snap->metadata.membership.voters == std::vector<NodeId>{1, 2, 3});
  REQUIRE(n.log().first_index() == 7);
  REQUIRE(n.compact(6, "").status().code() == Code::kInvalidArgument);  // already there
  // The disk agrees, and a restart from it rebuilds the same state machine.
  REQUIRE(c.state(1).disk.snapshot()->metadata.index == 6);
  REQUIRE(c.state(1).disk.entries().front().index == 7);
  c.crash(1);
  c.restart(1);
  REQUIRE(c.commands(1) == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(c.node(1).membership().voters == std::vector<NodeId>{1, 2, 3});
}

TEST_CASE("raft: a follower far behind is caught up with InstallSnapshot, then by appends",
          "[raft][snapshot]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(3);
  std::vector<std::string> expected;
  for (int i = 0; i < 30; ++i) {
    expected.push_back("v" + std::to_string(i));
    REQUIRE(c.node(1).propose(expected.back()).ok());
  }
  c.stabilize();
  c.compact(1);  // 3 now needs entries the leader no longer has
  c.heal();
  c.clear_delivered();
  c.advance_time(3);
  REQUIRE(count_messages(c, MessageType::kSnapshot, 3) == 1);
  REQUIRE(c.commands(3) == expected);
  REQUIRE(c.state(3).disk.snapshot()->metadata.index == c.node(1).log().snapshot_index());
  // From then on, plain appends.
  c.clear_delivered();
  c.propose(1, "after");
  expected.push_back("after");
  c.advance_time(1);
  REQUIRE(count_messages(c, MessageType::kSnapshot, 3) == 0);
  REQUIRE(c.commands(3) == expected);
  // And a restart of the follower starts from the snapshot it installed.
  c.crash(3);
  c.restart(3);
  REQUIRE(c.commands(3) == expected);
}

TEST_CASE(
    "raft: a snapshot whose last entry conflicts with the follower's log replaces the "
    "whole log (hashicorp/raft #697)",
    "[raft][snapshot]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  // 1 writes indexes 5-7 in term 2 that nobody else sees.
  c.isolate(1);
  for (const char* cmd : {"x5", "x6", "x7"}) REQUIRE(c.node(1).propose(cmd).ok());
  c.process(1);
  // 2 leads term 3 and commits different entries at 5-8, then snapshots at 7: the
  // snapshot's last entry (7, term 3) conflicts with 1's (7, term 2).
  c.forget_leader({2, 3});
  c.elect(2);
  for (const char* cmd : {"y6", "y7", "y8"}) c.propose(2, cmd);
  c.compact(2, 7);
  c.heal();
  c.clear_delivered();
  c.advance_time(5);
  // Had 1 kept its conflicting entry at 7, every append at 7 would be refused
  // and the leader would send snapshot after snapshot.
  REQUIRE(count_messages(c, MessageType::kSnapshot, 1) == 1);
  REQUIRE(c.commands(1) == std::vector<std::string>{"y6", "y7", "y8"});
  REQUIRE(c.node(1).log().match_term(8, 3));
  REQUIRE(c.node(1).last_index() == c.node(2).last_index());
}

TEST_CASE(
    "raft: InstallSnapshot keeps the follower's entries after a matching snapshot "
    "entry, and discards a conflicting log (Figure 13 rules 6 and 7)",
    "[raft][snapshot]") {
  RaftConfig cfg;
  cfg.id = 2;
  cfg.bootstrap_voters = {1, 2, 3};
  cfg.check_invariants = true;
  auto open_follower = [&] {
    auto node = RaftNode::open(cfg, PersistentState{}).value();
    Message app;
    app.type = MessageType::kAppend;
    app.from = 1;
    app.to = 2;
    app.term = 2;
    app.index = 3;
    app.log_term = 1;
    for (uint64_t i = 4; i <= 8; ++i)
      app.entries.push_back(Entry{2, i, EntryType::kNormal, "e", {}});
    app.commit = 3;
    REQUIRE(node->step(app).ok());
    while (node->has_ready()) {
      node->ready();
      node->advance();
    }
    return node;
  };
  auto snapshot_message = [](uint64_t index, uint64_t term) {
    auto snap = std::make_shared<Snapshot>();
    snap->metadata = {index, term, Membership{{1, 2, 3}, {}}};
    Message m;
    m.type = MessageType::kSnapshot;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    m.snapshot = snap;
    return m;
  };

  SECTION("rule 6: the snapshot's last entry matches: keep what follows it") {
    auto node = open_follower();
    REQUIRE(node->step(snapshot_message(6, 2)).ok());
    REQUIRE(node->last_index() == 8);
    REQUIRE(node->commit_index() == 6);
    Ready rd = node->ready();
    REQUIRE(rd.snapshot == nullptr);  // nothing to install: the entries are here
    REQUIRE(rd.messages.size() == 1);
    REQUIRE(rd.messages[0].index == 6);
    node->advance();
  }
  SECTION("rule 7: it conflicts: discard the whole log") {
    auto node = open_follower();
    REQUIRE(node->step(snapshot_message(6, 3)).ok());
    REQUIRE(node->last_index() == 6);
    REQUIRE(node->log().snapshot_index() == 6);
    Ready rd = node->ready();
    REQUIRE(rd.snapshot != nullptr);
    REQUIRE(rd.entries.empty());
    REQUIRE(rd.must_sync);
    REQUIRE(rd.messages.size() == 1);
    REQUIRE(rd.messages[0].index == 6);
    MemoryStorage disk;
    disk.persist(rd);
    REQUIRE(disk.entries().empty());  // the persisted log is replaced as well
    node->advance();
    REQUIRE(node->applied_index() == 6);
  }
}

TEST_CASE("raft: a lost snapshot message is sent again", "[raft][snapshot]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(3);
  for (int i = 0; i < 10; ++i) REQUIRE(c.node(1).propose("v" + std::to_string(i)).ok());
  c.stabilize();
  c.compact(1);
  c.heal();
  int dropped = 0;
  c.set_drop([&dropped](const Message& m) {
    if (m.type != MessageType::kSnapshot || dropped > 0) return false;
    ++dropped;
    return true;
  });
  c.clear_delivered();
  c.advance_time(4 * static_cast<int>(c.options().election_ticks));
  REQUIRE(dropped == 1);
  REQUIRE(count_messages(c, MessageType::kSnapshot, 3) == 1);  // the retry
  REQUIRE(c.commands(3).size() == 10);
}

TEST_CASE(
    "raft: a snapshot keeps the committed configuration, so a later uncommitted "
    "change still rolls back, before and after a restart (canonical/raft #250)",
    "[raft][snapshot][membership]") {
  Cluster c({1, 2, 3, 4, 5});
  c.campaign(1);
  c.propose(1, "a");
  c.advance_time(1);
  // 1 appends "add learner 6"; only 5 receives it, and 5's acknowledgement is
  // lost, so it is not committed anywhere.
  c.partition({1, 5});
  c.block(5, 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 6}).ok());
  c.stabilize();
  REQUIRE(c.node(5).membership().is_learner(6));  // in force as soon as it is in the log
  REQUIRE(c.node(5).commit_index() < c.node(5).last_index());
  // 5 snapshots what it applied: the snapshot must hold the configuration at its
  // index, not the latest one.
  auto snap = c.compact(5);
  REQUIRE_FALSE(snap->metadata.membership.is_learner(6));
  c.crash(5);
  c.restart(5);
  REQUIRE(c.node(5).membership().is_learner(6));  // snapshot + log, as before
  // 2 leads term 3 without the change; its entries overwrite 5's.
  c.heal();
  c.isolate(1);
  c.forget_leader({2, 3, 4, 5});
  c.elect(2);
  c.propose(2, "b");
  c.advance_time(2);
  REQUIRE_FALSE(c.node(5).membership().is_learner(6));  // rolled back to the snapshot's
  REQUIRE(c.node(5).membership().voters == std::vector<NodeId>{1, 2, 3, 4, 5});
  c.crash(5);
  c.restart(5);
  REQUIRE_FALSE(c.node(5).membership().is_learner(6));
  REQUIRE(c.commands(5) == std::vector<std::string>{"a", "b"});
}

}  // namespace
}  // namespace tally::raft
