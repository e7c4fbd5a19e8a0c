#include "testing/fault_workload.hpp"

#include <optional>
#include <random>

namespace tally::clustertest {

using testing::Op;
using testing::OpKind;
using testing::Outcome;

namespace {

// Runs `args` for `op`, stamping its start and end: unknown when no reply
// came, failed for an error reply (its text in `note`). The reply, when
// there was one that was not an error.
std::optional<RespReply> timed(RespClient& c, testing::HistoryRecorder& history, Op& op,
                               const std::vector<std::string>& args) {
  op.start_us = history.now_us();
  auto r = c.command(args);
  op.end_us = history.now_us();
  if (!r.ok()) {
    op.outcome = Outcome::kUnknown;
    op.note = r.status().to_string();
    return std::nullopt;
  }
  if (r->is_error()) {
    op.outcome = Outcome::kFailed;
    op.note = r->text;
    return std::nullopt;
  }
  return std::move(*r);
}

}  // namespace

Op recorded_set(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key,
                const std::string& value) {
  Op op;
  op.client = client;
  op.kind = OpKind::kWrite;
  op.key = key;
  op.value = value;
  if (auto r = timed(c, history, op, {"SET", key, value})) {
    if (r->kind != RespReply::Kind::kSimple || r->text != "OK") {
      op.outcome = Outcome::kFailed;
      op.note = "not +OK";
    }
  }
  history.add(op);
  return op;
}

Op recorded_get(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key) {
  Op op;
  op.client = client;
  op.kind = OpKind::kRead;
  op.key = key;
  if (auto r = timed(c, history, op, {"GET", key})) {
    if (r->kind == RespReply::Kind::kBulk) {
      op.read = {r->text};
    } else if (r->kind != RespReply::Kind::kNil) {
      op.outcome = Outcome::kFailed;
      op.note = "not a bulk string";
    }
  }
  history.add(op);
  return op;
}

Op recorded_cas(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key,
                const std::optional<std::string>& expected, const std::string& value) {
  Op op;
  op.client = client;
  op.kind = OpKind::kCas;
  op.key = key;
  op.value = value;
  op.cas_if = expected ? testing::CasIf::kValue : testing::CasIf::kAbsent;
  if (expected) op.expected = *expected;
  auto r = expected ? timed(c, history, op, {"TALLY.CAS", key, *expected, value})
                    : timed(c, history, op, {"SET", key, value, "NX"});
  if (!r) {
    if (op.outcome == Outcome::kFailed && op.note.rfind("TIMEOUT", 0) == 0) op.outcome = Outcome::kUnknown;
  } else if (!expected) {
    // SET NX: OK, or nil when the key exists (the reply does not say what it holds).
    if (r->kind == RespReply::Kind::kSimple && r->text == "OK") {
      op.applied = true;
    } else if (r->kind != RespReply::Kind::kNil) {
      op.outcome = Outcome::kFailed;
      op.note = "not +OK or nil";
    }
  } else if (r->kind == RespReply::Kind::kArray && r->elements.size() == 2 &&
             r->elements[0].kind == RespReply::Kind::kInteger) {
    op.applied = r->elements[0].integer == 1;
    if (!op.applied) {
      op.current_reported = true;
      if (r->elements[1].kind == RespReply::Kind::kBulk) op.read = {r->elements[1].text};
    }
  } else {
    op.outcome = Outcome::kFailed;
    op.note = "not a [applied, value] array";
  }
  history.add(op);
  return op;
}

void Workload::add_counter_client(int id, const std::string& host, int port, std::vector<std::string> counters,
                                  uint64_t seed, const std::string& keyspace) {
  threads_.emplace_back([this, id, host, port, counters = std::move(counters), seed, keyspace] {
    RespClient c(host, port, kClientTimeout);
    c.on_connect({"TALLY.KEYSPACE", keyspace});
    std::mt19937_64 rng(seed);
    while (!stopping_.load()) {
      const std::string& key = counters[rng() % counters.size()];
      Op got = recorded_get(c, history_, id, key);
      if (stopping_.load()) break;
      if (got.outcome == Outcome::kOk) {
        if (got.read.empty()) {
          recorded_cas(c, history_, id, key, std::nullopt, "1");
        } else {
          recorded_cas(c, history_, id, key, got.read.front(), std::to_string(std::stoll(got.read.front()) + 1));
        }
      }
      std::this_thread::sleep_for(kThink);
    }
  });
}

void Workload::add_client(int id, const std::string& host, int port, std::vector<std::string> own_keys,
                          std::vector<std::string> also_read, uint64_t seed, const std::string& keyspace) {
  threads_.emplace_back([this, id, host, port, own = std::move(own_keys), others = std::move(also_read), seed,
                         keyspace] {
    RespClient c(host, port, kClientTimeout);
    if (!keyspace.empty()) c.on_connect({"TALLY.KEYSPACE", keyspace});
    std::mt19937_64 rng(seed);
    uint64_t n = 0;
    while (!stopping_.load()) {
      const std::string& key = own[rng() % own.size()];
      recorded_set(c, history_, id, key, "c" + std::to_string(id) + "-" + std::to_string(n++));
      if (stopping_.load()) break;
      std::this_thread::sleep_for(kThink);
      // Half the reads are of the key just written (read-your-writes), half
      // of any key (another client's acknowledged writes).
      const bool mine = others.empty() || rng() % 2 == 0;
      recorded_get(c, history_, id, mine ? key : others[rng() % others.size()]);
      std::this_thread::sleep_for(kThink);
    }
  });
}

void Workload::stop() {
  stopping_.store(true);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace tally::clustertest
