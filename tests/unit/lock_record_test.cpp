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

}  // namespace tally
