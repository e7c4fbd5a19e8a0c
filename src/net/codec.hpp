// The one codec: msgpack for every wire message and every stored record.
//
// Nothing outside net/codec.cpp includes msgpack. Decoding never trusts its
// input: sizes are bounded by msgpack unpack limits (docs/architecture.md, Wire
// format), every field's type is checked, trailing bytes are an error, and
// the error names the field that was wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/messages.hpp"
#include "meta/commands.hpp"
#include "quorum/version.hpp"
#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::net {

struct DecodeLimits {
  uint32_t max_bytes = 16 * 1024 * 1024;  // strings and binaries
  uint32_t max_elements = 100000;         // array and map sizes
  uint32_t max_depth = 8;
};

// Appends one whole frame (header and payload) to `out`.
void encode_frame(const wire::Message& msg, std::string& out);

// The payload alone (no header), for transports that frame it themselves.
std::string encode_payload(const wire::Message& msg);

// Decodes one payload. Errors are kProtocolError and name what was wrong.
Result<wire::Message> decode_payload(std::string_view payload, const DecodeLimits& limits = {});

// A key's stored versions (the record format of src/store). Errors: kCorruption.
std::string encode_record(const quorum::DvvSet& record);
Result<quorum::DvvSet> decode_record(std::string_view bytes);

// The opaque causal context handed to clients. Errors: kInvalidArgument (it
// comes from a user, who may have mangled it).
std::string encode_context(const quorum::VersionVector& clock);
Result<quorum::VersionVector> decode_context(std::string_view bytes);

// Raft's persistent state (src/store/raft_log_store). Errors: kCorruption.
std::string encode_raft_entry(const raft::Entry& entry);
Result<raft::Entry> decode_raft_entry(std::string_view bytes);
std::string encode_hard_state(const raft::HardState& hs);
Result<raft::HardState> decode_hard_state(std::string_view bytes);
std::string encode_snapshot(const raft::Snapshot& snapshot);
Result<raft::Snapshot> decode_snapshot(std::string_view bytes);

// A metadata command, as the data of a Raft log entry. Errors: kCorruption.
std::string encode_meta_command(const meta::Command& command);
Result<meta::Command> decode_meta_command(std::string_view bytes);

// The whole cluster map: the metadata group's snapshot data. Errors: kCorruption.
std::string encode_cluster_map(const meta::ClusterMap& map);
Result<meta::ClusterMap> decode_cluster_map(std::string_view bytes);

}  // namespace tally::net
