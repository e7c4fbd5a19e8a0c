// `tally get KEY --replica NODE` on five real tallyd processes: one node's own
// copy of a key, read without a quorum and without repair, through whichever
// node the client talks to. What is checked: a write acknowledged by all three
// replicas is on each of them and on no other node; a write made while a
// replica was down is on the other two and not on it; a delete leaves
// tombstones on the replicas; each bad request gets an error naming the
// problem; and the command's --json output is JSON.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/json_check.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

struct FiveNodes : LocalCluster {
  explicit FiveNodes(const std::string& extra = "") : LocalCluster({5, "fsync", extra}) {
    Status started = start();
    INFO(started.to_string());  // which node did not start, and its log
    REQUIRE(started.ok());
  }
  std::unique_ptr<Client> client(int node) { return connect_client(nodes[node]->endpoint()); }
  // The index of node `name` ("n3" -> 2).
  int index_of(const std::string& name) const {
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].id == name) return static_cast<int>(i);
    }
    FAIL("no node " << name);
    return -1;
  }
  std::string tally(int node) const { return build_dir() + "/tally -e " + nodes[node]->endpoint(); }
  // Waits until every other running node's failure detector shows node `i`
  // down (`up` false) or up again.
  void wait_until_seen(int i, bool up) {
    std::vector<std::string> observers;
    for (int j = 0; j < static_cast<int>(nodes.size()); ++j) {
      if (j != i && nodes[j]->running()) observers.push_back(nodes[j]->endpoint());
    }
    Status seen = wait_for_peer_state(observers, specs[i].id, up);
    INFO(seen.to_string());
    REQUIRE(seen.ok());
  }
};

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The values of a copy's live siblings (tombstones left out).
std::vector<std::string> live_values(const ReplicaCopy& copy) {
  std::vector<std::string> out;
  for (const auto& v : copy.siblings) {
    if (!v.tombstone) out.push_back(v.value);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "get --replica finds a write acknowledged at W=3 on each of its three replicas and on no other "
    "node",
    "[cluster][replica-read]") {
  FiveNodes c;
  // Every read goes through n1, which hands it to the named node (or reads
  // its own store when that is n1).
  auto cl = c.client(0);
  const std::string key = "user:1";
  REQUIRE(cl->put(key, "alice", {.w = 3}).ok());
  auto replicas = cl->replicas(key);
  REQUIRE(replicas.ok());
  REQUIRE(replicas->size() == 3);

  int found_on = 0;
  for (const auto& spec : c.specs) {
    INFO("asking for " << spec.id << "'s copy");
    auto copy = cl->get_replica(key, spec.id);
    INFO(copy.status().to_string());
    REQUIRE(copy.ok());
    CHECK(copy->node == spec.id);
    CHECK(copy->epoch > 0);
    CHECK(copy->replicas == *replicas);
    const bool replica = contains(*replicas, spec.id);
    CHECK(copy->is_replica() == replica);
    CHECK(copy->found == replica);
    if (!replica) {
      CHECK(copy->siblings.empty());
      continue;
    }
    ++found_on;
    REQUIRE(copy->siblings.size() == 1);
    const ReplicaVersion& v = copy->siblings[0];
    CHECK(v.value == "alice");
    CHECK_FALSE(v.tombstone);
    // Only a replica mints a key's dots: the first write of the key.
    CHECK(contains(*replicas, v.minted_by));
    CHECK(v.counter == 1);
    CHECK(v.wall_ms > 0);
    CHECK(v.mint_epoch > 0);  // a fresh data folder draws a random first epoch
    CHECK(copy->clock == std::vector<ReplicaCopy::ClockEntry>{{v.minted_by, v.mint_epoch, 1}});
  }
  CHECK(found_on == 3);

  // The asynchronous face answers the same, with the ids named.
  auto async = AsyncClient::connect({.endpoints = {c.nodes[0]->endpoint()}});
  REQUIRE(async.ok());
  auto later = (*async)->get_replica(key, (*replicas)[1]).get();
  INFO(later.status().to_string());
  REQUIRE(later.ok());
  CHECK(later->node == (*replicas)[1]);
  CHECK(later->found);
  CHECK(live_values(*later) == std::vector<std::string>{"alice"});
  CHECK(later->replicas == *replicas);
  REQUIRE(later->clock.size() == 1);
  CHECK(contains(*replicas, later->clock[0].node));

  // A delete at W=3 leaves a tombstone, and nothing live, on each replica.
  REQUIRE(cl->del(key, {.w = 3}).ok());
  for (const auto& name : *replicas) {
    INFO(name << "'s copy after the delete");
    auto copy = cl->get_replica(key, name);
    REQUIRE(copy.ok());
    CHECK(copy->found);
    CHECK(live_values(*copy).empty());
    REQUIRE_FALSE(copy->siblings.empty());
    CHECK(std::all_of(copy->siblings.begin(), copy->siblings.end(),
                      [](const ReplicaVersion& v) { return v.tombstone; }));
  }
  // The command shows it.
  auto shown = run(c.tally(1) + " get " + key + " --replica " + (*replicas)[0]);
  INFO(shown.out);
  CHECK(shown.exit_code == 0);
  CHECK(shown.out.find((*replicas)[0] + "'s copy of " + key) != std::string::npos);
  CHECK(shown.out.find("<tombstone>") != std::string::npos);
  CHECK(shown.out.find("clock: ") != std::string::npos);
}

TEST_CASE("get --replica: a write made while a replica was killed is on the other two, not on it",
          "[cluster][replica-read]") {
  // No hints (max_hints = 0), and no quorum read of the key: nothing brings
  // the write to the replica that missed it.
  FiveNodes c("[hints]\nmax_hints = 0\n");
  const std::string key = "order:7";
  auto replicas = c.client(0)->replicas(key);
  REQUIRE(replicas.ok());
  REQUIRE(replicas->size() == 3);
  const std::string missed = (*replicas)[2];
  const int down = c.index_of(missed);
  const int coordinator = c.index_of((*replicas)[0]);
  c.nodes[down]->kill9();
  c.wait_until_seen(down, false);

  auto cl = c.client(coordinator);
  REQUIRE(cl->put(key, "while " + missed + " was down", {.w = 2}).ok());
  for (int i = 0; i < 2; ++i) {
    INFO((*replicas)[i] << "'s copy");
    auto copy = cl->get_replica(key, (*replicas)[i]);
    REQUIRE(copy.ok());
    CHECK(copy->found);
    CHECK(live_values(*copy) == std::vector<std::string>{"while " + missed + " was down"});
  }

  // While it is down, asking for its copy says so, naming it.
  auto unreachable = cl->get_replica(key, missed);
  REQUIRE_FALSE(unreachable.ok());
  CHECK(unreachable.status().code() == Code::kUnavailable);
  CHECK_THAT(unreachable.status().message(), Catch::Contains("node " + missed + " is down"));
  auto cli_down = run(c.tally(coordinator) + " get " + key + " --replica " + missed);
  CHECK(cli_down.exit_code == 5);  // unreachable
  CHECK_THAT(cli_down.out, Catch::Contains("node " + missed + " is down"));

  // Back, it answers with what it has: not the write it missed.
  REQUIRE(c.nodes[down]->start().ok());
  auto own = c.client(down)->get_replica(key, missed);  // asked of itself
  INFO(own.status().to_string());
  REQUIRE(own.ok());
  CHECK(own->node == missed);
  CHECK_FALSE(own->found);
  // Through the coordinator too, once its failure detector sees it again.
  c.wait_until_seen(down, true);
  auto through = cl->get_replica(key, missed);
  REQUIRE(through.ok());
  CHECK_FALSE(through->found);
  auto cli_absent = run(c.tally(coordinator) + " get " + key + " --replica " + missed);
  CHECK(cli_absent.exit_code == 3);  // not found
  CHECK_THAT(cli_absent.out, Catch::Contains("not found on " + missed));
}

TEST_CASE(
    "get --replica: bad requests get errors naming the problem; --json is JSON; a stray node gets "
    "a note",
    "[cluster][replica-read]") {
  FiveNodes c;
  auto cl = c.client(0);
  const std::string key = "k";
  REQUIRE(cl->put(key, "v", {.w = 3}).ok());
  auto replicas = cl->replicas(key);
  REQUIRE(replicas.ok());

  auto unknown = cl->get_replica(key, "n9");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == Code::kInvalidArgument);
  CHECK(unknown.status().message() ==
        "no node named 'n9' in the cluster (the nodes are: n1, n2, n3, n4, n5)");

  auto no_keyspace = cl->get_replica(key, "n1", {.keyspace = "nope"});
  REQUIRE_FALSE(no_keyspace.ok());
  CHECK(no_keyspace.status().code() == Code::kUnknownKeyspace);
  CHECK_THAT(no_keyspace.status().message(),
             Catch::Contains("keyspace 'nope' does not exist (there are: default)"));

  auto empty = cl->get_replica("", "n1");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message() == "key must not be empty");
  auto huge = cl->get_replica(std::string(70000, 'x'), "n2");
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().code() == Code::kTooLarge);
  CHECK(huge.status().message() == "key is 70000 bytes, the limit is 65536");

  // The command: JSON that parses, with the copy in it.
  const std::string holder = (*replicas)[1];
  auto json = run(c.tally(0) + " --json get " + key + " --replica " + holder);
  INFO(json.out);
  CHECK(json.exit_code == 0);
  CHECK(testing::JsonChecker(json.out).valid());
  CHECK_THAT(json.out, Catch::Contains("\"node\":\"" + holder + "\""));
  CHECK_THAT(json.out, Catch::Contains("\"found\":true"));
  CHECK_THAT(json.out, Catch::Contains("\"is_replica\":true"));
  CHECK_THAT(json.out, Catch::Contains("\"value\":\"v\",\"tombstone\":false"));

  // A node that is not a replica may be asked (a stray copy is worth
  // seeing); the command says it is not one, and which are.
  std::string stray;
  for (const auto& s : c.specs) {
    if (!contains(*replicas, s.id)) stray = s.id;
  }
  auto not_replica = run(c.tally(0) + " get " + key + " --replica " + stray);
  INFO(not_replica.out);
  CHECK(not_replica.exit_code == 3);
  CHECK_THAT(not_replica.out, Catch::Contains("not found on " + stray));
  CHECK_THAT(not_replica.out,
             Catch::Contains("note: " + stray + " is not a replica of this key (replicas: " +
                             (*replicas)[0] + ", " + (*replicas)[1] + ", " + (*replicas)[2] + ")"));
  auto stray_json = run(c.tally(0) + " --json get " + key + " --replica " + stray);
  CHECK(stray_json.exit_code == 3);
  CHECK(testing::JsonChecker(stray_json.out).valid());
  CHECK_THAT(stray_json.out, Catch::Contains("\"found\":false"));
  CHECK_THAT(stray_json.out, Catch::Contains("\"is_replica\":false"));

  auto cli_unknown = run(c.tally(0) + " get " + key + " --replica n9");
  CHECK(cli_unknown.exit_code == 1);
  CHECK_THAT(
      cli_unknown.out,
      Catch::Contains("no node named 'n9' in the cluster (the nodes are: n1, n2, n3, n4, n5)"));
  CHECK(run(c.tally(0) + " get " + key + " --replica n2 -r 2").exit_code == 2);  // no quorum to set

  // A removed node is refused by name.
  REQUIRE(cl->leave_node("n5").ok());
  // Removable once its ranges have streamed to the others.
  REQUIRE(eventually([&] { return cl->remove_node("n5").ok(); }, std::chrono::seconds(30)));
  // (n1 answers from its own map, which applies the removal a moment after the leader.)
  Result<ReplicaCopy> removed = Status::Internal("not asked");
  CHECK(eventually([&] {
    removed = cl->get_replica(key, "n5");
    return !removed.ok() && removed.status().code() == Code::kInvalidArgument;
  }));
  INFO(removed.status().to_string());
  CHECK(removed.status().message() == "node n5 was removed from the cluster: it serves no copies");
}
