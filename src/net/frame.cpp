#include "net/frame.hpp"

namespace tally::net {

void put_frame_header(char out[kFrameHeaderBytes], uint32_t length) {
  out[0] = static_cast<char>(length >> 24);
  out[1] = static_cast<char>(length >> 16);
  out[2] = static_cast<char>(length >> 8);
  out[3] = static_cast<char>(length);
}

static uint32_t read_header(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

Status FrameReader::feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  // Compact before growing so a long-lived connection's buffer stays small.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > buf_.size() / 2)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  // Validate every header that becomes visible before keeping more bytes: the
  // check must precede the allocation, not follow it.
  buf_.append(bytes.data(), bytes.size());
  size_t at = pos_;
  while (buf_.size() - at >= kFrameHeaderBytes) {
    uint32_t len = read_header(buf_.data() + at);
    if (len == 0) {
      failed_ = Status::ProtocolError("empty frame");
    } else if (len > max_frame_) {
      failed_ = Status::TooLarge("frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                                 std::to_string(max_frame_));
    }
    if (!failed_.ok()) {
      buf_.clear();
      buf_.shrink_to_fit();
      pos_ = 0;
      return failed_;
    }
    if (buf_.size() - at - kFrameHeaderBytes < len) break;
    at += kFrameHeaderBytes + len;
  }
  return Status::Ok();
}

bool FrameReader::next(std::string& out) {
  if (!failed_.ok() || buf_.size() - pos_ < kFrameHeaderBytes) return false;
  uint32_t len = read_header(buf_.data() + pos_);
  if (buf_.size() - pos_ - kFrameHeaderBytes < len) return false;
  out.assign(buf_, pos_ + kFrameHeaderBytes, len);
  pos_ += kFrameHeaderBytes + len;
  return true;
}

}  // namespace tally::net
