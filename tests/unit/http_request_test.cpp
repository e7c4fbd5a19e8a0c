// The metrics door's HTTP request parser: well-formed requests, split and
// pipelined, and every kind of hostile head answered with its status.
#include "net/http_request.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "node/node_stats.hpp"

namespace tally::http {
namespace {

struct Parsed {
  std::vector<Request> requests;
  bool failed = false;
  Error error;
};

// Feeds `chunks` one at a time, taking every request after each.
Parsed parse(const std::vector<std::string>& chunks, Limits limits = {}) {
  RequestParser p(limits);
  Parsed out;
  for (const auto& c : chunks) {
    p.feed(c);
    Request r;
    RequestParser::Next n;
    while ((n = p.next(&r)) == RequestParser::Next::kRequest) out.requests.push_back(r);
    if (n == RequestParser::Next::kError) {
      out.failed = true;
      out.error = p.error();
      return out;
    }
  }
  return out;
}

Parsed parse(const std::string& whole, Limits limits = {}) {
  return parse(std::vector<std::string>{whole}, limits);
}

const std::string kGet =
    "GET /metrics HTTP/1.1\r\nHost: n1:9401\r\nUser-Agent: Prometheus/2.42.0\r\n\r\n";

TEST_CASE("http parser: a GET with its headers, path, query and keep-alive") {
  auto p = parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  text/plain \r\n\r\n");
  REQUIRE_FALSE(p.failed);
  REQUIRE(p.requests.size() == 1);
  const Request& r = p.requests[0];
  CHECK(r.method == "GET");
  CHECK(r.target == "/metrics?x=1");
  CHECK(r.path() == "/metrics");
  CHECK(r.minor_version == 1);
  CHECK(r.header("accept") ==
        std::optional<std::string_view>("text/plain"));  // case-insensitive, trimmed
  CHECK_FALSE(r.header("Cookie").has_value());
  CHECK(r.keep_alive);
}

TEST_CASE("http parser: Connection decides keep-alive, by version") {
  CHECK_FALSE(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
  CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").requests.at(0).keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n")
                  .requests.at(0)
                  .keep_alive);
}

TEST_CASE("http parser: pipelined requests come out in order, the unfinished one waits") {
  auto p = parse(kGet + "HEAD /a HTTP/1.1\r\nHost: b\r\n\r\n" + "GET /c HTTP/1.1\r\nHo");
  REQUIRE_FALSE(p.failed);
  REQUIRE(p.requests.size() == 2);
  CHECK(p.requests[0].target == "/metrics");
  CHECK(p.requests[1].method == "HEAD");
  CHECK(p.requests[1].target == "/a");
}

TEST_CASE("http parser: a request split at every byte parses as when whole") {
  std::string two = kGet + kGet;
  std::vector<std::string> bytes;
  for (char c : two) bytes.emplace_back(1, c);
  auto split = parse(bytes);
  REQUIRE_FALSE(split.failed);
  REQUIRE(split.requests.size() == 2);
  CHECK(split.requests[1].header("User-Agent") ==
        std::optional<std::string_view>("Prometheus/2.42.0"));
  // Split between CR and LF too.
  auto crlf = parse(std::vector<std::string>{"GET / HTTP/1.1\r", "\nHost: a\r", "\n\r", "\n"});
  CHECK(crlf.requests.size() == 1);
}

TEST_CASE("http parser: over-long lines are refused before they end") {
  Limits l;
  l.max_line_bytes = 64;
  // The request line: 414 once more than 64 bytes of it arrived, no CRLF needed.
  auto line = parse("GET /" + std::string(100, 'a'), l);
  REQUIRE(line.failed);
  CHECK(line.error.status == 414);
  CHECK(line.error.reason.find("64") != std::string::npos);
  // A header line: 431.
  auto header = parse("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(100, 'b'), l);
  REQUIRE(header.failed);
  CHECK(header.error.status == 431);
  // Exactly at the limit is fine.
  auto at_limit = parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(61, 'c') + "\r\n\r\n", l);
  CHECK_FALSE(at_limit.failed);
}

TEST_CASE("http parser: too many header fields, or too large a head, is 431") {
  Limits l;
  l.max_headers = 8;
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 8; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  auto many = parse(head, l);  // 9 fields, unfinished: refused without waiting for the end
  REQUIRE(many.failed);
  CHECK(many.error.status == 431);
  CHECK(many.error.reason == "more than 8 header fields");

  Limits small;
  small.max_head_bytes = 100;
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 10; ++i) big += "X-" + std::to_string(i) + ": 0123456789\r\n";
  auto large = parse(big, small);
  REQUIRE(large.failed);
  CHECK(large.error.status == 431);
}

TEST_CASE("http parser: bad methods, targets and versions") {
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases{
      {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                // lower case
      {"G3T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                // not letters
      {"ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\nHost: a\r\n\r\n", 400},  // 17 letters
      {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},               // leading space
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},               // two spaces
      {"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},        // absolute form
      {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},           // control character
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET / HTTP/0.9\r\n\r\n", 505},
      {"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},  // no version
      {"\r\n", 400},           // empty request line
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15),
       400},  // a TLS hello
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto p = parse(c.request);
    REQUIRE(p.failed);
    CHECK(p.error.status == c.status);
    CHECK_FALSE(p.error.reason.empty());
  }
}

TEST_CASE("http parser: malformed headers, bodies and line ends") {
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases{
      {"GET / HTTP/1.1\r\n\r\n", 400},                            // HTTP/1.1 without Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},      // two Hosts
      {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", 400},  // space in a name
      {"GET / HTTP/1.1\r\nHost: a\r\nName : v\r\n\r\n", 400},     // space before the colon
      {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400},  // obsolete folding
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},         // DEL in a value
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 413},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 413},
      {"GET / HTTP/1.1\nHost: a\n\n", 400},  // bare LF: refused at once
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto p = parse(c.request);
    REQUIRE(p.failed);
    CHECK(p.error.status == c.status);
  }
  // Content-Length: 0 is no body.
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").failed);
}

TEST_CASE("http parser: a failure sticks and drops what was held") {
  RequestParser p;
  p.feed("BAD\r\n\r\n");
  Request r;
  REQUIRE(p.next(&r) == RequestParser::Next::kError);
  p.feed(kGet);
  CHECK(p.next(&r) == RequestParser::Next::kError);
  CHECK(p.buffered() == 0);
  CHECK(p.error().status == 400);
}

TEST_CASE("http parser: buffered bytes are bounded under an endless pipeline") {
  RequestParser p;
  Request r;
  size_t most = 0;
  for (int i = 0; i < 2000; ++i) {
    p.feed(kGet);
    while (p.next(&r) == RequestParser::Next::kRequest) {
    }
    most = std::max(most, p.buffered());
  }
  CHECK(most == 0);
  CHECK_FALSE(p.failed());
}

TEST_CASE("latency histogram: log-scale buckets, cumulative quantile bounds") {
  LatencyHistogram h;
  h.record(0);
  h.record(128);         // at the first bound: bucket 0
  h.record(129);         // just above: bucket 1
  h.record(1'000'000);   // 1 s: bucket 13 (2^20 us)
  h.record(10'000'000);  // over the last bound (4.19 s)
  CHECK(h.bucket(0) == 2);
  CHECK(h.bucket(1) == 1);
  CHECK(h.bucket(13) == 1);
  CHECK(h.bucket(LatencyHistogram::kBuckets) == 1);
  CHECK(h.count() == 5);
  CHECK(h.sum_us() == 11'000'257);
  CHECK(h.quantile_bound_us(0.4) == 128);
  CHECK(h.quantile_bound_us(0.6) == 256);
  CHECK(h.quantile_bound_us(0.8) == (uint64_t{1} << 20));
  CHECK(h.quantile_bound_us(1.0) == UINT64_MAX);
  CHECK(LatencyHistogram{}.quantile_bound_us(0.99) == 0);
}

}  // namespace
}  // namespace tally::http
