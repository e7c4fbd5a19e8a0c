// libFuzzer target for the msgpack decoders (see README.md here to build and run):
// decode_payload (default and tiny limits), decode_record and decode_context.
//
// Besides "no crash, no leak, no sanitizer report", each decoder must be
// consistent with its encoder: whatever decodes re-encodes to bytes that
// decode to the same value, a decoded record is a valid DVV set, and errors
// carry the code the header promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "codec/record_codec.hpp"
#include "net/codec.hpp"
#include "net/frame.hpp"
#include "quorum/dvv.hpp"

namespace {

using tally::Code;
namespace net = tally::net;

void check(bool ok) {
  if (!ok) std::abort();
}

void payload(std::string_view bytes, const net::DecodeLimits& limits) {
  auto m = net::decode_payload(bytes, limits);
  if (!m.ok()) {
    check(m.status().code() == Code::kProtocolError);
    check(!m.status().message().empty());
    return;
  }
  const std::string again = net::encode_payload(*m);
  auto back = net::decode_payload(again);
  check(back.ok() && *back == *m);
  std::string frame;
  net::encode_frame(*m, frame);
  check(frame.size() == net::kFrameHeaderBytes + again.size() &&
        frame.compare(net::kFrameHeaderBytes, std::string::npos, again) == 0);
}

void record(std::string_view bytes) {
  auto r = codec::decode_record(bytes);
  if (!r.ok()) {
    check(r.status().code() == Code::kCorruption);
    return;
  }
  check(tally::quorum::validate(*r).ok());
  auto back = codec::decode_record(codec::encode_record(*r));
  check(back.ok() && *back == *r);
}

void context(std::string_view bytes) {
  auto c = net::decode_context(bytes);
  if (!c.ok()) {
    check(c.status().code() == Code::kInvalidArgument);
    return;
  }
  check(tally::quorum::validate(*c).ok());
  auto back = net::decode_context(net::encode_context(*c));
  check(back.ok() && *back == *c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  payload(bytes, net::DecodeLimits{});
  payload(bytes, net::DecodeLimits{8, 4, 3});
  record(bytes);
  context(bytes);
  return 0;
}
