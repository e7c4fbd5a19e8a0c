// LevelDbEngine on a real LevelDB in a temp folder: what it writes it reads
// back, and its background work runs below the priority of requests.
#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/leveldb_engine.hpp"
#include "testing/temp_dir.hpp"

using namespace tally;
using namespace tally::store;
using tally::testing::TempDir;

namespace {

// The nice values of this process's threads, from /proc (field 19 of a
// task's stat, counted after the parenthesised command name).
std::vector<int> thread_nice_values() {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
      if (i == 19) out.push_back(std::stoi(field));
    }
  }
  return out;
}

bool has_table_file(const std::string& dir) {
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".ldb") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("LevelDbEngine reads back what it wrote, and a deletion", "[leveldb_engine]") {
  TempDir dir;
  auto engine = LevelDbEngine::open(dir.path);
  REQUIRE(engine.ok());
  WriteBatch batch;
  batch.ops.push_back({"a", std::string("1")});
  batch.ops.push_back({"b", std::string("2")});
  REQUIRE((*engine)->write(batch, false).ok());
  WriteBatch del;
  del.ops.push_back({"a", std::nullopt});
  REQUIRE((*engine)->write(del, true).ok());
  auto a = (*engine)->read("a");
  auto b = (*engine)->read("b");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK_FALSE(a->has_value());
  REQUIRE(b->has_value());
  CHECK(**b == "2");
}

TEST_CASE("LevelDB's flush runs on a thread kBackgroundNice nicer than the process, requests' thread untouched",
          "[leveldb_engine]") {
  TempDir dir;
  const int own_before = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  const int background = std::min(19, own_before + kBackgroundNice);
  REQUIRE(background != own_before);  // a test run at nice 19 could not tell
  {
    auto engine = LevelDbEngine::open(dir.path);
    REQUIRE(engine.ok());
    // More than one write buffer (32 MiB) of values, so LevelDB flushes a
    // memtable on its background thread.
    const std::string value(1024, 'v');
    for (int b = 0; b < 400; ++b) {
      WriteBatch batch;
      for (int i = 0; i < 100; ++i) batch.ops.push_back({"k" + std::to_string(b * 100 + i), value});
      REQUIRE((*engine)->write(batch, false).ok());
    }
    for (int i = 0; i < 3000 && !has_table_file(dir.path); ++i) {  // up to 30 s on a busy machine
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(has_table_file(dir.path));
    auto nice = thread_nice_values();
    CHECK(std::count(nice.begin(), nice.end(), background) >= 1);
    auto last = (*engine)->read("k39999");
    REQUIRE(last.ok());
    CHECK(last->value_or("") == value);
  }
  CHECK(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())) == own_before);
}
