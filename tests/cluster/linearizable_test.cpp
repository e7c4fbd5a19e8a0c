// Linearizable keyspaces on real tallyd processes: conditional writes through
// the client library, the CLI and RESP; a SET NX race through every node with
// exactly one winner; compare-and-set increments that are neither lost nor
// applied twice while a node is killed with -9.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/resp_client.hpp"
#include "testing/wait.hpp"

using namespace tally;
using namespace tally::clustertest;

namespace {

struct LinCluster : LocalCluster {
  explicit LinCluster(int n = 3)
      : LocalCluster({n, "buffered", "[request]\ntimeout_ms = 3000\n", /*resp=*/true}) {
    REQUIRE(start().ok());
    auto admin = connect_client(endpoints());
    auto made = admin->create_keyspace(KeyspaceSpec{"locks", 3, 0, 0, "linearizable"});
    INFO(made.status().to_string());
    REQUIRE(made.ok());
  }
};

WriteOptions in_locks() {
  WriteOptions o;
  o.keyspace = "locks";
  return o;
}

}  // namespace

TEST_CASE("linearizable keyspace: conditional puts apply once, say what is there, and refuse R/W",
          "[cluster][linearizable]") {
  LinCluster c;
  auto client = connect_client(c.endpoints());
  WriteOptions nx = in_locks();
  nx.if_absent = true;
  auto first = client->put_if("owner", "alice", nx);
  REQUIRE(first.ok());
  CHECK(first->applied);
  auto second = client->put_if("owner", "bob", nx);
  REQUIRE(second.ok());
  CHECK_FALSE(second->applied);
  REQUIRE(second->current);
  CHECK(*second->current == "alice");

  ReadOptions r;
  r.keyspace = "locks";
  auto got = client->get("owner", r);
  REQUIRE(got.ok());
  CHECK(got->values == std::vector<std::string>{"alice"});
  // If-version: the version read applies once; the same version again does not.
  WriteOptions ver = in_locks();
  ver.if_version = got->context;
  auto moved = client->put_if("owner", "carol", ver);
  REQUIRE(moved.ok());
  CHECK(moved->applied);
  auto stale = client->put_if("owner", "dave", ver);
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->applied);
  CHECK(stale->current == std::optional<std::string>("carol"));
  // If-value (compare-and-set).
  WriteOptions cas = in_locks();
  cas.if_value = "carol";
  CHECK(client->put_if("owner", "erin", cas)->applied);
  CHECK_FALSE(client->put_if("owner", "frank", cas)->applied);
  // Unconditional put and delete work there too.
  CHECK(client->put("owner", "gina", in_locks()).ok());
  CHECK(client->get("owner", r)->values == std::vector<std::string>{"gina"});
  REQUIRE(client->del("owner", in_locks()).ok());
  CHECK_FALSE(client->get("owner", r)->found());
  CHECK(client->put_if("owner", "hal", nx)->applied);

  // R and W do not apply; conditions need a linearizable keyspace.
  ReadOptions with_r = r;
  with_r.r = 2;
  auto bad_r = client->get("owner", with_r);
  REQUIRE_FALSE(bad_r.ok());
  CHECK_THAT(bad_r.status().message(), Catch::Contains("R and W do not apply to keyspace 'locks'"));
  WriteOptions nx_default;
  nx_default.if_absent = true;
  auto bad_mode = client->put_if("k", "v", nx_default);
  REQUIRE_FALSE(bad_mode.ok());
  CHECK(bad_mode.status().code() == Code::kInvalidArgument);
  CHECK_THAT(bad_mode.status().message(), Catch::Contains("keyspace 'default' is siblings"));
  // put() refuses a condition: only put_if can say whether it applied.
  CHECK(client->put("k", "v", nx).status().code() == Code::kInvalidArgument);

  // The CLI: --if-absent exits 6 when the key exists, and says what is there.
  const std::string tally = "./" + std::string(getenv("BUILD") ? getenv("BUILD") : "build") +
                            "/tally --secret-file " + secret_file() + " -e " + c.nodes[0]->endpoint() + " ";
  CommandResult cli = run(tally + "put -k locks owner ivan --if-absent 2>&1");
  INFO(cli.out);
  CHECK(cli.exit_code == 6);
  CHECK_THAT(cli.out, Catch::Contains("not applied: the key holds \"hal\""));
  CHECK(run(tally + "put -k locks fresh ivan --if-absent 2>&1").exit_code == 0);
  CommandResult mode = run(tally + "put fresh ivan --if-absent 2>&1");
  CHECK(mode.exit_code == 1);
  CHECK_THAT(mode.out, Catch::Contains("need a linearizable keyspace"));
}

TEST_CASE("linearizable keyspace: 50 clients race SET NX on one key through every node; exactly one wins",
          "[cluster][linearizable]") {
  LinCluster c;
  constexpr int kClients = 50;
  std::atomic<int> ok{0}, nil{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      RespClient resp("127.0.0.1", c.specs[i % c.specs.size()].resp_port, std::chrono::milliseconds(10000));
      resp.on_connect({"TALLY.KEYSPACE", "locks"});
      REQUIRE(resp.command({"PING"}).ok());
      while (!go) std::this_thread::yield();
      auto r = resp.command({"SET", "race", "client" + std::to_string(i), "NX"});
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok()) {
        errors.push_back(r.status().to_string());
      } else if (r->kind == RespReply::Kind::kSimple && r->text == "OK") {
        ++ok;
      } else if (r->kind == RespReply::Kind::kNil) {
        ++nil;
      } else {
        errors.push_back(r->text);
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  INFO("errors: " << errors.size() << (errors.empty() ? "" : ", first: " + errors[0]));
  CHECK(ok == 1);
  CHECK(ok + nil + static_cast<int>(errors.size()) == kClients);
  CHECK(errors.empty());
  // Every node now reads the winner.
  RespClient check("127.0.0.1", c.specs[1].resp_port, std::chrono::milliseconds(5000));
  check.on_connect({"TALLY.KEYSPACE", "locks"});
  auto winner = check.command({"GET", "race"});
  REQUIRE(winner.ok());
  CHECK_THAT(winner->text, Catch::StartsWith("client"));
}

TEST_CASE("linearizable keyspace: CAS increments survive a kill -9 with none lost and none applied twice",
          "[cluster][linearizable]") {
  LinCluster c;
  constexpr int kClients = 6, kCounters = 4;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int> acked, unknown;
  std::atomic<int> contention{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      ClientOptions o;
      o.endpoints = {c.nodes[0]->endpoint(), c.nodes[1]->endpoint(), c.nodes[2]->endpoint()};
      o.keyspace = "locks";
      o.request_timeout_ms = 3000;
      auto client = Client::connect(o);
      REQUIRE(client.ok());
      for (int n = 0; !stop; ++n) {
        const std::string key = "counter" + std::to_string((i + n) % kCounters);
        auto got = (*client)->get(key);
        if (!got.ok()) continue;
        const long v = got->found() ? std::stol(got->values[0]) : 0;
        WriteOptions w;
        w.if_version = got->context;
        auto r = (*client)->put_if(key, std::to_string(v + 1), w);
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok() && r->applied) {
          ++acked[key];
        } else if (!r.ok() && r.status().code() == Code::kContention) {
          ++contention;
        } else if (!r.ok()) {
          ++unknown[key];  // timed out, a lost connection: it may have applied
        }
      }
    });
  }
  auto count_acked = [&] {
    std::lock_guard<std::mutex> lock(mu);
    int total = 0;
    for (auto& [k, n] : acked) total += n;
    return total;
  };
  REQUIRE(eventually([&] { return count_acked() >= 40; }, std::chrono::milliseconds(20000)));
  c.nodes[2]->kill9();
  const int before = count_acked();
  // A majority (2 of 3) is still up: increments go on.
  CHECK(eventually([&] { return count_acked() >= before + 40; }, std::chrono::milliseconds(20000)));
  REQUIRE(c.nodes[2]->start().ok());
  const int restarted = count_acked();
  CHECK(eventually([&] { return count_acked() >= restarted + 20; }, std::chrono::milliseconds(20000)));
  stop = true;
  for (auto& t : threads) t.join();
  auto client = connect_client(c.nodes[0]->endpoint());
  ReadOptions r;
  r.keyspace = "locks";
  for (int k = 0; k < kCounters; ++k) {
    const std::string key = "counter" + std::to_string(k);
    auto got = client->get(key, r);
    REQUIRE(got.ok());
    const int value = got->found() ? std::stoi(got->values[0]) : 0;
    INFO(key << ": value " << value << ", acknowledged " << acked[key] << ", unknown " << unknown[key]
              << ", contention errors (all keys) " << contention);
    CHECK(value >= acked[key]);
    CHECK(value <= acked[key] + unknown[key]);
  }
}
