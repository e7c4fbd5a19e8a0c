// The quorum data path on five real tallyd processes: per-request W and R,
// errors that say who did not answer, hinted handoff and read repair bringing
// a restarted replica up to date, siblings, and deletes that stay deleted.
#include <catch2/catch.hpp>
#include <future>
#include <memory>

#include "client/engine.hpp"
#include "testing/cluster_harness.hpp"
#include "meta/cluster_map.hpp"
#include "quorum/dvv.hpp"
#include "tally/client.hpp"
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
  // The key's three replicas (0-based node indexes), computed as every node does.
  std::vector<int> replicas_of(const std::string& key) {
    std::vector<meta::Member> members;
    for (size_t i = 0; i < specs.size(); ++i) {
      members.push_back({static_cast<ring::NodeId>(i + 1), specs[i].id, "", "default", {}});
    }
    auto map = meta::bootstrap(members, {});
    auto ring = map->build_ring();
    std::vector<int> out;
    for (ring::NodeId id : ring->preference_list(ring::key_position("default", key), 3)) {
      out.push_back(static_cast<int>(id) - 1);
    }
    return out;
  }
  int first_not_in(const std::vector<int>& replicas) {
    for (int i = 0; i < 5; ++i) {
      if (std::find(replicas.begin(), replicas.end(), i) == replicas.end()) return i;
    }
    return -1;
  }
  std::unique_ptr<Client> client(int node) { return connect_client(nodes[node]->endpoint()); }
  // What replica `node` holds for `key`, asked of it alone (no quorum, no
  // repair): the operator's per-replica read, answered by that node.
  std::vector<std::string> local_values(int node, const std::string& key) {
    auto copy = client(node)->get_replica(key, specs[node].id);
    INFO(copy.status().to_string());
    REQUIRE(copy.ok());
    std::vector<std::string> values;
    for (const auto& v : copy->siblings) {
      if (!v.tombstone) values.push_back(v.value);
    }
    return values;
  }
  // Polls until replica `node` holds exactly `want` for `key`, for up to 5 s.
  bool eventually_holds(int node, const std::string& key, const std::vector<std::string>& want) {
    return eventually([&] { return local_values(node, key) == want; }, std::chrono::seconds(5),
                      std::chrono::milliseconds(50));
  }
  // Waits until the failure detector of every other running node shows node
  // `i` down (`up` false) or up again, as their coordinators will act on it.
  void wait_until_seen(int i, bool up) {
    std::vector<std::string> observers;
    for (int j = 0; j < 5; ++j) {
      if (j != i && nodes[j]->running()) observers.push_back(nodes[j]->endpoint());
    }
    Status seen = wait_for_peer_state(observers, specs[i].id, up);
    INFO(seen.to_string());
    REQUIRE(seen.ok());
  }
};

}  // namespace

TEST_CASE("with one of three replicas down: W=2 succeeds, W=3 and R=3 fail naming it; hints bring it back",
          "[cluster][quorum]") {
  FiveNodes c;
  const std::string key = "user:1";
  auto reps = c.replicas_of(key);
  int down = reps[2];
  int coordinator = reps[0];
  auto cl = c.client(coordinator);
  REQUIRE(cl->put(key, "v0", {.w = 3}).ok());
  c.nodes[down]->kill9();
  c.wait_until_seen(down, false);

  auto ok = cl->put(key, "v1", {.w = 2});
  REQUIRE(ok.ok());
  auto got = cl->get(key);
  REQUIRE(got.ok());

  const std::string down_name = c.specs[down].id;
  auto w3 = cl->put(key, "v2", {.w = 3, .context = got->context});
  REQUIRE_FALSE(w3.ok());
  CHECK(w3.status().code() == Code::kQuorumNotReached);
  CHECK(w3.status().message() == "2 of W=3 acked within 1000 ms (" + down_name + ": down)");

  auto r3 = cl->get(key, {.r = 3});
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.status().message() == "2 of R=3 replied within 1000 ms (" + down_name + ": down)");

  // The CLI says the same, with the documented exit code.
  auto cli = run(build_dir() + "/tally -e " + c.nodes[coordinator]->endpoint() + " get " + key + " -r 3");
  CHECK(cli.exit_code == 4);
  CHECK(cli.out.find("quorum not reached: 2 of R=3 replied within 1000 ms (" + down_name + ": down)") !=
        std::string::npos);

  // v2 reached the two live replicas (W=3 failed, but the write is not undone):
  // after the restart, hints hand both writes over without any read.
  REQUIRE(c.nodes[down]->start().ok());
  CHECK(c.eventually_holds(down, key, {"v2"}));
  auto st = cl->status();
  REQUIRE(st.ok());
  CHECK(std::stoi(st->field("hints_delivered")) >= 1);
}

TEST_CASE("read repair makes a restarted replica current when no hint was kept", "[cluster][quorum]") {
  FiveNodes c("[hints]\nmax_hints = 0\n");
  const std::string key = "user:2";
  auto reps = c.replicas_of(key);
  int down = reps[1];
  auto cl = c.client(reps[0]);
  REQUIRE(cl->put(key, "old", {.w = 3}).ok());
  c.nodes[down]->kill9();
  c.wait_until_seen(down, false);
  auto got = cl->get(key);
  REQUIRE(cl->put(key, "new", {.w = 2, .context = got->context}).ok());
  REQUIRE(c.nodes[down]->start().ok());
  c.wait_until_seen(down, true);
  CHECK(c.local_values(down, key) == std::vector<std::string>{"old"});  // no hint: still behind
  auto r = cl->get(key, {.r = 3});
  REQUIRE(r.ok());
  CHECK(r->values == std::vector<std::string>{"new"});
  CHECK(c.eventually_holds(down, key, {"new"}));
}

TEST_CASE("two writers without a context make two siblings; a put with the read's context replaces both",
          "[cluster][quorum]") {
  FiveNodes c;
  const std::string key = "cart:7";
  auto reps = c.replicas_of(key);
  auto a = c.client(reps[0]);
  auto b = c.client(c.first_not_in(reps));  // a non-replica: it hands the write to a replica
  REQUIRE(a->put(key, "apples").ok());
  REQUIRE(b->put(key, "pears").ok());
  auto got = a->get(key, {.r = 3});
  REQUIRE(got.ok());
  auto values = got->values;
  std::sort(values.begin(), values.end());
  CHECK(values == std::vector<std::string>{"apples", "pears"});
  REQUIRE(b->put(key, "apples+pears", {.context = got->context}).ok());
  auto after = a->get(key, {.r = 2});
  REQUIRE(after.ok());
  CHECK(after->values == std::vector<std::string>{"apples+pears"});
}

TEST_CASE("a key deleted while a replica was down stays deleted after it returns and repair runs",
          "[cluster][quorum]") {
  FiveNodes c;
  const std::string key = "session:9";
  auto reps = c.replicas_of(key);
  int down = reps[2];
  auto cl = c.client(reps[0]);
  REQUIRE(cl->put(key, "alive", {.w = 3}).ok());
  c.nodes[down]->kill9();
  c.wait_until_seen(down, false);
  REQUIRE(cl->del(key, {.w = 2}).ok());
  REQUIRE(c.nodes[down]->start().ok());
  c.wait_until_seen(down, true);
  // Whatever the returning replica holds, quorum reads, read repair and hint
  // hand-off must never bring the value back: quorum reads (five at least)
  // until the returning replica holds the delete too.
  int reads = 0;
  bool replica_deleted = eventually(
      [&] {
        auto r = cl->get(key, {.r = 3});
        REQUIRE(r.ok());
        CHECK(r->values.empty());
        return ++reads >= 5 && c.local_values(down, key).empty();
      },
      std::chrono::seconds(5), std::chrono::milliseconds(50));
  INFO("after " << reads << " quorum reads");
  CHECK(replica_deleted);
  for (int i = 0; i < 5; ++i) {
    auto r = c.client(i)->get(key, {.r = 1});
    REQUIRE(r.ok());
    CHECK(r->values.empty());
  }
}

TEST_CASE("bad R, W and keyspaces are refused with clear errors by the library and the CLI",
          "[cluster][quorum]") {
  FiveNodes c;
  auto cl = c.client(0);
  auto w0 = cl->put("k", "v", {.w = 0});
  CHECK(w0.status().code() == Code::kInvalidArgument);
  CHECK(w0.status().message() == "W=0 is out of range: W must be at least 1");
  auto w4 = cl->put("k", "v", {.w = 4});
  CHECK(w4.status().code() == Code::kInvalidArgument);
  CHECK(w4.status().message() == "W=4 is out of range 1..N=3 of keyspace 'default'");
  auto r4 = cl->get("k", {.r = 4});
  CHECK(r4.status().message() == "R=4 is out of range 1..N=3 of keyspace 'default'");
  auto r0 = cl->get("k", {.r = 0});
  CHECK(r0.status().message() == "R=0 is out of range: R must be at least 1");
  auto ks = cl->get("k", {.keyspace = "nope"});
  CHECK(ks.status().code() == Code::kUnknownKeyspace);
  CHECK(ks.status().message() == "keyspace 'nope' does not exist (there are: default)");

  std::string tally = build_dir() + "/tally -e " + c.nodes[0]->endpoint();
  auto cli_w4 = run(tally + " put k v -w 4");
  CHECK(cli_w4.exit_code == 1);
  CHECK(cli_w4.out.find("W=4 is out of range 1..N=3 of keyspace 'default'") != std::string::npos);
  auto cli_r0 = run(tally + " get k -r 0");
  CHECK(cli_r0.exit_code == 2);
  CHECK(cli_r0.out.find("-r: Value 0 not in range 1 to 255") != std::string::npos);
  auto cli_ks = run(tally + " -k nope get k");
  CHECK(cli_ks.exit_code == 1);
  CHECK(cli_ks.out.find("unknown keyspace: keyspace 'nope' does not exist") != std::string::npos);
}

TEST_CASE("a sloppy write counts a fallback's hint towards W and the hint reaches the owner", "[cluster][quorum]") {
  FiveNodes c;
  const std::string key = "sloppy:1";
  auto reps = c.replicas_of(key);
  auto cl = c.client(reps[0]);
  REQUIRE(cl->put(key, "first", {.w = 3}).ok());
  c.nodes[reps[1]]->kill9();
  c.nodes[reps[2]]->kill9();
  c.wait_until_seen(reps[1], false);
  c.wait_until_seen(reps[2], false);
  auto got = cl->get(key, {.r = 1});
  REQUIRE(got.ok());
  // Strict W=2 cannot be met with two of three replicas down...
  CHECK(cl->put(key, "second", {.w = 2, .context = got->context}).status().code() == Code::kQuorumNotReached);
  // ...a sloppy one can: fallbacks keep hints for the down replicas.
  got = cl->get(key, {.r = 1});
  REQUIRE(cl->put(key, "third", {.w = 3, .sloppy = true, .context = got->context}).ok());
  REQUIRE(c.nodes[reps[1]]->start().ok());
  REQUIRE(c.nodes[reps[2]]->start().ok());
  CHECK(c.eventually_holds(reps[1], key, {"third"}));
  CHECK(c.eventually_holds(reps[2], key, {"third"}));
}
