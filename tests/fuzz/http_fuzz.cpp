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

namespace {

using tally::http::Error;
using tally::http::Limits;
using tally::http::Request;
using tally::http::RequestParser;

void check(bool ok) {
  if (!ok) std::abort();
}

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
  check(!r.method.empty() && r.method.size() <= 16);
  for (char c : r.method) check(c >= 'A' && c <= 'Z');
  check(!r.target.empty() && r.target[0] == '/' && r.target.size() <= l.max_line_bytes);
  for (char c : r.target) check(c > 0x20 && c < 0x7f);
  check(r.minor_version == 0 || r.minor_version == 1);
  check(r.headers.size() <= l.max_headers);
  for (const auto& [name, value] : r.headers) {
    check(!name.empty() && name.size() + value.size() < l.max_line_bytes);
    for (char c : value) check(c != '\r' && c != '\n');
  }
  if (r.minor_version == 1) check(r.header("Host").has_value());
  check(r.path().size() <= r.target.size());
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
    check(p.buffered() <= limits.max_head_bytes + limits.max_line_bytes + 2 + chunk.size());
    if (n == RequestParser::Next::kError) {
      out.failed = true;
      out.error = p.error();
      check(out.error.status >= 400 && out.error.status < 600 && !out.error.reason.empty());
      // Sticky: a good request afterwards changes nothing.
      p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
      check(p.next(&r) == RequestParser::Next::kError && p.error() == out.error);
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
  uint32_t seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  std::vector<std::string_view> chunks;
  for (size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245u + 12345u;
    size_t n = std::min<size_t>(stream.size() - at, (seed >> 16) % 9);  // 0..8, empty feeds too
    chunks.push_back(stream.substr(at, n));
    at += n;
  }

  const Parsed whole = run({stream}, limits);
  const Parsed pieces = run(chunks, limits);
  check(whole.failed == pieces.failed);
  check(whole.error == pieces.error);
  check(whole.requests.size() == pieces.requests.size());
  for (size_t i = 0; i < whole.requests.size(); ++i)
    check(same(whole.requests[i], pieces.requests[i]));
  check(whole.leftover == pieces.leftover);
  return 0;
}
