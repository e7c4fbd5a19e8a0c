// A fresh folder under /tmp for a test, removed with everything in it when
// the TempDir goes out of scope.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace tally::testing {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/tally-test-XXXXXX";
    const char* made = mkdtemp(tmpl);
    path = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path;
};

}  // namespace tally::testing
