#include "testing/history.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace tally::testing {

namespace {

std::string ms(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us) / 1000.0);
  return buf;
}

const char* name(Outcome o) {
  switch (o) {
    case Outcome::kOk: return "ok";
    case Outcome::kFailed: return "failed";
    case Outcome::kUnknown: return "unknown";
  }
  return "?";
}

std::string quoted(const std::vector<std::string>& values) {
  if (values.empty()) return "nothing";
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "'" : ", '") + v + "'";
  return out;
}

// The writes of `ops`, by the value they wrote.
std::unordered_map<std::string, const Op*> writes_by_value(const std::vector<Op>& ops) {
  std::unordered_map<std::string, const Op*> by_value;
  for (const auto& op : ops) {
    if (op.kind == OpKind::kWrite) by_value.emplace(op.value, &op);
  }
  return by_value;
}

}  // namespace

std::string describe(const Op& op) {
  std::string out = "client " + std::to_string(op.client) + " ";
  switch (op.kind) {
    case OpKind::kWrite: out += "write " + op.key + " '" + op.value + "'"; break;
    case OpKind::kRead: out += "read " + op.key + " -> " + quoted(op.read); break;
    case OpKind::kCreateKeyspace: out += "create keyspace " + op.key; break;
    case OpKind::kCas:
      out += "cas " + op.key;
      switch (op.cas_if) {
        case CasIf::kAbsent: out += " if absent"; break;
        case CasIf::kValue: out += " if '" + op.expected + "'"; break;
        case CasIf::kPresent: out += " if present"; break;
      }
      out += " -> '" + op.value + "'";
      if (op.outcome == Outcome::kOk && op.applied) out += " (applied)";
      if (op.outcome == Outcome::kOk && !op.applied) {
        out += op.current_reported ? " (not applied, current " + quoted(op.read) + ")" : " (not applied)";
      }
      break;
  }
  out += std::string(" ") + name(op.outcome) + " [" + ms(op.start_us) + " .. " + ms(op.end_us) + " ms]";
  if (!op.note.empty()) out += " (" + op.note + ")";
  return out;
}

int64_t HistoryRecorder::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - origin_).count();
}

void HistoryRecorder::add(Op op) {
  std::lock_guard lock(mu_);
  ops_.push_back(std::move(op));
}

std::vector<Op> HistoryRecorder::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

Counts count(const std::vector<Op>& ops, OpKind kind) {
  Counts c;
  for (const auto& op : ops) {
    if (op.kind != kind) continue;
    ++c.ops;
    switch (op.outcome) {
      case Outcome::kOk: ++c.ok; break;
      case Outcome::kFailed: ++c.failed; break;
      case Outcome::kUnknown: ++c.unknown; break;
    }
  }
  return c;
}

std::string CheckResult::describe(uint64_t seed, size_t most) const {
  std::string out = rule + ": " + std::to_string(violations.size()) + " violation(s) in " + std::to_string(judged) +
                    " judged (seed " + std::to_string(seed) + ")\n";
  for (size_t i = 0; i < violations.size() && i < most; ++i) out += violations[i] + "\n";
  if (violations.size() > most) out += "... and " + std::to_string(violations.size() - most) + " more\n";
  return out;
}

CheckResult check_lost_writes(const std::vector<Op>& ops,
                              const std::map<std::string, std::vector<std::string>>& final_values) {
  CheckResult r{"no acknowledged write lost"};
  // Per key: its writes, and the latest start among them (what may supersede).
  std::map<std::string, std::vector<const Op*>> writes;
  for (const auto& op : ops) {
    if (op.kind == OpKind::kWrite) writes[op.key].push_back(&op);
  }
  const auto by_value = writes_by_value(ops);
  for (const auto& [key, list] : writes) {
    auto found = final_values.find(key);
    const std::vector<std::string> none;
    const auto& present = found == final_values.end() ? none : found->second;
    int64_t last_start = 0;
    for (const Op* w : list) last_start = std::max(last_start, w->start_us);
    for (const Op* w : list) {
      if (w->outcome != Outcome::kOk) continue;
      ++r.judged;
      if (std::find(present.begin(), present.end(), w->value) != present.end()) continue;
      if (last_start > w->end_us) continue;  // a later write may have overwritten it
      std::string v = describe(*w) + "\n  final state of " + key + ": " + quoted(present);
      bool earlier = false;  // an older write holds the key in its place
      for (const auto& value : present) {
        auto it = by_value.find(value);
        if (it == by_value.end()) continue;
        v += "\n  written by " + describe(*it->second);
        earlier = earlier || it->second->start_us < w->end_us;
      }
      r.add(earlier ? "lost to an earlier write" : "lost", std::move(v));
    }
    for (const auto& value : present) {
      if (!by_value.count(value)) {
        r.add("phantom", key + " holds '" + value + "', which no write wrote");
      }
    }
  }
  return r;
}

CheckResult check_stale_reads(const std::vector<Op>& ops) {
  CheckResult r{"no read older than a write acknowledged before it began"};
  const auto by_value = writes_by_value(ops);
  std::map<std::string, std::vector<const Op*>> acked;  // per key, acknowledged writes
  for (const auto& op : ops) {
    if (op.kind == OpKind::kWrite && op.outcome == Outcome::kOk) acked[op.key].push_back(&op);
  }
  static const std::vector<const Op*> kNone;
  for (const auto& read : ops) {
    if (read.kind != OpKind::kRead || read.outcome != Outcome::kOk) continue;
    ++r.judged;
    auto it = acked.find(read.key);
    const auto& key_acked = it == acked.end() ? kNone : it->second;
    // The witness that makes the value `v` (nullptr: not found) stale.
    auto superseder = [&](const Op* wv) -> const Op* {
      for (const Op* w2 : key_acked) {
        if (w2 == wv || w2->end_us >= read.start_us) continue;
        if (!wv || wv->end_us < w2->start_us) return w2;
      }
      return nullptr;
    };
    if (read.read.empty()) {
      if (const Op* w2 = superseder(nullptr)) {
        r.add("stale", describe(read) + "\n  though acknowledged before it began: " + describe(*w2));
      }
      continue;
    }
    bool fresh = false;
    std::string why;
    for (const auto& value : read.read) {
      auto w = by_value.find(value);
      if (w == by_value.end() || w->second->key != read.key) {
        r.add("phantom", describe(read) + "\n  '" + value + "' was not written to " + read.key);
        fresh = true;  // counted once, as a phantom
        break;
      }
      const Op* wv = w->second;
      if (wv->start_us > read.end_us) {
        r.add("from the future", describe(read) + "\n  returned the value of " + describe(*wv));
        fresh = true;
        break;
      }
      if (const Op* w2 = superseder(wv)) {
        why += "\n  returned the value of " + describe(*wv) + "\n  overwritten before the read began by " +
               describe(*w2);
      } else {
        fresh = true;
      }
    }
    if (!fresh) r.add("stale", describe(read) + why);
  }
  return r;
}

CheckResult check_metadata(const std::vector<Op>& ops, const std::vector<NodeMap>& maps,
                           const std::set<std::string>& initial) {
  CheckResult r{"one metadata map on every node, no acknowledged change lost"};
  r.judged = maps.size();
  auto show = [](const NodeMap& m) {
    std::string ks;
    for (const auto& k : m.keyspaces) ks += (ks.empty() ? "" : " ") + k;
    return m.node + ": epoch " + std::to_string(m.epoch) + ", keyspaces {" + ks + "}";
  };
  for (size_t i = 1; i < maps.size(); ++i) {
    if (maps[i].epoch != maps[0].epoch || maps[i].keyspaces != maps[0].keyspaces) {
      r.add("maps differ", maps[0].node + " and " + maps[i].node + "\n  " + show(maps[0]) + "\n  " + show(maps[i]));
    }
  }
  std::set<std::string> asked = initial;
  for (const auto& op : ops) {
    if (op.kind != OpKind::kCreateKeyspace) continue;
    asked.insert(op.key);
    if (op.outcome != Outcome::kOk) continue;
    for (const auto& m : maps) {
      if (!m.keyspaces.count(op.key)) r.add("lost", describe(op) + "\n  " + show(m));
    }
  }
  for (const auto& m : maps) {
    for (const auto& k : m.keyspaces) {
      if (!asked.count(k)) r.add("phantom", "keyspace " + k + " nobody created\n  " + show(m));
    }
  }
  return r;
}

}  // namespace tally::testing
