// The building blocks on their own: the log and its durability marks, the
// configuration history, progress/flow control, MemoryStorage, and the
// Ready cycle's misuse errors.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "raft/log.hpp"
#include "raft/membership.hpp"
#include "raft/progress.hpp"
#include "raft/raft_node.hpp"
#include "raft/storage.hpp"

namespace tally::raft {
namespace {

Entry entry(uint64_t term, uint64_t index, std::string data = "x") {
  return Entry{term, index, EntryType::kNormal, std::move(data), {}};
}

std::vector<Entry> entries(uint64_t from, std::vector<uint64_t> terms) {
  std::vector<Entry> out;
  for (uint64_t t : terms) out.push_back(entry(t, from++));
  return out;
}

TEST_CASE("raft log: terms, conflicts and the election restriction", "[raft][log]") {
  RaftLog log;
  log.reset(0, 0, entries(1, {1, 1, 2, 3, 3}), 0, 0);
  REQUIRE(log.last_index() == 5);
  REQUIRE(log.last_term() == 3);
  REQUIRE(log.term(0) == 0u);
  REQUIRE_FALSE(log.term(6).has_value());
  REQUIRE(log.match_term(3, 2));
  REQUIRE_FALSE(log.match_term(3, 3));
  // §5.4.1: a higher last term wins; with equal last terms the longer log does.
  REQUIRE(log.is_up_to_date(1, 4));
  REQUIRE(log.is_up_to_date(5, 3));
  REQUIRE_FALSE(log.is_up_to_date(4, 3));
  REQUIRE_FALSE(log.is_up_to_date(9, 2));
  REQUIRE(log.find_conflict(entries(4, {3, 3})) == 0);     // all present
  REQUIRE(log.find_conflict(entries(4, {3, 3, 4})) == 6);  // new at the end
  REQUIRE(log.find_conflict(entries(3, {2, 4, 4})) == 4);  // differs at 4
  REQUIRE(log.find_conflict_by_term(5, 2) == 3);
  REQUIRE(log.find_conflict_by_term(5, 0) == 0);
  REQUIRE(log.find_conflict_by_term(9, 3) == 5);
}

TEST_CASE("raft log: overwriting never reaches committed entries", "[raft][log]") {
  RaftLog log;
  log.reset(0, 0, entries(1, {1, 1, 2}), 2, 0);
  REQUIRE_THROWS_AS(log.truncate_and_append(entries(2, {3})), std::logic_error);
  log.truncate_and_append(entries(3, {3, 3}));
  REQUIRE(log.last_index() == 4);
  REQUIRE(log.at(3).term == 3);
  REQUIRE_THROWS_AS(log.truncate_and_append(entries(7, {3})), std::logic_error);  // a gap
  REQUIRE_THROWS_AS(log.commit_to(9), std::logic_error);
  REQUIRE(log.check().empty());
}

TEST_CASE(
    "raft log: persistence marks follow truncation, and only matching terms become "
    "durable",
    "[raft][log][persistence]") {
  RaftLog log;
  log.reset(0, 0, entries(1, {1}), 1, 1);
  log.append(entry(2, 2));
  log.append(entry(2, 3));
  std::vector<Entry> out = log.take_unstable();
  REQUIRE(out.size() == 2);
  REQUIRE_FALSE(log.has_unstable());
  // Before that Ready is acknowledged, entry 3 is overwritten by a new leader's.
  log.truncate_and_append(entries(3, {3}));
  REQUIRE(log.has_unstable());
  log.stable_to(EntryId{2, 3});   // the acknowledgement of the old entry 3
  REQUIRE(log.persisted() == 1);  // 3 changed underneath, and 2 was not named
  out = log.take_unstable();
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].term == 3);
  log.stable_to(EntryId{3, 3});
  REQUIRE(log.persisted() == 3);
  // Applying waits for durability, and never passes the commit index.
  log.commit_to(3);
  REQUIRE(log.take_entries_to_apply(10).size() == 2);
  log.applied_to(3);
  REQUIRE(log.check().empty());
}

TEST_CASE("raft log: compaction and restore from a snapshot", "[raft][log][snapshot]") {
  RaftLog log;
  log.reset(0, 0, entries(1, {1, 1, 2, 2}), 4, 3);
  REQUIRE_THROWS_AS(log.compact_to(4), std::logic_error);  // past applied
  log.compact_to(3);
  REQUIRE(log.first_index() == 4);
  REQUIRE(log.term(3) == 2u);
  REQUIRE_FALSE(log.term(2).has_value());
  log.restore(10, 5);
  REQUIRE(log.last_index() == 10);
  REQUIRE(log.committed() == 10);
  REQUIRE_FALSE(log.has_entries_to_apply());  // the snapshot is applied first
  log.snapshot_applying(10);
  log.snapshot_stable(10, 5);
  REQUIRE(log.persisted() == 10);
  REQUIRE(log.check().empty());
}

TEST_CASE("raft config history: rollback on truncation, base kept on compaction",
          "[raft][membership]") {
  ConfigHistory h;
  h.reset(0, Membership{{1, 2, 3}, {}});
  h.append(5, {ConfChangeType::kAddLearner, 4});
  h.append(8, {ConfChangeType::kPromoteLearner, 4});
  REQUIRE(h.current().voters == std::vector<NodeId>{1, 2, 3, 4});
  REQUIRE(h.at(6).learners == std::vector<NodeId>{4});
  REQUIRE(h.at(4).learners.empty());
  h.compact_to(6);  // the snapshot holds the configuration at 6, not the latest
  REQUIRE(h.base_index() == 6);
  REQUIRE(h.at(6).learners == std::vector<NodeId>{4});
  h.truncate_from(8);  // the promotion was overwritten
  REQUIRE(h.current().voters == std::vector<NodeId>{1, 2, 3});
  REQUIRE(h.current().learners == std::vector<NodeId>{4});
  REQUIRE_THROWS_AS(h.truncate_from(6), std::logic_error);
  REQUIRE_THROWS_AS(h.append(6, {ConfChangeType::kRemoveNode, 4}), std::logic_error);
}

TEST_CASE("raft membership: quorums and conf change rules", "[raft][membership]") {
  Membership m{{1, 2, 3, 4}, {5}};
  REQUIRE(m.quorum() == 3);
  uint64_t v = quorum_value(m, [](NodeId id) -> uint64_t { return id == 5 ? 100 : id * 10; });
  REQUIRE(v == 20);  // 40, 30, 20 are >= 20; the learner's 100 does not count
  REQUIRE(validate_conf_change(m, {ConfChangeType::kPromoteLearner, 5}).ok());
  REQUIRE_FALSE(validate_conf_change(m, {ConfChangeType::kPromoteLearner, 4}).ok());
  REQUIRE(apply_conf_change(m, {ConfChangeType::kRemoveNode, 5}).learners.empty());
  // An invalid change is a no-op, identically on every server.
  REQUIRE(apply_conf_change(m, {ConfChangeType::kAddVoter, 2}) == m);
}

TEST_CASE("raft progress: stale rejections are ignored; probing follows hints",
          "[raft][replication]") {
  Progress pr;
  pr.match = 5;
  pr.next = 11;
  pr.become_replicate();
  REQUIRE(pr.next == 6);
  pr.sent(8, true);
  pr.sent(10, true);
  REQUIRE(pr.inflight.size() == 2);
  REQUIRE(pr.is_paused(2));
  REQUIRE_FALSE(pr.maybe_decrease(5, 0));  // answers something already acknowledged
  REQUIRE(pr.maybe_update(8));
  REQUIRE(pr.inflight.size() == 1);
  REQUIRE(pr.maybe_decrease(10, 9));
  REQUIRE(pr.next == 9);
  pr.become_probe();
  REQUIRE(pr.next == 9);
  pr.sent(8, false);
  REQUIRE(pr.is_paused(8));
  REQUIRE_FALSE(pr.maybe_decrease(4, 0));  // not the latest probe
  REQUIRE(pr.maybe_decrease(8, 3));        // the hint is below match: stop at match+1
  REQUIRE(pr.next == 9);
}

TEST_CASE("raft storage: a Ready is persisted in order and loads back", "[raft][persistence]") {
  MemoryStorage disk;
  Ready a;
  a.hard_state = HardState{2, 1, 0};
  a.entries = entries(1, {1, 1, 2});
  a.truncate_from = 1;
  disk.persist(a);
  Ready b;
  b.entries = entries(3, {3});  // overwrites 3
  b.truncate_from = 3;
  b.hard_state = HardState{3, 0, 2};
  disk.persist(b);
  REQUIRE(disk.last_index() == 3);
  REQUIRE(disk.entries()[2].term == 3);
  Ready gap;
  gap.entries = entries(9, {3});
  gap.truncate_from = 9;
  REQUIRE_THROWS_AS(disk.persist(gap), std::logic_error);
  auto snap = std::make_shared<Snapshot>();
  snap->metadata = {2, 1, Membership{{1}, {}}};
  REQUIRE(disk.compact(snap).ok());
  REQUIRE(disk.entries().size() == 1);
  REQUIRE_FALSE(disk.compact(snap).ok());  // not newer
  PersistentState ps = disk.load();
  REQUIRE(ps.hard_state == HardState{3, 0, 2});
  REQUIRE(ps.snapshot->metadata.index == 2);
  REQUIRE(ps.entries.front().index == 3);
}

TEST_CASE("raft node: bad configs and inconsistent persisted state are refused",
          "[raft][persistence]") {
  RaftConfig c;
  REQUIRE(RaftNode::open(c, {}).status().code() == Code::kInvalidArgument);  // id 0
  c.id = 1;
  c.election_ticks = 2;
  c.heartbeat_ticks = 2;
  REQUIRE(RaftNode::open(c, {}).status().code() == Code::kInvalidArgument);
  c.election_ticks = 10;
  PersistentState gap;
  gap.entries = {entry(1, 1), entry(1, 3)};
  REQUIRE(RaftNode::open(c, gap).status().code() == Code::kCorruption);
  PersistentState commit_past_end;
  commit_past_end.entries = {entry(1, 1)};
  commit_past_end.hard_state = HardState{1, 0, 5};
  REQUIRE(RaftNode::open(c, commit_past_end).status().code() == Code::kCorruption);
}

TEST_CASE(
    "raft node: a restart accepts a state machine that is durably ahead of the "
    "lazily persisted commit index",
    "[raft][persistence]") {
  RaftConfig c;
  c.id = 1;
  c.applied = 3;
  PersistentState ps;
  ps.entries = {entry(1, 1), entry(1, 2), entry(1, 3), entry(1, 4)};
  ps.hard_state = HardState{1, 0, 2};
  auto node = RaftNode::open(c, ps).value();
  REQUIRE(node->commit_index() == 3);
  REQUIRE(node->applied_index() == 3);
  c.applied = 5;  // past the log: that state machine is not this log's
  REQUIRE(RaftNode::open(c, ps).status().code() == Code::kInvalidArgument);
}

TEST_CASE("raft node: ready() twice without advance() is a programming error",
          "[raft][persistence]") {
  RaftConfig c;
  c.id = 1;
  c.bootstrap_voters = {1};
  auto node = RaftNode::open(c, {}).value();
  REQUIRE(node->has_ready());
  node->ready();
  REQUIRE_FALSE(node->has_ready());
  REQUIRE_THROWS_AS(node->ready(), std::logic_error);
  node->advance();
  REQUIRE_THROWS_AS(node->advance(), std::logic_error);
  Message wrong;
  wrong.to = 2;
  wrong.from = 3;
  wrong.term = 1;
  REQUIRE(node->step(wrong).code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace tally::raft
