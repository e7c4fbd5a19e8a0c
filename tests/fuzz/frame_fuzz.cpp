// libFuzzer target for net::FrameReader (`make fuzz`; see README.md here).
//
// Input layout: byte 0 picks the frame limit, byte 1 seeds the chunk sizes,
// the rest is the byte stream. The stream is fed whole to one reader and in
// chunks to another; both must agree with a plain reference parse: the same
// frames in the same order, every frame 1..limit bytes, the same failure,
// and a failure that sticks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/frame.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::Code;
using tally::net::FrameReader;
using tally::net::kFrameHeaderBytes;

struct Parsed {
  std::vector<std::string> frames;
  Code error = Code::kOk;
  size_t leftover = 0;  // bytes of a truncated last frame
};

// The reference: what the stream means, without any buffering cleverness.
Parsed reference(std::string_view s, uint32_t limit) {
  Parsed out;
  size_t at = 0;
  while (s.size() - at >= kFrameHeaderBytes) {
    auto b = reinterpret_cast<const unsigned char*>(s.data() + at);
    uint32_t len = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    if (len == 0) {
      out.error = Code::kProtocolError;
      return out;
    }
    if (len > limit) {
      out.error = Code::kTooLarge;
      return out;
    }
    if (s.size() - at - kFrameHeaderBytes < len) break;
    out.frames.emplace_back(s.substr(at + kFrameHeaderBytes, len));
    at += kFrameHeaderBytes + len;
  }
  out.leftover = s.size() - at;
  return out;
}

// Feeds `chunks` to a reader, taking frames after every feed.
Parsed run(const std::vector<std::string_view>& chunks, uint32_t limit) {
  FrameReader reader(limit);
  Parsed out;
  std::string frame;
  for (auto chunk : chunks) {
    tally::Status s = reader.feed(chunk);
    while (reader.next(frame)) {
      FUZZ_CHECK(!frame.empty() && frame.size() <= limit);
      out.frames.push_back(frame);
    }
    if (!s.ok()) {
      out.error = s.code();
      // Sticky: more bytes change nothing.
      FUZZ_CHECK(reader.feed(std::string_view("\0\0\0\1x", 5)).code() == s.code());
      FUZZ_CHECK(!reader.next(frame));
      return out;
    }
  }
  out.leftover = reader.buffered();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t limit = 1 + data[0] % 64;  // small, so the fuzzer hits it
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::vector<std::string_view> chunks = split_feeds(stream, data[1]);

  const Parsed want = reference(stream, limit);
  const Parsed whole = run({stream}, limit);
  const Parsed pieces = run(chunks, limit);

  FUZZ_CHECK(whole.error == want.error);
  FUZZ_CHECK(pieces.error == want.error);
  if (want.error == Code::kOk) {
    // On failure the reader drops what it held; frames taken before the
    // failing feed may be fewer than the reference found, never different.
    FUZZ_CHECK(whole.frames == want.frames);
    FUZZ_CHECK(pieces.frames == want.frames);
    FUZZ_CHECK(whole.leftover == want.leftover);
    FUZZ_CHECK(pieces.leftover == want.leftover);
  } else {
    for (const auto* got : {&whole, &pieces}) {
      FUZZ_CHECK(got->frames.size() <= want.frames.size());
      for (size_t i = 0; i < got->frames.size(); ++i) FUZZ_CHECK(got->frames[i] == want.frames[i]);
    }
  }
  return 0;
}
