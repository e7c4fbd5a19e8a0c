// The dot-reuse bug (docs/architecture.md, "Why only a replica mints a key's
// dots"): a dot must name one write. If the same replica id mints a dot twice,
// for two different writes, every replica that has seen one of them believes it
// has seen both, and sync drops the other: an acknowledged write disappears
// without a trace.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "quorum/dvv.hpp"

namespace tally::quorum {
namespace {

constexpr ReplicaId kA = 1;
using Values = std::vector<std::string>;

// The update of the paper taken literally: the new dot comes from the counter in
// the coordinator's own state, whatever the context says about it.
DvvSet update_from_local_counter(const DvvSet& current, const VersionVector& context,
                                 const std::string& value, ReplicaId coordinator) {
  DvvSet out;
  const Dot dot{coordinator, current.clock.get(coordinator) + 1};
  out.clock = pointwise_max(pointwise_max(current.clock, context),
                            VersionVector{{{dot.replica, dot.counter}}});
  for (const Sibling& s : current.siblings) {
    if (!context.covers(s.dot)) out.siblings.push_back(s);
  }
  out.siblings.push_back(Sibling{dot, {}, false, value});
  return out;
}

// Replica A wrote v1 then v2 (which replaced v1); replica B received that state.
// Then A lost its copy of the key (a disk replaced, a restore from an old backup)
// and comes back empty, still as replica A.
struct AfterDiskLoss {
  DvvSet a_before;
  DvvSet b;
  DvvSet a_now;
};

AfterDiskLoss history_with_disk_loss() {
  const DvvSet v1 = *update({}, {}, ClientWrite::Put("v1", {}), kA);
  const DvvSet v2 = *update(v1, join(v1), ClientWrite::Put("v2", {}), kA);
  return {v2, v2, DvvSet{}};
}

TEST_CASE("minting from a stale local counter reuses a dot and loses an acknowledged write",
          "[dvv][dot-reuse]") {
  const AfterDiskLoss h = history_with_disk_loss();
  // A client reads from B (context {A: 2}) and writes v3 through A.
  const VersionVector ctx = join(h.b);
  const DvvSet bad = update_from_local_counter(h.a_now, ctx, "v3", kA);
  REQUIRE(bad.siblings.size() == 1);
  CHECK(bad.siblings[0].dot == Dot{kA, 1});  // v1's dot, minted a second time

  // A acknowledged v3. Anti-entropy with B: B's clock covers (A, 1), so B
  // "knows" v3 was superseded; A's clock covers (A, 2) and it does not hold v2.
  // Both values vanish.
  CHECK(values(sync(bad, h.b)).empty());
}

TEST_CASE("update mints above the counter a context from another replica has seen",
          "[dvv][dot-reuse]") {
  const AfterDiskLoss h = history_with_disk_loss();
  const VersionVector ctx = join(h.b);
  Result<DvvSet> good = update(h.a_now, ctx, ClientWrite::Put("v3", {}), kA);
  REQUIRE(good.ok());
  REQUIRE(good->siblings.size() == 1);
  CHECK(good->siblings[0].dot == Dot{kA, 3});
  // v3 survives anti-entropy in either direction and supersedes v2, which its
  // writer had read.
  CHECK(values(sync(*good, h.b)) == Values{"v3"});
  CHECK(values(sync(h.b, *good)) == Values{"v3"});
  CHECK(values(sync(*good, h.a_before)) == Values{"v3"});
}

TEST_CASE("two coordinators minting under one id for the same key lose a write",
          "[dvv][dot-reuse]") {
  // Why only a replica of the key may mint its dots (a non-replica coordinator
  // must forward the write, as Riak's put FSM does): two nodes that each mint
  // "(A, 1)" from their own view have nothing that tells them apart, and no
  // choice of counter in update can prevent it.
  const DvvSet on_x = *update({}, {}, ClientWrite::Put("from-x", {}), kA);
  const DvvSet on_y = *update({}, {}, ClientWrite::Put("from-y", {}), kA);
  REQUIRE(on_x.siblings[0].dot == on_y.siblings[0].dot);
  // Two concurrent writes, both acknowledged; the merge keeps only one.
  CHECK(values(sync(on_x, on_y)).size() == 1);
  // Even then every replica keeps the same one, whichever way the states meet,
  // so they still converge.
  CHECK(sync(on_x, on_y) == sync(on_y, on_x));
  // With distinct ids the same two writes are kept as siblings.
  const DvvSet on_b = *update({}, {}, ClientWrite::Put("from-y", {}), kA + 1);
  CHECK(values(sync(on_x, on_b)) == Values{"from-x", "from-y"});
}

}  // namespace
}  // namespace tally::quorum

namespace tally::quorum {
namespace {

TEST_CASE("a node that dropped a key and mints again under a new mint epoch loses nothing",
          "[dvv][dot-reuse][mint-epoch]") {
  // A minted v1 for the key; B holds it. A gave the range away and dropped its
  // copy, then regained the range and is asked to write v2 concurrently with
  // v1 (a client that never read it: empty context).
  constexpr ReplicaId kNodeA = 1;
  const DvvSet v1 = *update({}, {}, ClientWrite::Put("v1", {}), actor_id(kNodeA, 0));
  const DvvSet b = v1;
  // Under its old actor, with no record of the key, A mints (A, 1) again: B
  // takes v2 for v1 and one of the two concurrent writes is gone.
  const DvvSet same_actor = *update({}, {}, ClientWrite::Put("v2", {}), actor_id(kNodeA, 0));
  CHECK(values(sync(same_actor, b)).size() == 1);
  // Under the epoch it took before dropping, the dot is new: both are kept.
  const DvvSet new_epoch = *update({}, {}, ClientWrite::Put("v2", {}), actor_id(kNodeA, 1));
  CHECK(new_epoch.siblings[0].dot.replica != v1.siblings[0].dot.replica);
  CHECK(values(sync(new_epoch, b)) == Values{"v1", "v2"});
  CHECK(values(sync(b, new_epoch)) == Values{"v1", "v2"});
  // And a later write that read both supersedes both, whichever epochs made them.
  const DvvSet merged = sync(new_epoch, b);
  const DvvSet v3 = *update(merged, join(merged), ClientWrite::Put("v3", {}), actor_id(kNodeA, 1));
  CHECK(values(sync(v3, b)) == Values{"v3"});
  CHECK(node_of(actor_id(kNodeA, 7)) == kNodeA);
  CHECK(epoch_of(actor_id(kNodeA, 7)) == 7);
  CHECK(actor_id(kNodeA, 0) == kNodeA);  // epoch 0 reads as the bare node id
}

}  // namespace
}  // namespace tally::quorum
