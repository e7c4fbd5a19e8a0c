// libFuzzer target for the wire decoders (`make fuzz`; see README.md here):
// decode_payload (default and tiny limits) and decode_context. Records on
// their own, as stored, are record_fuzz's; here they come inside messages.
//
// Besides "no crash, no leak, no sanitizer report", each decoder must be
// consistent with its encoder: whatever decodes re-encodes to bytes that
// decode to the same value, a decoded context is a valid version vector, and
// errors carry the code the header promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/codec.hpp"
#include "net/frame.hpp"
#include "quorum/dvv.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::Code;
namespace net = tally::net;

void payload(std::string_view bytes, const net::DecodeLimits& limits) {
  auto m = net::decode_payload(bytes, limits);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == Code::kProtocolError);
    FUZZ_CHECK(!m.status().message().empty());
    return;
  }
  const std::string again = net::encode_payload(*m);
  auto back = net::decode_payload(again);
  FUZZ_CHECK(back.ok() && *back == *m);
  std::string frame;
  net::encode_frame(*m, frame);
  FUZZ_CHECK(frame.size() == net::kFrameHeaderBytes + again.size() &&
             frame.compare(net::kFrameHeaderBytes, std::string::npos, again) == 0);
}

void context(std::string_view bytes) {
  auto c = net::decode_context(bytes);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == Code::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(tally::quorum::validate(*c).ok());
  auto back = net::decode_context(net::encode_context(*c));
  FUZZ_CHECK(back.ok() && *back == *c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  payload(bytes, net::DecodeLimits{});
  payload(bytes, net::DecodeLimits{8, 4, 3});
  context(bytes);
  return 0;
}
