// One version everywhere: `tallyd --version`, `tally --version`,
// `tally-bench --version`, and a running node's status (through the library
// and `tally status`), RESP INFO and RESP HELLO all give tally::kVersion
// (include/tally/version.hpp).
#include <catch2/catch.hpp>
#include <string>

#include "testing/cluster_harness.hpp"
#include "tally/client.hpp"
#include "tally/version.hpp"

using namespace tally;
using namespace tally::clustertest;

TEST_CASE("the programs' --version, status, INFO and HELLO all give the one version", "[cluster][version]") {
  const std::string version(kVersion);
  for (const std::string program : {"tallyd", "tally", "tally-bench"}) {
    CommandResult r = run(build_dir() + "/" + program + " --version");
    INFO(program << " --version printed: " << r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out == program + " " + version + "\n");
  }

  LocalCluster c({1, "buffered", "", /*resp=*/true});
  REQUIRE(c.start().ok());
  auto status = connect_client(c.nodes[0]->endpoint())->status();
  REQUIRE(status.ok());
  CHECK(status->field("version") == version);

  CommandResult cli = run(build_dir() + "/tally -e " + c.nodes[0]->endpoint() + " status --json");
  INFO("tally status --json printed: " << cli.out);
  CHECK(cli.exit_code == 0);
  CHECK_THAT(cli.out, Catch::Contains("\"version\":\"" + version + "\""));

  const std::string redis_cli = "redis-cli -p " + std::to_string(c.specs[0].resp_port);
  CommandResult info = run(redis_cli + " INFO server");
  INFO("INFO server printed: " << info.out);
  CHECK(info.exit_code == 0);
  CHECK_THAT(info.out, Catch::Contains("\nversion:" + version + "\r\n"));
  CommandResult hello = run(redis_cli + " HELLO 2");
  INFO("HELLO 2 printed: " << hello.out);
  CHECK(hello.exit_code == 0);
  CHECK_THAT(hello.out, Catch::Contains("version\n" + version + "\n"));
}
