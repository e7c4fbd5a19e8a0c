// Length-prefixed framing: a 4-byte big-endian length, then that many bytes.
//
// FrameReader checks the length against the limit before it allocates a byte
// of the body, so a peer announcing a 4 GiB frame costs us nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tally/status.hpp"

namespace tally::net {

constexpr size_t kFrameHeaderBytes = 4;

// Writes the 4-byte big-endian header for a payload of `length` bytes.
void put_frame_header(char out[kFrameHeaderBytes], uint32_t length);

// Accumulates bytes from a stream and cuts them into frame payloads.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_frame_bytes) : max_frame_(max_frame_bytes) {}

  // Feeds bytes. Returns an error (and stays failed) when a header announces a
  // frame over the limit or an empty frame; the connection must then be closed.
  Status feed(std::string_view bytes);

  // Takes the next complete frame's payload into `out`; false if none is complete.
  bool next(std::string& out);

  // Bytes held that do not yet form a whole frame (a truncated frame at close).
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint32_t max_frame_;
  std::string buf_;
  size_t pos_ = 0;  // start of unconsumed bytes in buf_
  Status failed_;
};

}  // namespace tally::net
