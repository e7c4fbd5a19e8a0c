// host:port parsing, as config files, the command line and TALLY_ENDPOINTS
// write addresses: IPv6 in brackets, ports 1..65535, errors that quote the text.
#include "common/address.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tally {
namespace {

void check_bad(const std::string& text, const std::string& why) {
  Result<HostPort> r = parse_host_port(text);
  INFO("'" << text << "'");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Catch::Contains("'" + text + "'") && Catch::Contains(why));
}

TEST_CASE("host:port parses names and IPv4 literals", "[address]") {
  CHECK(*parse_host_port("localhost:7401") == HostPort{"localhost", 7401});
  CHECK(*parse_host_port("10.0.0.7:1") == HostPort{"10.0.0.7", 1});
  CHECK(*parse_host_port("db-1.example.com:65535") == HostPort{"db-1.example.com", 65535});
}

TEST_CASE("[v6]:port parses, and to_string writes the brackets back", "[address]") {
  Result<HostPort> r = parse_host_port("[::1]:7401");
  REQUIRE(r.ok());
  CHECK(*r == HostPort{"::1", 7401});
  CHECK(r->to_string() == "[::1]:7401");
  CHECK(*parse_host_port("[fe80::1:2]:80") == HostPort{"fe80::1:2", 80});
  CHECK(HostPort{"localhost", 7401}.to_string() == "localhost:7401");
}

TEST_CASE("to_string and parse_host_port round-trip", "[address]") {
  for (const HostPort& hp : {HostPort{"a", 1}, HostPort{"::", 65535}, HostPort{"1.2.3.4", 80}}) {
    Result<HostPort> back = parse_host_port(hp.to_string());
    REQUIRE(back.ok());
    CHECK(*back == hp);
  }
}

TEST_CASE("ports outside 1..65535 or not a number are rejected", "[address]") {
  const std::string kRange = "port must be a number from 1 to 65535";
  check_bad("host:0", kRange);
  check_bad("host:65536", kRange);
  check_bad("host:99999999999", kRange);
  check_bad("host:80a", kRange);
  check_bad("host:abc", kRange);
  check_bad("host:-1", kRange);
  check_bad("host:+80", kRange);
  check_bad("host: 80", kRange);
  check_bad("host:", kRange);
  check_bad("[::1]:", kRange);
  check_bad("[::1]:0", kRange);
}

TEST_CASE("a missing port or host is rejected", "[address]") {
  check_bad("localhost", "missing port");
  check_bad("", "missing port");
  check_bad("[::1]", "missing port");
  check_bad("[::1]7401", "missing port");
  check_bad("[::1:7401", "unclosed '['");
  check_bad(":7401", "empty host");
  check_bad("[]:7401", "empty host");
  check_bad("::1:7401", "IPv6 hosts go in brackets");
}

TEST_CASE("endpoint lists split on commas and trim spaces", "[address]") {
  Result<std::vector<HostPort>> r = parse_endpoint_list("a:1, b:2 ,[::1]:3 ,  c:4");
  REQUIRE(r.ok());
  CHECK(*r == std::vector<HostPort>{{"a", 1}, {"b", 2}, {"::1", 3}, {"c", 4}});
  Result<std::vector<HostPort>> one = parse_endpoint_list("localhost:7401");
  REQUIRE(one.ok());
  CHECK(*one == std::vector<HostPort>{{"localhost", 7401}});
}

TEST_CASE("endpoint lists reject empty items", "[address]") {
  for (const std::string text : {"", " ", "a:1,", "a:1,,b:2", ",a:1", "a:1, ,b:2"}) {
    INFO("'" << text << "'");
    Result<std::vector<HostPort>> r = parse_endpoint_list(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains("empty address"));
  }
}

TEST_CASE("endpoint lists report the bad item", "[address]") {
  Result<std::vector<HostPort>> r = parse_endpoint_list("a:1, b:0, c:3");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Catch::Contains("'b:0'"));
}

}  // namespace
}  // namespace tally
