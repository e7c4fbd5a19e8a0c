// What the benchmarks that start real nodes (bench/*_bench.cpp) share: their
// command-line options and reading a number from a node's `status`.
#pragma once

#include <string>

#include "tally/client.hpp"

namespace tally::clustertest {

// The value after `name` on the command line ("--keys 100"), or `def`.
const char* option(int argc, char** argv, const char* name, const char* def);
// Whether `name` is on the command line.
bool has_flag(int argc, char** argv, const char* name);
// A `status` field of the node at `endpoint`, as a number; -1 when it cannot be
// read (cluster_harness.hpp's status_number, for printf's %ld).
long status_number(Client& c, const std::string& endpoint, const char* name);

}  // namespace tally::clustertest
