#include "testing/linearizability_gen.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "raft/random.hpp"

namespace tally::testing {

namespace {

// An operation's window and whether (and when) it takes effect.
struct Planned {
  Op op;
  bool happens = true;
  int64_t effect_us = 0;  // when it takes effect; if it never does, when its arguments are chosen
};

bool condition_holds(const Op& op, const std::optional<std::string>& v) {
  switch (op.cas_if) {
    case CasIf::kAbsent:
      return !v;
    case CasIf::kValue:
      return v && *v == op.expected;
    case CasIf::kPresent:
      return v.has_value();
  }
  return false;
}

std::vector<std::string> as_read(const std::optional<std::string>& v) {
  return v ? std::vector<std::string>{*v} : std::vector<std::string>{};
}

}  // namespace

std::vector<Op> linearizable_register_history(const RegisterWorkload& w, uint64_t seed) {
  SplitMix64 rng(seed);
  const int64_t total = static_cast<int64_t>(w.keys) * w.ops_per_key;
  const int64_t per_client = std::max<int64_t>(1, total / std::max(1, w.clients));

  // Windows first: each client runs its operations one after another.
  std::vector<Planned> plan;
  for (int c = 0; c < w.clients; ++c) {
    int64_t t = static_cast<int64_t>(rng.between(0, 2 * w.mean_think_us));
    for (int64_t i = 0; i < per_client; ++i) {
      Planned p;
      p.op.client = c;
      p.op.key = "k" + std::to_string(rng.uniform(w.keys));
      p.op.start_us = t;
      const int64_t latency = static_cast<int64_t>(rng.between(1, 2 * w.mean_latency_us));
      p.op.end_us = t + latency;
      p.effect_us = t + static_cast<int64_t>(rng.between(0, latency));
      if (rng.chance(w.unknown_fraction)) {
        p.op.outcome = Outcome::kUnknown;
        p.op.note = "timed out";
        p.happens = rng.chance(1, 2);
        if (p.happens)
          p.effect_us =
              t + static_cast<int64_t>(rng.between(0, 4 * latency));  // often after its end
      } else if (rng.chance(w.failed_fraction)) {
        p.op.outcome = Outcome::kFailed;
        p.op.note = "refused";
        p.happens = false;
      }
      plan.push_back(std::move(p));
      t += latency + static_cast<int64_t>(rng.between(0, 2 * w.mean_think_us));
    }
  }

  // Then run them on one register per key, in the order they take effect.
  std::stable_sort(plan.begin(), plan.end(),
                   [](const Planned& a, const Planned& b) { return a.effect_us < b.effect_us; });
  std::map<std::string, std::optional<std::string>> reg;
  std::map<std::pair<int, std::string>, std::optional<std::string>>
      last_seen;  // per client and key
  const int weights = w.read_weight + w.write_weight + w.cas_weight;
  int64_t seq = 0;
  for (Planned& p : plan) {
    Op& op = p.op;
    auto& current = reg[op.key];
    auto& seen = last_seen[{op.client, op.key}];
    const int64_t pick = static_cast<int64_t>(rng.uniform(std::max(1, weights)));
    if (pick < w.read_weight) {
      op.kind = OpKind::kRead;
      if (p.happens && op.outcome == Outcome::kOk) {
        op.read = as_read(current);
        seen = current;
      }
      continue;
    }
    op.kind = OpKind::kCas;
    if (w.counters) {
      op.cas_if = seen ? CasIf::kValue : CasIf::kAbsent;
      op.expected = seen.value_or("");
      op.value = std::to_string(seen ? std::stoll(*seen) + 1 : 1);
    } else {
      op.value = "c" + std::to_string(op.client) + "-" + std::to_string(++seq);
      if (pick < w.read_weight + w.write_weight) {
        op.kind = OpKind::kWrite;
      } else {
        const uint64_t c = rng.uniform(20);
        op.cas_if = c < 14 ? CasIf::kValue : c < 17 ? CasIf::kAbsent : CasIf::kPresent;
        // Mostly the value the client last saw, sometimes the register's own
        // (so that many CAS apply even when the client is behind).
        const std::optional<std::string>& base = rng.chance(1, 2) ? current : seen;
        if (op.cas_if == CasIf::kValue && !base) op.cas_if = CasIf::kAbsent;
        if (op.cas_if == CasIf::kValue) op.expected = *base;
      }
    }
    if (!p.happens) continue;
    const bool applies = op.kind == OpKind::kWrite || condition_holds(op, current);
    if (op.outcome == Outcome::kOk && op.kind == OpKind::kCas) {
      op.applied = applies;
      if (!applies && rng.chance(1, 2)) {
        op.current_reported = true;
        op.read = as_read(current);
      }
    }
    if (applies) current = op.value;
    if (op.outcome == Outcome::kOk && (applies || op.current_reported)) seen = current;
  }

  std::vector<Op> ops;
  ops.reserve(plan.size());
  for (Planned& p : plan) ops.push_back(std::move(p.op));
  std::sort(ops.begin(), ops.end(),
            [](const Op& a, const Op& b) { return a.start_us < b.start_us; });
  return ops;
}

}  // namespace tally::testing
