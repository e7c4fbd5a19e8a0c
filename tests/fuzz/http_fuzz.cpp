// libFuzzer target for http::RequestParser, the metrics door's request
// parser (see README.md here to build and run; seeds in corpus/http_fuzz/).
//
// Input layout: byte 0 picks the limits (small ones, so the fuzzer hits
// them), byte 1 seeds the chunk sizes, the rest is the byte stream. The
// stream is fed whole to one parser and in chunks to another, taking
// requests after every feed; both must give the same requests in the same
// order and the same error (status and reason), since the parser's verdict
// depends only on the bytes. Every request must be within the limits it was
// parsed under, and a failure must stick.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_request.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::http::Error;
using tally::http::Limits;
using tally::http::Request;
using tally::http::RequestParser;

struct Parsed {
  std::vector<Request> requests;
  bool failed = false;
  Error error;
  size_t leftover = 0;
};

bool same(const Request& a, const Request& b) {
  return a.method == b.method && a.target == b.target && a.minor_version == b.minor_version &&
         a.headers == b.headers && a.keep_alive == b.keep_alive;
}

// What the header promises of every request it lets through.
void check_request(const Request& r, const Limits& l) {
  FUZZ_CHECK(!r.method.empty() && r.method.size() <= 16);
  for (char c : r.method) FUZZ_CHECK(c >= 'A' && c <= 'Z');
  FUZZ_CHECK(!r.target.empty() && r.target[0] == '/' && r.target.size() <= l.max_line_bytes);
  for (char c : r.target) FUZZ_CHECK(c > 0x20 && c < 0x7f);
  FUZZ_CHECK(r.minor_version == 0 || r.minor_version == 1);
  FUZZ_CHECK(r.headers.size() <= l.max_headers);
  for (const auto& [name, value] : r.headers) {
    FUZZ_CHECK(!name.empty() && name.size() + value.size() < l.max_line_bytes);
    for (char c : value) FUZZ_CHECK(c != '\r' && c != '\n');
  }
  if (r.minor_version == 1) FUZZ_CHECK(r.header("Host").has_value());
  FUZZ_CHECK(r.path().size() <= r.target.size());
}

Parsed run(const std::vector<std::string_view>& chunks, const Limits& limits) {
  RequestParser p(limits);
  Parsed out;
  for (auto chunk : chunks) {
    p.feed(chunk);
    Request r;
    RequestParser::Next n;
    while ((n = p.next(&r)) == RequestParser::Next::kRequest) {
      check_request(r, limits);
      out.requests.push_back(r);
    }
    // Held bytes are bounded: a head's worth, a line, and the last feed.
    FUZZ_CHECK(p.buffered() <= limits.max_head_bytes + limits.max_line_bytes + 2 + chunk.size());
    if (n == RequestParser::Next::kError) {
      out.failed = true;
      out.error = p.error();
      FUZZ_CHECK(out.error.status >= 400 && out.error.status < 600 && !out.error.reason.empty());
      // Sticky: a good request afterwards changes nothing.
      p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
      FUZZ_CHECK(p.next(&r) == RequestParser::Next::kError && p.error() == out.error);
      return out;
    }
  }
  out.leftover = p.buffered();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Limits limits;
  limits.max_line_bytes = 8 + (data[0] & 63) * 4;    // 8..260
  limits.max_headers = 1 + (data[0] >> 6) * 2;       // 1, 3, 5, 7
  limits.max_head_bytes = 64 + (data[0] & 63) * 16;  // 64..1072
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::vector<std::string_view> chunks = split_feeds(stream, data[1]);

  const Parsed whole = run({stream}, limits);
  const Parsed pieces = run(chunks, limits);
  FUZZ_CHECK(whole.failed == pieces.failed);
  FUZZ_CHECK(whole.error == pieces.error);
  FUZZ_CHECK(whole.requests.size() == pieces.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i)
    FUZZ_CHECK(same(whole.requests[i], pieces.requests[i]));
  FUZZ_CHECK(whole.leftover == pieces.leftover);
  return 0;
}
