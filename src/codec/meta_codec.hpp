// The metadata group's formats: a metadata command as the data of a Raft log
// entry, and the whole cluster map as the group's snapshot data. msgpack.
#pragma once

#include <string>
#include <string_view>

#include "meta/cluster_map.hpp"
#include "meta/commands.hpp"
#include "tally/status.hpp"

namespace tally::codec {

// Errors: kCorruption.
std::string encode_meta_command(const meta::Command& command);
Result<meta::Command> decode_meta_command(std::string_view bytes);

std::string encode_cluster_map(const meta::ClusterMap& map);
Result<meta::ClusterMap> decode_cluster_map(std::string_view bytes);

}  // namespace tally::codec
