// The fault suite's checkers (src/testing/history.hpp) on hand-made
// histories: each passes the histories a correct cluster may produce and
// fails on a planted violation, naming the slice of history that shows it.
#include <catch2/catch.hpp>

#include "testing/history.hpp"

using namespace tally::testing;

namespace {

Op write(std::string key, std::string value, int64_t start_ms, int64_t end_ms, Outcome o = Outcome::kOk) {
  Op op;
  op.kind = OpKind::kWrite;
  op.key = std::move(key);
  op.value = std::move(value);
  op.start_us = start_ms * 1000;
  op.end_us = end_ms * 1000;
  op.outcome = o;
  return op;
}

Op read(std::string key, std::vector<std::string> values, int64_t start_ms, int64_t end_ms) {
  Op op;
  op.client = 1;
  op.kind = OpKind::kRead;
  op.key = std::move(key);
  op.read = std::move(values);
  op.start_us = start_ms * 1000;
  op.end_us = end_ms * 1000;
  return op;
}

Op create(std::string keyspace, Outcome o) {
  Op op;
  op.kind = OpKind::kCreateKeyspace;
  op.key = std::move(keyspace);
  op.outcome = o;
  return op;
}

}  // namespace

TEST_CASE("lost writes: an acknowledged write present, or overwritten by a later write, is not lost",
          "[history]") {
  std::vector<Op> h{write("k", "a", 0, 10), write("k", "b", 20, 30), write("j", "x", 0, 10)};
  // b is present; a was followed by b; x is present as one of two siblings.
  auto r = check_lost_writes(h, {{"k", {"b"}}, {"j", {"x", "y"}}});
  // "y" was never written: a phantom.
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].find("phantom: j holds 'y'") == 0);
  CHECK(r.judged == 3);
  CHECK(check_lost_writes(h, {{"k", {"b"}}, {"j", {"x"}}}).ok());
  // A later write that timed out may have overwritten a, too.
  std::vector<Op> h2{write("k", "a", 0, 10), write("k", "b", 20, 1520, Outcome::kUnknown)};
  CHECK(check_lost_writes(h2, {{"k", {"b"}}}).ok());
  // ... and one that failed with an error (tally does not undo it).
  h2[1].outcome = Outcome::kFailed;
  CHECK(check_lost_writes(h2, {{"k", {}}}).ok());
}

TEST_CASE("lost writes: the staged heal (an acknowledged SET replaced by an earlier one that timed out) is caught",
          "[history]") {
  // SET k a-old times out after 1.5 s; SET k b-new is acknowledged after it;
  // at the end only a-old is left.
  std::vector<Op> h{write("k", "a-old", 0, 1500, Outcome::kUnknown), write("k", "b-new", 1600, 1650)};
  auto r = check_lost_writes(h, {{"k", {"a-old"}}});
  REQUIRE(r.violations.size() == 1);
  const std::string& v = r.violations[0];
  CHECK(v.find("lost to an earlier write: client 0 write k 'b-new' ok [1600.000 .. 1650.000 ms]") == 0);
  CHECK(r.count("lost to an earlier write") == 1);
  CHECK(r.count("lost") == 0);
  CHECK(v.find("final state of k: 'a-old'") != std::string::npos);
  CHECK(v.find("written by client 0 write k 'a-old' unknown") != std::string::npos);
  std::string report = r.describe(4242);
  CHECK(report.find("seed 4242") != std::string::npos);
  CHECK(report.find("1 violation(s) in 1 judged") != std::string::npos);
  // A write that overlapped the lost one does not excuse it: it may have come first.
  std::vector<Op> overlap{write("k", "b-new", 1600, 1650), write("k", "c", 1640, 3000, Outcome::kUnknown)};
  CHECK(check_lost_writes(overlap, {{"k", {"c"}}}).count("lost to an earlier write") == 1);
  // Nothing read back at all: lost outright.
  auto gone = check_lost_writes({write("k", "a", 0, 10)}, {});
  REQUIRE(gone.violations.size() == 1);
  CHECK(gone.count("lost") == 1);
  CHECK(gone.violations[0].find("lost: client 0 write k 'a' ok") == 0);
}

TEST_CASE("stale reads: a read returning a value overwritten by a write acknowledged before it began is stale",
          "[history]") {
  std::vector<Op> h{write("k", "1", 0, 10), write("k", "2", 20, 30)};
  SECTION("the older value, read after the newer was acknowledged") {
    h.push_back(read("k", {"1"}, 40, 50));
    auto r = check_stale_reads(h);
    REQUIRE(r.violations.size() == 1);
    const std::string& v = r.violations[0];
    CHECK(v.find("stale: client 1 read k -> '1' ok [40.000 .. 50.000 ms]") == 0);
    CHECK(v.find("returned the value of client 0 write k '1' ok") != std::string::npos);
    CHECK(v.find("overwritten before the read began by client 0 write k '2' ok") != std::string::npos);
  }
  SECTION("the older value, read while the newer was in flight, is fresh") {
    h.push_back(read("k", {"1"}, 25, 50));
    CHECK(check_stale_reads(h).ok());
  }
  SECTION("the newer value, or both as siblings, are fresh") {
    h.push_back(read("k", {"2"}, 40, 50));
    h.push_back(read("k", {"1", "2"}, 40, 50));
    auto r = check_stale_reads(h);
    CHECK(r.ok());
    CHECK(r.judged == 2);
  }
  SECTION("nothing found, once a write was acknowledged, is stale; before, it is not") {
    h.push_back(read("k", {}, 5, 8));
    CHECK(check_stale_reads(h).ok());
    h.push_back(read("k", {}, 12, 15));
    CHECK(check_stale_reads(h).violations.size() == 1);
  }
  SECTION("a value nobody wrote, and one written after the read ended") {
    h.push_back(read("k", {"9"}, 40, 50));
    h.push_back(write("k", "3", 60, 70));
    h.push_back(read("k", {"3"}, 40, 50));
    auto r = check_stale_reads(h);
    REQUIRE(r.violations.size() == 2);
    CHECK(r.violations[0].find("phantom") == 0);
    CHECK(r.violations[1].find("from the future") == 0);
  }
}

TEST_CASE("stale reads: concurrent writes are not held against each other; unacknowledged ones are no witness",
          "[history]") {
  // 1 and 2 overlap: either may have been applied last.
  std::vector<Op> concurrent{write("k", "1", 0, 25), write("k", "2", 20, 30), read("k", {"1"}, 40, 50)};
  CHECK(check_stale_reads(concurrent).ok());
  // 2 timed out: it may never have happened, so reading 1 is fine.
  std::vector<Op> unknown{write("k", "1", 0, 10), write("k", "2", 20, 1520, Outcome::kUnknown),
                          read("k", {"1"}, 1600, 1610)};
  CHECK(check_stale_reads(unknown).ok());
  // But a write that timed out and comes back after a later acknowledged one
  // (the staged heal) makes the read stale: it ended before b-new began.
  std::vector<Op> staged{write("k", "a-old", 0, 1500, Outcome::kUnknown), write("k", "b-new", 1600, 1650),
                         read("k", {"a-old"}, 5000, 5010)};
  auto r = check_stale_reads(staged);
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].find("returned the value of client 0 write k 'a-old' unknown") != std::string::npos);
  // Other keys' writes do not matter.
  std::vector<Op> other{write("k", "1", 0, 10), write("j", "2", 20, 30), read("k", {"1"}, 40, 50)};
  CHECK(check_stale_reads(other).ok());
}

TEST_CASE("metadata: one map everywhere holding every acknowledged change", "[history]") {
  std::set<std::string> initial{"default"};
  std::vector<Op> h{create("a", Outcome::kOk), create("b", Outcome::kUnknown), create("c", Outcome::kFailed)};
  std::vector<NodeMap> same{{"n1", 4, {"default", "a", "b"}}, {"n2", 4, {"default", "a", "b"}}};
  auto ok = check_metadata(h, same, initial);
  CHECK(ok.ok());
  CHECK(ok.judged == 2);

  std::vector<NodeMap> split{{"n1", 4, {"default", "a", "b"}}, {"n2", 3, {"default", "a"}}};
  auto r = check_metadata(h, split, initial);
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0] == "maps differ: n1 and n2\n  n1: epoch 4, keyspaces {a b default}\n  n2: epoch 3, keyspaces {a default}");

  std::vector<NodeMap> lost{{"n1", 4, {"default", "b"}}, {"n2", 4, {"default", "b"}}};
  r = check_metadata(h, lost, initial);
  REQUIRE(r.violations.size() == 2);  // on each node
  CHECK(r.violations[0].find("lost: client 0 create keyspace a ok") == 0);

  std::vector<NodeMap> phantom{{"n1", 4, {"default", "a", "zz"}}};
  r = check_metadata(h, phantom, initial);
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0].find("phantom: keyspace zz") == 0);
}

TEST_CASE("counts and the recorder", "[history]") {
  HistoryRecorder rec;
  int64_t t0 = rec.now_us();
  rec.add(write("k", "1", 0, 1));
  rec.add(write("k", "2", 0, 1, Outcome::kFailed));
  rec.add(write("k", "3", 0, 1, Outcome::kUnknown));
  rec.add(read("k", {}, 0, 1));
  CHECK(rec.now_us() >= t0);
  auto c = count(rec.ops(), OpKind::kWrite);
  CHECK(c.ops == 3);
  CHECK(c.ok == 1);
  CHECK(c.failed == 1);
  CHECK(c.unknown == 1);
  CHECK(count(rec.ops(), OpKind::kRead).ok == 1);
}
