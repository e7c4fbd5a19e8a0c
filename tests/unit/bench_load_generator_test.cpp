// tally-bench's LoadGenerator, driven by hand: the number of requests in
// flight, the open-loop timetable and where latency is measured from, the
// warm-up, one writer per key with each put superseding the last acknowledged
// one, the load phase, the timeline's windows, and the option checks.
#include "bench/driver_core.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace tally::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;  // ns
constexpr uint64_t kS = 1000 * kMs;

WorkloadOptions options(Workload workload, uint64_t keys, int concurrency, double rate = 0) {
  WorkloadOptions o;
  o.workload = workload;
  o.distribution = KeyDistribution::kUniform;
  o.keys = keys;
  o.concurrency = concurrency;
  o.warmup_s = 1;
  o.duration_s = 2;
  o.rate = rate;
  return o;
}

LoadGenerator make(const WorkloadOptions& o) {
  auto gen = LoadGenerator::make(o);
  REQUIRE(gen.ok());
  return std::move(*gen);
}

Reply ok_put(std::string context) {
  Reply r;
  r.context = std::move(context);
  return r;
}

TEST_CASE("load generator: bad options are refused, naming the option", "[bench]") {
  auto check = [](WorkloadOptions o, const std::string& flag) {
    auto gen = LoadGenerator::make(o);
    REQUIRE_FALSE(gen.ok());
    CHECK(gen.status().code() == Code::kInvalidArgument);
    CHECK_THAT(gen.status().message(), Catch::Contains(flag));
  };
  WorkloadOptions o = options(Workload::kA, 10, 4);
  o.keys = 0;
  check(o, "--keys");
  o = options(Workload::kA, 10, 0);
  check(o, "--concurrency");
  o = options(Workload::kA, 10, 4, -1);
  check(o, "--rate");
  o = options(Workload::kA, 10, 4);
  o.duration_s = 0;
  check(o, "--duration");
  o = options(Workload::kA, 10, 4);
  o.warmup_s = -1;
  check(o, "--warmup");
  o = options(Workload::kA, 10, 4);
  o.window_s = 0;
  check(o, "--window");
}

TEST_CASE("load generator: the closed loop keeps exactly --concurrency requests in flight",
          "[bench]") {
  LoadGenerator gen = make(options(Workload::kC, 1000, 8));
  gen.start_run(1, 1, 0);
  std::vector<Request> out;
  gen.poll(0, out);
  REQUIRE(out.size() == 8);
  CHECK(gen.in_flight() == 8);
  std::vector<Request> more;
  gen.poll(kMs, more);
  CHECK(more.empty());  // every slot is taken

  // Each answer frees a slot that is refilled at once, from the answer's time.
  std::vector<Request> next;
  gen.complete(out[0], Reply{}, 2 * kMs, next);
  REQUIRE(next.size() == 1);
  CHECK(next[0].op == Op::kGet);
  CHECK(next[0].r == 1);
  CHECK(next[0].due_ns == 2 * kMs);
  CHECK(gen.in_flight() == 8);

  // After the end nothing more is sent, and the phase is done once all is answered.
  std::vector<Request> in_flight(out.begin() + 1, out.end());
  in_flight.push_back(next[0]);
  const uint64_t after_end = 4 * kS;
  std::vector<Request> none;
  gen.poll(after_end, none);
  CHECK(none.empty());
  CHECK_FALSE(gen.done());
  for (const Request& r : in_flight) gen.complete(r, Reply{}, after_end, none);
  CHECK(none.empty());
  CHECK(gen.in_flight() == 0);
  CHECK(gen.done());
}

TEST_CASE("load generator: only answers to requests sent after the warm-up are measured",
          "[bench]") {
  LoadGenerator gen = make(options(Workload::kC, 1000, 1));
  gen.start_run(1, 1, 0);
  std::vector<Request> out;
  gen.poll(0, out);
  REQUIRE(out.size() == 1);
  std::vector<Request> next;
  gen.complete(out[0], Reply{}, 3 * kMs, next);  // sent in the warm-up: not measured
  REQUIRE(next.size() == 1);
  const Request second = next[0];
  gen.complete(second, Reply{}, 1 * kS + 5 * kMs, next);  // still sent in the warm-up
  REQUIRE(next.size() == 2);
  const Request measured = next[1];
  CHECK(measured.due_ns == 1 * kS + 5 * kMs);
  std::vector<Request> last;
  gen.complete(measured, Reply{}, 1 * kS + 12 * kMs, last);  // 7 ms, measured
  auto result = gen.finish_run(staleness_edges_us());
  REQUIRE(result.ok());
  CHECK(result->get_latency_ns.count() == 1);
  CHECK(result->get_latency_ns.min() == 7 * kMs);
  CHECK(result->put_latency_ns.empty());
  CHECK(result->duration_s == Approx(2.0));
}

TEST_CASE("load generator: the open loop follows its timetable and counts latency from each slot",
          "[bench]") {
  // 1000/s: one request due every millisecond, up to 4 in flight.
  LoadGenerator gen = make(options(Workload::kC, 1000, 4, 1000));
  const uint64_t start = 5 * kMs;
  gen.start_run(1, 1, start);
  std::vector<Request> out;
  gen.poll(start, out);
  REQUIRE(out.size() == 1);  // slot 0 only
  CHECK(out[0].due_ns == start);
  CHECK(gen.next_due_ns() == start + kMs);

  // Polled late: everything due meanwhile goes, each with its own due time,
  // but never more than the slots.
  gen.poll(start + 10 * kMs, out);
  REQUIRE(out.size() == 4);
  for (size_t i = 1; i < out.size(); ++i) CHECK(out[i].due_ns == start + i * kMs);

  // An answer frees a slot for the next request of the timetable, which was
  // due long ago: its latency counts from its slot, the wait for a slot included.
  WorkloadOptions o = options(Workload::kC, 1000, 1, 1000);
  o.warmup_s = 0;
  LoadGenerator one = make(o);
  one.start_run(1, 1, 0);
  std::vector<Request> first;
  one.poll(0, first);
  REQUIRE(first.size() == 1);
  std::vector<Request> second;
  one.complete(first[0], Reply{}, 20 * kMs, second);  // 20 ms: slots 1..20 fell due meanwhile
  REQUIRE(second.size() == 1);
  CHECK(second[0].due_ns == kMs);
  std::vector<Request> third;
  one.complete(second[0], Reply{}, 21 * kMs, third);
  auto result = one.finish_run(staleness_edges_us());
  REQUIRE(result.ok());
  REQUIRE(result->get_latency_ns.count() == 2);
  CHECK(result->get_latency_ns.min() == 20 * kMs);  // the first: from slot 0
  CHECK(result->get_latency_ns.max() == 20 * kMs);  // the second: due at 1 ms, answered at 21
}

TEST_CASE("load generator: one put per key in flight; each supersedes the last acknowledged one",
          "[bench]") {
  // One key, write only, two slots: the second put must wait for the first.
  LoadGenerator gen = make(options(Workload::kW, 1, 2));
  gen.start_run(0, 2, 0);
  std::vector<Request> out;
  gen.poll(0, out);
  REQUIRE(out.size() == 1);  // the second slot's put waits for the key
  CHECK(gen.in_flight() == 2);
  const Request first = out[0];
  CHECK(first.op == Op::kPut);
  CHECK(first.w == 2);
  CHECK(first.context.empty());
  auto v1 = decode_version(first.value);
  REQUIRE(v1.ok());
  CHECK(*v1 == first.version);
  CHECK(first.value.size() == 100);

  std::vector<Request> next;
  gen.complete(first, ok_put("ctx-1"), 3 * kMs, next);
  // The waiting put goes now, with the next version and the context just
  // acknowledged; the freed slot chooses one more put, which waits in turn.
  REQUIRE(next.size() == 1);
  CHECK(next[0].version == first.version + 1);
  CHECK(next[0].context == "ctx-1");
  CHECK(next[0].from_ns == 3 * kMs);  // its wait for the key is not the cluster's latency
  CHECK(gen.in_flight() == 2);

  std::vector<Request> after;
  gen.complete(next[0], ok_put("ctx-2"), 4 * kMs, after);
  REQUIRE(after.size() == 1);
  CHECK(after[0].version == first.version + 2);
  CHECK(after[0].context == "ctx-2");
}

TEST_CASE("load generator: a cas is a get then a put_if of the next version, racing on a key",
          "[bench]") {
  // One key, two slots, no warm-up: both cas read the key at once.
  WorkloadOptions o = options(Workload::kCas, 1, 2);
  o.warmup_s = 0;
  LoadGenerator gen = make(o);
  gen.start_run(0, 0, 0);
  std::vector<Request> out;
  gen.poll(0, out);
  REQUIRE(out.size() == 2);  // cas do not wait for each other
  for (const Request& r : out) {
    CHECK(r.op == Op::kGet);
    CHECK(r.cas_read);
    CHECK(r.r == 0);
  }
  Reply read;
  read.values = {encode_value(4, 100)};
  read.context = "v4";
  std::vector<Request> puts;
  gen.complete(out[0], read, 1 * kMs, puts);
  gen.complete(out[1], read, 2 * kMs, puts);
  REQUIRE(puts.size() == 2);  // each put_if holds its get's slot
  CHECK(gen.in_flight() == 2);
  for (const Request& p : puts) {
    CHECK(p.op == Op::kCas);
    CHECK(p.version == 5);
    CHECK(*decode_version(p.value) == 5);
    CHECK(p.context == "v4");  // if_version
    CHECK(p.from_ns == 0);     // the latency runs from the get
  }
  // The first applies; the second finds the version moved on.
  Reply applied;
  applied.applied = true;
  applied.context = "v5";
  std::vector<Request> next;
  gen.complete(puts[0], applied, 3 * kMs, next);
  REQUIRE(next.size() == 1);  // the freed slot starts the next cas
  CHECK(next[0].cas_read);
  Reply lost;
  lost.context = "v5";
  gen.complete(puts[1], lost, 4 * kMs, next);
  REQUIRE(next.size() == 2);
  // One gives up to contention.
  Reply read5;
  read5.values = {encode_value(5, 100)};
  read5.context = "v5";
  std::vector<Request> more;
  gen.complete(next[0], read5, 5 * kMs, more);
  REQUIRE(more.size() == 1);
  CHECK(more[0].version == 6);
  Reply contention;
  contention.status = Status(Code::kContention, "other writers kept winning");
  std::vector<Request> rest;
  gen.complete(more[0], contention, 6 * kMs, rest);
  // And a get that fails fails its cas, freeing the slot.
  Reply timeout;
  timeout.status = Status(Code::kTimeout, "no majority");
  gen.complete(next[1], timeout, 7 * kMs, rest);
  gen.stop(8 * kMs);
  for (const Request& r : rest) {
    if (r.cas_read) {
      gen.complete(r, timeout, 9 * kMs, more);
    }
  }
  CHECK(gen.done());

  auto res = gen.finish_run(staleness_edges_us());
  REQUIRE(res.ok());
  CHECK(res->cas_latency_ns.count() == 2);
  CHECK(res->cas_applied == 1);
  CHECK(res->cas_not_applied == 1);
  CHECK(res->cas_latency_ns.max() >= 3 * kMs);
  CHECK(res->errors.at("cas: contention") == 1);
  CHECK(res->contention_errors() == 1);
  CHECK(res->errors.at("cas: timeout") >= 1);
  CHECK(res->error_examples.at("cas: contention") == "other writers kept winning");
  CHECK(res->error_examples.at("cas: timeout") == "no majority");
  CHECK(res->get_latency_ns.count() == 0);
  CHECK(res->put_latency_ns.count() == 0);
  // The three gets that answered are recorded as reads (none had a write
  // acknowledged strictly before it started, so none is judged); the failed
  // ones are not.
  CHECK(res->staleness.stale_reads == 0);
  CHECK(res->staleness.reads_judged + res->staleness.reads_unjudged == 3);
}

TEST_CASE("load generator: the load phase reads each key and writes it above any version found",
          "[bench]") {
  LoadGenerator gen = make(options(Workload::kA, 2, 4));
  gen.start_load(0);
  std::vector<Request> out;
  gen.poll(0, out);
  REQUIRE(out.size() == 2);  // one read per key
  for (const Request& r : out) {
    CHECK(r.op == Op::kGet);
    CHECK(r.loading);
  }
  // Key 0 holds version 41 from an earlier run; key 1 is new.
  Reply found;
  found.values = {encode_value(41, 100)};
  found.context = "old";
  std::vector<Request> puts;
  const Request& read0 = out[0].key == 0 ? out[0] : out[1];
  const Request& read1 = out[0].key == 0 ? out[1] : out[0];
  gen.complete(read0, found, kMs, puts);
  gen.complete(read1, Reply{}, kMs, puts);
  REQUIRE(puts.size() == 2);
  CHECK(puts[0].op == Op::kPut);
  CHECK(puts[0].key == 0);
  CHECK(puts[0].version == 42);
  CHECK(puts[0].context == "old");
  CHECK(puts[1].version == 1);
  CHECK_FALSE(gen.done());

  // A failed write is tried again (read first when its read had failed; here the read went through).
  std::vector<Request> retry;
  Reply failed;
  failed.status = Status::Timeout("no answer");
  gen.complete(puts[1], failed, 2 * kMs, retry);
  REQUIRE(retry.size() == 1);
  CHECK(retry[0].op == Op::kPut);
  CHECK(retry[0].key == 1);
  std::vector<Request> none;
  gen.complete(puts[0], ok_put("c0"), 2 * kMs, none);
  gen.complete(retry[0], ok_put("c1"), 3 * kMs, none);
  CHECK(none.empty());
  CHECK(gen.done());
  CHECK(gen.load_failures() == 0);
  CHECK(gen.check_load().ok());
  CHECK(gen.progress(3 * kMs).keys_loaded == 2);
}

}  // namespace
}  // namespace tally::bench

namespace tally::bench {
namespace {

TEST_CASE("load generator: the timeline puts each measured answer in the window it ended in",
          "[bench]") {
  WorkloadOptions o = options(Workload::kC, 1000, 1);
  o.window_s = 0.1;
  LoadGenerator gen = make(o);
  gen.start_run(1, 1, 0);
  std::vector<Request> out;
  gen.poll(1 * kS, out);  // due after the 1 s warm-up: measured
  REQUIRE(out.size() == 1);
  // One request in flight: each answer sends the next at once. Window 0 gets
  // answers after 2 and 3 ms, window 1 nothing, window 2 one after 250 ms
  // and a failure, window 3 one after 40 ms.
  auto answer = [&](uint64_t at_ns, bool ok = true) {
    std::vector<Request> next;
    Reply reply;
    if (!ok) reply.status = Status::Timeout("no answer");
    gen.complete(out.back(), reply, at_ns, next);
    REQUIRE(next.size() == 1);
    out.push_back(next[0]);
  };
  answer(1 * kS + 2 * kMs);
  answer(1 * kS + 5 * kMs);
  answer(1 * kS + 255 * kMs);
  answer(1 * kS + 260 * kMs, false);
  answer(1 * kS + 300 * kMs);
  auto result = gen.finish_run(staleness_edges_us());
  REQUIRE(result.ok());
  CHECK(result->timeline_window_s == Approx(0.1));
  const auto& t = result->timeline;
  REQUIRE(t.size() == 4);
  CHECK(t[0].from_s == Approx(0.0));
  CHECK(t[0].ops == 2);
  CHECK(t[0].errors == 0);
  CHECK(t[0].max_ns == 3 * kMs);
  CHECK(t[0].p99_ns == 3 * kMs);
  CHECK(t[0].p50_ns == Approx(2 * kMs).epsilon(0.001));
  CHECK(t[1].from_s == Approx(0.1));
  CHECK(t[1].ops == 0);
  CHECK(t[1].max_ns == 0);
  CHECK(t[2].from_s == Approx(0.2));
  CHECK(t[2].ops == 2);
  CHECK(t[2].errors == 1);
  CHECK(t[2].max_ns == 250 * kMs);
  CHECK(t[3].from_s == Approx(0.3));
  CHECK(t[3].ops == 1);
  CHECK(t[3].max_ns == 40 * kMs);

  // A new run starts a new timeline.
  gen.start_run(1, 1, 10 * kS);
  auto empty = gen.finish_run(staleness_edges_us());
  REQUIRE(empty.ok());
  CHECK(empty->timeline.empty());
}

}  // namespace
}  // namespace tally::bench
