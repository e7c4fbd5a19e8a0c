// The RESP2 parser and encoders: requests reassemble however the stream is
// cut, pipelined requests come out whole and in order, inline commands split
// as redis-cli splits them, and every malformed or oversized input is refused
// with Redis' words for the problem, once and for good.
#include "node/resp.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace tally::resp {
namespace {

// The request form clients send: an array of bulk strings.
std::string request(const std::vector<std::string>& words) {
  std::string out;
  put_array_header(out, words.size());
  for (const auto& w : words) put_bulk(out, w);
  return out;
}

// Every complete command the parser holds, in order; fails the test on an error.
std::vector<Command> drain(Parser& p) {
  std::vector<Command> out;
  for (;;) {
    Command c;
    Result<bool> got = p.next(c);
    REQUIRE(got.ok());
    if (!*got) return out;
    out.push_back(c);
  }
}

// The error the parser gives for `wire`, fed at once.
Status error_of(const std::string& wire, Limits limits = {}) {
  Parser p(limits);
  Status fed = p.feed(wire);
  if (!fed.ok()) return fed;
  for (;;) {
    Command c;
    Result<bool> got = p.next(c);
    if (!got.ok()) return got.status();
    if (!*got) return Status::Ok();
  }
}

TEST_CASE("encoders write RESP2 values", "[resp]") {
  std::string out;
  put_simple(out, "OK");
  CHECK(out == "+OK\r\n");
  out.clear();
  put_error(out, "ERR no");
  CHECK(out == "-ERR no\r\n");
  out.clear();
  put_integer(out, -42);
  put_integer(out, 0);
  CHECK(out == ":-42\r\n:0\r\n");
  out.clear();
  put_bulk(out, std::string("a\0\r\nb", 5));
  CHECK(out == std::string("$5\r\na\0\r\nb\r\n", 11));
  out.clear();
  put_bulk(out, "");
  put_null_bulk(out);
  CHECK(out == "$0\r\n\r\n$-1\r\n");
  out.clear();
  put_array_header(out, 2);
  put_null_array(out);
  CHECK(out == "*2\r\n*-1\r\n");
}

TEST_CASE("simple strings and errors cannot carry a line break", "[resp]") {
  std::string out;
  put_error(out, "ERR two\r\nlines");
  CHECK(out == "-ERR two  lines\r\n");
  out.clear();
  put_simple(out, "a\nb");
  CHECK(out == "+a b\r\n");
}

TEST_CASE("an array request split at every byte boundary parses to the same command", "[resp]") {
  const Command want = {"SET", "key", std::string("binary\0\r\n\xff", 10), ""};
  const std::string wire = request(want);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("cut at byte " << cut);
    Parser p;
    REQUIRE(p.feed(std::string_view(wire).substr(0, cut)).ok());
    if (cut < wire.size()) CHECK(drain(p).empty());
    REQUIRE(p.feed(std::string_view(wire).substr(cut)).ok());
    CHECK(drain(p) == std::vector<Command>{want});
    CHECK(p.buffered() == 0);
  }
}

TEST_CASE("an inline request split at every byte boundary parses to the same command", "[resp]") {
  const std::string wire = "SET k \"two words\"\r\n";
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("cut at byte " << cut);
    Parser p;
    REQUIRE(p.feed(std::string_view(wire).substr(0, cut)).ok());
    if (cut < wire.size()) CHECK(drain(p).empty());
    REQUIRE(p.feed(std::string_view(wire).substr(cut)).ok());
    CHECK(drain(p) == std::vector<Command>{{"SET", "k", "two words"}});
  }
}

TEST_CASE("pipelined requests, fed one byte at a time, come out whole and in order", "[resp]") {
  std::vector<Command> want;
  std::string wire;
  for (int i = 0; i < 50; ++i) {
    Command c = {"SET", "key:" + std::to_string(i), std::string(static_cast<size_t>(i), 'v')};
    want.push_back(c);
    wire += request(c);
    if (i % 10 == 0) {
      want.push_back({"PING"});
      wire += "PING\r\n";  // inline between array requests, as redis-benchmark's PING_INLINE
    }
  }
  Parser p;
  std::vector<Command> got;
  for (char c : wire) {
    REQUIRE(p.feed(std::string_view(&c, 1)).ok());
    for (auto& cmd : drain(p)) got.push_back(cmd);
  }
  CHECK(got == want);
  CHECK(p.buffered() == 0);

  Parser at_once;
  REQUIRE(at_once.feed(wire).ok());
  CHECK(drain(at_once) == want);
}

TEST_CASE("inline requests split on blanks and honour quotes and escapes", "[resp]") {
  auto one = [](const std::string& line) {
    Parser p;
    REQUIRE(p.feed(line).ok());
    std::vector<Command> got = drain(p);
    REQUIRE(got.size() == 1);
    return got[0];
  };
  CHECK(one("PING\r\n") == Command{"PING"});
  CHECK(one("PING\n") == Command{"PING"});  // telnet and nc may send a bare LF
  CHECK(one("  get \t k  \r\n") == Command{"get", "k"});
  CHECK(one("SET k \"a b\\n\\x41\\\"\"\r\n") == Command{"SET", "k", "a b\nA\""});
  CHECK(one("SET k 'it\\'s'\r\n") == Command{"SET", "k", "it's"});
  CHECK(one("SET k \"\"\r\n") == Command{"SET", "k", ""});
}

TEST_CASE("empty lines and empty arrays are skipped, not answered", "[resp]") {
  Parser p;
  REQUIRE(p.feed("\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n").ok());
  CHECK(drain(p) == std::vector<Command>{{"PING"}});
}

TEST_CASE("malformed requests are refused with Redis' words for the problem", "[resp]") {
  auto check = [](const std::string& wire, const std::string& message) {
    INFO(wire);
    Status s = error_of(wire);
    CHECK(s.code() == Code::kProtocolError);
    CHECK(s.message() == message);
  };
  check("*x\r\n", "invalid multibulk length");
  check("*+1\r\n", "invalid multibulk length");
  check("*1\r\n$x\r\n", "invalid bulk length");
  check("*1\r\n$-1\r\n", "invalid bulk length");
  check("*2\r\n$1\r\na\r\n:1\r\n", "expected '$', got ':'");
  check("*1\r\n$1\r\nab\r\n", "expected CRLF after a bulk string of 1 bytes");
  check("SET k \"open\r\n", "unbalanced quotes in request");
  check("SET k \"a\"b\r\n", "unbalanced quotes in request");
  check("*" + std::string(40, '1'), "too big mbulk count string");
  check("*1\r\n$" + std::string(40, '1'), "too big bulk count string");
}

TEST_CASE("limits are enforced as soon as a header announces too much", "[resp][limits]") {
  Limits l;
  l.max_args = 3;
  l.max_bulk_bytes = 10;
  l.max_inline_bytes = 16;
  l.max_buffered_bytes = 1024;

  CHECK(error_of("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", l).ok());
  Status args = error_of("*4\r\n", l);
  CHECK(args.code() == Code::kProtocolError);
  CHECK(args.message() == "invalid multibulk length");

  CHECK(error_of("*1\r\n$10\r\n0123456789\r\n", l).ok());
  // Refused from the header alone: the 11 bytes never need to arrive.
  Status bulk = error_of("*1\r\n$11\r\n", l);
  CHECK(bulk.code() == Code::kProtocolError);
  CHECK(bulk.message() == "invalid bulk length: 11 bytes, the limit is 10");

  CHECK(error_of("0123456789abcde\r\n", l).ok());  // 15 bytes + CR: within 16
  Status line = error_of("0123456789abcdefg", l);
  CHECK(line.code() == Code::kProtocolError);
  CHECK(line.message() == "too big inline request");
}

TEST_CASE("a connection may hold at most max_buffered_bytes unparsed", "[resp][limits]") {
  Limits l;
  l.max_buffered_bytes = 100;
  Parser p(l);
  // A request still arriving: its parts taken apart count too.
  REQUIRE(p.feed("*3\r\n$30\r\n" + std::string(30, 'a') + "\r\n$30\r\n").ok());
  REQUIRE(drain(p).empty());
  CHECK(p.buffered() > 30);
  Status s = p.feed(std::string(80, 'b'));
  CHECK(s.code() == Code::kTooLarge);
  CHECK_THAT(s.message(), Catch::Contains("too big request") && Catch::Contains("100 bytes"));
  CHECK(p.failed());
  CHECK(p.buffered() == 0);  // what it held is released
}

TEST_CASE("a failed parser stays failed, whatever comes next", "[resp]") {
  Parser p;
  REQUIRE(p.feed("*1\r\n$x\r\n").ok());
  Command c;
  REQUIRE_FALSE(p.next(c).ok());
  CHECK(p.feed("PING\r\n").code() == Code::kProtocolError);
  Result<bool> again = p.next(c);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message() == "invalid bulk length");
}

TEST_CASE("complete commands before a malformed one are still handed out", "[resp]") {
  Parser p;
  REQUIRE(p.feed(request({"GET", "a"}) + "*1\r\n$x\r\n").ok());
  Command c;
  Result<bool> first = p.next(c);
  REQUIRE(first.ok());
  CHECK(*first);
  CHECK(c == Command{"GET", "a"});
  CHECK_FALSE(p.next(c).ok());
}

TEST_CASE("parse_integer takes Redis' integers and nothing else", "[resp]") {
  int64_t n = 0;
  CHECK(parse_integer("0", n));
  CHECK(n == 0);
  CHECK(parse_integer("-17", n));
  CHECK(n == -17);
  CHECK(parse_integer("9223372036854775807", n));
  CHECK_FALSE(parse_integer("9223372036854775808", n));
  for (const char* bad : {"", "+1", " 1", "1 ", "1.0", "0x10", "-", "a"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_integer(bad, n));
  }
}

}  // namespace
}  // namespace tally::resp
