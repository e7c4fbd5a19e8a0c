// The coordinator's counting rules (quorum/quorum_tally.hpp).
#include <catch2/catch.hpp>

#include "quorum/dvv.hpp"
#include "quorum/quorum_tally.hpp"

using namespace tally;
using namespace tally::quorum;

namespace {
std::string name(ReplicaId id) { return "n" + std::to_string(id); }
ReplicaOutcome waiting(ReplicaId id, ReplicaId for_ = 0) { return {id, for_, ReplicaState::kWaiting, {}}; }
ReplicaOutcome down(ReplicaId id) { return {id, 0, ReplicaState::kDown, {}}; }

DvvSet put_value(const DvvSet& cur, const std::string& v, ReplicaId at, const VersionVector& ctx = {}) {
  return *update(cur, ctx, ClientWrite::Put(v, {1, 0, at}), at);
}
}  // namespace

TEST_CASE("a write succeeds at the W-th ack, not before", "[quorum][tally]") {
  WriteTally t(2, {waiting(1), waiting(2), waiting(3)});
  CHECK(t.verdict() == Verdict::kPending);
  t.ack(1);
  CHECK(t.verdict() == Verdict::kPending);
  t.ack(3);
  CHECK(t.verdict() == Verdict::kSucceeded);
  t.fail(2, "disk full");  // a later failure does not undo success
  CHECK(t.verdict() == Verdict::kSucceeded);
  CHECK(t.status(500, name).ok());
}

TEST_CASE("an unreachable W fails only once every replica asked has answered, naming each", "[quorum][tally]") {
  WriteTally t(3, {waiting(1), waiting(2), down(3)});
  t.ack(1);
  CHECK(t.verdict() == Verdict::kPending);  // W=3 is already impossible, but n2 has not answered
  t.ack(2);
  REQUIRE(t.verdict() == Verdict::kFailed);
  Status s = t.status(500, name);
  CHECK(s.code() == Code::kQuorumNotReached);
  CHECK(s.message() == "2 of W=3 acked within 500 ms (n3: down)");
}

TEST_CASE("a timeout fails the write and names the replicas that did not answer", "[quorum][tally]") {
  WriteTally t(2, {waiting(1), waiting(2), waiting(3)});
  t.ack(1);
  t.fail(2, "connection to n2 lost");
  t.timeout();
  REQUIRE(t.verdict() == Verdict::kFailed);
  CHECK(t.status(250, name).to_string() ==
        "quorum not reached: 1 of W=2 acked within 250 ms (n2: connection to n2 lost, n3: timeout)");
}

TEST_CASE("duplicate and unknown answers are ignored", "[quorum][tally]") {
  WriteTally t(2, {waiting(1), waiting(2)});
  t.ack(1);
  t.ack(1);  // a duplicated message
  t.ack(9);  // not asked
  CHECK(t.ok_count() == 1);
  CHECK(t.verdict() == Verdict::kPending);
}

TEST_CASE("hints are owed to every primary without the write; a fallback's ack covers its primary",
          "[quorum][tally]") {
  // n3 is down and n4 stands in for it; n2 times out.
  WriteTally t(2, {waiting(1), waiting(2), waiting(4, 3)});
  t.ack(1);
  t.ack(4);
  t.timeout();
  CHECK(t.verdict() == Verdict::kSucceeded);
  CHECK(t.unacked_primaries() == std::vector<ReplicaId>{2});
  WriteTally u(1, {waiting(1), waiting(5, 3)});
  u.ack(1);
  u.fail(5, "refused");
  CHECK(u.unacked_primaries() == std::vector<ReplicaId>{3});
}

TEST_CASE("a read merges replies and finds the replicas that need repair", "[quorum][tally]") {
  DvvSet a = put_value({}, "v1", 1);
  DvvSet b = put_value(a, "v2", 1, join(a));  // supersedes v1
  ReadTally t(2, {waiting(1), waiting(2), waiting(3)});
  t.reply(1, b);
  CHECK(t.verdict() == Verdict::kPending);
  t.reply(2, a);  // stale
  REQUIRE(t.verdict() == Verdict::kSucceeded);
  CHECK(values(t.merged()) == std::vector<std::string>{"v2"});
  t.reply(3, std::nullopt);  // has nothing
  auto stale = t.stale_replicas();
  std::sort(stale.begin(), stale.end());
  CHECK(stale == std::vector<ReplicaId>{2, 3});
}

TEST_CASE("a read keeps concurrent versions from different replicas as siblings", "[quorum][tally]") {
  DvvSet x = put_value({}, "x", 1);
  DvvSet y = put_value({}, "y", 2);
  ReadTally t(2, {waiting(1), waiting(2)});
  t.reply(1, x);
  t.reply(2, y);
  auto v = values(t.merged());
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<std::string>{"x", "y"});
  auto stale = t.stale_replicas();
  std::sort(stale.begin(), stale.end());
  CHECK(stale == std::vector<ReplicaId>{1, 2});
}

TEST_CASE("a read with too few live replicas fails with R in the message", "[quorum][tally]") {
  ReadTally t(2, {waiting(1), down(2), down(3)});
  t.reply(1, std::nullopt);
  REQUIRE(t.verdict() == Verdict::kFailed);
  CHECK(t.status(1000, name).message() == "1 of R=2 replied within 1000 ms (n2: down, n3: down)");
}
