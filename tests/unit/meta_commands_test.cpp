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

TEST_CASE("a joining node is known but owns no range until it is normal; each step bumps the epoch", "[meta]") {
  ClusterMap map = three_nodes();
  uint64_t epoch = map.epoch;
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  CHECK(map.epoch == epoch + 1);
  CHECK(map.member(4)->state == NodeState::kJoining);
  CHECK(map.build_ring()->node_count() == 3);
  CHECK(map.build_ring_with_joining()->node_count() == 4);
  REQUIRE(apply(map, SetNodeState{4, NodeState::kNormal}).ok());
  CHECK(map.epoch == epoch + 2);
  CHECK(map.build_ring()->node_count() == 4);
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

TEST_CASE("node states move joining -> normal -> leaving -> removed, and a removed node leaves the ring",
          "[meta]") {
  ClusterMap map = three_nodes();
  REQUIRE(apply(map, AddNode{joiner(map, 4)}).ok());
  uint64_t epoch = map.epoch;
  REQUIRE(apply(map, SetNodeState{4, NodeState::kNormal}).ok());
  REQUIRE(apply(map, SetNodeState{4, NodeState::kLeaving}).ok());
  REQUIRE(apply(map, SetNodeState{4, NodeState::kRemoved}).ok());
  CHECK(map.epoch == epoch + 3);
  CHECK(map.build_ring()->node_count() == 3);
  Status back = apply(map, SetNodeState{4, NodeState::kNormal});
  CHECK(back.message() == "node n4 cannot go from removed to normal");
  CHECK(apply(map, SetNodeState{9, NodeState::kLeaving}).code() == Code::kNotFound);
  // Its address may be used again, by a new id.
  Member again = joiner(map, 5);
  again.address = "10.0.0.4:7400";
  again.name = "n4";
  CHECK(apply(map, AddNode{again}).ok());
}

TEST_CASE("the last node cannot be removed", "[meta]") {
  std::vector<Member> one = {{1, "n1", "10.0.0.1:7400", "z1", {}}};
  ClusterMap map = *bootstrap(one, {});
  REQUIRE(apply(map, SetNodeState{1, NodeState::kLeaving}).ok());
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
  }
  ClusterMap empty_a, empty_b;
  REQUIRE(meta::apply(empty_a, commands.back()).ok());
  REQUIRE(meta::apply(empty_b, *codec::decode_meta_command(codec::encode_meta_command(commands.back()))).ok());
  CHECK(empty_a == empty_b);
  auto map_back = codec::decode_cluster_map(codec::encode_cluster_map(map));
  REQUIRE(map_back.ok());
  CHECK(*map_back == map);
  CHECK(codec::decode_meta_command("\x92\x09\xc0").status().code() == Code::kCorruption);
  CHECK(codec::decode_meta_command("garbage").status().code() == Code::kCorruption);
}
