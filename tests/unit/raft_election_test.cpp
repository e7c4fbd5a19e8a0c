// Elections: §5.2, the election restriction (§5.4.1), PreVote (dissertation §9.6)
// and CheckQuorum (§6.2), and the disruptions they exist to prevent.
#include <catch2/catch.hpp>
#include <set>

#include "raft/raft_node.hpp"
#include "raft_test_harness.hpp"

namespace tally::raft {
namespace {

using test::Cluster;
using test::ClusterOptions;

// A lone node of a three-voter group, driven by hand (no harness).
std::unique_ptr<RaftNode> lone_node(NodeId id, uint64_t seed = 1, uint32_t election = 10) {
  RaftConfig c;
  c.id = id;
  c.seed = seed;
  c.election_ticks = election;
  c.heartbeat_ticks = 1;
  c.bootstrap_voters = {1, 2, 3};
  c.check_invariants = true;
  auto r = RaftNode::open(c, PersistentState{});
  REQUIRE(r.ok());
  return std::move(*r);
}

Message vote_request(NodeId from, NodeId to, uint64_t term, uint64_t last_index,
                     uint64_t last_term) {
  Message m;
  m.type = MessageType::kVote;
  m.from = from;
  m.to = to;
  m.term = term;
  m.index = last_index;
  m.log_term = last_term;
  return m;
}

TEST_CASE("raft: founding voters elect one leader, which commits a no-op of its own term",
          "[raft][election]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  REQUIRE(c.leader() == 1);
  REQUIRE(c.node(1).term() == 2);  // the bootstrap entries are term 1
  for (NodeId id : {2, 3}) {
    REQUIRE(c.node(id).role() == Role::kFollower);
    REQUIRE(c.node(id).leader() == 1);
  }
  // Bootstrap wrote indexes 1-3; the no-op of term 2 is index 4, committed everywhere.
  for (NodeId id : {1, 2, 3}) {
    REQUIRE(c.node(id).last_index() == 4);
    REQUIRE(c.node(id).log().at(4).term == 2);
    REQUIRE(c.node(id).log().at(4).data.empty());
    REQUIRE(c.node(id).commit_index() == 4);
  }
}

TEST_CASE("raft: a single voter elects itself and commits alone", "[raft][election]") {
  Cluster c({1});
  c.campaign(1);
  REQUIRE(c.leader() == 1);
  c.propose(1, "x");
  REQUIRE(c.commands(1) == std::vector<std::string>{"x"});
}

TEST_CASE("raft: election timeouts are drawn from [election_ticks, 2*election_ticks)",
          "[raft][election]") {
  // A node cut off from everyone campaigns (pre-votes) every time its timer fires;
  // the gaps between campaigns are its randomized timeouts.
  const uint32_t kElection = 10;
  std::set<uint64_t> seen;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto node = lone_node(1, seed, kElection);
    uint64_t since = 0;
    for (int t = 0; t < 400; ++t) {
      node->tick();
      ++since;
      if (!node->has_ready()) continue;
      Ready rd = node->ready();
      bool campaigned = false;
      for (const Message& m : rd.messages) campaigned |= m.type == MessageType::kPreVote;
      node->advance();
      if (!campaigned) continue;
      INFO("seed " << seed << " campaigned after " << since << " ticks");
      REQUIRE(since >= kElection);
      REQUIRE(since < 2 * kElection);
      seen.insert(since);
      since = 0;
    }
    REQUIRE(node->term() == 1);  // pre-votes alone never raise the term
  }
  REQUIRE(seen.size() >= 5);  // really randomized
}

TEST_CASE("raft: a vote is handed out for persisting in the same Ready as its response",
          "[raft][election][persistence]") {
  auto node = lone_node(3);
  while (node->has_ready()) {
    node->ready();
    node->advance();
  }
  REQUIRE(node->step(vote_request(1, 3, 5, 3, 1)).ok());
  Ready rd = node->ready();
  REQUIRE(rd.messages.size() == 1);
  REQUIRE(rd.messages[0].type == MessageType::kVoteResponse);
  REQUIRE_FALSE(rd.messages[0].reject);
  // The contract: the vote is persisted (and synced) before the response goes out.
  REQUIRE(rd.hard_state.has_value());
  REQUIRE(rd.hard_state->term == 5);
  REQUIRE(rd.hard_state->vote == 1);
  REQUIRE(rd.must_sync);
  node->advance();
}

TEST_CASE("raft: a node votes for at most one candidate per term, even after a restart",
          "[raft][election][persistence]") {
  auto node = lone_node(3);
  MemoryStorage disk;
  auto drain = [&](RaftNode& n) {
    std::vector<Message> out;
    while (n.has_ready()) {
      Ready rd = n.ready();
      disk.persist(rd);
      for (auto& m : rd.messages) out.push_back(m);
      n.advance();
    }
    return out;
  };
  drain(*node);
  REQUIRE(node->step(vote_request(1, 3, 5, 3, 1)).ok());
  auto out = drain(*node);
  REQUIRE((out.size() == 1 && !out[0].reject));
  REQUIRE(node->step(vote_request(2, 3, 5, 3, 1)).ok());
  out = drain(*node);
  REQUIRE((out.size() == 1 && out[0].reject));
  // A restarted node remembers its vote: it is in the persisted hard state.
  RaftConfig c;
  c.id = 3;
  c.check_invariants = true;
  auto restarted = RaftNode::open(c, disk.load());
  REQUIRE(restarted.ok());
  REQUIRE((*restarted)->vote() == 1);
  REQUIRE((*restarted)->step(vote_request(2, 3, 5, 3, 1)).ok());
  out = drain(**restarted);
  REQUIRE((out.size() == 1 && out[0].reject));
  // The same candidate may ask again (its request may have been duplicated).
  REQUIRE((*restarted)->step(vote_request(1, 3, 5, 3, 1)).ok());
  out = drain(**restarted);
  REQUIRE((out.size() == 1 && !out[0].reject));
}

TEST_CASE("raft: a candidate whose log is behind cannot win (election restriction)",
          "[raft][election]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  c.isolate(3);
  c.propose(1, "a");  // on 1 and 2 only
  REQUIRE(c.node(2).last_index() == 5);
  REQUIRE(c.node(3).last_index() == 4);
  // The leader fails; 3 (behind) and 2 (up to date) have forgotten it.
  c.heal();
  c.isolate(1);
  c.forget_leader({2, 3});
  uint64_t term = c.node(3).term();
  c.campaign(3);
  REQUIRE(c.node(3).role() != Role::kLeader);
  REQUIRE(c.node(3).term() == term);  // the pre-vote failed: no term was spent
  c.campaign(2);
  REQUIRE(c.leader() == 2);
  REQUIRE(c.node(2).log().at(5).data == "a");
}

TEST_CASE(
    "raft: a partitioned node rejoins without raising its term or deposing the "
    "leader (PreVote)",
    "[raft][election][prevote]") {
  Cluster c({1, 2, 3, 4, 5});
  c.campaign(1);
  const uint64_t term = c.node(1).term();
  c.isolate(5);
  c.advance_time(100);  // 5 times out again and again
  REQUIRE(c.node(5).term() == term);
  REQUIRE(c.node(5).role() != Role::kLeader);
  c.propose(1, "while 5 was away");
  c.heal();
  c.advance_time(30);
  REQUIRE(c.leader() == 1);
  for (NodeId id : c.ids()) {
    REQUIRE(c.node(id).term() == term);
    REQUIRE(c.commands(id) == std::vector<std::string>{"while 5 was away"});
  }
}

TEST_CASE("raft: without PreVote the same rejoining node does depose the leader (control)",
          "[raft][election][prevote]") {
  // The scenario of the PreVote test with PreVote off: it must show the
  // disruption, or that test proves nothing.
  ClusterOptions o;
  o.pre_vote = false;
  Cluster c({1, 2, 3, 4, 5}, {}, o);
  c.campaign(1);
  const uint64_t term = c.node(1).term();
  c.isolate(5);
  c.advance_time(100);
  REQUIRE(c.node(5).term() > term);  // real elections raised its term
  c.heal();
  c.advance_time(30);
  // The leader heard of the higher term (its heartbeat was answered with it) and
  // stepped down: the whole cluster moved to a new term.
  REQUIRE(c.node(1).term() > term);
}

TEST_CASE(
    "raft: a leader cut off from its majority steps down within an election timeout "
    "(CheckQuorum)",
    "[raft][election][checkquorum]") {
  Cluster c({1, 2, 3, 4, 5});
  c.campaign(1);
  c.partition({1, 2});  // the leader keeps a minority
  int ticks = 0;
  while (c.node(1).role() == Role::kLeader) {
    c.tick(1);
    c.stabilize();  // 1 and 2 keep talking: 2 alone is not a majority
    ++ticks;
    REQUIRE(ticks <= static_cast<int>(c.options().election_ticks));
  }
  REQUIRE(c.node(1).role() == Role::kFollower);
  // The majority side elects a leader of its own; the old one cannot serve reads.
  c.advance_time(40);
  NodeId l = c.leader();
  REQUIRE((l == 3 || l == 4 || l == 5));
  REQUIRE(c.node(1).read_index(7).code() == Code::kNotLeader);
}

TEST_CASE("raft: without CheckQuorum an isolated leader keeps its role (control)",
          "[raft][election][checkquorum]") {
  ClusterOptions o;
  o.check_quorum = false;
  Cluster c({1, 2, 3, 4, 5}, {}, o);
  c.campaign(1);
  c.isolate(1);
  c.tick(1, 10 * static_cast<int>(o.election_ticks));
  REQUIRE(c.node(1).role() == Role::kLeader);
}

TEST_CASE(
    "raft: a removed node that never learned of its removal cannot disrupt the "
    "cluster (etcd #8499)",
    "[raft][election][membership]") {
  Cluster c({1, 2, 3, 4, 5});
  c.campaign(1);
  const uint64_t term = c.node(1).term();
  c.isolate(5);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 5}).ok());
  c.stabilize();
  REQUIRE(c.node(1).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  REQUIRE(c.node(1).commit_index() == c.node(1).last_index());
  REQUIRE(c.node(5).membership().is_voter(5));  // 5 still thinks it is a voter
  c.heal();
  c.clear_delivered();
  c.advance_time(100);  // 5 hears no leader (it is not in the config) and campaigns
  int prevotes = 0;
  for (const Message& m : c.delivered()) prevotes += m.from == 5 && m.type == MessageType::kPreVote;
  REQUIRE(prevotes > 0);
  REQUIRE(c.leader() == 1);
  for (NodeId id : {1, 2, 3, 4}) REQUIRE(c.node(id).term() == term);
  c.propose(1, "still available");
  REQUIRE(c.commands(2).back() == "still available");
}

TEST_CASE(
    "raft: a node with a stale term does not stall elections under PreVote "
    "(etcd #8243)",
    "[raft][election][prevote]") {
  // 3 is partitioned at a low term while 1 and 2 go through several terms; then the
  // leader dies as 3 comes back. 2 and 3 must still elect a leader.
  Cluster c({1, 2, 3});
  c.isolate(3);
  for (int round = 0; round < 3; ++round) {
    NodeId next = round % 2 == 0 ? 1 : 2;
    c.forget_leader({1, 2});
    c.campaign(next);
    REQUIRE(c.leader() == next);
  }
  REQUIRE(c.node(3).term() + 2 < c.node(2).term());
  c.heal();
  c.crash(c.leader());
  c.advance_time(60);
  NodeId l = c.leader();
  REQUIRE(l != kNoNode);
  REQUIRE(c.node(l).term() >= c.node(3).term());
}

TEST_CASE("raft: a stale leader learns the new term and steps down when it reconnects",
          "[raft][election]") {
  ClusterOptions o;
  o.check_quorum = false;  // keep the old leader a leader until it hears of the new term
  Cluster c({1, 2, 3}, {}, o);
  c.campaign(1);
  c.isolate(1);
  c.campaign(2);
  REQUIRE(c.node(2).role() == Role::kLeader);
  REQUIRE(c.node(1).role() == Role::kLeader);  // two leaders, in different terms
  REQUIRE(c.node(1).term() < c.node(2).term());
  // The stale leader's proposal cannot commit and is overwritten.
  REQUIRE(c.node(1).propose("lost").ok());
  c.process(1);
  c.heal();
  c.advance_time(5);
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(c.node(1).leader() == 2);
  c.propose(2, "kept");
  for (NodeId id : {1, 2, 3}) REQUIRE(c.commands(id) == std::vector<std::string>{"kept"});
}

}  // namespace
}  // namespace tally::raft

namespace tally::raft {
namespace {

Message heartbeat(NodeId from, NodeId to, uint64_t term) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

TEST_CASE("raft: a term beyond any election, or far beyond ours from a stranger, is refused and changes nothing",
          "[raft][election][sanity]") {
  Cluster c({1, 2, 3});
  c.campaign(1);
  REQUIRE(c.leader() == 1);
  const uint64_t term = c.node(2).term();
  // A heartbeat of term 2^64-1 "from" a member: before the check, every node
  // followed it and no campaign could ever win (term + 1 wrapped to 0).
  CHECK(c.node(2).step(heartbeat(3, 2, UINT64_MAX)).code() == Code::kInvalidArgument);
  CHECK(c.node(2).step(heartbeat(3, 2, kMaxTerm + 1)).code() == Code::kInvalidArgument);
  // Node 9 is not in the configuration.
  CHECK(c.node(2).step(heartbeat(9, 2, term + kMaxTermLeapFromStranger + 1)).code() == Code::kInvalidArgument);
  CHECK(c.node(2).term() == term);
  CHECK(c.node(2).leader() == 1);
  // A member's higher term within reach is still Raft's business: it is taken.
  CHECK(c.node(2).step(heartbeat(3, 2, term + 5)).ok());
  CHECK(c.node(2).term() == term + 5);
  // And the group elects a leader again after it.
  c.stabilize();
  c.advance_time(100);
  CHECK(c.leader() != kNoNode);
}

}  // namespace
}  // namespace tally::raft
