// RecordStore over the simulator's disk: group commit (one batch per loop
// turn, batches strictly one after another), per-key read-modify-write (no
// update of a key is lost, even before the one before it is durable),
// durability by policy across a power loss, and after a disk write error
// writes refused until the database is reopened, then taken again with
// nothing acknowledged lost and no dot minted twice.
#include "store/record_store.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "raft/random.hpp"
#include "sim/sim_world.hpp"

namespace tally::store {
namespace {

using quorum::DvvSet;

constexpr uint64_t kSecond = 1'000'000;

// A disk that forwards to the simulated one and watches the calls: how many
// writes, how big, how many in flight at once; how many reads.
class WatchedDisk final : public Disk {
 public:
  explicit WatchedDisk(Disk& inner) : inner_(inner) {}

  void write(WriteBatch batch, bool sync, WriteDone done) override {
    batch_sizes.push_back(batch.ops.size());
    syncs.push_back(sync);
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    inner_.write(std::move(batch), sync, [this, done = std::move(done)](Status s) {
      --in_flight;
      done(std::move(s));
    });
  }
  void read(std::string key, ReadDone done) override {
    ++reads;
    inner_.read(std::move(key), std::move(done));
  }
  void scan(std::string start, std::string end, size_t limit, ScanDone done) override {
    inner_.scan(std::move(start), std::move(end), limit, std::move(done));
  }
  Status write_failure() const override { return inner_.write_failure(); }
  void set_failure_listener(std::function<void(const Status&)> listener) override {
    inner_.set_failure_listener(std::move(listener));
  }
  void reopen(WriteDone done) override { inner_.reopen(std::move(done)); }

  std::vector<size_t> batch_sizes;
  std::vector<bool> syncs;
  int in_flight = 0;
  int max_in_flight = 0;
  int reads = 0;

 private:
  Disk& inner_;
};

// One simulated host, its disk (watched) and a RecordStore on it.
struct Harness {
  // The store caches records (1 MiB) unless `cache_bytes` says otherwise.
  // No key filter unless `filter_bytes` says so.
  explicit Harness(Durability durability = Durability::kFsync, uint64_t seed = 1,
                   size_t cache_bytes = size_t{1} << 20, size_t filter_bytes = 0)
      : world(seed),
        host(world.add_host("n1", HostPort{"10.0.0.1", 7401})),
        disk(host.disk()),
        store(disk, durability, [this](std::function<void()> fn) { host.defer(std::move(fn)); }, cache_bytes,
              filter_bytes) {}

  sim::SimDisk& sim_disk() { return host.sim_disk(); }

  // Reads (keyspace, key), running the world
  // until the answer is in.
  Result<std::optional<DvvSet>> get(const std::string& key,
                                    const std::string& keyspace = "default") {
    std::optional<Result<std::optional<DvvSet>>> out;
    store.get(keyspace, key, [&out](Result<std::optional<DvvSet>> r) { out = std::move(r); });
    world.run_for(kSecond);
    REQUIRE(out.has_value());
    return *out;
  }

  sim::SimWorld world;
  sim::SimHost& host;
  WatchedDisk disk;
  RecordStore store;
};

// An UpdateFn that adds `value` as one more sibling (an empty context
// supersedes nothing), as a replica does for a blind write.
RecordStore::UpdateFn append(std::string value, quorum::ReplicaId coordinator = 1) {
  return [value = std::move(value), coordinator](const DvvSet* current) {
    return quorum::update(current ? *current : DvvSet{}, {},
                          quorum::ClientWrite::Put(value, {1767225600000ULL, 0, coordinator}),
                          coordinator);
  };
}

// Collects one update's outcome.
struct Outcome {
  std::optional<Result<DvvSet>> result;
  RecordStore::UpdateDone done() {
    return [this](Result<RecordStore::Record> r) {
      if (r.ok()) {
        result = **r;
      } else {
        result = r.status();
      }
    };
  }
  bool acked() const { return result && result->ok(); }
  bool failed() const { return result && !result->ok(); }
};

TEST_CASE("record store: update then get returns the record written", "[record_store]") {
  Harness h;
  Outcome put;
  h.store.update("default", "k", append("v1"), put.done());
  CHECK_FALSE(put.result);  // acknowledged only once durable, never inside the call
  h.world.run_for(kSecond);
  REQUIRE(put.acked());
  CHECK(quorum::values(*put.result.value()) == std::vector<std::string>{"v1"});

  Result<std::optional<DvvSet>> got = h.get("k");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == *put.result.value());
}

TEST_CASE("record store: get of a missing key returns nullopt", "[record_store]") {
  Harness h;
  Outcome put;
  h.store.update("default", "present", append("v"), put.done());
  h.world.run_for(kSecond);
  REQUIRE(put.acked());

  for (const std::string key : {"absent", "presen", "present2"}) {
    Result<std::optional<DvvSet>> got = h.get(key);
    REQUIRE(got.ok());
    CHECK_FALSE(got->has_value());
  }
  // Keyspaces are separate: the same key in another keyspace is absent.
  Result<std::optional<DvvSet>> other = h.get("present", "other");
  REQUIRE(other.ok());
  CHECK_FALSE(other->has_value());
}

TEST_CASE("record store: data keys of distinct (keyspace, key) pairs differ", "[record_store]") {
  CHECK(RecordStore::data_key("ab", "c") != RecordStore::data_key("a", "bc"));
  CHECK(RecordStore::data_key("", "ab") != RecordStore::data_key("a", "b"));
  CHECK(RecordStore::data_key("ks", "") != RecordStore::data_key("k", "s"));
}

TEST_CASE("record store: N updates of one key in one turn all apply and are acked in order",
          "[record_store]") {
  constexpr int kN = 90;  // past 64 (under the 100-sibling cap): the key's queue compacts while it drains
  Harness h;
  std::vector<size_t> seen(kN, 999);  // siblings each update found
  std::vector<int> ack_order;
  for (int i = 0; i < kN; ++i) {
    auto fn = [i, &seen,
               inner = append("v" + std::to_string(i))](const DvvSet* cur) {
      seen[i] = cur ? cur->siblings.size() : 0;
      return inner(cur);
    };
    h.store.update("default", "hot", fn, [i, &ack_order](Result<RecordStore::Record> r) {
      REQUIRE(r.ok());
      CHECK((*r)->siblings.size() == static_cast<size_t>(i + 1));
      ack_order.push_back(i);
    });
  }
  h.world.run_for(kSecond);

  // Each update saw every one before it, though none was durable yet.
  for (int i = 0; i < kN; ++i) CHECK(seen[i] == static_cast<size_t>(i));
  std::vector<int> expected(kN);
  for (int i = 0; i < kN; ++i) expected[i] = i;
  CHECK(ack_order == expected);

  Result<std::optional<DvvSet>> got = h.get("hot");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->siblings.size() == kN);
  CHECK(h.store.stats().writes == kN);
  CHECK(h.store.stats().batches == 1);
}

TEST_CASE("record store: writes issued in one turn go to disk as one fsynced batch",
          "[record_store]") {
  Harness h(Durability::kFsync);
  // Zero disk latency: the reads behind the updates all complete in one turn,
  // so every write reaches the store in one turn too.
  h.sim_disk().faults().min_latency_us = 0;
  h.sim_disk().faults().max_latency_us = 0;
  constexpr int kKeys = 10;
  std::vector<Outcome> outcomes(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    h.store.update("default", "key" + std::to_string(i), append("v"), outcomes[i].done());
  }
  h.world.run_for(kSecond);
  for (const auto& o : outcomes) CHECK(o.acked());
  CHECK(h.store.stats().writes == kKeys);
  CHECK(h.store.stats().batches == 1);
  CHECK(h.disk.batch_sizes == std::vector<size_t>{kKeys});
  CHECK(h.disk.syncs == std::vector<bool>{true});
  CHECK(h.sim_disk().durable().size() == kKeys);
}

TEST_CASE("record store: batches are written one at a time and writes arriving meanwhile group",
          "[record_store]") {
  Harness h(Durability::kFsync, 7);
  constexpr int kWrites = 60;
  std::vector<Outcome> outcomes(kWrites);
  // Updates arrive over 30 ms, on 20 keys, while earlier batches are in flight.
  for (int i = 0; i < kWrites; ++i) {
    h.world.schedule(static_cast<uint64_t>(i) * 500, [&h, &outcomes, i] {
      h.store.update("default", "key" + std::to_string(i % 20), append("v" + std::to_string(i)),
                     outcomes[i].done());
    });
  }
  h.world.run_for(kSecond);
  for (const auto& o : outcomes) CHECK(o.acked());
  CHECK(h.disk.max_in_flight == 1);
  size_t total = 0;
  for (size_t n : h.disk.batch_sizes) total += n;
  CHECK(total == kWrites);
  CHECK(h.store.stats().batches == h.disk.batch_sizes.size());
  CHECK(h.store.stats().batches < kWrites);  // some writes shared an fsync
  // No update was lost: each key holds all three of its writes.
  for (int k = 0; k < 20; ++k) {
    Result<std::optional<DvvSet>> got = h.get("key" + std::to_string(k));
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->siblings.size() == 3);
  }
}

TEST_CASE("record store: an acknowledged write survives a power loss under fsync",
          "[record_store]") {
  Harness h(Durability::kFsync);
  Outcome put;
  h.store.update("default", "k", append("kept"), put.done());
  h.world.run_for(kSecond);
  REQUIRE(put.acked());

  const std::string dkey = RecordStore::data_key("default", "k");
  REQUIRE(h.sim_disk().durable().count(dkey) == 1);
  h.sim_disk().crash_power();
  REQUIRE(h.sim_disk().visible().count(dkey) == 1);
  Result<DvvSet> stored = codec::decode_record(h.sim_disk().visible().at(dkey));
  REQUIRE(stored.ok());
  CHECK(*stored == *put.result.value());
}

TEST_CASE("record store: under buffered durability an acked write is lost by a power loss",
          "[record_store]") {
  // The documented trade-off: buffered survives a process crash, not power loss.
  Harness h(Durability::kBuffered);
  Outcome put;
  h.store.update("default", "k", append("fragile"), put.done());
  h.world.run_for(kSecond);
  REQUIRE(put.acked());
  CHECK(h.disk.syncs == std::vector<bool>{false});

  const std::string dkey = RecordStore::data_key("default", "k");
  CHECK(h.sim_disk().visible().count(dkey) == 1);
  CHECK(h.sim_disk().durable().count(dkey) == 0);
  h.sim_disk().crash_process();
  CHECK(h.sim_disk().visible().count(dkey) == 1);  // a process crash keeps it
  h.sim_disk().crash_power();
  // The process died with the machine: a new store, its cache empty, reads the disk.
  RecordStore restarted(h.disk, Durability::kBuffered, [&h](std::function<void()> fn) { h.host.defer(std::move(fn)); },
                        size_t{1} << 20);
  std::optional<Result<std::optional<DvvSet>>> got;
  restarted.get("default", "k", [&got](Result<std::optional<DvvSet>> r) { got = std::move(r); });
  h.world.run_for(kSecond);
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK_FALSE((*got)->has_value());
}

TEST_CASE("record store: records it wrote are served from the cache, without a disk read",
          "[record_store]") {
  Harness h;
  Outcome first;
  h.store.update("default", "k", append("v1"), first.done());
  h.world.run_for(kSecond);
  REQUIRE(first.acked());
  CHECK(h.disk.reads == 1);  // the first update of a key looks on disk

  Result<std::optional<DvvSet>> got = h.get("k");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == *first.result.value());
  Outcome second;
  h.store.update("default", "k", append("v2"), second.done());
  h.world.run_for(kSecond);
  REQUIRE(second.acked());
  CHECK(second.result.value()->siblings.size() == 2);  // built on the cached record
  CHECK(h.disk.reads == 1);
  CHECK(h.store.cache().hits() == 2);
  CHECK(h.store.cache().entries() == 1);

  // What the cache answers is what the disk holds.
  Result<DvvSet> stored = codec::decode_record(h.sim_disk().visible().at(RecordStore::data_key("default", "k")));
  REQUIRE(stored.ok());
  CHECK(*stored == *second.result.value());
}

TEST_CASE("record store: with the cache off every update and get reads the disk", "[record_store]") {
  Harness h(Durability::kFsync, 1, 0);
  for (int i = 0; i < 3; ++i) {
    Outcome put;
    h.store.update("default", "k", append("v" + std::to_string(i)), put.done());
    h.world.run_for(kSecond);
    REQUIRE(put.acked());
    CHECK(put.result.value()->siblings.size() == static_cast<size_t>(i + 1));
  }
  CHECK(h.disk.reads == 3);
  REQUIRE(h.get("k").ok());
  CHECK(h.disk.reads == 4);
  CHECK(h.store.cache().entries() == 0);
}

TEST_CASE("record store: an erase leaves nothing cached; a get after it finds no record",
          "[record_store]") {
  Harness h;
  Outcome put;
  const std::string dkey = RecordStore::data_key("default", "k");
  h.store.update_at(dkey, append("v1"), put.done());
  h.world.run_for(kSecond);
  REQUIRE(put.acked());
  std::optional<Result<bool>> erased;
  h.store.erase_if(dkey, [](const DvvSet* cur) { return cur != nullptr; },
                   [&erased](Result<bool> r) { erased = r; });
  h.world.run_for(kSecond);
  REQUIRE(erased);
  REQUIRE(erased->ok());
  CHECK(**erased);
  CHECK(h.store.cache().entries() == 0);
  Result<std::optional<DvvSet>> got = h.get("k");
  REQUIRE(got.ok());
  CHECK_FALSE(got->has_value());
}

TEST_CASE("record store: a failed write drops the key from the cache, so a get reads the disk",
          "[record_store]") {
  Harness h;
  Outcome first;
  h.store.update("default", "k", append("v1"), first.done());
  h.world.run_for(kSecond);
  REQUIRE(first.acked());
  REQUIRE(h.store.cache().entries() == 1);

  // The next batch fails: the disk may or may not hold it, so the cache must not answer.
  h.sim_disk().faults().write_error = 1.0;
  Outcome second;
  h.store.update("default", "k", append("v2"), second.done());
  h.world.run_for(kSecond);
  REQUIRE(second.failed());
  CHECK(h.store.cache().entries() == 0);
  const int reads = h.disk.reads;
  h.sim_disk().faults().write_error = 0.0;
  REQUIRE(h.get("k").ok());
  CHECK(h.disk.reads == reads + 1);
}

TEST_CASE("record cache: a record used since the sweep last passed survives an eviction", "[record_store]") {
  auto rec = [](const std::string& v) {
    DvvSet d;
    d.siblings.push_back({{1, 1}, {}, false, v});
    return std::make_shared<const DvvSet>(std::move(d));
  };
  // Each entry costs its encoded size, its key and a fixed overhead: about 260 bytes here.
  RecordCache cache(1000);
  cache.put("a", rec("A"), 100);
  cache.put("b", rec("B"), 100);
  cache.put("c", rec("C"), 100);
  REQUIRE(cache.entries() == 3);
  CHECK(cache.bytes() <= 1000);
  REQUIRE(cache.find("a"));  // a is used; b and c are not
  cache.put("d", rec("D"), 100);
  CHECK(cache.entries() == 3);
  CHECK(cache.find("b") == nullptr);
  CHECK(cache.find("a")->siblings[0].value == "A");
  CHECK(cache.find("c"));
  CHECK(cache.find("d"));
  CHECK(cache.bytes() <= 1000);

  // Replacing a key's record replaces its cost too.
  const size_t before = cache.bytes();
  cache.put("a", rec("A2"), 150);
  CHECK(cache.entries() == 3);
  CHECK(cache.bytes() == before + 50);
  CHECK(cache.find("a")->siblings[0].value == "A2");

  // A record bigger than the whole budget is not kept (and evicts nothing).
  cache.put("huge", rec("H"), 5000);
  CHECK(cache.find("huge") == nullptr);
  CHECK(cache.entries() == 3);

  cache.erase("c");
  CHECK(cache.find("c") == nullptr);
  CHECK(cache.entries() == 2);
  CHECK(cache.hits() == 5);
  CHECK(cache.misses() == 3);

  RecordCache off(0);
  off.put("a", rec("A"), 1);
  CHECK(off.entries() == 0);
}

TEST_CASE("record cache: agrees with a map through thousands of puts, erases and evictions",
          "[record_store]") {
  auto rec = [](uint64_t v) {
    DvvSet d;
    d.siblings.push_back({{1, v}, {}, false, std::to_string(v)});
    return std::make_shared<const DvvSet>(std::move(d));
  };
  // Unbounded: every key put and not erased since is found with its last
  // record (open addressing with backward-shift deletion loses none).
  {
    RecordCache cache(size_t{1} << 30);
    std::map<std::string, uint64_t> model;
    tally::SplitMix64 rng(7);
    for (uint64_t step = 1; step <= 20000; ++step) {
      const std::string key = "k" + std::to_string(rng.next() % 3000);
      if (rng.next() % 3 == 0) {
        cache.erase(key);
        model.erase(key);
      } else {
        cache.put(key, rec(step), 10);
        model[key] = step;
      }
    }
    REQUIRE(cache.entries() == model.size());
    for (int k = 0; k < 3000; ++k) {
      const std::string key = "k" + std::to_string(k);
      auto hit = cache.find(key);
      auto it = model.find(key);
      if (it == model.end()) {
        CHECK(hit == nullptr);
      } else {
        REQUIRE(hit != nullptr);
        CHECK(hit->siblings[0].dot.counter == it->second);
      }
    }
  }
  // Bounded: the cache may forget, but never answers a stale or wrong record,
  // and stays within its budget.
  {
    RecordCache cache(50 * 200);
    std::map<std::string, uint64_t> model;
    tally::SplitMix64 rng(11);
    for (uint64_t step = 1; step <= 20000; ++step) {
      const std::string key = "k" + std::to_string(rng.next() % 500);
      switch (rng.next() % 4) {
        case 0:
          cache.erase(key);
          model.erase(key);
          break;
        case 1: {
          auto hit = cache.find(key);
          if (hit) {
            REQUIRE(model.count(key));
            REQUIRE(hit->siblings[0].dot.counter == model[key]);
          }
          break;
        }
        default:
          cache.put(key, rec(step), rng.next() % 60);
          model[key] = step;
      }
      REQUIRE(cache.bytes() <= 50 * 200);
    }
    CHECK(cache.entries() > 20);  // it did keep records
    CHECK(cache.hits() > 0);
  }
}

// Reopens the simulated disk, as DiskRecovery does, and tells the store.
void reopen(Harness& h) {
  std::optional<Status> reopened;
  h.host.disk().reopen([&reopened](Status s) { reopened = s; });
  h.world.run_for(kSecond);
  REQUIRE(reopened.has_value());
  REQUIRE(reopened->ok());
  h.store.disk_reopened();
}

TEST_CASE("record store: a disk write error fails writes until the database is reopened, then they go through",
          "[record_store]") {
  Harness h;
  h.sim_disk().faults().write_error = 1.0;
  Outcome first;
  h.store.update("default", "k", append("v1"), first.done());
  h.world.run_for(kSecond);
  REQUIRE(first.failed());
  CHECK(first.result->status().code() == Code::kIoError);
  CHECK_FALSE(h.store.health().ok());
  CHECK(h.store.health().code() == Code::kIoError);
  CHECK(h.store.stats().write_errors == 1);

  // The cause is gone, but the database is not reopened yet: the store does
  // not write behind a batch that may be half on disk.
  h.sim_disk().faults().write_error = 0.0;
  for (const std::string key : {"k", "other"}) {
    Outcome later;
    bool fn_ran = false;
    h.store.update(
        "default", key,
        [&fn_ran](const DvvSet* cur) {
          fn_ran = true;
          return append("v2")(cur);
        },
        later.done());
    h.world.run_for(kSecond);
    REQUIRE(later.failed());
    CHECK(later.result->status().code() == Code::kIoError);
    CHECK_THAT(later.result->status().message(), Catch::Contains("refuses writes until the disk recovers"));
    CHECK_FALSE(fn_ran);
  }
  CHECK(h.store.stats().batches == 1);
  CHECK(h.sim_disk().visible().empty());
  CHECK_FALSE(h.store.health().ok());

  reopen(h);
  CHECK(h.store.health().ok());
  Outcome after;
  h.store.update("default", "k", append("v3"), after.done());
  h.world.run_for(kSecond);
  REQUIRE(after.acked());
  CHECK(quorum::values(after.result->value()) == std::vector<std::string>{"v3"});
  REQUIRE(h.get("k").ok());
}

TEST_CASE("record store: a failed batch the reopened database holds is built upon, its dot never minted again",
          "[record_store]") {
  Harness h;
  Outcome first;
  h.store.update("default", "k", append("v1"), first.done());
  h.world.run_for(kSecond);
  REQUIRE(first.acked());

  // The next batch fails, but its log record was complete: the reopened
  // database holds it. Its caller was told it failed (the outcome is unknown).
  h.sim_disk().faults().write_error = 1.0;
  h.sim_disk().faults().failed_write_applied = 1.0;
  Outcome torn;
  h.store.update("default", "k", append("v2"), torn.done());
  h.world.run_for(kSecond);
  REQUIRE(torn.failed());
  h.sim_disk().faults().write_error = 0.0;
  // Reads go on meanwhile, and show what was acknowledged.
  auto during = h.get("k");
  REQUIRE(during.ok());
  REQUIRE(during->has_value());
  CHECK(quorum::values(**during) == std::vector<std::string>{"v1"});

  reopen(h);
  Outcome next;
  h.store.update("default", "k", append("v3"), next.done());
  h.world.run_for(kSecond);
  REQUIRE(next.acked());
  const DvvSet& rec = next.result->value();
  // v2 is there (the disk had it), and v3 got a dot of its own above it:
  // minting (1, 2) again would make a replica that holds v2 drop v3 as seen.
  CHECK(quorum::values(rec) == std::vector<std::string>{"v1", "v2", "v3"});
  std::set<quorum::Dot> dots;
  for (const auto& sib : rec.siblings) dots.insert(sib.dot);
  CHECK(dots.size() == 3);
  CHECK(rec.siblings.back().dot.counter == 3);
}

TEST_CASE("record store: writes gathered behind a failing batch fail with it", "[record_store]") {
  Harness h;
  h.sim_disk().faults().write_error = 1.0;
  Outcome first, second;
  h.store.update("default", "k", append("v1"), first.done());
  // Step until the first batch is on its way to the disk (its fate is decided).
  while (h.disk.batch_sizes.empty()) REQUIRE(h.world.step());
  h.sim_disk().faults().write_error = 0.0;
  // Same key: it builds on the cached (in-flight) record and joins the next batch.
  h.store.update("default", "k", append("v2"), second.done());
  h.world.run_for(kSecond);

  REQUIRE(first.failed());
  REQUIRE(second.failed());
  CHECK(second.result->status().code() == Code::kIoError);
  CHECK(h.disk.batch_sizes.size() == 1);  // the second was never written
  CHECK(h.sim_disk().visible().empty());
}

TEST_CASE("record store: an UpdateFn error writes nothing and the next update still runs",
          "[record_store]") {
  Harness h;
  Outcome refused, next;
  h.store.update(
      "default", "k",
      [](const DvvSet*) -> Result<DvvSet> {
        return Status::TooLarge("too many siblings");
      },
      refused.done());
  h.store.update("default", "k", append("v"), next.done());
  h.world.run_for(kSecond);

  REQUIRE(refused.failed());
  CHECK(refused.result->status() == Status::TooLarge("too many siblings"));
  REQUIRE(next.acked());
  CHECK(next.result->value().siblings.size() == 1);  // built on nothing, not on the refusal
  CHECK(h.store.stats().writes == 1);
  CHECK(h.store.health().ok());

  // Alone, a refused update reaches no disk at all.
  Harness alone;
  Outcome only;
  alone.store.update(
      "default", "k",
      [](const DvvSet*) -> Result<DvvSet> { return Status::InvalidArgument("no"); },
      only.done());
  alone.world.run_for(kSecond);
  REQUIRE(only.failed());
  CHECK(alone.disk.batch_sizes.empty());
  CHECK(alone.sim_disk().visible().empty());
}

TEST_CASE("record store: a corrupt stored record gives corruption on get and on update",
          "[record_store]") {
  Harness h;
  WriteBatch garbage;
  garbage.put(RecordStore::data_key("default", "bad"), "\x93garbage");
  bool written = false;
  h.host.disk().write(std::move(garbage), true, [&written](Status s) { written = s.ok(); });
  h.world.run_for(kSecond);
  REQUIRE(written);

  Result<std::optional<DvvSet>> got = h.get("bad");
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kCorruption);

  // An update must not build on (or overwrite) what it cannot read.
  Outcome up;
  bool fn_ran = false;
  h.store.update(
      "default", "bad",
      [&fn_ran](const DvvSet* cur) {
        fn_ran = true;
        return append("v")(cur);
      },
      up.done());
  h.world.run_for(kSecond);
  REQUIRE(up.failed());
  CHECK(up.result->status().code() == Code::kCorruption);
  CHECK_FALSE(fn_ran);
  CHECK(h.sim_disk().visible().at(RecordStore::data_key("default", "bad")) == "\x93garbage");
}

// ---- regressions of bugs found by these tests -------------------------------

// An update accepted while the store was healthy, whose read completes after
// a batch failed, is still computed and written to disk (a second batch),
// and its caller hears the other batch's disk error rather than the refusal.
TEST_CASE("record store: nothing reaches the disk after a batch failed",
          "[record_store]") {
  Harness h;
  h.sim_disk().faults().write_error = 1.0;
  Outcome first, second;
  h.store.update("default", "a", append("v1"), first.done());
  while (h.disk.batch_sizes.empty()) REQUIRE(h.world.step());  // a's batch is doomed
  h.sim_disk().faults().write_error = 0.0;
  // Another key: its read queues behind the failing write on the disk.
  h.store.update("default", "b", append("v2"), second.done());
  h.world.run_for(kSecond);

  REQUIRE(first.failed());
  REQUIRE(second.failed());
  CHECK_THAT(second.result->status().message(), Catch::Contains("refuses writes until the disk recovers"));
  CHECK(h.disk.batch_sizes.size() == 1);
  CHECK(h.sim_disk().visible().empty());
}

// apply() and run_next() recurse into each other once per queued update of a
// key, so enough updates queued behind one read overflow the stack (SIGSEGV at
// about 15,000 with an 8 MiB stack, -O2).
TEST_CASE("record store: 100k updates queued on one key do not overflow the stack",
          "[record_store]") {
  Harness h;
  constexpr int kN = 100000;
  int acked = 0;
  for (int i = 0; i < kN; ++i) {
    h.store.update(
        "default", "hot",
        [](const DvvSet* cur) -> Result<DvvSet> { return cur ? *cur : DvvSet{}; },
        [&acked](Result<RecordStore::Record> r) { acked += r.ok() ? 1 : 0; });
  }
  h.world.run_for(kSecond);
  CHECK(acked == kN);
}

}  // namespace
}  // namespace tally::store

// ---- the key filter ----------------------------------------------------------------

namespace tally::store {
namespace {

constexpr size_t kFilterBytes = size_t{16} << 20;

TEST_CASE("record store: with the key filter, keys never written are known absent without a disk read",
          "[record_store][key_filter]") {
  Harness h(Durability::kFsync, 1, size_t{1} << 20, kFilterBytes);
  // Until the filter has scanned the disk, a miss reads it.
  REQUIRE(h.get("early").ok());
  CHECK(h.disk.reads == 1);
  h.store.start_key_filter();
  h.world.run_for(kSecond);
  REQUIRE(h.store.key_filter().usable());

  auto absent = h.get("never");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
  CHECK(h.disk.reads == 1);
  CHECK(h.store.stats().filtered_reads == 1);

  // A new key's read-modify-write starts from nothing, without the disk.
  Outcome put;
  h.store.update("default", "fresh", append("v1"), put.done());
  h.world.run_for(kSecond);
  REQUIRE(put.acked());
  CHECK(h.disk.reads == 1);
  CHECK(h.store.stats().filtered_reads == 2);

  // Once written, it is "maybe" for good: with the cache off it would be read.
  CHECK(h.store.key_filter().may_contain(RecordStore::data_key("default", "fresh")));
  auto got = h.get("fresh");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(quorum::values(**got) == std::vector<std::string>{"v1"});
}

TEST_CASE("record store: the key filter's scan finds every record a store before it wrote",
          "[record_store][key_filter]") {
  Harness h(Durability::kFsync, 2, 0, kFilterBytes);
  constexpr int kKeys = 10'000;  // more than one page of the scan
  std::vector<Outcome> puts(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    h.store.update("default", "k" + std::to_string(i), append("v" + std::to_string(i)), puts[i].done());
  }
  h.world.run_for(10 * kSecond);
  for (const Outcome& p : puts) REQUIRE(p.acked());

  // A restarted node: a new store over the same disk, no cache, a filter that
  // knows only what it scans. Writes during the scan add their keys too.
  RecordStore again(h.disk, Durability::kFsync, [&h](std::function<void()> fn) { h.host.defer(std::move(fn)); }, 0,
                    kFilterBytes);
  again.start_key_filter();
  Outcome during;
  again.update("default", "written-during-scan", append("d"), during.done());
  h.world.run_for(10 * kSecond);
  REQUIRE(during.acked());
  REQUIRE(again.key_filter().usable());
  CHECK(again.key_filter().keys() >= kKeys);
  const int reads_before = h.disk.reads;
  for (const std::string key : {"k0", "k4095", "k4096", "k9999", "written-during-scan"}) {
    std::optional<Result<std::optional<DvvSet>>> out;
    again.get("default", key, [&out](Result<std::optional<DvvSet>> r) { out = std::move(r); });
    h.world.run_for(kSecond);
    REQUIRE(out.has_value());
    REQUIRE(out->ok());
    CHECK((*out)->has_value());
  }
  CHECK(h.disk.reads == reads_before + 5);
  // Of 10,000 keys that were never written, about 1% are false positives
  // that go to the disk; the rest are answered at once.
  for (int i = 0; i < kKeys; ++i) {
    again.get("default", "absent" + std::to_string(i), [](Result<std::optional<DvvSet>> r) {
      REQUIRE(r.ok());
      CHECK_FALSE(r->has_value());
    });
  }
  h.world.run_for(10 * kSecond);
  CHECK(again.stats().filtered_reads > kKeys * 95 / 100);
}

TEST_CASE("record store: a key whose batch failed stays in the filter, so the reopened disk's copy is found",
          "[record_store][key_filter]") {
  Harness h(Durability::kFsync, 3, 0, kFilterBytes);
  h.store.start_key_filter();
  h.world.run_for(kSecond);
  REQUIRE(h.store.key_filter().usable());
  // The batch fails, but the reopened database holds it.
  h.sim_disk().faults().write_error = 1.0;
  h.sim_disk().faults().failed_write_applied = 1.0;
  Outcome torn;
  h.store.update("default", "k", append("v1"), torn.done());
  h.world.run_for(kSecond);
  REQUIRE(torn.failed());
  h.sim_disk().faults().write_error = 0.0;
  reopen(h);
  Outcome next;
  h.store.update("default", "k", append("v2"), next.done());
  h.world.run_for(kSecond);
  REQUIRE(next.acked());
  // Built on v1 (read from disk), with a dot above it.
  CHECK(quorum::values(next.result->value()) == std::vector<std::string>{"v1", "v2"});
  CHECK(next.result->value().siblings.back().dot.counter == 2);
}

TEST_CASE("record store: a key filter over its budget answers nothing and every miss reads the disk",
          "[record_store][key_filter]") {
  Harness h(Durability::kFsync, 4, 0, 1024);  // less than one layer
  h.store.start_key_filter();
  h.world.run_for(kSecond);
  CHECK_FALSE(h.store.key_filter().usable());
  CHECK(h.store.key_filter().over_budget());
  REQUIRE(h.get("never").ok());
  CHECK(h.disk.reads == 1);
  CHECK(h.store.stats().filtered_reads == 0);
}

}  // namespace
}  // namespace tally::store
