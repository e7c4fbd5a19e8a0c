// The lock's stored value and a linearizable key's version: what the lock
// recipe (tally/lock.hpp, RESP TALLY.LOCK) reads its holder and token from.
#include <catch2/catch.hpp>

#include "common/linear_version.hpp"
#include "common/lock_record.hpp"

namespace tally {

TEST_CASE("a lock record round-trips, holder and all, and a free one keeps its token", "[lock]") {
  using lockrec::LockRecord;
  for (const LockRecord& r : {LockRecord{1, "host:42:7"}, LockRecord{18446744073709551615ULL, "a holder with spaces"},
                              LockRecord{9, ""}}) {
    auto back = lockrec::decode(lockrec::encode(r));
    REQUIRE(back);
    CHECK(back->token == r.token);
    CHECK(back->holder == r.holder);
    CHECK(back->held() == !r.holder.empty());
  }
  CHECK(lockrec::encode({7, "me"}) == "tally-lock 7 me");
}

TEST_CASE("a value that is not a lock is not read as one", "[lock]") {
  for (const char* v : {"", "hello", "tally-lock", "tally-lock ", "tally-lock x me", "tally-lock 12", "tally-lock  me",
                        "tally-lock 99999999999999999999 me", "tally-lock 1x me"}) {
    INFO(v);
    CHECK_FALSE(lockrec::decode(v));
  }
}

TEST_CASE("a linearizable key's version is v<seq>", "[lock]") {
  CHECK(version_context(0) == "v0");
  CHECK(version_seq("v0") == std::optional<uint64_t>(0));
  CHECK(version_seq(version_context(123456789)) == std::optional<uint64_t>(123456789));
  for (const char* bad : {"", "v", "x1", "v1x", "v-1", "\x92\x01"}) {
    INFO(bad);
    CHECK_FALSE(version_seq(bad));
  }
}

TEST_CASE("the lock plans: acquire only a free lock, renew and release only the holding that has it", "[lock]") {
  using lockrec::LockRead;
  using lockrec::LockRecord;
  using lockrec::LockVerdict;
  const LockRead absent{std::nullopt, 6};  // never taken, or its lease ran out, at version 6
  const LockRead freed{LockRecord{4, ""}, 7};
  const LockRead held{LockRecord{8, "a"}, 9};

  // Acquire: the token is the version the write makes.
  for (const LockRead& r : {absent, freed}) {
    auto p = lockrec::plan_acquire(r, "b");
    CHECK(p.verdict == LockVerdict::kWrite);
    CHECK(p.next == LockRecord{r.seq + 1, "b"});
  }
  auto busy = lockrec::plan_acquire(held, "b");
  CHECK(busy.verdict == LockVerdict::kHeldByOther);
  CHECK(busy.next == *held.record);

  // Renew keeps the holding as it is (holder and token), whoever asks.
  auto renew = lockrec::plan_renew(held, 8, "a-again");
  CHECK(renew.verdict == LockVerdict::kWrite);
  CHECK(renew.next == *held.record);
  CHECK(lockrec::plan_renew(held, 7, "a").verdict == LockVerdict::kNotHolder);
  CHECK(lockrec::plan_renew(absent, 8, "a").verdict == LockVerdict::kNotHolder);
  CHECK(lockrec::plan_renew(freed, 4, "a").verdict == LockVerdict::kNotHolder);

  // Release frees it and keeps the token for status.
  auto release = lockrec::plan_release(held, 8);
  CHECK(release.verdict == LockVerdict::kWrite);
  CHECK(release.next == LockRecord{8, ""});
  CHECK(lockrec::plan_release(held, 9).verdict == LockVerdict::kNotHolder);
  CHECK(lockrec::plan_release(freed, 4).verdict == LockVerdict::kNotHolder);
  CHECK(lockrec::plan_release(absent, 8).verdict == LockVerdict::kNotHolder);

  // The deliberate bug the simulation must catch: renewing whatever holds it.
  lockrec::lock_mutations().renew_ignores_token = true;
  auto bad = lockrec::plan_renew(held, 3, "z");
  lockrec::lock_mutations() = {};
  CHECK(bad.verdict == LockVerdict::kWrite);
  CHECK(bad.next == LockRecord{3, "z"});
}

}  // namespace tally
