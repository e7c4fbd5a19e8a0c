// The wire codec: every message that crosses the wire (net/messages.hpp) as
// msgpack, and the opaque causal context handed to clients.
//
// The formats other owners keep are in src/codec: stored records
// (codec/record_codec.hpp), Raft's persistent state (codec/raft_codec.hpp)
// and the metadata commands and map (codec/meta_codec.hpp); their users
// include those directly.
//
// Decoding never trusts its input: sizes are bounded by msgpack unpack limits
// (DecodeLimits), every field's type is checked, trailing bytes are an error,
// and the error names the field that was wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "codec/limits.hpp"
#include "net/messages.hpp"
#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::net {

using codec::DecodeLimits;

// Appends one whole frame (header and payload) to `out`.
void encode_frame(const wire::Message& msg, std::string& out);

// The payload alone (no header), for transports that frame it themselves.
std::string encode_payload(const wire::Message& msg);

// Decodes one payload. Errors are kProtocolError and name what was wrong.
Result<wire::Message> decode_payload(std::string_view payload, const DecodeLimits& limits = {});

// The opaque causal context handed to clients. Errors: kInvalidArgument (it
// comes from a user, who may have mangled it).
std::string encode_context(const quorum::VersionVector& clock);
Result<quorum::VersionVector> decode_context(std::string_view bytes);

}  // namespace tally::net
