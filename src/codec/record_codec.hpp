// The stored record: a key's versions (a DVV set) as src/store keeps them on
// disk and replicas send them to each other. `[format=1, clock, siblings]`,
// msgpack; decoding checks the bytes and that the set is one that updates and
// syncs could have produced.
#pragma once

#include <string>
#include <string_view>

#include "quorum/version.hpp"
#include "tally/status.hpp"

namespace tally::codec {

// Errors: kCorruption.
std::string encode_record(const quorum::DvvSet& record);
Result<quorum::DvvSet> decode_record(std::string_view bytes);

}  // namespace tally::codec
