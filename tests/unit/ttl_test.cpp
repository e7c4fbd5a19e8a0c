// Time to live in the pure cores: an expiring value reads as absent from its
// expiry on, in every mode; merges keep the expiry as part of the value; a
// record whose every value expires is collected like a tombstone once the
// last one has; a linearizable register's conditions judge expiry at the
// ballot's time. (The node and RESP sides: resp_session_test.cpp,
// tests/cluster/ttl_test.cpp.)
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "quorum/merkle_tree.hpp"
#include "quorum/paxos.hpp"

namespace tally::quorum {
namespace {

constexpr ReplicaId kA = 1;
constexpr ReplicaId kB = 2;
using Values = std::vector<std::string>;

DvvSet put(const DvvSet& s, const VersionVector& ctx, const std::string& v, ReplicaId r, uint64_t at_ms,
           uint64_t ttl_ms = 0) {
  ClientWrite w = ClientWrite::Put(v, HlcTimestamp{at_ms, 0, r});
  if (ttl_ms) w.expires_ms = at_ms + ttl_ms;
  Result<DvvSet> next = update(s, ctx, std::move(w), r);
  REQUIRE(next.ok());
  REQUIRE(validate(*next).ok());
  return *next;
}

TEST_CASE("an expiring value reads until its expiry, then as absent", "[ttl]") {
  const DvvSet s = put({}, {}, "v", kA, 1000, 200);
  REQUIRE(s.siblings.size() == 1);
  CHECK(s.siblings[0].expires_ms == 1200);
  CHECK(values(s, 1199) == Values{"v"});
  CHECK(values(s, 1200).empty());
  CHECK_FALSE(dead(s.siblings[0], 1199));
  CHECK(dead(s.siblings[0], 1200));
  CHECK(values(s) == Values{"v"});  // the stored state is unchanged: nothing is written at expiry
}

TEST_CASE("a delete never expires, even when the write asked for a time to live", "[ttl]") {
  ClientWrite d = ClientWrite::Delete(HlcTimestamp{5, 0, kA});
  d.expires_ms = 99;
  const DvvSet s = *update({}, {}, std::move(d), kA);
  CHECK(s.siblings[0].expires_ms == 0);
  CHECK(s.siblings[0].tombstone);
}

TEST_CASE("a write with a time to live supersedes what its context saw; a concurrent sibling keeps its own",
          "[ttl]") {
  DvvSet s = put({}, {}, "forever", kA, 1000);
  const VersionVector seen = join(s);
  DvvSet other = put(s, {}, "concurrent", kB, 1001);       // a writer that did not read
  DvvSet mine = put(s, seen, "leased", kA, 1002, 100);      // supersedes "forever"
  DvvSet merged = sync(mine, other);
  CHECK(values(merged, 1050) == Values{"leased", "concurrent"});  // in dot order
  // Once the lease runs out the concurrent value is what is left.
  CHECK(values(merged, 1102) == Values{"concurrent"});
  CHECK_FALSE(dead_from(merged).has_value());  // "concurrent" never expires: never collected
}

TEST_CASE("merges keep the expiry: it is part of the value, the same on every replica", "[ttl]") {
  const DvvSet a = put({}, {}, "v", kA, 1000, 500);
  DvvSet b;  // a replica that missed the write
  const DvvSet m1 = sync(a, b), m2 = sync(b, a);
  CHECK(m1 == m2);
  CHECK(m1.siblings[0].expires_ms == 1500);
  CHECK_FALSE(needs_repair(a, m1));
  // Two payloads under one dot that differ only in expiry (a broken
  // invariant) still merge the same whichever side holds which.
  DvvSet c = a;
  c.siblings[0].expires_ms = 1600;
  CHECK(sync(a, c) == sync(c, a));
  // The Merkle summary sees the expiry, so replicas that disagree on it exchange.
  CHECK(summary(a) != summary(c));
  DvvSet plain = a;
  plain.siblings[0].expires_ms = 0;
  CHECK(summary(plain) != summary(a));
}

TEST_CASE("a record is collected like a tombstone once every value in it has expired", "[ttl]") {
  DvvSet s = put({}, {}, "x", kA, 1000, 100);
  s = put(s, {}, "y", kB, 1000, 300);
  REQUIRE(dead_from(s).has_value());
  CHECK(*dead_from(s) == 1300);  // the latest expiry
  CHECK_FALSE(all_dead(s, 1299));
  CHECK(all_dead(s, 1300));
  // A tombstone beside them changes nothing; one value without expiry does.
  DvvSet d = *update(s, {}, ClientWrite::Delete(HlcTimestamp{1001, 0, kA}), kA);
  CHECK(*dead_from(d) == 1300);
  DvvSet live = put(s, {}, "z", kA, 1002);
  CHECK_FALSE(dead_from(live).has_value());
  CHECK_FALSE(all_dead(live, 1'000'000));
  // Only tombstones: dead from the start (0), as before.
  DvvSet tomb = *update({}, {}, ClientWrite::Delete(HlcTimestamp{1, 0, kA}), kA);
  CHECK(dead_from(tomb) == std::optional<uint64_t>(0));
  CHECK_FALSE(dead_from(DvvSet{}).has_value());
}

TEST_CASE("lww keeps the newest write with its expiry; an expired winner reads as absent", "[ttl]") {
  DvvSet s = *lww_update({}, ClientWrite::Put("old", HlcTimestamp{1000, 0, kA}), kA);
  ClientWrite w = ClientWrite::Put("new", HlcTimestamp{1001, 0, kB});
  w.expires_ms = 1101;
  s = *lww_update(s, std::move(w), kB);
  REQUIRE(s.siblings.size() == 1);
  CHECK(values(lww_resolve(s), 1100) == Values{"new"});
  CHECK(values(lww_resolve(s), 1101).empty());  // "old" was overwritten, not uncovered
}

TEST_CASE("a linearizable register: an expired value is absent to conditions, at the ballot's time", "[ttl][paxos]") {
  CasOp op;
  op.kind = CasKind::kPut;
  op.value = "lease";
  op.expires_ms = 2000;
  op.id = 7;
  Register reg = apply(op, Register{});
  CHECK(reg.expires_ms == 2000);
  CHECK(reg.live(1999));
  CHECK_FALSE(reg.live(2000));
  CasOp take;
  take.kind = CasKind::kPut;
  take.condition = Condition::kIfAbsent;
  take.value = "mine";
  take.id = 8;
  CHECK_FALSE(condition_holds(take, reg, 1999));
  CHECK(condition_holds(take, reg, 2000));  // the lease ran out: the key is free
  CasOp xx = take;
  xx.condition = Condition::kIfPresent;
  CHECK_FALSE(condition_holds(xx, reg, 2000));
  CasOp cas = take;
  cas.condition = Condition::kIfValue;
  cas.expected = "lease";
  CHECK_FALSE(condition_holds(cas, reg, 2000));
  // A write without a time to live clears it; a delete leaves none.
  Register next = apply(take, reg);
  CHECK(next.expires_ms == 0);
  CHECK(next.seq == reg.seq + 1);
  CasOp del;
  del.kind = CasKind::kDelete;
  del.id = 9;
  CHECK(apply(del, reg).expires_ms == 0);
}

TEST_CASE("the acceptor's durable state keeps the register's expiry", "[ttl][paxos][codec]") {
  AcceptorState st;
  st.promised = Ballot{10, 0, 2};
  st.accepted = Ballot{9, 1, 1};
  st.reg = Register{4, true, "v", {1, 2, 3, 4}, 123456};
  auto back = codec::decode_acceptor_state(codec::encode_acceptor_state(st));
  REQUIRE(back.ok());
  CHECK(*back == st);
  st.reg.expires_ms = 0;
  back = codec::decode_acceptor_state(codec::encode_acceptor_state(st));
  REQUIRE(back.ok());
  CHECK(*back == st);
  // And its fences (docs/locks.md), with or without an expiry.
  st.reg.fence_locks = {"jobs", "reports"};
  st.reg.fence_tokens = {17, 4};
  back = codec::decode_acceptor_state(codec::encode_acceptor_state(st));
  REQUIRE(back.ok());
  CHECK(*back == st);
}

}  // namespace
}  // namespace tally::quorum
