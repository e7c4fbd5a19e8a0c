// Client authentication, as Redis does it (docs/security.md, "Client
// password"): with requirepass set, redis-cli, the client library and the
// tally CLI are refused until they give the password; a wrong one is refused
// and counted; the nodes themselves (which prove the cluster secret) go on.
#include <catch2/catch.hpp>
#include <chrono>

#include "tally/client.hpp"
#include "testing/cluster_harness.hpp"

using namespace tally;
using namespace tally::clustertest;

TEST_CASE(
    "requirepass: NOAUTH without the password, service with it, wrong ones refused and counted",
    "[cluster][password]") {
  LocalCluster c({3, "buffered", "[cluster]\nrequirepass = \"open-sesame-7\"\n", /*resp=*/true});
  REQUIRE(c.start().ok());
  const std::string redis = "redis-cli -p " + std::to_string(c.specs[0].resp_port) + " ";

  // redis-cli: refused without AUTH, refused with a wrong password, served with the right one.
  CHECK_THAT(run(redis + "SET k v").out, Catch::Contains("NOAUTH Authentication required"));
  CHECK_THAT(run(redis + "--no-auth-warning -a wrong SET k v").out, Catch::Contains("WRONGPASS"));
  CHECK(run(redis + "--no-auth-warning -a open-sesame-7 SET k v").out == "OK\n");
  CHECK(run(redis + "--no-auth-warning -a open-sesame-7 GET k").out == "v\n");
  CHECK_THAT(run(redis + "HELLO 2 AUTH default open-sesame-7").out, Catch::Contains("tally"));
  CHECK_THAT(run(redis + "HELLO 2").out, Catch::Contains("NOAUTH"));

  // The client library: without a password, with a wrong one, with the right one.
  ClientOptions o;
  o.endpoints = {c.nodes[0]->endpoint()};
  o.token_aware = false;
  {
    auto anonymous = Client::connect(o);
    REQUIRE(anonymous.ok());
    auto r = (*anonymous)->get("k");
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Code::kUnauthenticated);
    CHECK_THAT(r.status().message(), Catch::Contains("requirepass"));
  }
  {
    o.password = "wrong";
    auto guesser = Client::connect(o);
    REQUIRE(guesser.ok());
    auto r = (*guesser)->get("k");
    REQUIRE(!r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("wrong password"));
  }
  {
    o.password = "open-sesame-7";
    auto client = Client::connect(o);
    REQUIRE(client.ok());
    REQUIRE((*client)->put("k2", "w").ok());
    auto r = (*client)->get("k");
    REQUIRE(r.ok());
    CHECK(r->values == std::vector<std::string>{"v"});
  }

  // The CLI: --password, TALLY_PASSWORD, and neither (without the secret the
  // harness gives it, it is a mere client).
  const std::string tally =
      "env -u TALLY_SECRET_FILE " + build_dir() + "/tally -e " + c.nodes[1]->endpoint();
  CommandResult with = run(tally + " --password open-sesame-7 get k");
  INFO(with.out);
  CHECK(with.exit_code == 0);
  CHECK_THAT(with.out, Catch::Contains("v"));
  CHECK(run("TALLY_PASSWORD=open-sesame-7 " + tally + " get k2").exit_code == 0);
  CommandResult without = run(tally + " get k");
  CHECK(without.exit_code != 0);
  CHECK_THAT(without.out, Catch::Contains("requirepass"));

  // The CLI pointed at the RESP port by mistake says so at once, instead of
  // waiting for its timeout (5 s) and saying "no reply".
  auto started = std::chrono::steady_clock::now();
  CommandResult wrong_port =
      run(build_dir() + "/tally -e 127.0.0.1:" + std::to_string(c.specs[0].resp_port) + " get k");
  auto took = std::chrono::steady_clock::now() - started;
  INFO(wrong_port.out);
  CHECK(wrong_port.exit_code != 0);
  CHECK_THAT(wrong_port.out, Catch::Contains("resp_listen port"));
  CHECK(took < std::chrono::seconds(4));

  // Wrong passwords are counted (one from redis-cli, one from the library).
  auto admin = connect_client(c.nodes[0]->endpoint());
  auto st = admin->status();
  REQUIRE(st.ok());
  CHECK(std::stoull(st->field("password_failures")) >= 2);
  // The nodes, which prove the cluster secret instead, replicate as before.
  CHECK(admin->put("k3", "x", {.w = 3}).ok());
}
