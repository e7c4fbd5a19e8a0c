// Raft's persistent state as src/store/raft_log_store keeps it: log entries,
// the hard state and the snapshot, msgpack. (Raft messages on the wire embed
// entries and snapshots in this same format: src/net/codec.cpp.)
#pragma once

#include <string>
#include <string_view>

#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::codec {

// Errors: kCorruption.
std::string encode_raft_entry(const raft::Entry& entry);
Result<raft::Entry> decode_raft_entry(std::string_view bytes);
std::string encode_hard_state(const raft::HardState& hs);
Result<raft::HardState> decode_hard_state(std::string_view bytes);
std::string encode_snapshot(const raft::Snapshot& snapshot);
Result<raft::Snapshot> decode_snapshot(std::string_view bytes);

}  // namespace tally::codec
