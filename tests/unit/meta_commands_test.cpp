// The metadata state machine: what each committed command does to the cluster map.
#include <catch2/catch.hpp>

#include "meta/commands.hpp"
#include "codec/meta_codec.hpp"
#include "ring/token_allocator.hpp"

using namespace tally;
using namespace tally::meta;

namespace {

ClusterMap three_nodes() {
  std::vector<Member> members;
  for (ring::NodeId i = 1; i <= 3; ++i) {
    members.push_back({i, "n" + std::to_string(i), "10.0.0." + std::to_string(i) + ":7400", "z1", {}});
  }
  return *bootstrap(members, {});
}

Member joiner(const ClusterMap& map, ring::NodeId id) {
  Member m{id, "n" + std::to_string(id), "10.0.0." + std::to_string(id) + ":7400", "z1", {}};
  m.tokens = *ring::allocate_tokens(*map.build_ring(), id, "z1", 32, 3);
  m.state = NodeState::kJoining;
  return m;
}

}  // namespace

// Completes the movement in progress as its receivers would: every transfer
// reported done.
Status stream_all(ClusterMap& map) {
  if (!map.movement) return Status::Ok();
  const Movement mv = *map.movement;
  for (uint32_t i = 0; i < mv.transfers.size() && map.movement; ++i) {
    if (map.movement->transfers[i].state == TransferState::kDone) continue;
    Status s = apply(map, StreamUpdate{mv.epoch, mv.transfers[i].to, {i}, "k", true, 1, 10, 1000 + i});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

TEST_CASE("a joining node is known but serves no reads until its ranges are streamed in", "[meta]") {
  ClusterMap map = three_nodes();
  uint64_t epoch = map.epoch;
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  CHECK(map.epoch == epoch + 1);
  CHECK(map.member(4)->state == NodeState::kJoining);
  CHECK(map.build_ring()->node_count() == 3);
  CHECK(map.build_ring_after()->node_count() == 4);
  CHECK(map.build_ring_with_joining()->node_count() == 4);
  // The join started a movement: every range n4 gains, from the node it
  // replaces first.
  REQUIRE(map.movement);
  CHECK(map.movement->kind == MovementKind::kJoin);
  CHECK(map.movement->node == 4);
  CHECK(map.movement->epoch == map.epoch);
  REQUIRE_FALSE(map.movement->transfers.empty());
  auto before = map.build_ring();
  auto after = map.build_ring_after();
  for (const auto& t : map.movement->transfers) {
    CHECK(t.to == 4);
    CHECK(t.state == TransferState::kPending);
    REQUIRE(t.sources.size() == 3);
    auto old_list = before->preference_list(t.range.end, 3);
    auto new_list = after->preference_list(t.range.end, 3);
    CHECK(new_list.contains(4));
    CHECK_FALSE(new_list.contains(t.sources[0]));  // the replaced replica comes first
    for (auto s : t.sources) CHECK(old_list.contains(s));
  }
  // Joining -> normal is the movement's completion, not a command.
  CHECK_THAT(apply(map, SetNodeState{4, NodeState::kNormal}).message(),
             Catch::Contains("n4 is still receiving its ranges"));
  // Progress alone does not bump the epoch; the last report completes it.
  const uint64_t during = map.epoch;
  const uint32_t last = static_cast<uint32_t>(map.movement->transfers.size() - 1);
  REQUIRE(apply(map, StreamUpdate{map.movement->epoch, 4, {0}, "m", false, 5, 50, 100}).ok());
  CHECK(map.epoch == during);
  CHECK(map.movement->transfers[0].state == TransferState::kStreaming);
  CHECK(map.movement->transfers[0].cursor == "m");
  CHECK(map.movement->keys == 5);
  CHECK(map.movement->started_ms == 100);
  CHECK(apply(map, StreamUpdate{map.movement->epoch, 3, {0}, "", true, 0, 0, 0}).message() ==
        "transfer 0 of the movement is not one to node 3");
  CHECK(apply(map, StreamUpdate{map.movement->epoch, 4, {last + 1}, "", true, 0, 0, 0}).code() ==
        Code::kInvalidArgument);
  CHECK(apply(map, StreamUpdate{map.movement->epoch + 1, 4, {0}, "", true, 0, 0, 0}).message() ==
        "no ring movement started at epoch " + std::to_string(during + 1) +
            " is in progress (it completed or was called off)");
  REQUIRE(stream_all(map).ok());
  CHECK_FALSE(map.movement);
  CHECK(map.member(4)->state == NodeState::kNormal);
  CHECK(map.epoch == during + 1);
  CHECK(map.build_ring()->node_count() == 4);
}

TEST_CASE("one ring movement at a time; a second join or leave is refused and names the first", "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  ClusterMap before = map;
  CHECK_THAT(apply(map, AddNode{joiner(map, 5)}).message(),
             Catch::Contains("a ring movement is in progress (n4 joining, 0 of "));
  CHECK_THAT(apply(map, SetNodeState{1, NodeState::kLeaving}).message(),
             Catch::Contains("one at a time: wait for it (tally cluster status --wait)"));
  CHECK(map == before);
  // Removing the joiner calls its join off.
  REQUIRE(apply(map, SetNodeState{4, NodeState::kRemoved}).ok());
  CHECK_FALSE(map.movement);
  CHECK(map.build_ring()->node_count() == 3);
  REQUIRE(apply(map, AddNode{joiner(map, 5)}).ok());
}

TEST_CASE("a leave streams the node's ranges away; only a node that has left can be removed", "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  REQUIRE(stream_all(map).ok());
  REQUIRE(apply(map, SetNodeState{2, NodeState::kLeaving}).ok());
  REQUIRE(map.movement);
  CHECK(map.movement->kind == MovementKind::kLeave);
  CHECK(map.build_ring()->node_count() == 4);  // it still serves reads
  CHECK(map.build_ring_after()->node_count() == 3);
  for (const auto& t : map.movement->transfers) {
    CHECK(t.to != 2);
    CHECK(t.sources[0] == 2);  // from the leaver first, the survivors after it
  }
  CHECK_THAT(apply(map, SetNodeState{2, NodeState::kRemoved}).message(),
             Catch::Contains("node n2 has not finished leaving (0 of "));
  // Three nodes would remain for N=3: a second leave could not be started
  // anyway; the first completes.
  REQUIRE(stream_all(map).ok());
  CHECK(map.member(2)->state == NodeState::kLeft);
  CHECK(map.build_ring()->node_count() == 3);
  CHECK_FALSE(map.build_ring()->find(2));
  REQUIRE(apply(map, SetNodeState{2, NodeState::kRemoved}).ok());
}

TEST_CASE("a leave that would leave fewer nodes than a keyspace's N is refused", "[meta]") {
  ClusterMap map = three_nodes();
  Status s = apply(map, SetNodeState{3, NodeState::kLeaving});
  CHECK(s.message() ==
        "node n3 cannot leave: 2 nodes would remain, fewer than keyspace 'default' keeps copies of each key (N=3)");
  CHECK(map.member(3)->state == NodeState::kNormal);
}

TEST_CASE("a leave called off ends its movement and the node stays normal", "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  REQUIRE(stream_all(map).ok());
  REQUIRE(apply(map, SetNodeState{4, NodeState::kLeaving}).ok());
  REQUIRE(apply(map, SetNodeState{4, NodeState::kNormal}).ok());
  CHECK_FALSE(map.movement);
  CHECK(map.build_ring()->node_count() == 4);
}

TEST_CASE("dropping a keyspace ends its transfers; a movement with nothing left completes", "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, CreateKeyspace{{"users", 3, 2, 2, ConflictMode::kSiblings}}).ok());
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  REQUIRE(map.movement);
  size_t users = 0;
  for (const auto& t : map.movement->transfers) users += t.keyspace == "users";
  CHECK(users * 2 == map.movement->transfers.size());  // the same ranges for both keyspaces (same N)
  REQUIRE(apply(map, DropKeyspace{"users"}).ok());
  CHECK(map.movement->done_count() == users);
  REQUIRE(stream_all(map).ok());
  CHECK(map.member(4)->state == NodeState::kNormal);
}

TEST_CASE("the initial map is applied once, and nothing else applies before it", "[meta]") {
  ClusterMap empty;
  CHECK(apply(empty, CreateKeyspace{{"users", 3, 2, 2, ConflictMode::kSiblings}}).code() == Code::kUnavailable);
  CHECK(apply(empty, InitCluster{ClusterMap{}}).code() == Code::kInvalidArgument);
  ClusterMap genesis = three_nodes();
  REQUIRE(apply(empty, InitCluster{genesis}).ok());
  CHECK(empty == genesis);
  REQUIRE(apply(empty, CreateKeyspace{{"users", 3, 2, 2, ConflictMode::kSiblings}}).ok());
  ClusterMap after = empty;
  CHECK(apply(empty, InitCluster{genesis}).message() == "the cluster is already initialized");
  CHECK(empty == after);
}

TEST_CASE("a node id, name or address already in use is refused and leaves the map unchanged", "[meta]") {
  ClusterMap map = three_nodes();
  ClusterMap before = map;
  Member dup_id = joiner(map, 4);
  dup_id.id = 2;
  Status s = apply(map, AddNode{dup_id});
  CHECK(s.message() == "node id 2 is taken by n2");
  Member dup_addr = joiner(map, 4);
  dup_addr.address = "10.0.0.1:7400";
  CHECK(apply(map, AddNode{dup_addr}).message() == "address 10.0.0.1:7400 is taken by n1");
  Member no_tokens = joiner(map, 4);
  no_tokens.tokens.clear();
  CHECK_FALSE(apply(map, AddNode{no_tokens}).ok());
  CHECK(map.members == before.members);
  CHECK(map.epoch == before.epoch);
}

TEST_CASE("node states move joining -> normal -> leaving -> left -> removed, and nothing comes back",
          "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  REQUIRE(stream_all(map).ok());
  uint64_t epoch = map.epoch;
  REQUIRE(apply(map, SetNodeState{4, NodeState::kLeaving}).ok());
  REQUIRE(stream_all(map).ok());
  REQUIRE(apply(map, SetNodeState{4, NodeState::kRemoved}).ok());
  CHECK(map.epoch == epoch + 3);  // leaving, left, removed
  CHECK(map.build_ring()->node_count() == 3);
  Status back = apply(map, SetNodeState{4, NodeState::kNormal});
  CHECK(back.message() == "node n4 cannot go from removed to normal");
  CHECK(apply(map, SetNodeState{9, NodeState::kLeaving}).code() == Code::kNotFound);
  CHECK(apply(map, SetNodeState{1, NodeState::kLeft}).message() == "node n1 cannot go from normal to left");
  // Its address may be used again, by a new id.
  Member again = joiner(map, 5);
  again.address = "10.0.0.4:7400";
  again.name = "n4";
  CHECK(apply(map, AddNode{again}).ok());
}

TEST_CASE("the last node cannot be removed", "[meta]") {
  std::vector<Member> one = {{1, "n1", "10.0.0.1:7400", "z1", {}}};
  ClusterMap map = *bootstrap(one, {});
  map.keyspaces[0].n = 1;
  map.members[0].state = NodeState::kLeft;
  CHECK(apply(map, SetNodeState{1, NodeState::kRemoved}).message() == "cannot remove n1, the last node");
}

TEST_CASE("keyspaces are created, altered and dropped, each change bumping the epoch", "[meta]") {
  ClusterMap map = three_nodes();
  uint64_t epoch = map.epoch;
  REQUIRE(apply(map, CreateKeyspace{{"users", 3, 2, 2, ConflictMode::kSiblings}}).ok());
  CHECK(apply(map, CreateKeyspace{{"users", 3, 1, 1, ConflictMode::kSiblings}}).message() ==
        "keyspace 'users' already exists");
  CHECK(apply(map, CreateKeyspace{{"Bad Name", 3, 2, 2, ConflictMode::kSiblings}}).code() ==
        Code::kInvalidArgument);
  CHECK(apply(map, CreateKeyspace{{"big", 3, 4, 2, ConflictMode::kSiblings}}).message() ==
        "keyspace 'big': r=4 is out of range 1..n=3");
  REQUIRE(apply(map, AlterKeyspace{{"users", 3, 1, 3, ConflictMode::kLww}}).ok());
  CHECK(map.keyspace("users")->w == 3);
  CHECK(map.keyspace("users")->mode == ConflictMode::kLww);
  CHECK(apply(map, AlterKeyspace{{"users", 2, 1, 1, ConflictMode::kLww}}).code() == Code::kInvalidArgument);
  CHECK(apply(map, AlterKeyspace{{"nope", 3, 1, 1, ConflictMode::kLww}}).code() == Code::kUnknownKeyspace);
  REQUIRE(apply(map, DropKeyspace{"users"}).ok());
  CHECK(map.keyspace("users") == nullptr);
  CHECK(apply(map, DropKeyspace{"default"}).message() == "keyspace 'default' cannot be dropped");
  CHECK(map.epoch == epoch + 3);  // the create, the alter and the drop that took effect
}

TEST_CASE("metadata commands round-trip through the codec, and garbage is corruption", "[meta][codec]") {
  ClusterMap map = three_nodes();
  std::vector<Command> commands;
  commands.push_back(Command(AddNode{joiner(map, 4)}));
  commands.push_back(Command(SetNodeState{4, NodeState::kLeaving}));
  commands.push_back(Command(CreateKeyspace{Keyspace{"users", 3, 1, 2, ConflictMode::kLww}}));
  commands.push_back(Command(AlterKeyspace{Keyspace{"users", 3, 2, 2, ConflictMode::kSiblings}}));
  commands.push_back(Command(DropKeyspace{"users"}));
  commands.push_back(Command(InitCluster{map}));
  commands.push_back(Command(StreamUpdate{9, 4, {0, 7, UINT32_MAX}, std::string("k\0", 2), true, 3, 4, 5}));
  ClusterMap moving = map;
  REQUIRE(apply(moving, AddNode{joiner(moving, 4)}).ok());
  commands.push_back(Command(InitCluster{moving}));
  for (const auto& c : commands) {
    auto back = codec::decode_meta_command(codec::encode_meta_command(c));
    REQUIRE(back.ok());
    CHECK(back->index() == c.index());
    // Applying the decoded command does what applying the original does.
    ClusterMap a = map, b = map;
    CHECK(meta::apply(a, c).code() == meta::apply(b, *back).code());
    CHECK(a.members == b.members);
    CHECK(a.keyspaces == b.keyspaces);
    CHECK(a.epoch == b.epoch);
    CHECK(a.movement == b.movement);
  }
  ClusterMap empty_a, empty_b;
  REQUIRE(meta::apply(empty_a, commands.back()).ok());
  REQUIRE(meta::apply(empty_b, *codec::decode_meta_command(codec::encode_meta_command(commands.back()))).ok());
  CHECK(empty_a == empty_b);
  auto map_back = codec::decode_cluster_map(codec::encode_cluster_map(map));
  REQUIRE(map_back.ok());
  CHECK(*map_back == map);
  auto moving_back = codec::decode_cluster_map(codec::encode_cluster_map(moving));
  REQUIRE(moving_back.ok());
  REQUIRE(moving_back->movement);
  CHECK(*moving_back == moving);
  CHECK(codec::decode_meta_command("\x92\x09\xc0").status().code() == Code::kCorruption);
  CHECK(codec::decode_meta_command("garbage").status().code() == Code::kCorruption);
}
