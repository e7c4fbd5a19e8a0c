// The LevelDB-side Raft log store must keep exactly what raft::MemoryStorage
// (the reference) keeps, and what it synced must survive a power loss.
#include <catch2/catch.hpp>

#include "sim/sim_world.hpp"
#include "store/raft_log_store.hpp"

using namespace tally;
using namespace tally::sim;

namespace {

raft::Entry entry(uint64_t term, uint64_t index, std::string data = "") {
  raft::Entry e;
  e.term = term;
  e.index = index;
  e.data = data.empty() ? "cmd" + std::to_string(index) : data;
  return e;
}

raft::Ready append(uint64_t from, uint64_t to, uint64_t term, raft::HardState hs) {
  raft::Ready r;
  r.truncate_from = from;
  for (uint64_t i = from; i <= to; ++i) r.entries.push_back(entry(term, i));
  r.hard_state = hs;
  r.must_sync = true;
  return r;
}

struct Fixture {
  SimWorld world{3};
  SimHost& host = world.add_host("n1", HostPort{"10.0.0.1", 7400});
  raft::MemoryStorage reference;
  std::unique_ptr<store::RaftLogStore> log = std::make_unique<store::RaftLogStore>(host.disk());

  void persist(const raft::Ready& r) {
    reference.persist(r);
    std::optional<Status> st;
    log->persist(r, [&](Status s) { st = s; });
    world.run_for(100'000);
    REQUIRE(st.has_value());
    REQUIRE(st->ok());
  }
  raft::PersistentState load() {
    std::optional<Result<raft::PersistentState>> out;
    log = std::make_unique<store::RaftLogStore>(host.disk());
    log->load([&](Result<raft::PersistentState> r) { out = std::move(r); });
    world.run_for(100'000);
    REQUIRE(out.has_value());
    REQUIRE(out->ok());
    return std::move(**out);
  }
};

void require_same(const raft::PersistentState& a, const raft::PersistentState& b) {
  CHECK(a.hard_state == b.hard_state);
  CHECK(a.entries == b.entries);
  REQUIRE(static_cast<bool>(a.snapshot) == static_cast<bool>(b.snapshot));
  if (a.snapshot) CHECK(*a.snapshot == *b.snapshot);
}

}  // namespace

TEST_CASE("raft log store keeps what the reference storage keeps, across appends, truncation and snapshots",
          "[raft][store]") {
  Fixture f;
  f.persist(append(1, 5, 1, {1, 2, 0}));
  require_same(f.load(), f.reference.load());
  // The leader overwrote our uncommitted suffix from index 4 with a shorter one
  // (entry 5 must go), then the log grew again.
  f.persist(append(4, 4, 2, {2, 3, 3}));
  require_same(f.load(), f.reference.load());
  f.persist(append(5, 6, 2, {2, 3, 3}));
  require_same(f.load(), f.reference.load());
  // A snapshot from the leader replaces the whole log.
  raft::Ready snap;
  auto s = std::make_shared<raft::Snapshot>();
  s->metadata.index = 9;
  s->metadata.term = 3;
  s->metadata.membership.voters = {1, 2, 3};
  s->metadata.membership.learners = {4};
  s->data = "state machine at 9";
  snap.snapshot = s;
  snap.hard_state = raft::HardState{3, 3, 9};
  snap.must_sync = true;
  f.persist(snap);
  f.persist(append(10, 12, 3, {3, 3, 11}));
  auto loaded = f.load();
  require_same(loaded, f.reference.load());
  CHECK(loaded.entries.front().index == 10);
  CHECK(f.log->last_index() == 12);
}

TEST_CASE("raft log store: what was synced survives a power loss", "[raft][store]") {
  Fixture f;
  f.persist(append(1, 3, 1, {1, 1, 2}));
  f.host.sim_disk().crash_power();
  auto after = f.load();
  CHECK(after.hard_state == raft::HardState{1, 1, 2});
  CHECK(after.entries.size() == 3);
  // A commit-index-only change need not be synced, and may be lost: safe.
  raft::Ready lazy;
  lazy.hard_state = raft::HardState{1, 1, 3};
  f.persist(lazy);
  f.host.sim_disk().crash_power();
  CHECK(f.load().hard_state.commit == 2);
}

TEST_CASE("raft log store compacts the entries a snapshot covers", "[raft][store]") {
  Fixture f;
  f.persist(append(1, 6, 1, {1, 1, 6}));
  auto s = std::make_shared<raft::Snapshot>();
  s->metadata.index = 4;
  s->metadata.term = 1;
  s->metadata.membership.voters = {1};
  REQUIRE(f.reference.compact(s).ok());
  std::optional<Status> st;
  f.log->compact(s, [&](Status x) { st = x; });
  f.world.run_for(100'000);
  REQUIRE(st->ok());
  auto loaded = f.load();
  require_same(loaded, f.reference.load());
  CHECK(loaded.entries.size() == 2);
}

TEST_CASE("raft log store refuses a Ready that would leave a gap", "[raft][store]") {
  Fixture f;
  f.persist(append(1, 2, 1, {1, 1, 0}));
  std::optional<Status> st;
  f.log->persist(append(5, 6, 1, {1, 1, 0}), [&](Status s) { st = s; });
  REQUIRE(st.has_value());
  CHECK(st->code() == Code::kInvalidArgument);
}

TEST_CASE("raft log store reports a corrupt entry instead of loading it", "[raft][store]") {
  Fixture f;
  f.persist(append(1, 2, 1, {1, 1, 0}));
  store::WriteBatch bad;
  std::string key = "re";
  for (int i = 0; i < 7; ++i) key.push_back('\0');
  key.push_back('\2');
  bad.put(key, "\x93garbage");
  f.host.disk().write(std::move(bad), true, [](Status) {});
  f.world.run_for(100'000);
  std::optional<Result<raft::PersistentState>> out;
  store::RaftLogStore fresh(f.host.disk());
  fresh.load([&](Result<raft::PersistentState> r) { out = std::move(r); });
  f.world.run_for(100'000);
  REQUIRE(out.has_value());
  CHECK(out->status().code() == Code::kCorruption);
}
