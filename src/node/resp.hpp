// RESP2, the Redis serialization protocol, as redis-cli, redis-benchmark and
// every Redis client library speak it: the parser for what clients send and
// the encoders for what the node answers. Pure: bytes in, commands out.
//
// Clients send each request either as an array of bulk strings
//   *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n
// or, typed by hand (telnet, nc), as one inline line
//   SET k "two words"\r\n
// and the parser takes both, cut into chunks at any byte. Limits are checked
// before anything is allocated, as for frames (docs/architecture.md, Wire format).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.hpp"

namespace tally::resp {

// What one request may hold. The defaults fit tally's default key and value
// limits; RespServer derives them from the node's Limits.
struct Limits {
  size_t max_args = 1024 * 1024;            // elements of one array request
  size_t max_bulk_bytes = 4 * 1024 * 1024;  // one argument
  size_t max_inline_bytes = 64 * 1024;      // one inline line (Redis' PROTO_INLINE_MAX_SIZE)
  // Bytes one connection may hold unparsed, counting the parts of an
  // unfinished request already taken apart: the cap on its input buffer.
  size_t max_buffered_bytes = 16 * 1024 * 1024;
};

// One request: the command name and its arguments, binary-safe, as sent.
using Command = std::vector<std::string>;

// Cuts a client's byte stream into commands.
//
// Errors are Status::ProtocolError (or kTooLarge for the buffer cap) whose
// message is the problem in Redis' words ("invalid bulk length", "unbalanced
// quotes in request"); Redis answers them with "-ERR Protocol error: <message>"
// and closes the connection, and so must the caller, since the stream cannot
// be resynchronised. Once failed, the parser stays failed.
class Parser {
 public:
  explicit Parser(Limits limits = {}) : limits_(limits) {}

  // Appends bytes. Fails when the connection would hold more than
  // max_buffered_bytes unparsed (a client that sends without end while its
  // commands are not being taken, or one request larger than that).
  Status feed(std::string_view bytes);

  // Takes the next complete command into `out`: true when there was one,
  // false when more bytes are needed. Empty inline lines and empty arrays are
  // skipped, as Redis does. An error means the stream is broken (see above).
  Result<bool> next(Command& out);

  // Memory held for requests not yet complete: unparsed bytes, plus the
  // arguments of an unfinished array already taken apart (each counted with
  // its std::string's own size).
  size_t buffered() const { return buf_.size() - pos_ + taken_bytes_; }
  bool failed() const { return !failed_.ok(); }

 private:
  Result<bool> next_inline(Command& out);
  Result<bool> next_in_array(Command& out);
  // The text of a "*<n>\r\n" or "$<n>\r\n" header line starting at pos_, or
  // false (no error) when its CRLF has not arrived yet.
  Result<bool> header_line(std::string_view too_big, std::string_view& line);
  Status fail(Status why);

  Limits limits_;
  std::string buf_;
  size_t pos_ = 0;  // start of unconsumed bytes in buf_
  // Inside an array request: how many elements it announced (-1: not in one),
  // the elements taken so far, and the length of the bulk being read (-1: its
  // header has not been read yet).
  int64_t array_len_ = -1;
  Command taken_;
  size_t taken_bytes_ = 0;
  int64_t bulk_len_ = -1;
  Status failed_;
};

// Redis' integer syntax, strictly: an optional '-' and decimal digits that
// fit in 64 bits, nothing else (no '+', no blanks). False otherwise.
bool parse_integer(std::string_view text, int64_t& out);

// ---- encoders: each appends one RESP2 value to `out` ----

// +OK\r\n. CR and LF cannot appear in a simple string: they become spaces.
void put_simple(std::string& out, std::string_view text);
// -ERR message\r\n: `text` starts with the error's code word ("ERR",
// "WRONGTYPE", "NOQUORUM"); CR and LF become spaces.
void put_error(std::string& out, std::string_view text);
// :42\r\n
void put_integer(std::string& out, int64_t n);
// $5\r\nhello\r\n, binary-safe.
void put_bulk(std::string& out, std::string_view bytes);
// $-1\r\n: "no value" (GET of a missing key).
void put_null_bulk(std::string& out);
// *<n>\r\n: the header of an array; its n elements follow, each put_*.
void put_array_header(std::string& out, size_t n);
// *-1\r\n
void put_null_array(std::string& out);

}  // namespace tally::resp
