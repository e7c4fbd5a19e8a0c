// A small, strict HTTP/1.1 request parser (RFC 9112) for the node's metrics
// door: request line and header fields only, no request bodies. Pure: bytes
// in, requests (or one error) out; no sockets, no clock.
//
// Limits are checked on what has arrived, before the head is whole, so a
// client announcing a megabyte of headers costs at most a line's worth:
//   a request line longer than max_line_bytes     414 URI Too Long
//   a header line longer than max_line_bytes     431 Request Header Fields Too Large
//   more than max_headers header fields           431
//   a head (all its lines) over max_head_bytes    431
// and the head must be well formed:
//   a method of 1..16 capital letters, an origin-form target ("/path?query",
//   visible ASCII), "HTTP/1.1" or "HTTP/1.0" (else 505), CRLF line ends (a
//   bare LF is refused as soon as it arrives), header
//   names that are tokens followed at once by ':', no control characters in
//   values, no obsolete line folding, HTTP/1.1 with exactly one Host   400
//   a Content-Length above 0 or any Transfer-Encoding (no bodies here)    413
//
// The result depends only on the bytes, never on how they were cut into
// feeds: limits and syntax are checked line by line in order, and an
// unfinished line is only checked for its length (tests/fuzz/http_fuzz.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::http {

struct Limits {
  size_t max_line_bytes = 4096;   // one line, without its CRLF
  size_t max_headers = 32;        // header fields in one request
  size_t max_head_bytes = 16384;  // request line and headers, with their CRLFs
};

struct Request {
  std::string method;                                        // "GET"
  std::string target;                                        // "/metrics?x=1", as sent
  int minor_version = 1;                                     // HTTP/1.<minor_version>: 0 or 1
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
  // Whether the connection stays open after the answer: HTTP/1.1 unless
  // "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = true;

  // The target without its query ("/metrics").
  std::string_view path() const;
  // The value of the first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Why a request was refused: the HTTP status to answer with, and a sentence
// for the answer's body and the log.
struct Error {
  int status = 400;
  std::string reason;
  bool operator==(const Error&) const = default;
};

class RequestParser {
 public:
  explicit RequestParser(Limits limits = {}) : limits_(limits) {}

  // Appends bytes as they came off the socket. Nothing is parsed until next().
  void feed(std::string_view bytes);

  enum class Next {
    kNeedMore,  // no whole request yet
    kRequest,   // *out holds the next request (pipelined ones follow)
    kError,     // error() says why; the parser stays failed: answer and close
  };
  // Takes the next whole request, in the order they were sent.
  Next next(Request* out);

  const Error& error() const { return error_; }
  bool failed() const { return failed_; }
  // Bytes held that do not form a whole request yet.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  Next fail(int status, std::string reason);
  bool bare_lf(std::string_view line) const;
  // Parses the head in buf_[pos_, pos_ + head_len) whose lines are known to
  // be within the limits.
  Next parse_head(std::string_view head, Request* out);

  Limits limits_;
  std::string buf_;
  size_t pos_ = 0;  // start of the next request in buf_
  // How far the lines of the next request were checked: where its first
  // unfinished line starts (from pos_), and how many whole lines precede it.
  size_t scan_at_ = 0;
  size_t scan_lines_ = 0;
  bool failed_ = false;
  Error error_;
};

// The reason phrase of the statuses the metrics door answers with.
std::string_view reason_phrase(int status);

}  // namespace tally::http
