#include "testing/linearizability.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <unordered_map>

namespace tally::testing {

namespace {

// Values are interned per key; kAbsent is the register before any write.
constexpr int32_t kAbsent = -1;

class ValueTable {
 public:
  int32_t intern(const std::string& v) {
    auto [it, added] = ids_.emplace(v, static_cast<int32_t>(names_.size()));
    if (added) names_.push_back(v);
    return it->second;
  }
  std::string show(int32_t id) const { return id == kAbsent ? "absent" : "'" + names_[id] + "'"; }

 private:
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> names_;
};

// An operation as the register model sees it.
struct RegisterOp {
  OpKind kind = OpKind::kRead;  // kRead, kWrite or kCas
  CasIf cas_if = CasIf::kValue;
  int32_t expected = kAbsent;  // kCas with CasIf::kValue
  int32_t value = kAbsent;     // kWrite, kCas: what it writes
  int32_t observed =
      kAbsent;  // kRead: what it returned; kCas not applied: the current value, if reported
  bool definite = true;  // its result is known (kOk); else it may take effect late or never
  bool applied = false;
  bool current_reported = false;
  const Op* source = nullptr;
};

bool condition_holds(const RegisterOp& op, int32_t v) {
  switch (op.cas_if) {
    case CasIf::kAbsent:
      return v == kAbsent;
    case CasIf::kValue:
      return v == op.expected;
    case CasIf::kPresent:
      return v != kAbsent;
  }
  return false;
}

// The register's value after `op` takes effect on `v`, or nothing when the
// result recorded for `op` is impossible at `v`.
std::optional<int32_t> apply(const RegisterOp& op, int32_t v) {
  switch (op.kind) {
    case OpKind::kRead:
      return op.observed == v ? std::optional(v) : std::nullopt;
    case OpKind::kWrite:
      return op.value;
    case OpKind::kCas:
      if (!op.definite) return condition_holds(op, v) ? op.value : v;
      if (op.applied) return condition_holds(op, v) ? std::optional(op.value) : std::nullopt;
      if (condition_holds(op, v)) return std::nullopt;
      if (op.current_reported && op.observed != v) return std::nullopt;
      return v;
    default:
      return std::nullopt;
  }
}

// Whether `op` leaves the value as it found it wherever it fits: a read, or a
// CAS known not to have applied. (A write of the value the register already
// holds does not count: elsewhere it would change it.)
bool keeps_value(const RegisterOp& op) {
  return op.kind == OpKind::kRead || (op.kind == OpKind::kCas && op.definite && !op.applied);
}

// Why `op` cannot take effect when the register holds `v`.
std::string why_not(const RegisterOp& op, int32_t v, const ValueTable& values) {
  const std::string holds = "the register holds " + values.show(v);
  if (op.kind == OpKind::kRead) return "returned " + values.show(op.observed) + ", " + holds;
  if (op.applied) return "applied, but " + holds;
  if (op.current_reported && op.observed != v)
    return "reported " + values.show(op.observed) + ", " + holds;
  return "not applied, but " + holds;
}

// A set of operation ids, one bit each.
class Bits {
 public:
  explicit Bits(size_t n) : words_((n + 63) / 64, 0) {}
  void set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void clear(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
};

uint64_t mix(uint64_t h, uint64_t w) {
  h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

// The configurations the search left without success: the definite
// operations linearized (D), the unknown ones linearized (U), the value. A
// configuration is known to fail if one with the same D and value and a
// subset of its U failed: the unknown operations it has in addition could
// have been left out. D is stored from its first word that is not full (the
// linearized set grows mostly as a prefix), U without its trailing zero words.
class FailedConfigs {
 public:
  bool covers(const Bits& d, const Bits& u, int32_t v) const {
    const Key k = key(d, v);
    auto it = buckets_.find(k.hash);
    if (it == buckets_.end()) return false;
    const auto& uw = u.words();
    for (uint32_t e = it->second; e != kNone; e = entries_[e].next) {
      const Entry& c = entries_[e];
      if (c.value != v || c.d_first != k.first || c.d_len != k.len) continue;
      if (!std::equal(d.words().begin() + k.first, d.words().begin() + k.first + k.len,
                      arena_.begin() + c.offset)) {
        continue;
      }
      bool subset = true;
      for (uint32_t i = 0; i < c.u_len && subset; ++i)
        subset = (arena_[c.offset + c.d_len + i] & ~uw[i]) == 0;
      if (subset) return true;
    }
    return false;
  }

  void add(const Bits& d, const Bits& u, int32_t v) {
    const Key k = key(d, v);
    const auto& uw = u.words();
    uint32_t u_len = static_cast<uint32_t>(uw.size());
    while (u_len > 0 && uw[u_len - 1] == 0) --u_len;
    Entry e{static_cast<uint32_t>(arena_.size()), k.first, k.len, u_len, v, kNone};
    arena_.insert(arena_.end(), d.words().begin() + k.first, d.words().begin() + k.first + k.len);
    arena_.insert(arena_.end(), uw.begin(), uw.begin() + u_len);
    auto [it, added] = buckets_.emplace(k.hash, static_cast<uint32_t>(entries_.size()));
    if (!added) {
      e.next = it->second;
      it->second = static_cast<uint32_t>(entries_.size());
    }
    entries_.push_back(e);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Key {
    uint32_t first, len;
    uint64_t hash;
  };
  struct Entry {
    uint32_t offset, d_first, d_len, u_len;
    int32_t value;
    uint32_t next;
  };

  static Key key(const Bits& d, int32_t v) {
    const auto& w = d.words();
    uint32_t first = 0, last = static_cast<uint32_t>(w.size());
    while (first < w.size() && w[first] == ~uint64_t{0}) ++first;
    while (last > first && w[last - 1] == 0) --last;
    uint64_t h = mix(first, static_cast<uint64_t>(static_cast<uint32_t>(v)));
    for (uint32_t i = first; i < last; ++i) h = mix(h, w[i]);
    return {first, last - first, h};
  }

  std::vector<uint64_t> arena_;
  std::vector<Entry> entries_;
  std::unordered_map<uint64_t, uint32_t> buckets_;
};

// Wing and Gong's search over one key, with Lowe's memoisation. Call and
// return events sit in a doubly linked list in time order; linearizing an
// operation unlinks its events, backtracking links them back (in reverse
// order, so the saved links are still right). Unknown operations have no
// return event: nothing forces them in.
class Search {
 public:
  enum class End { kFound, kExhausted, kOutOfSteps, kAtFrontier };

  Search(const std::vector<RegisterOp>& ops, const std::vector<int64_t>& call_us,
         const std::vector<int64_t>& return_us)
      : ops_(ops), slot_(ops.size()), call_(ops.size()), return_(ops.size(), kNoEvent) {
    struct Event {
      int64_t at;
      bool is_return;
      uint32_t op;
    };
    std::vector<Event> events;
    size_t n_definite = 0, n_unknown = 0;
    for (uint32_t i = 0; i < ops.size(); ++i) {
      slot_[i] = ops[i].definite ? n_definite++ : n_unknown++;
      events.push_back({call_us[i], false, i});
      if (ops[i].definite) events.push_back({return_us[i], true, i});
    }
    // Calls before returns at the same instant: operations that touch overlap.
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.at != b.at) return a.at < b.at;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    const size_t n = events.size();
    tail_ = static_cast<uint32_t>(n + 1);
    next_.resize(n + 2);
    prev_.resize(n + 2);
    op_of_.resize(n + 2);
    is_return_.resize(n + 2, false);
    for (uint32_t e = 0; e <= n + 1; ++e) {
      next_[e] = e + 1;
      prev_[e] = e == 0 ? 0 : e - 1;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t e = i + 1;
      op_of_[e] = events[i].op;
      is_return_[e] = events[i].is_return;
      (events[i].is_return ? return_ : call_)[events[i].op] = e;
    }
    n_definite_ = n_definite;
    n_unknown_ = n_unknown;
  }

  // Searches until a linearization is found, every order failed, `max_steps`
  // ran out or (stop_at != 0) a configuration whose first pending return is
  // event `stop_at` is reached; then path() and value() describe where it is.
  End run(uint64_t max_steps, uint32_t stop_at) {
    Bits d(n_definite_), u(n_unknown_);
    FailedConfigs failed;
    size_t pending = n_definite_;
    value_ = kAbsent;
    path_.clear();
    struct Frame {
      uint32_t op;
      int32_t before;  // the value before it
      bool forced;     // the only child its configuration needed
    };
    std::vector<Frame> frames;
    // Each configuration walks its pending operations up to the first return
    // event (the window) in up to three passes:
    //   kForced: a definite operation that keeps the value (keeps_value())
    //     and fits is taken, and nothing else is tried: any linearization
    //     from here can be reordered to take it first, so if that fails, the
    //     configuration fails;
    //   kDefinite: the other definite operations, in call order;
    //   kUnknown: unknown operations that change it, last, and only to a
    //     value some pending operation wants (see wanted()). Without that,
    //     k pending unknown writes that never happened make k * 2^(k-1)
    //     configurations (each subset, in each last-written value).
    enum Pass { kForced, kDefinite, kUnknown } pass = kForced;
    uint32_t e = next_[0];
    auto take = [&](uint32_t op, int32_t after, bool forced) {
      frames.push_back({op, value_, forced});
      path_.push_back(op);
      value_ = after;
      pending -= ops_[op].definite;
      e = next_[0];
      pass = kForced;
    };
    while (pending > 0) {
      if (e == tail_ || is_return_[e]) {
        if (pass == kForced) {
          // `e` is the earliest return of an operation not linearized yet.
          frontier_ = std::max(frontier_, e);
          if (e == stop_at) return End::kAtFrontier;
        }
        if (pass != kUnknown) {
          if (pass == kDefinite) wanted_ = wanted();
          pass = pass == kForced ? kDefinite : kUnknown;
          e = next_[0];
          continue;
        }
      } else {
        const uint32_t op = op_of_[e];
        const RegisterOp& o = ops_[op];
        if (o.definite != (pass != kUnknown)) {
          e = next_[e];
          continue;
        }
        if (steps_ >= max_steps) return End::kOutOfSteps;
        ++steps_;
        // kForced takes only reads and CAS that did not apply; kDefinite the
        // other definite operations; kUnknown only what changes the value to
        // one that is wanted (an unknown operation that changes nothing is
        // never needed).
        if ((pass == kForced) != (pass != kUnknown && keeps_value(o))) {
          e = next_[e];
          continue;
        }
        const std::optional<int32_t> after = apply(o, value_);
        if (!after || (pass == kUnknown && (*after == value_ || !wanted_(*after)))) {
          e = next_[e];
          continue;
        }
        unlink(op, true, d, u);
        if (!failed.covers(d, u, *after)) {
          take(op, *after, pass == kForced);
          continue;
        }
        unlink(op, false, d, u);
        if (pass != kForced) {
          e = next_[e];
          continue;
        }
        // A forced child known to fail: its configuration fails with it.
      }
      // This configuration failed; so does every parent whose only child it was.
      for (;;) {
        if (frames.empty()) return End::kExhausted;
        failed.add(d, u, value_);
        const Frame f = frames.back();
        frames.pop_back();
        path_.pop_back();
        value_ = f.before;
        unlink(f.op, false, d, u);
        pending += ops_[f.op].definite;
        if (f.forced) continue;
        e = next_[call_[f.op]];
        pass = ops_[f.op].definite ? kDefinite : kUnknown;
        if (pass == kUnknown) wanted_ = wanted();
        break;
      }
    }
    return End::kFound;
  }

  // The values an unknown operation may usefully leave: those at which some
  // pending operation fits and then leaves a value it would not leave (or
  // does not fit) at the value now. Taking an unknown operation that leaves
  // any other value is never needed: in a linearization that takes it here,
  // the next operation that does something could come first instead, with
  // the unknown one left out. A superset is safe (it only prunes less).
  struct Wanted {
    std::vector<int32_t> values;
    bool any_present = false, any = false;
    bool operator()(int32_t v) const {
      return any || (any_present && v != kAbsent) ||
             std::find(values.begin(), values.end(), v) != values.end();
    }
  };
  Wanted wanted() {
    Wanted w;
    for (uint32_t e = next_[0]; e != tail_ && !is_return_[e]; e = next_[e]) {
      const RegisterOp& a = ops_[op_of_[e]];
      ++steps_;
      if (a.kind == OpKind::kRead) {
        w.values.push_back(a.observed);
      } else if (a.kind == OpKind::kCas && (a.applied || !a.definite) &&
                 !condition_holds(a, value_)) {
        // It could apply on some other value, and not on this one.
        if (a.cas_if == CasIf::kValue) w.values.push_back(a.expected);
        if (a.cas_if == CasIf::kAbsent) w.values.push_back(kAbsent);
        if (a.cas_if == CasIf::kPresent) w.any_present = true;
      } else if (a.kind == OpKind::kCas && a.definite && !a.applied) {
        // Here it did not fit (or it would have been forced): it may elsewhere.
        if (a.current_reported) w.values.push_back(a.observed);
        if (!a.current_reported && a.cas_if == CasIf::kValue) w.any = true;
        if (!a.current_reported && a.cas_if == CasIf::kAbsent) w.any_present = true;
        if (!a.current_reported && a.cas_if == CasIf::kPresent) w.values.push_back(kAbsent);
      }
    }
    return w;
  }

  uint64_t steps() const { return steps_; }
  // The latest first-pending-return any configuration reached (0: none).
  uint32_t frontier() const { return frontier_; }
  // Where run() stopped: the operations linearized, in order, and the value.
  const std::vector<uint32_t>& path() const { return path_; }
  int32_t value() const { return value_; }
  uint32_t op_of(uint32_t event) const { return op_of_[event]; }
  // The operations called before event `end` and not linearized, in time order.
  std::vector<uint32_t> pending_before(uint32_t end) const {
    std::vector<uint32_t> out;
    for (uint32_t e = next_[0]; e != end && e != tail_; e = next_[e]) {
      if (!is_return_[e]) out.push_back(op_of_[e]);
    }
    return out;
  }

 private:
  static constexpr uint32_t kNoEvent = 0;

  // Unlinks (take) or relinks an operation's events and marks it in d or u.
  void unlink(uint32_t op, bool take, Bits& d, Bits& u) {
    Bits& bits = ops_[op].definite ? d : u;
    const uint32_t c = call_[op], r = return_[op];
    if (take) {
      bits.set(slot_[op]);
      remove(c);
      if (r != kNoEvent) remove(r);
    } else {
      bits.clear(slot_[op]);
      if (r != kNoEvent) restore(r);
      restore(c);
    }
  }
  void remove(uint32_t e) {
    next_[prev_[e]] = next_[e];
    prev_[next_[e]] = prev_[e];
  }
  void restore(uint32_t e) {
    next_[prev_[e]] = e;
    prev_[next_[e]] = e;
  }

  const std::vector<RegisterOp>& ops_;
  std::vector<size_t> slot_;  // an operation's bit in d (definite) or u (unknown)
  std::vector<uint32_t> call_, return_;
  std::vector<uint32_t> next_, prev_, op_of_;
  std::vector<bool> is_return_;
  uint32_t tail_ = 0;
  size_t n_definite_ = 0, n_unknown_ = 0;
  uint64_t steps_ = 0;
  uint32_t frontier_ = 0;
  std::vector<uint32_t> path_;
  int32_t value_ = kAbsent;
  Wanted wanted_;  // of the configuration in its kUnknown pass
};

// What is wrong with `op` for the register model, or "" when nothing is.
std::string malformed(const Op& op) {
  if (op.kind == OpKind::kRead && op.outcome == Outcome::kOk && op.read.size() > 1) {
    return "a register holds one value, but this read returned " + std::to_string(op.read.size());
  }
  if (op.kind == OpKind::kCas && op.outcome == Outcome::kOk && !op.applied && op.current_reported &&
      op.read.size() > 1) {
    return "a register holds one value, but this cas reported " + std::to_string(op.read.size());
  }
  if (op.outcome == Outcome::kOk && op.end_us < op.start_us) return "it ends before it starts";
  return "";
}

std::string ms(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

}  // namespace

KeyVerdict check_key_linearizable(const std::vector<Op>& history,
                                  const LinearizabilityOptions& options) {
  KeyVerdict out;
  ValueTable values;
  std::vector<RegisterOp> ops;
  std::vector<int64_t> call_us, return_us;
  bool first = true;
  for (const Op& op : history) {
    if (op.kind == OpKind::kCreateKeyspace) continue;
    if (first) out.key = op.key;
    first = false;
    auto bad = [&](const std::string& why) {
      out.verdict = Verdict::kBadInput;
      out.explanation = describe(op) + ": " + why;
      return out;
    };
    if (op.key != out.key) return bad("not of key " + out.key + " like the operations before it");
    if (std::string why = malformed(op); !why.empty()) return bad(why);
    const bool definite = op.outcome == Outcome::kOk;
    if (op.outcome == Outcome::kFailed && options.failed_is_definite) continue;  // did not happen
    if (op.kind == OpKind::kRead && !definite) continue;  // constrains nothing
    RegisterOp r;
    r.kind = op.kind;
    r.definite = definite;
    r.source = &op;
    if (op.kind == OpKind::kRead)
      r.observed = op.read.empty() ? kAbsent : values.intern(op.read[0]);
    if (op.kind == OpKind::kWrite || op.kind == OpKind::kCas) r.value = values.intern(op.value);
    if (op.kind == OpKind::kCas) {
      r.cas_if = op.cas_if;
      if (op.cas_if == CasIf::kValue) r.expected = values.intern(op.expected);
      r.applied = op.applied;
      r.current_reported = op.current_reported && !op.applied;
      if (r.current_reported) r.observed = op.read.empty() ? kAbsent : values.intern(op.read[0]);
    }
    ops.push_back(r);
    call_us.push_back(op.start_us);
    return_us.push_back(op.end_us);
  }
  out.ops = ops.size();

  Search search(ops, call_us, return_us);
  const Search::End end = search.run(options.max_steps_per_key, 0);
  out.steps = search.steps();
  if (end == Search::End::kFound) return out;
  const uint32_t frontier = search.frontier();
  const Op* stuck = frontier == 0 ? nullptr : ops[search.op_of(frontier)].source;
  if (end == Search::End::kOutOfSteps) {
    out.verdict = Verdict::kUndecided;
    out.explanation = "key " + out.key + ": undecided after " + std::to_string(out.steps) +
                      " steps over " + std::to_string(out.ops) +
                      " operations (raise max_steps_per_key)";
    if (stuck)
      out.explanation += "; the furthest order got up to the return of " + describe(*stuck);
    return out;
  }

  // Not linearizable. Replay the (deterministic) search up to the first
  // configuration that got furthest, and show it.
  out.verdict = Verdict::kNotLinearizable;
  Search replay(ops, call_us, return_us);
  replay.run(options.max_steps_per_key, frontier);
  const auto& path = replay.path();
  std::string& x = out.explanation;
  x = "key " + out.key + ": not linearizable (" + std::to_string(out.ops) + " operations, " +
      std::to_string(out.steps) + " steps)\n";
  x += "  no order of its operations gets past " + describe(*stuck) + "\n";
  x += "  the furthest partial linearization orders " + std::to_string(path.size()) + " operations";
  const size_t shown = std::min(path.size(), options.explain_tail);
  x += shown < path.size()
           ? "; the last " + std::to_string(shown) + ", with the value after each:\n"
           : ":\n";
  {
    // The value after each shown operation: re-apply the path from the start.
    int32_t v = kAbsent;
    for (size_t i = 0; i < path.size(); ++i) {
      v = *apply(ops[path[i]], v);
      if (i + shown >= path.size())
        x += "    " + describe(*ops[path[i]].source) + "  => " + values.show(v) + "\n";
    }
  }
  x += "  then the register holds " + values.show(replay.value()) +
       ", and none of the operations pending before " + ms(stuck->end_us) + " can come next:\n";
  const std::vector<uint32_t> pending = replay.pending_before(frontier);
  size_t listed = 0, unknown_left = 0;
  for (uint32_t op : pending) {
    const RegisterOp& o = ops[op];
    const std::optional<int32_t> after = apply(o, replay.value());
    if (!o.definite && (!after || *after == replay.value())) {
      ++unknown_left;  // changes nothing here: not worth a line
      continue;
    }
    if (listed == 12) {
      x += "    ... and " + std::to_string(pending.size() - listed - unknown_left) + " more\n";
      break;
    }
    ++listed;
    x += "    " + describe(*o.source) + ": ";
    x += after ? "possible here, but no order through it gets further\n"
               : why_not(o, replay.value(), values) + "\n";
  }
  if (unknown_left > 0) {
    x += "    (and " + std::to_string(unknown_left) +
         " unknown operation(s) that would change nothing here)\n";
  }
  return out;
}

CheckResult check_linearizable(const std::vector<Op>& ops, const LinearizabilityOptions& options) {
  CheckResult r{"linearizable single-key registers"};
  std::map<std::string, std::vector<Op>> by_key;
  for (const Op& op : ops) {
    if (op.kind == OpKind::kCreateKeyspace) continue;
    ++r.judged;
    by_key[op.key].push_back(op);
  }
  for (const auto& [key, key_ops] : by_key) {
    const KeyVerdict v = check_key_linearizable(key_ops, options);
    switch (v.verdict) {
      case Verdict::kLinearizable:
        break;
      case Verdict::kNotLinearizable:
        r.add("not linearizable", v.explanation);
        break;
      case Verdict::kUndecided:
        r.add("undecided", v.explanation);
        break;
      case Verdict::kBadInput:
        r.add("bad operation", v.explanation);
        break;
    }
  }
  return r;
}

}  // namespace tally::testing
