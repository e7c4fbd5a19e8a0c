// The config loader: a good file gives every field (and the defaults), and
// every bad one gives a ConfigError naming the file, the line and the key, so
// an operator can go straight to the mistake. Unknown keys are errors.
#include "common/config.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "testing/temp_dir.hpp"

namespace tally {
namespace {

// A complete file, one line per element: bad cases replace one numbered line,
// so the line an error must name is known.
const std::vector<std::string> kGoodLines = {
    /* 1 */ "[cluster]",
    /* 2 */ "name = \"prod\"",
    /* 3 */ "voters = [\"n1\", \"n2\", \"n3\"]",
    /* 4 */ "",
    /* 5 */ "[storage]",
    /* 6 */ "durability = \"buffered\"",
    /* 7 */ "",
    /* 8 */ "[limits]",
    /* 9 */ "max_key_bytes = 1024",
    /* 10 */ "max_value_bytes = 65536",
    /* 11 */ "max_frame_bytes = 1048576",
    /* 12 */ "",
    /* 13 */ "[log]",
    /* 14 */ "level = \"debug\"",
    /* 15 */ "",
    /* 16 */ "[request]",
    /* 17 */ "timeout_ms = 2500",
    /* 18 */ "",
    /* 19 */ "[[nodes]]",
    /* 20 */ "id = \"n1\"",
    /* 21 */ "listen = \"127.0.0.1:7401\"",
    /* 22 */ "data_dir = \"data/n1\"",
    /* 23 */ "zone = \"a\"",
    /* 24 */ "",
    /* 25 */ "[[nodes]]",
    /* 26 */ "id = \"n2\"",
    /* 27 */ "listen = \"[::1]:7402\"",
    /* 28 */ "data_dir = \"/var/lib/tally/n2\"",
    /* 29 */ "",
    /* 30 */ "[[nodes]]",
    /* 31 */ "id = \"n3\"",
    /* 32 */ "listen = \"localhost:7403\"",
    /* 33 */ "data_dir = \"../n3\"",
};

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The good file with line `n` (1-based) replaced by `text`.
std::string with_line(size_t n, const std::string& text) {
  std::vector<std::string> lines = kGoodLines;
  lines.at(n - 1) = text;
  return join(lines);
}

// A one-node file with `extra` in front (so its line numbers start at 1).
std::string minimal(const std::string& extra = "") {
  return extra + "[[nodes]]\nid = \"solo\"\nlisten = \"0.0.0.0:7401\"\ndata_dir = \"d\"\n";
}

Result<ClusterConfig> parse(const std::string& text) {
  return parse_config(text, "x.toml", "/etc/tally");
}

// Checks that parsing `text` fails with a ConfigError at "x.toml:<line>:" that
// names `key` and says `what`.
void check_error(const std::string& text, int line, const std::string& key,
                 const std::string& what) {
  Result<ClusterConfig> r = parse(text);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().message());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::StartsWith("x.toml:" + std::to_string(line) + ": "));
  CHECK_THAT(r.status().message(), Catch::Contains("key '" + key + "'"));
  CHECK_THAT(r.status().message(), Catch::Contains(what));
}

TEST_CASE("a good config file parses with every field", "[config]") {
  Result<ClusterConfig> r = parse(join(kGoodLines));
  REQUIRE(r.ok());
  const ClusterConfig& c = *r;
  CHECK(c.path == "x.toml");
  CHECK(c.name == "prod");
  CHECK(c.voters == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(c.durability == Durability::kBuffered);
  CHECK(c.limits.max_key_bytes == 1024);
  CHECK(c.limits.max_value_bytes == 65536);
  CHECK(c.limits.max_frame_bytes == 1048576);
  CHECK(c.log_level == LogLevel::kDebug);
  CHECK(c.request_timeout_ms == 2500);
  REQUIRE(c.nodes.size() == 3);
  CHECK(c.nodes[0].id == "n1");
  CHECK(c.nodes[0].listen == HostPort{"127.0.0.1", 7401});
  CHECK(c.nodes[0].zone == "a");
  CHECK(c.nodes[1].id == "n2");
  CHECK(c.nodes[1].listen == HostPort{"::1", 7402});
  CHECK(c.nodes[1].data_dir == "/var/lib/tally/n2");  // absolute: kept as written
  CHECK(c.nodes[1].zone == "default");
  CHECK(c.nodes[2].listen == HostPort{"localhost", 7403});
}

TEST_CASE("relative data_dir is resolved against the config's base dir", "[config]") {
  Result<ClusterConfig> r = parse(join(kGoodLines));
  REQUIRE(r.ok());
  CHECK(r->nodes[0].data_dir == "/etc/tally/data/n1");
  CHECK(r->nodes[2].data_dir == "/etc/n3");  // "../n3", normalised
}

TEST_CASE("a minimal config gets the documented defaults", "[config]") {
  Result<ClusterConfig> r = parse(minimal());
  REQUIRE(r.ok());
  const ClusterConfig& c = *r;
  const Limits defaults;
  CHECK(c.name == "tally");
  CHECK(c.durability == Durability::kFsync);
  CHECK(c.limits.max_key_bytes == 64 * 1024);
  CHECK(c.limits.max_value_bytes == 4 * 1024 * 1024);
  CHECK(c.limits.max_frame_bytes == 16 * 1024 * 1024);
  CHECK(c.limits.max_frame_bytes == defaults.max_frame_bytes);
  CHECK(c.log_level == LogLevel::kInfo);
  CHECK(c.request_timeout_ms == 1000);
  REQUIRE(c.nodes.size() == 1);
  CHECK(c.nodes[0].zone == "default");
  CHECK(c.voters == std::vector<std::string>{"solo"});
}

TEST_CASE("without [cluster] voters the first three nodes vote", "[config]") {
  std::vector<std::string> lines = kGoodLines;
  lines[2] = "";  // drop `voters`
  std::string text =
      join(lines) + "\n[[nodes]]\nid = \"n4\"\nlisten = \"h:7404\"\ndata_dir = \"d4\"\n";
  Result<ClusterConfig> r = parse(text);
  REQUIRE(r.ok());
  CHECK(r->nodes.size() == 4);
  CHECK(r->voters == std::vector<std::string>{"n1", "n2", "n3"});
}

TEST_CASE("a bad durability value names file, line, key and the allowed values", "[config]") {
  check_error(with_line(6, "durability = \"fast\""), 6, "storage.durability",
              "expected \"fsync\" or \"buffered\", got \"fast\"");
}

TEST_CASE("a value of the wrong type names file, line and key", "[config]") {
  check_error(with_line(17, "timeout_ms = \"2500\""), 17, "request.timeout_ms",
              "expected an integer");
  check_error(with_line(6, "durability = 1"), 6, "storage.durability", "expected a string");
  check_error(with_line(3, "voters = [\"n1\", 2]"), 3, "cluster.voters", "expected a string");
  check_error(with_line(3, "voters = \"n1\""), 3, "cluster.voters", "expected an array");
  check_error(with_line(17, "timeout_ms = 1.5"), 17, "request.timeout_ms", "expected an integer");
}

TEST_CASE("an out-of-range integer names file, line, key and the range", "[config]") {
  check_error(with_line(17, "timeout_ms = 0"), 17, "request.timeout_ms",
              "must be between 1 and 600000, got 0");
  check_error(with_line(9, "max_key_bytes = 0"), 9, "limits.max_key_bytes", "got 0");
  check_error(with_line(10, "max_value_bytes = -1"), 10, "limits.max_value_bytes", "got -1");
}

TEST_CASE("a misspelt key is an error, not silently ignored", "[config]") {
  check_error(with_line(6, "durabilty = \"buffered\""), 6, "storage.durabilty", "unknown key");
  check_error(with_line(23, "zones = \"a\""), 23, "nodes.zones", "unknown key");
  check_error(with_line(32, "listen_addr = \"localhost:7403\""), 32, "nodes.listen_addr",
              "unknown key");
}

TEST_CASE("an unknown section is an error naming its line", "[config]") {
  check_error(with_line(13, "[logging]"), 13, "logging", "unknown key");
}

TEST_CASE("a file without [[nodes]] is an error", "[config]") {
  std::vector<std::string> lines(kGoodLines.begin(), kGoodLines.begin() + 18);
  Result<ClusterConfig> r = parse(join(lines));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::StartsWith("x.toml:"));
  CHECK_THAT(r.status().message(), Catch::Contains("key 'nodes'") && Catch::Contains("[[nodes]]"));
  // An empty file says the same.
  CHECK_THAT(parse("").status().message(), Catch::Contains("key 'nodes'"));
}

TEST_CASE("a duplicate node id names the second one's line", "[config]") {
  check_error(with_line(31, "id = \"n1\""), 31, "nodes.id", "duplicate id 'n1'");
}

TEST_CASE("a bad listen address names file, line, key and the address", "[config]") {
  check_error(with_line(32, "listen = \"localhost:99999\""), 32, "nodes.listen",
              "'localhost:99999'");
  check_error(with_line(32, "listen = \"localhost\""), 32, "nodes.listen", "missing port");
  check_error(with_line(32, "listen = \"127.0.0.1:7401\""), 32, "nodes.listen", "used twice");
}

TEST_CASE("a bad node entry names its line", "[config]") {
  check_error(with_line(31, "id = \"n 3\""), 31, "nodes.id", "'n 3'");
  check_error(with_line(32, ""), 30, "nodes.listen", "missing for node 'n3'");
  check_error(with_line(33, "data_dir = \"\""), 33, "nodes.data_dir", "must not be empty");
}

TEST_CASE("voters naming an unknown node are an error", "[config]") {
  check_error(with_line(3, "voters = [\"n1\", \"n2\", \"n9\"]"), 3, "cluster.voters",
              "unknown node 'n9'");
}

TEST_CASE("max_frame_bytes below max_key_bytes + max_value_bytes + 1024 is an error", "[config]") {
  // 1024 + 65536 + 1024 = 67584: one byte short fails, the exact size passes.
  check_error(with_line(11, "max_frame_bytes = 67583"), 11, "limits.max_frame_bytes", "67584");
  CHECK(parse(with_line(11, "max_frame_bytes = 67584")).ok());
  // With max_frame_bytes left at its default, a large value still must fit.
  std::vector<std::string> lines = kGoodLines;
  lines[9] = "max_value_bytes = 16777216";
  lines[10] = "";
  Result<ClusterConfig> r = parse(join(lines));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::Contains("key 'limits.max_frame_bytes'"));
}

TEST_CASE("a TOML syntax error carries file:line", "[config]") {
  Result<ClusterConfig> r = parse(with_line(14, "level = \"debug"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::StartsWith("x.toml:14: syntax error"));

  r = parse(with_line(17, "timeout_ms = = 2500"));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::StartsWith("x.toml:17: syntax error"));
}

// Found by tests/fuzz/config_fuzz.cpp (the input is kept in its corpus):
// toml11 read past its buffer reporting bad UTF-8 in a 'literal string'.
TEST_CASE("text that is not UTF-8 is refused naming its line, inside a 'literal string' too", "[config]") {
  for (const std::string bad : {"listen = 'h\xcb\xcb:7401'", "listen = \"h\xcb:7401\"", "# \xc0\xaf overlong",
                                "zone = '\xed\xa0\x80'" /* a surrogate */, "zone = '\xf4\x90\x80\x80'" /* > U+10FFFF */,
                                "zone = 'cut \xe2\x82'"}) {
    Result<ClusterConfig> r = parse(with_line(23, bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConfigError);
    CHECK(r.status().message() == "x.toml:23: not UTF-8 text (a TOML file must be UTF-8)");
  }
  // Well-formed UTF-8 of every length still parses.
  Result<ClusterConfig> r = parse(with_line(23, "zone = 'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\x8d'"));
  REQUIRE(r.ok());
  CHECK(r->nodes[0].zone == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\x8d");
}

// The good file (33 lines) followed by `tail`, whose first line is line 35.
std::string with_tail(const std::string& tail) { return join(kGoodLines) + "\n" + tail; }

TEST_CASE("[[keyspaces]] and [hints] parse", "[config]") {
  Result<ClusterConfig> r =
      parse(with_tail("[[keyspaces]]\nname = \"users\"\nn = 2\nr = 1\nw = 2\nmode = \"lww\"\n\n"
                      "[[keyspaces]]\nname = \"carts\"\n\n"
                      "[hints]\nmax_hints = 50\n"));
  REQUIRE(r.ok());
  CHECK(r->max_hints == 50);
  // Unset n, r and w take the defaults (N=3, R=2, W=2, siblings).
  CHECK(r->keyspaces ==
        std::vector<meta::Keyspace>{{"users", 2, 1, 2, meta::ConflictMode::kLww},
                                    {"carts", 3, 2, 2, meta::ConflictMode::kSiblings}});
  CHECK(parse(join(kGoodLines))->max_hints == 100000);
}

TEST_CASE("[streaming] sets the background rate limit; 64 MiB/s unless set, 0 for none", "[config]") {
  CHECK(parse(join(kGoodLines))->stream_rate_mb == 64);
  CHECK(parse(with_tail("[streaming]\nrate_mb_per_s = 0\n"))->stream_rate_mb == 0);
  CHECK(parse(with_tail("[streaming]\nrate_mb_per_s = 200\n"))->stream_rate_mb == 200);
  check_error(with_tail("[streaming]\nrate_mb_per_s = -5\n"), 36, "streaming.rate_mb_per_s", "got -5");
  check_error(with_tail("[streaming]\nrate = 5\n"), 36, "streaming.rate", "unknown key");
  CHECK(parse(join(kGoodLines))->cleanup_grace_s == 60);
  CHECK(parse(with_tail("[streaming]\ncleanup_grace_s = 5\n"))->cleanup_grace_s == 5);
  check_error(with_tail("[streaming]\ncleanup_grace_s = -1\n"), 36, "streaming.cleanup_grace_s", "got -1");
}

TEST_CASE("a bad [[keyspaces]] entry names file, line and key", "[config]") {
  check_error(with_tail("[[keyspaces]]\nname = \"users\"\nmode = \"lwww\"\n"), 37, "keyspaces.mode",
              "got \"lwww\"");
  check_error(with_tail("[[keyspaces]]\nname = \"users\"\nn = 4\n"), 37, "keyspaces.n",
              "the file lists 3 node(s)");
  check_error(with_tail("[[keyspaces]]\nname = \"users\"\nn = 2\nr = 3\n"), 38, "keyspaces.r",
              "between 1 and 2");
  check_error(with_tail("[[keyspaces]]\nname = \"users\"\nreplicas = 2\n"), 37,
              "keyspaces.replicas", "unknown key");
  check_error(with_tail("[[keyspaces]]\nname = \"Users!\"\n"), 36, "keyspaces.name", "Users!");
  check_error(with_tail("[[keyspaces]]\nname = \"a\"\n\n[[keyspaces]]\nname = \"a\"\n"), 39,
              "keyspaces.name", "duplicate keyspace 'a'");
  check_error(with_tail("[hints]\nmax_hints = -1\n"), 36, "hints.max_hints", "got -1");
}

TEST_CASE("ClusterConfig::node finds a node, or names the ids the file has", "[config]") {
  Result<ClusterConfig> r = parse(join(kGoodLines));
  REQUIRE(r.ok());
  Result<NodeEntry> n2 = r->node("n2");
  REQUIRE(n2.ok());
  CHECK(n2->listen == HostPort{"::1", 7402});
  Result<NodeEntry> missing = r->node("n7");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kConfigError);
  CHECK_THAT(missing.status().message(),
             Catch::Contains("x.toml") && Catch::Contains("'n7'") && Catch::Contains("n1, n2, n3"));
}

// A file in a fresh temp folder, removed with it at the end of the test.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& text)
      : path_((std::filesystem::path(dir_.path) / name).string()) {
    std::ofstream(path_) << text;
  }
  std::string path() const { return path_; }
  std::string dir() const { return dir_.path; }

 private:
  testing::TempDir dir_;
  std::string path_;
};

TEST_CASE("load_config reads a file and resolves data_dir against the file's folder", "[config]") {
  TempFile file("cluster.toml", join(kGoodLines));
  Result<ClusterConfig> r = load_config(file.path());
  REQUIRE(r.ok());
  CHECK(r->path == file.path());
  CHECK(r->nodes[0].data_dir == file.dir() + "/data/n1");
  CHECK(r->nodes[1].data_dir == "/var/lib/tally/n2");
}

TEST_CASE("load_config errors name the file's path and line", "[config]") {
  TempFile file("bad.toml", with_line(6, "durability = \"fast\""));
  Result<ClusterConfig> r = load_config(file.path());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::StartsWith(file.path() + ":6: key 'storage.durability'"));
}

TEST_CASE("load_config of a missing file names the path", "[config]") {
  const std::string path = "/nonexistent/tally-test/missing.toml";
  Result<ClusterConfig> r = load_config(path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kConfigError);
  CHECK_THAT(r.status().message(), Catch::Contains(path));
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

TEST_CASE("[anti_entropy] parses, defaults when absent, and names a bad value", "[config]") {
  Result<ClusterConfig> r = parse(with_tail(
      "[anti_entropy]\nbackground = false\ninterval_ms = 20\nrate_kb_per_sec = 0\ntombstone_grace_s = 5\n"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->anti_entropy.background);
  CHECK(r->anti_entropy.interval_ms == 20);
  CHECK(r->anti_entropy.rate_kb_per_sec == 0);
  CHECK(r->anti_entropy.tombstone_grace_s == 5);
  auto d = parse(join(kGoodLines));
  REQUIRE(d.ok());
  CHECK(d->anti_entropy.background);
  CHECK(d->anti_entropy.interval_ms == 100);
  CHECK(d->anti_entropy.rate_kb_per_sec == 8192);
  CHECK(d->anti_entropy.tombstone_grace_s == 600);
  check_error(with_tail("[anti_entropy]\ninterval_ms = 0\n"), 36, "anti_entropy.interval_ms", "between 1 and");
  check_error(with_tail("[anti_entropy]\nbackground = \"yes\"\n"), 36, "anti_entropy.background",
              "expected true or false");
  check_error(with_tail("[anti_entropy]\ngrace_s = 5\n"), 36, "anti_entropy.grace_s", "unknown key");
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

TEST_CASE("trust settings: secret_file resolved against the config's folder, requirepass, connection limits",
          "[config][trust]") {
  Result<ClusterConfig> r = parse(minimal(
      "[cluster]\nsecret_file = \"keys/secret\"\nrequirepass = \"pw\"\n\n"
      "[limits]\nmax_connections = 500\nidle_timeout_s = 60\nframe_timeout_s = 5\ninput_budget_mb = 32\n"
      "output_pause_kb = 256\noutput_limit_mb = 8\n\n"));
  REQUIRE(r.ok());
  CHECK(r->secret_file == "/etc/tally/keys/secret");
  CHECK(r->secret.empty());  // read by load_config
  CHECK(r->requirepass == "pw");
  CHECK(r->limits.max_connections == 500);
  CHECK(r->limits.idle_timeout_s == 60);
  CHECK(r->limits.frame_timeout_s == 5);
  CHECK(r->limits.input_budget_mb == 32);
  CHECK(r->limits.output_pause_kb == 256);
  CHECK(r->limits.output_limit_mb == 8);
  // The defaults docs/security.md lists.
  Result<ClusterConfig> d = parse(minimal());
  REQUIRE(d.ok());
  CHECK(d->secret_file.empty());
  CHECK(d->limits.max_connections == 0);
  CHECK(d->limits.idle_timeout_s == 300);
  CHECK(d->limits.frame_timeout_s == 30);
  CHECK(d->limits.input_budget_mb == 64);
  CHECK(d->limits.output_pause_kb == 1024);
  CHECK(d->limits.output_limit_mb == 64);
  check_error(minimal("[limits]\noutput_pause_kb = 1\n\n"), 2, "limits.output_pause_kb", "");
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

TEST_CASE("metrics_listen: parsed per node, unset by default, a bad or reused address named", "[config]") {
  auto none = parse(minimal());
  REQUIRE(none.ok());
  CHECK_FALSE(none->nodes[0].metrics_listen.has_value());
  auto set = parse(minimal() + "metrics_listen = \"127.0.0.1:9401\"\n");
  REQUIRE(set.ok());
  REQUIRE(set->nodes[0].metrics_listen.has_value());
  CHECK(set->nodes[0].metrics_listen->to_string() == "127.0.0.1:9401");
  check_error(minimal() + "metrics_listen = \"127.0.0.1:99999\"\n", 5, "nodes.metrics_listen", "99999");
  check_error(minimal() + "metrics_listen = \"0.0.0.0:7401\"\n", 5, "nodes.metrics_listen", "used twice");
}

TEST_CASE("the shipped configs parse, and every node of the local cluster has its own metrics port", "[config]") {
  // parse_config: the secret file local-cluster.toml names exists only once `make cluster` made it.
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto local = parse_config(text("conf/local-cluster.toml"), "conf/local-cluster.toml", "conf");
  REQUIRE(local.ok());
  std::set<std::string> ports;
  for (const auto& n : local->nodes) {
    REQUIRE(n.metrics_listen.has_value());
    ports.insert(n.metrics_listen->to_string());
  }
  CHECK(ports.size() == local->nodes.size());
  CHECK(parse_config(text("conf/tally.toml"), "conf/tally.toml", "conf").ok());
}

}  // namespace
}  // namespace tally
