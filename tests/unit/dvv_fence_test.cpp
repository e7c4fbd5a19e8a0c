// Fenced writes in siblings and lww keyspaces (quorum/dvv.hpp, fence.hpp):
// a replica refuses a write fenced below its lock's fence, a write that is
// taken raises it, and every merge drops what a fence has overtaken, so a
// paused ex-holder's write that reached some replicas before the later
// holder's is gone once they merge. The merges stay a semilattice.
#include <catch2/catch.hpp>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "quorum/merkle_tree.hpp"
#include "quorum/quorum_tally.hpp"
#include "raft/random.hpp"

namespace tally::quorum {
namespace {

ClientWrite fenced(std::string value, uint64_t wall_ms, std::string lock, uint64_t token) {
  ClientWrite w = ClientWrite::Put(std::move(value), {wall_ms, 0, 1});
  w.fence_lock = std::move(lock);
  w.fence_token = token;
  return w;
}

std::vector<std::string> vals(const DvvSet& s) { return values(s); }

}  // namespace

TEST_CASE("update: a fenced write raises its lock's fence; a lower token is refused, naming both", "[dvv][fence]") {
  auto s = update({}, {}, fenced("a17", 10, "L", 17), 1);
  REQUIRE(s.ok());
  CHECK(fence_of(s->fence_locks, s->fence_tokens, "L") == 17);
  CHECK(s->siblings.front().fence_lock == "L");
  CHECK(s->siblings.front().fence_token == 17);

  // The same token again (the holder writing twice) is taken.
  auto again = update(*s, {}, fenced("a17b", 11, "L", 17), 1);
  REQUIRE(again.ok());
  CHECK(vals(*again) == std::vector<std::string>{"a17", "a17b"});

  // A later holder's write, even blind (no context), drops the earlier
  // holder's siblings: they are below its fence.
  auto later = update(*again, {}, fenced("b18", 12, "L", 18), 2);
  REQUIRE(later.ok());
  CHECK(vals(*later) == std::vector<std::string>{"b18"});
  CHECK(fence_of(later->fence_locks, later->fence_tokens, "L") == 18);

  // The earlier holder wakes up: refused, and nothing changes.
  auto stale = update(*later, {}, fenced("a17c", 13, "L", 17), 1);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.status().code() == Code::kFenced);
  CHECK_THAT(stale.status().message(), Catch::Contains("lock 'L' token 17 is below token 18"));

  // Unfenced writes and other locks' fences are not touched.
  auto plain = update(*later, {}, ClientWrite::Put("plain", {14, 0, 1}), 1);
  REQUIRE(plain.ok());
  auto other = update(*plain, {}, fenced("m3", 15, "M", 3), 1);
  REQUIRE(other.ok());
  CHECK(vals(*other) == std::vector<std::string>{"plain", "m3", "b18"});  // in dot order
  CHECK(validate(*other).ok());
}

TEST_CASE("update: a key keeps fences for at most 16 locks", "[dvv][fence]") {
  DvvSet s;
  for (int i = 0; i < 16; ++i) {
    auto next = update(s, join(s), fenced("v", 10 + i, "lock" + std::to_string(i + 10), 1), 1);
    REQUIRE(next.ok());
    s = *next;
  }
  auto refused = update(s, join(s), fenced("v", 99, "one-more", 1), 1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kInvalidArgument);
  CHECK(update(s, join(s), fenced("v", 99, "lock12", 2), 1).ok());  // a known lock still is
}

TEST_CASE("sync drops a sibling a fence has overtaken, whichever side holds which", "[dvv][fence]") {
  // Replica 1 took the paused holder's write (token 17) before it heard of
  // token 18; replica 2 took the later holder's.
  const DvvSet base = *update({}, {}, ClientWrite::Put("v0", {5, 0, 1}), 1);
  const DvvSet stale = *update(base, join(base), fenced("a17", 20, "L", 17), 1);
  const DvvSet newer = *update(base, join(base), fenced("b18", 10, "L", 18), 2);
  const DvvSet ab = sync(stale, newer);
  CHECK(ab == sync(newer, stale));
  CHECK(vals(ab) == std::vector<std::string>{"b18"});
  CHECK(validate(ab).ok());
  CHECK(needs_repair(stale, ab));
  // The later holder's replica learns only the dropped write's dot.
  CHECK(vals(sync(newer, ab)) == std::vector<std::string>{"b18"});
  // The dropped write stays dropped: its dot is in the clock.
  CHECK(sync(ab, stale) == ab);
}

TEST_CASE("sync with fences is commutative, associative and idempotent on random states", "[dvv][fence]") {
  // Three replicas take fenced writes of two locks (tokens that mostly
  // rise, as holders come and go, with stragglers), unfenced writes, and
  // exchange states; every state they pass through goes into the pool.
  SplitMix64 rng(0xfe1ce);
  std::vector<DvvSet> replicas(3);
  std::vector<DvvSet> pool{DvvSet{}};
  uint64_t token[2] = {1, 1};
  size_t refused = 0, overtaken = 0;
  for (int i = 0; i < 600; ++i) {
    const size_t r = rng.uniform(3);
    const uint64_t dice = rng.uniform(100);
    if (dice < 60) {
      const int lock = static_cast<int>(rng.uniform(2));
      if (rng.chance(0.2)) ++token[lock];
      // Now and then a straggler with an older token.
      const uint64_t t = rng.chance(0.2) && token[lock] > 1 ? token[lock] - 1 : token[lock];
      const ClientWrite w = fenced("w" + std::to_string(i), 100 + static_cast<uint64_t>(i), lock ? "M" : "L", t);
      const VersionVector ctx = rng.chance(0.5) ? join(replicas[r]) : VersionVector{};
      auto next = update(replicas[r], ctx, w, static_cast<ActorId>(r + 1));
      if (!next.ok()) {
        REQUIRE(next.status().code() == Code::kFenced);
        ++refused;
        continue;
      }
      replicas[r] = *next;
    } else if (dice < 75) {
      replicas[r] = *update(replicas[r], {}, ClientWrite::Put("u" + std::to_string(i), {100 + uint64_t(i), 0, 1}),
                            static_cast<ActorId>(r + 1));
    } else {
      const size_t o = rng.uniform(3);
      const DvvSet merged = sync(replicas[r], replicas[o]);
      overtaken += merged.siblings.size() < replicas[r].siblings.size() + replicas[o].siblings.size() ? 1 : 0;
      replicas[r] = merged;
    }
    REQUIRE(validate(replicas[r]).ok());
    pool.push_back(replicas[r]);
  }
  for (const DvvSet& a : pool) {
    REQUIRE(sync(a, a) == a);
    for (size_t j = 0; j < pool.size(); j += 7) {
      REQUIRE(sync(a, pool[j]) == sync(pool[j], a));
      REQUIRE(validate(sync(a, pool[j])).ok());
    }
  }
  for (int i = 0; i < 20000; ++i) {
    const DvvSet& a = pool[rng.uniform(pool.size())];
    const DvvSet& b = pool[rng.uniform(pool.size())];
    const DvvSet& c = pool[rng.uniform(pool.size())];
    REQUIRE(sync(sync(a, b), c) == sync(a, sync(b, c)));
  }
  // The fences did something: writes refused, siblings dropped by merges.
  CHECK(refused > 10);
  CHECK(overtaken > 10);
}

TEST_CASE("lww: a paused holder's late write cannot win by its newer tag", "[dvv][fence][lww]") {
  const DvvSet b = *lww_update({}, fenced("b18", 10, "L", 18), 2);
  // At a replica that knows token 18: refused.
  auto refused = lww_update(b, fenced("a17", 50, "L", 17), 1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kFenced);
  // At one that does not, it is taken, and the merge drops it again.
  const DvvSet a = *lww_update({}, fenced("a17", 50, "L", 17), 1);
  const DvvSet merged = lww_sync(a, b);
  CHECK(merged == lww_sync(b, a));
  CHECK(vals(merged) == std::vector<std::string>{"b18"});
  CHECK(lww_needs_repair(a, merged));
  // A later holder's write wins even with an older tag.
  const DvvSet c = *lww_update(a, fenced("c19", 5, "L", 19), 1);
  CHECK(vals(c) == std::vector<std::string>{"c19"});
  // Unfenced writes keep plain last-writer-wins.
  const DvvSet d = *lww_update(c, ClientWrite::Put("plain", {60, 0, 1}), 1);
  CHECK(vals(d) == std::vector<std::string>{"plain"});
  CHECK(fence_of(d.fence_locks, d.fence_tokens, "L") == 19);
}

TEST_CASE("lww: a quorum read merges as the replicas do, so an overtaken write does not hide the winner",
          "[dvv][fence][lww]") {
  // Replica 1: X (unfenced), then a fenced write with an older tag that lost
  // to X but raised the fence of L to 7.
  const DvvSet x = *lww_update({}, ClientWrite::Put("X", {100, 0, 1}), 1);
  const DvvSet a = *lww_update(x, fenced("old-tag", 50, "L", 7), 1);
  REQUIRE(vals(a) == std::vector<std::string>{"X"});
  // Replica 2: X, then a paused holder's late write (token 5, newer tag).
  const DvvSet b = *lww_update(x, fenced("Y", 200, "L", 5), 2);
  REQUIRE(vals(b) == std::vector<std::string>{"Y"});
  // A DVV sync would drop X (2 saw it and no longer holds it) and Y (fence 7):
  // nothing. The replicas' own merge keeps X, and so does the read.
  CHECK(vals(sync(a, b)).empty());
  CHECK(vals(lww_sync(a, b)) == std::vector<std::string>{"X"});
  ReadTally read(2, {ReplicaOutcome{1}, ReplicaOutcome{2}}, /*lww=*/true);
  read.reply(1, a);
  read.reply(2, b);
  CHECK(vals(read.merged()) == std::vector<std::string>{"X"});
  const auto stale = read.stale_replicas();
  CHECK(std::find(stale.begin(), stale.end(), ReplicaId{2}) != stale.end());  // it holds Y: repaired
}

TEST_CASE("merges keep every fence: a union above the write-time cap is still a valid record",
          "[dvv][fence][codec]") {
  DvvSet a, b;
  for (int i = 0; i < 16; ++i) {
    a = *update(a, join(a), fenced("a", 10 + i, "a-lock" + std::to_string(i + 10), 1), 1);
    b = *update(b, join(b), fenced("b", 10 + i, "b-lock" + std::to_string(i + 10), 1), 2);
  }
  const DvvSet ab = sync(a, b);
  CHECK(ab.fence_locks.size() == 32);
  REQUIRE(validate(ab).ok());
  auto back = codec::decode_record(codec::encode_record(ab));
  REQUIRE(back.ok());
  CHECK(*back == ab);
  // A write naming yet another lock is refused there; known locks still write.
  CHECK(update(ab, join(ab), fenced("c", 99, "c-lock", 1), 1).status().code() == Code::kInvalidArgument);
  CHECK(update(ab, join(ab), fenced("c", 99, "b-lock12", 2), 1).ok());
}

TEST_CASE("records keep their fences; a record without any is written as before fencing", "[dvv][fence][codec]") {
  const DvvSet plain = *update({}, {}, ClientWrite::Put("v", {5, 0, 1}), 1);
  const DvvSet with = *update(plain, {}, fenced("f", 6, "L", 9), 1);
  auto back = codec::decode_record(codec::encode_record(with));
  REQUIRE(back.ok());
  CHECK(*back == with);
  CHECK(back->siblings.back().fence_lock == "L");
  // No fence: no fourth field, no fence fields on the sibling.
  CHECK(codec::encode_record(plain).substr(0, 1) == "\x93");
  // A sibling fenced below the key's fence is not a state any update makes.
  DvvSet bad = with;
  bad.fence_tokens[0] = 10;
  auto refused = codec::decode_record(codec::encode_record(bad));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kCorruption);
  CHECK_THAT(refused.status().message(), Catch::Contains("fenced below"));
  // Anti-entropy tells apart replicas that differ only in their fences.
  DvvSet raised = with;
  raised.fence_tokens[0] = 9;
  CHECK(summary(raised) == summary(with));
  raised.fence_locks.push_back("M");
  raised.fence_tokens.push_back(1);
  CHECK(summary(raised) != summary(with));
}

}  // namespace tally::quorum
