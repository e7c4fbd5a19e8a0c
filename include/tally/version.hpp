// tally/version.hpp — the version of tally: of the node, the CLI, tally-bench
// and the client library alike. `tally --version`, `tallyd --version`,
// `tally-bench --version`, a node's `status` (field `version`) and RESP
// `INFO` and `HELLO` all print this one constant
// (tests/cluster/version_test.cpp checks that they agree).
#pragma once

#include <string_view>

namespace tally {

inline constexpr std::string_view kVersion = "0.2.0";

}  // namespace tally
