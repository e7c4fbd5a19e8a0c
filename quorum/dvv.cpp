#include "quorum/dvv.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

namespace tally::quorum {

namespace {

std::string dot_string(const Dot& d) {
  return "(" + std::to_string(d.replica) + ", " + std::to_string(d.counter) + ")";
}

// Sets r's counter in a valid vector, keeping it sorted by id.
void set_counter(VersionVector& vv, ActorId r, uint64_t counter) {
  auto it = std::lower_bound(vv.entries.begin(), vv.entries.end(), r,
                             [](const auto& entry, ActorId id) { return entry.first < id; });
  if (it != vv.entries.end() && it->first == r) {
    it->second = counter;
  } else {
    vv.entries.insert(it, {r, counter});
  }
}

// A total order on a sibling's payload. Two siblings with one dot but different
// payloads only exist if a dot was reused; `sync` then keeps the greater, so that
// its result does not depend on which side held which.
bool payload_less(const Sibling& x, const Sibling& y) {
  return std::tie(x.timestamp, x.tombstone, x.expires_ms, x.value, x.fence_lock, x.fence_token) <
         std::tie(y.timestamp, y.tombstone, y.expires_ms, y.value, y.fence_lock, y.fence_token);
}

// The lww order: highest tag first. Tags from distinct nodes never tie (the node
// id is part of the tag); the rest of the sibling only makes the order total, so
// that lww_sync is commutative even on states that break that rule.
bool lww_less(const Sibling& x, const Sibling& y) {
  return std::tie(x.timestamp, x.tombstone, x.expires_ms, x.value, x.fence_lock, x.fence_token, x.dot) <
         std::tie(y.timestamp, y.tombstone, y.expires_ms, y.value, y.fence_lock, y.fence_token, y.dot);
}

// Whether `s`'s fences have overtaken `sib`: it was written under a lock
// whose fence is now higher than its token.
bool overtaken(const DvvSet& s, const Sibling& sib) {
  return !sib.fence_lock.empty() && sib.fence_token < fence_of(s.fence_locks, s.fence_tokens, sib.fence_lock);
}

// Checks a fenced write against `current` and gives the fences it leaves
// (`current`'s, its lock's raised); unfenced: `current`'s as they are.
Status fence_write(const DvvSet& current, const ClientWrite& write, DvvSet& out) {
  out.fence_locks = current.fence_locks;
  out.fence_tokens = current.fence_tokens;
  if (write.fence_lock.empty()) return Status::Ok();
  const uint64_t fence = fence_of(current.fence_locks, current.fence_tokens, write.fence_lock);
  if (write.fence_token < fence) return fenced_off("", write.fence_lock, write.fence_token, fence);
  if (!raise_fence(out.fence_locks, out.fence_tokens, write.fence_lock, write.fence_token)) {
    return Status::InvalidArgument("the key keeps fences for " + std::to_string(kMaxFences) +
                                   " locks already; a write fenced by another lock is refused");
  }
  return Status::Ok();
}

}  // namespace

// ---- version vectors ------------------------------------------------------------

Status validate(const VersionVector& vv) {
  for (size_t i = 0; i < vv.entries.size(); ++i) {
    const auto& [id, counter] = vv.entries[i];
    if (counter == 0) {
      return Status::InvalidArgument("version vector entry for replica " + std::to_string(id) +
                                     " has counter 0 (zero entries must be left out)");
    }
    if (i > 0 && vv.entries[i - 1].first >= id) {
      return Status::InvalidArgument(
          "version vector entries are not sorted by unique replica id (" +
          std::to_string(vv.entries[i - 1].first) + " before " + std::to_string(id) + ")");
    }
  }
  return Status::Ok();
}

VersionVector pointwise_max(const VersionVector& a, const VersionVector& b) {
  VersionVector out;
  out.entries.reserve(std::max(a.entries.size(), b.entries.size()));
  auto i = a.entries.begin();
  auto j = b.entries.begin();
  while (i != a.entries.end() || j != b.entries.end()) {
    if (j == b.entries.end() || (i != a.entries.end() && i->first < j->first)) {
      out.entries.push_back(*i++);
    } else if (i == a.entries.end() || j->first < i->first) {
      out.entries.push_back(*j++);
    } else {
      out.entries.emplace_back(i->first, std::max(i->second, j->second));
      ++i;
      ++j;
    }
  }
  return out;
}

bool descends(const VersionVector& a, const VersionVector& b) {
  // Both sorted: every entry of b must be matched by an entry of a at least as large.
  auto i = a.entries.begin();
  for (const auto& [id, counter] : b.entries) {
    while (i != a.entries.end() && i->first < id) ++i;
    if (i == a.entries.end() || i->first != id || i->second < counter) return false;
  }
  return true;
}

bool dominates(const VersionVector& a, const VersionVector& b) {
  return descends(a, b) && !(a == b);
}

bool concurrent(const VersionVector& a, const VersionVector& b) {
  return !descends(a, b) && !descends(b, a);
}

// ---- DVV sets --------------------------------------------------------------------

Status validate(const DvvSet& s) {
  if (Status st = validate(s.clock); !st.ok()) return Status::Corruption("clock: " + st.message());
  for (size_t i = 0; i < s.siblings.size(); ++i) {
    const Dot& d = s.siblings[i].dot;
    if (d.counter == 0) return Status::Corruption("sibling with dot " + dot_string(d));
    if (i > 0 && !(s.siblings[i - 1].dot < d)) {
      return Status::Corruption("siblings not sorted by unique dot (" +
                                dot_string(s.siblings[i - 1].dot) + " before " + dot_string(d) +
                                ")");
    }
    if (!s.clock.covers(d)) {
      return Status::Corruption("sibling dot " + dot_string(d) + " is not covered by the clock");
    }
    const Sibling& sib = s.siblings[i];
    if (sib.fence_lock.empty() != (sib.fence_token == 0)) {
      return Status::Corruption("sibling " + dot_string(d) + " names a fence lock without a token or a token without one");
    }
    if (overtaken(s, sib)) {
      return Status::Corruption("sibling " + dot_string(d) + " is fenced below its lock's fence");
    }
  }
  // No cap on how many: a merge takes the union of replicas' fences, each
  // capped only where a write is taken (kMaxFences).
  if (Status st = validate_fences(s.fence_locks, s.fence_tokens, SIZE_MAX, "fences"); !st.ok()) {
    return Status::Corruption(st.message());
  }
  return Status::Ok();
}

VersionVector join(const DvvSet& s) { return s.clock; }

VersionVector join_before(const DvvSet& s, const HlcTimestamp& arrival, uint64_t horizon_ms) {
  VersionVector out = s.clock;
  for (const Sibling& sib : s.siblings) {
    if (!(arrival < sib.timestamp) || sib.timestamp.wall_ms > horizon_ms) continue;
    for (auto& [id, c] : out.entries) {
      if (id == sib.dot.replica) c = std::min(c, sib.dot.counter - 1);
    }
  }
  std::erase_if(out.entries, [](const auto& e) { return e.second == 0; });
  return out;
}

Result<DvvSet> update(const DvvSet& current, const VersionVector& context, ClientWrite write,
                      ActorId coordinator, size_t max_siblings) {
  if (Status st = validate(context); !st.ok()) {
    return Status::InvalidArgument("causal context: " + st.message());
  }
  // See the header: the context may have seen more of our own writes than we
  // hold, and a dot at or below that counter would already be "seen" elsewhere.
  const uint64_t last = std::max(current.clock.get(coordinator), context.get(coordinator));
  if (last == std::numeric_limits<uint64_t>::max()) {
    return Status::InvalidArgument("causal context: the counter of replica " +
                                   std::to_string(coordinator) + " would overflow");
  }

  DvvSet out;
  if (Status st = fence_write(current, write, out); !st.ok()) return st;
  // A sibling stays unless the write's context covers it or its raised fence overtook it.
  auto stays = [&](const Sibling& sib) { return !context.covers(sib.dot) && !overtaken(out, sib); };

  // Count before copying any value: a refused write costs no allocation.
  size_t kept = 0;
  for (const Sibling& sib : current.siblings) kept += stays(sib) ? 1 : 0;
  const size_t after = kept + 1;
  if (after > max_siblings && after > current.siblings.size()) {
    return Status::TooLarge("write would leave " + std::to_string(after) +
                            " siblings for the key, above its limit of " +
                            std::to_string(max_siblings) +
                            " (max_siblings); read the key and write with the context the read "
                            "returned to resolve them");
  }

  out.clock = pointwise_max(current.clock, context);
  const Dot dot{coordinator, last + 1};
  set_counter(out.clock, coordinator, dot.counter);
  out.siblings.reserve(after);
  for (const Sibling& sib : current.siblings) {
    if (stays(sib)) out.siblings.push_back(sib);
  }
  // The new dot is above every dot of `coordinator` here, so it goes right after
  // them: the siblings stay sorted.
  auto pos = std::upper_bound(out.siblings.begin(), out.siblings.end(), dot,
                              [](const Dot& d, const Sibling& sib) { return d < sib.dot; });
  out.siblings.insert(pos, Sibling{dot, write.timestamp, write.tombstone, std::move(write.value),
                                   write.tombstone ? 0 : write.expires_ms, std::move(write.fence_lock),
                                   write.fence_token});
  return out;
}

DvvSet sync(const DvvSet& a, const DvvSet& b) {
  DvvSet out;
  out.clock = pointwise_max(a.clock, b.clock);
  out.siblings.reserve(a.siblings.size() + b.siblings.size());
  // Both sibling lists are sorted by dot: one merge pass. A sibling held by one
  // side only survives iff the other side has not seen its dot; one held by both
  // survives (neither saw a write that superseded it).
  auto i = a.siblings.begin();
  auto j = b.siblings.begin();
  while (i != a.siblings.end() || j != b.siblings.end()) {
    if (j == b.siblings.end() || (i != a.siblings.end() && i->dot < j->dot)) {
      if (!b.clock.covers(i->dot)) out.siblings.push_back(*i);
      ++i;
    } else if (i == a.siblings.end() || j->dot < i->dot) {
      if (!a.clock.covers(j->dot)) out.siblings.push_back(*j);
      ++j;
    } else {
      out.siblings.push_back(payload_less(*i, *j) ? *j : *i);
      ++i;
      ++j;
    }
  }
  if (!a.fence_locks.empty() || !b.fence_locks.empty()) {
    merge_fences(a.fence_locks, a.fence_tokens, b.fence_locks, b.fence_tokens, out.fence_locks, out.fence_tokens);
    std::erase_if(out.siblings, [&out](const Sibling& sib) { return overtaken(out, sib); });
  }
  return out;
}

DvvSet sync_all(std::span<const DvvSet> replies) {
  if (replies.empty()) return DvvSet{};
  DvvSet merged = replies.front();
  for (const DvvSet& reply : replies.subspan(1)) merged = sync(merged, reply);
  return merged;
}

bool needs_repair(const DvvSet& reply, const DvvSet& merged) {
  return !(sync(reply, merged) == reply);
}

std::vector<std::string> values(const DvvSet& s) {
  std::vector<std::string> out;
  for (const Sibling& sib : s.siblings) {
    if (!sib.tombstone) out.push_back(sib.value);
  }
  return out;
}

std::vector<const Sibling*> by_time(const DvvSet& s) {
  std::vector<const Sibling*> out;
  out.reserve(s.siblings.size());
  for (const Sibling& sib : s.siblings) out.push_back(&sib);
  std::sort(out.begin(), out.end(), [](const Sibling* a, const Sibling* b) {
    return std::tie(a->timestamp, a->dot) < std::tie(b->timestamp, b->dot);
  });
  return out;
}

std::vector<std::string> values(const DvvSet& s, uint64_t now_ms) {
  std::vector<std::string> out;
  for (const Sibling& sib : s.siblings) {
    if (!dead(sib, now_ms)) out.push_back(sib.value);
  }
  return out;
}

std::optional<uint64_t> dead_from(const DvvSet& s) {
  if (s.siblings.empty()) return std::nullopt;
  uint64_t latest = 0;
  for (const Sibling& sib : s.siblings) {
    if (sib.tombstone) continue;
    if (sib.expires_ms == 0) return std::nullopt;
    latest = std::max(latest, sib.expires_ms);
  }
  return latest;
}

bool all_dead(const DvvSet& s, uint64_t now_ms) {
  const auto from = dead_from(s);
  return from && *from <= now_ms;
}

bool only_tombstones(const DvvSet& s) {
  return !s.siblings.empty() && std::all_of(s.siblings.begin(), s.siblings.end(),
                                            [](const Sibling& sib) { return sib.tombstone; });
}

// ---- last-writer-wins ------------------------------------------------------------

Result<DvvSet> lww_update(const DvvSet& current, ClientWrite write, ActorId coordinator) {
  const uint64_t last = current.clock.get(coordinator);
  if (last == std::numeric_limits<uint64_t>::max()) {
    return Status::Internal("the counter of replica " + std::to_string(coordinator) +
                            " would overflow");
  }
  DvvSet out;
  if (Status st = fence_write(current, write, out); !st.ok()) return st;
  out.clock = current.clock;
  const Dot dot{coordinator, last + 1};
  set_counter(out.clock, coordinator, dot.counter);
  Sibling fresh{dot,
                write.timestamp,
                write.tombstone,
                std::move(write.value),
                write.tombstone ? 0 : write.expires_ms,
                std::move(write.fence_lock),
                write.fence_token};
  const DvvSet resolved = lww_resolve(current);
  if (!resolved.siblings.empty() && !overtaken(out, resolved.siblings.front()) &&
      lww_less(fresh, resolved.siblings.front())) {
    out.siblings = resolved.siblings;  // the write lost: it is older than what we hold
  } else {
    out.siblings.push_back(std::move(fresh));
  }
  return out;
}

DvvSet lww_resolve(const DvvSet& s) {
  DvvSet out;
  out.clock = s.clock;
  out.fence_locks = s.fence_locks;
  out.fence_tokens = s.fence_tokens;
  auto best = std::max_element(s.siblings.begin(), s.siblings.end(), lww_less);
  if (best != s.siblings.end()) out.siblings.push_back(*best);
  return out;
}

DvvSet lww_sync(const DvvSet& a, const DvvSet& b) {
  DvvSet out;
  out.clock = pointwise_max(a.clock, b.clock);
  merge_fences(a.fence_locks, a.fence_tokens, b.fence_locks, b.fence_tokens, out.fence_locks, out.fence_tokens);
  const Sibling* best = nullptr;
  for (const DvvSet* side : {&a, &b}) {
    for (const Sibling& sib : side->siblings) {
      if (overtaken(out, sib)) continue;
      if (best == nullptr || lww_less(*best, sib)) best = &sib;
    }
  }
  if (best != nullptr) out.siblings.push_back(*best);
  return out;
}

DvvSet lww_sync_all(std::span<const DvvSet> replies) {
  DvvSet merged;
  for (const DvvSet& reply : replies) merged = lww_sync(merged, reply);
  return merged;
}

bool lww_needs_repair(const DvvSet& reply, const DvvSet& merged) {
  return !(lww_sync(reply, merged) == reply);
}

}  // namespace tally::quorum
