// FrameReader: 4-byte big-endian length framing. Frames reassemble whatever
// way the stream is cut, and a bad header (empty, or over the limit) is
// refused as soon as its 4 bytes are in, before any body byte is kept, and
// the reader stays failed (docs/architecture.md, Wire format).
#include "net/frame.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace tally::net {
namespace {

std::string header(uint32_t length) {
  char h[kFrameHeaderBytes];
  put_frame_header(h, length);
  return std::string(h, kFrameHeaderBytes);
}

std::string frame(const std::string& payload) {
  return header(static_cast<uint32_t>(payload.size())) + payload;
}

// Every complete frame the reader holds, in order.
std::vector<std::string> drain(FrameReader& reader) {
  std::vector<std::string> out;
  std::string payload;
  while (reader.next(payload)) out.push_back(payload);
  return out;
}

TEST_CASE("frame header is the payload length as 4 big-endian bytes", "[frame]") {
  CHECK(header(0x01020304) == std::string("\x01\x02\x03\x04", 4));
  CHECK(header(5) == std::string("\0\0\0\x05", 4));
  CHECK(header(0xFFFFFFFF) == std::string("\xFF\xFF\xFF\xFF", 4));
}

TEST_CASE("a frame split at every byte boundary reassembles into the same payload", "[frame]") {
  // Binary payload with NULs and high bytes, long enough that the length has
  // two significant header bytes.
  std::string payload;
  for (int i = 0; i < 300; ++i) payload.push_back(static_cast<char>(i * 7));
  const std::string wire = frame(payload);

  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("cut at byte " << cut);
    FrameReader reader(1024);
    REQUIRE(reader.feed(std::string_view(wire).substr(0, cut)).ok());
    std::string out;
    if (cut < wire.size()) {
      CHECK_FALSE(reader.next(out));
      CHECK(reader.buffered() == cut);
    }
    REQUIRE(reader.feed(std::string_view(wire).substr(cut)).ok());
    CHECK(drain(reader) == std::vector<std::string>{payload});
    CHECK(reader.buffered() == 0);
  }
}

TEST_CASE("a frame fed one byte at a time reassembles", "[frame]") {
  const std::string wire = frame("hello") + frame(std::string("\0\x01", 2));
  FrameReader reader(64);
  std::vector<std::string> got;
  for (char c : wire) {
    REQUIRE(reader.feed(std::string_view(&c, 1)).ok());
    for (auto& p : drain(reader)) got.push_back(p);
  }
  CHECK(got == std::vector<std::string>{"hello", std::string("\0\x01", 2)});
  CHECK(reader.buffered() == 0);
}

TEST_CASE("many frames in one feed come out whole and in order", "[frame]") {
  std::vector<std::string> payloads;
  std::string wire;
  for (int i = 1; i <= 200; ++i) {
    payloads.push_back(
        std::string(static_cast<size_t>(i % 37 + 1), static_cast<char>('a' + i % 26)) +
        std::to_string(i));
    wire += frame(payloads.back());
  }
  FrameReader reader(1024);
  REQUIRE(reader.feed(wire).ok());
  CHECK(drain(reader) == payloads);
  CHECK(reader.buffered() == 0);
}

TEST_CASE("frames interleaved with consumption survive buffer compaction", "[frame]") {
  // Take some frames between feeds, so the reader compacts its buffer while a
  // partial frame sits behind consumed ones.
  FrameReader reader(256);
  std::vector<std::string> expected, got;
  std::string pending;
  for (int i = 0; i < 100; ++i) {
    expected.push_back("frame-" + std::to_string(i) + std::string(static_cast<size_t>(i), 'x'));
    pending += frame(expected.back());
    size_t take = pending.size() * 2 / 3;
    REQUIRE(reader.feed(std::string_view(pending).substr(0, take)).ok());
    pending.erase(0, take);
    std::string p;
    if (reader.next(p)) got.push_back(p);
  }
  REQUIRE(reader.feed(pending).ok());
  for (auto& p : drain(reader)) got.push_back(p);
  CHECK(got == expected);
  CHECK(reader.buffered() == 0);
}

TEST_CASE("a frame of exactly the limit is accepted", "[frame]") {
  FrameReader reader(100);
  const std::string payload(100, 'z');
  REQUIRE(reader.feed(frame(payload)).ok());
  CHECK(drain(reader) == std::vector<std::string>{payload});
}

TEST_CASE("a header over the limit is rejected on its 4th byte, before any body, and sticks",
          "[frame]") {
  FrameReader reader(1024);
  const std::string h = header(1025);
  // Three header bytes say nothing yet.
  REQUIRE(reader.feed(h.substr(0, 3)).ok());
  // The fourth completes the header: refused now, not after 1025 body bytes.
  Status s = reader.feed(h.substr(3));
  REQUIRE(s.code() == Code::kTooLarge);
  CHECK_THAT(s.message(), Catch::Contains("1025") && Catch::Contains("1024"));
  CHECK(reader.buffered() == 0);  // nothing of the bad frame is held

  // Sticky: even a good frame afterwards is refused, and nothing comes out.
  Status again = reader.feed(frame("ok"));
  CHECK(again.code() == Code::kTooLarge);
  std::string out;
  CHECK_FALSE(reader.next(out));
  CHECK(reader.buffered() == 0);
}

TEST_CASE("a 4 GiB header is refused without allocating its body", "[frame]") {
  FrameReader reader(16 * 1024 * 1024);
  Status s = reader.feed(header(0xFFFFFFFF));
  CHECK(s.code() == Code::kTooLarge);
  CHECK_THAT(s.message(), Catch::Contains("4294967295"));
}

TEST_CASE("an oversized header behind complete frames in the same feed is rejected", "[frame]") {
  // The reader must look at every header that becomes visible, not only the
  // first: otherwise a peer could queue a huge frame behind a small one.
  FrameReader reader(64);
  Status s = reader.feed(frame("fine") + header(65));
  CHECK(s.code() == Code::kTooLarge);
  std::string out;
  CHECK_FALSE(reader.next(out));
}

TEST_CASE("a zero-length frame is a protocol error that sticks", "[frame]") {
  FrameReader reader(1024);
  Status s = reader.feed(header(0));
  REQUIRE(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("empty"));
  CHECK(reader.feed(frame("after")).code() == Code::kProtocolError);
  std::string out;
  CHECK_FALSE(reader.next(out));
}

TEST_CASE("buffered reports the bytes of a truncated frame", "[frame]") {
  FrameReader reader(1024);
  std::string out;

  REQUIRE(reader.feed(std::string("\0\0", 2)).ok());  // half a header
  CHECK(reader.buffered() == 2);
  CHECK_FALSE(reader.next(out));

  REQUIRE(reader.feed(std::string("\0\x0A", 2) + "12345").ok());  // header for 10, 5 body bytes
  CHECK(reader.buffered() == 9);
  CHECK_FALSE(reader.next(out));

  REQUIRE(reader.feed("67890" + frame("next")).ok());
  CHECK(reader.next(out));
  CHECK(out == "1234567890");
  CHECK(reader.buffered() == 8);  // "next" and its header, not yet taken
  CHECK(reader.next(out));
  CHECK(out == "next");
  CHECK(reader.buffered() == 0);
}

}  // namespace
}  // namespace tally::net
