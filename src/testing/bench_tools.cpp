#include "testing/bench_tools.hpp"

#include <cstdlib>
#include <cstring>

#include "testing/cluster_harness.hpp"

namespace tally::clustertest {

const char* option(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return def;
}

bool has_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

long status_number(Client& c, const std::string& endpoint, const char* name) {
  const std::optional<uint64_t> v = status_number(c, endpoint, std::string(name));
  return v ? static_cast<long>(*v) : -1;
}

}  // namespace tally::clustertest
