// KeyFilter: no false negatives, through every layer it grows; about 1%
// false positives; nothing trusted before it is complete or once it is over
// its budget.
#include "store/key_filter.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace tally::store {
namespace {

std::string key(const char* prefix, uint64_t i) { return prefix + std::to_string(i); }

TEST_CASE("key filter: every key added is found, across layers, and few others are", "[key_filter]") {
  KeyFilter f(size_t{64} << 20);
  constexpr uint64_t kKeys = 600'000;  // kFirstLayerKeys * (1 + 2 + 4) < kKeys: four layers
  for (uint64_t i = 0; i < kKeys; ++i) f.add(key("d\x07" "default" "k", i));
  CHECK(f.layers() == 4);
  for (uint64_t i = 0; i < kKeys; ++i) {
    if (!f.may_contain(key("d\x07" "default" "k", i))) FAIL("key " << i << " was added but is not found");
  }
  // The keys count as distinct but for the few that were "maybe" already
  // (about 2%: the false positives of the layers filled before them).
  CHECK(f.keys() > kKeys * 97 / 100);
  CHECK(f.keys() <= kKeys);
  uint64_t false_positives = 0;
  constexpr uint64_t kProbes = 200'000;
  for (uint64_t i = 0; i < kProbes; ++i) false_positives += f.may_contain(key("d\x07" "default" "absent", i));
  // About 1% per layer when each is full; four layers, the last half full.
  INFO("false positives: " << false_positives << " of " << kProbes << "; keys " << f.keys());
  CHECK(false_positives < kProbes * 4 / 100);
  CHECK(false_positives > 0);
  // About 10 bits per key of capacity: 65,536 * (1 + 2 + 4 + 8) keys.
  CHECK(f.bytes() == (uint64_t{65'536} * 15 * 10 + 511) / 512 * 64);
}

TEST_CASE("key filter: not usable until complete; adding a key twice counts it once", "[key_filter]") {
  KeyFilter f(size_t{1} << 20);
  CHECK_FALSE(f.usable());
  CHECK_FALSE(f.may_contain("a"));
  f.add("a");
  f.add("a");
  CHECK(f.keys() == 1);
  f.set_complete();
  CHECK(f.usable());
  CHECK(f.may_contain("a"));
}

TEST_CASE("key filter: over its budget it stops, says every key may be there, and is not usable", "[key_filter]") {
  // Room for the first layer (81,920 bytes) but not the second (163,840 more).
  KeyFilter f(200'000);
  CHECK_FALSE(f.over_budget());
  for (uint64_t i = 0; i < 2 * KeyFilter::kFirstLayerKeys; ++i) f.add(key("k", i));
  CHECK(f.over_budget());
  CHECK(f.bytes() == 0);
  f.set_complete();
  CHECK_FALSE(f.usable());
  CHECK(f.may_contain("never added"));

  KeyFilter tiny(1024);
  CHECK(tiny.over_budget());
}

}  // namespace
}  // namespace tally::store
