// Key positions and token ranges: the contract token-aware clients rely on.
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <string>

#include "ring/position.hpp"

using tally::ring::key_position;
using tally::ring::keyspace_seed;
using tally::ring::TokenRange;

TEST_CASE("key position is XXH3-64 of the key seeded by XXH3-64 of the keyspace", "[ring]") {
  const std::string ks = "users", key = "alice";
  const uint64_t seed = XXH3_64bits(ks.data(), ks.size());
  CHECK(keyspace_seed(ks) == seed);
  CHECK(key_position(ks, key) == XXH3_64bits_withSeed(key.data(), key.size(), seed));
  CHECK(key_position(keyspace_seed(ks), key) == key_position(ks, key));
}

TEST_CASE("key positions of one key differ between keyspaces, and splits cannot collide",
          "[ring]") {
  CHECK(key_position("users", "alice") != key_position("orders", "alice"));
  // A concatenating scheme would map both of these to hash("abc").
  CHECK(key_position("ab", "c") != key_position("a", "bc"));
  CHECK(key_position("", "x") != key_position("x", ""));
}

TEST_CASE("token range (start, end] excludes start, includes end, and wraps past zero", "[ring]") {
  const TokenRange r{10, 20};
  CHECK_FALSE(r.contains(10));
  CHECK(r.contains(11));
  CHECK(r.contains(20));
  CHECK_FALSE(r.contains(21));
  CHECK_FALSE(r.contains(5));

  const uint64_t max = ~uint64_t{0};
  const TokenRange wrap{max - 5, 3};
  CHECK(wrap.contains(max));
  CHECK(wrap.contains(0));
  CHECK(wrap.contains(3));
  CHECK_FALSE(wrap.contains(4));
  CHECK_FALSE(wrap.contains(max - 5));
  CHECK(wrap.fraction() == Approx(9 * 0x1p-64));
}

TEST_CASE("a token range whose start equals its end is the whole ring", "[ring]") {
  const TokenRange all{42, 42};
  for (uint64_t p : {uint64_t{0}, uint64_t{41}, uint64_t{42}, uint64_t{43}, ~uint64_t{0}}) {
    CHECK(all.contains(p));
  }
  CHECK(all.fraction() == 1.0);
  CHECK(TokenRange{0, uint64_t{1} << 63}.fraction() == 0.5);
}
