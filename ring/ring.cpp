#include "ring/ring.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "ring/placement.hpp"

namespace tally::ring {

namespace {

int clamp_replicas(int n) {
  assert(n >= 1 && n <= kMaxReplicas);
  return std::clamp(n, 1, kMaxReplicas);
}

}  // namespace

Result<Ring> Ring::build(std::vector<NodeTokens> nodes) {
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeTokens& a, const NodeTokens& b) { return a.id < b.id; });
  Ring ring;
  std::vector<std::pair<uint64_t, uint32_t>> owned;  // (token, dense node index)
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodeTokens& node = nodes[i];
    if (node.id == kNoNode) return Status::InvalidArgument("ring: node id 0 is reserved");
    if (i > 0 && nodes[i - 1].id == node.id) {
      return Status::InvalidArgument("ring: node " + std::to_string(node.id) + " is listed twice");
    }
    if (node.zone.empty()) {
      return Status::InvalidArgument("ring: node " + std::to_string(node.id) +
                                     " has an empty zone name");
    }
    if (node.tokens.empty()) {
      return Status::InvalidArgument("ring: node " + std::to_string(node.id) + " has no tokens");
    }
    std::sort(node.tokens.begin(), node.tokens.end());
    for (uint64_t t : node.tokens) owned.emplace_back(t, static_cast<uint32_t>(i));
    ring.zone_names_.push_back(node.zone);
  }
  std::sort(ring.zone_names_.begin(), ring.zone_names_.end());
  ring.zone_names_.erase(std::unique(ring.zone_names_.begin(), ring.zone_names_.end()),
                         ring.zone_names_.end());
  for (const NodeTokens& node : nodes) {
    auto it = std::lower_bound(ring.zone_names_.begin(), ring.zone_names_.end(), node.zone);
    ring.node_zone_.push_back(static_cast<uint32_t>(it - ring.zone_names_.begin()));
  }

  std::sort(owned.begin(), owned.end());
  for (size_t i = 1; i < owned.size(); ++i) {
    if (owned[i].first == owned[i - 1].first) {
      NodeId a = nodes[owned[i - 1].second].id, b = nodes[owned[i].second].id;
      return Status::InvalidArgument("ring: token " + std::to_string(owned[i].first) +
                                     " is held by node " + std::to_string(a) +
                                     (a == b ? " twice" : " and by node " + std::to_string(b)));
    }
  }
  ring.tokens_.reserve(owned.size());
  ring.token_owner_.reserve(owned.size());
  ring.slots_.reserve(owned.size());
  for (const auto& [token, owner] : owned) {
    ring.tokens_.push_back(token);
    ring.token_owner_.push_back(owner);
    ring.slots_.push_back({token, nodes[owner].id, ring.node_zone_[owner]});
  }
  ring.nodes_ = std::move(nodes);

  // About one token per bucket on average; capped at 2^20 buckets (4 MiB).
  int bits = 1;
  while (bits < 20 && (size_t{1} << bits) < ring.tokens_.size()) ++bits;
  ring.bucket_shift_ = 64 - bits;
  ring.bucket_first_.resize((size_t{1} << bits) + 1);
  size_t t = 0;
  for (size_t b = 0; b < ring.bucket_first_.size(); ++b) {
    while (t < ring.tokens_.size() && (ring.tokens_[t] >> ring.bucket_shift_) < b) ++t;
    ring.bucket_first_[b] = static_cast<uint32_t>(t);
  }
  return ring;
}

const NodeTokens* Ring::find(NodeId id) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), id,
                             [](const NodeTokens& n, NodeId v) { return n.id < v; });
  return it != nodes_.end() && it->id == id ? &*it : nullptr;
}

int Ring::token_index_for(uint64_t position) const {
  // The bucket of the position's top bits bounds the search to the tokens in it, about
  // one: two cache misses instead of a binary search's dozen dependent loads over the
  // whole ring, which dominate a lookup on a ring of tens of thousands of tokens. Within
  // the bucket it is still a binary search, so clustered tokens cost O(log T), not O(T).
  const uint64_t bucket = position >> bucket_shift_;
  const auto first = slots_.begin() + bucket_first_[bucket];
  const auto last = slots_.begin() + bucket_first_[bucket + 1];
  const auto it = std::lower_bound(first, last, position,
                                   [](const Slot& s, uint64_t p) { return s.token < p; });
  return it == slots_.end() ? 0 : static_cast<int>(it - slots_.begin());
}

void Ring::walk(int first, ReplicaSelector& selector) const {
  const int t = token_count();
  for (int k = 0, i = first; k < t && !selector.full(); ++k) {
    selector.offer(slots_[i].node, slots_[i].zone);
    if (++i == t) i = 0;
  }
}

PreferenceList Ring::preference_list(uint64_t position, int n) const {
  PreferenceList list;
  if (empty()) return list;
  ReplicaSelector selector(clamp_replicas(n), zone_count());
  walk(token_index_for(position), selector);
  for (int k = 0; k < selector.size(); ++k) list.push_back(selector.node(k));
  return list;
}

SloppyPreferenceList Ring::sloppy_preference_list(uint64_t position, int n,
                                                  const std::function<bool(NodeId)>& is_up) const {
  SloppyPreferenceList out;
  if (empty()) return out;
  n = clamp_replicas(n);
  const int first = token_index_for(position);
  ReplicaSelector primaries(n, zone_count());
  walk(first, primaries);

  // Up primaries count towards the placement rule, so that fallbacks fill the zones
  // the down primaries leave empty.
  ReplicaSelector selector(n, zone_count());
  FixedList<int, kMaxReplicas> down;  // indices into primaries
  for (int k = 0; k < primaries.size(); ++k) {
    out.primaries.push_back(primaries.node(k));
    if (is_up(primaries.node(k))) {
      selector.offer(primaries.node(k), primaries.zone(k));
    } else {
      down.push_back(k);
    }
  }
  if (down.empty()) {
    for (NodeId p : out.primaries) out.replicas.push_back({p, kNoNode});
    return out;
  }

  // Pass 0 keeps the placement rule; pass 1 drops it when it cannot be met.
  FixedList<Slot, kMaxReplicas> fallbacks;
  auto chosen = [&](NodeId id) {
    for (const Slot& f : fallbacks) {
      if (f.node == id) return true;
    }
    return false;
  };
  const int t = token_count();
  for (int pass = 0; pass < 2 && fallbacks.size() < down.size(); ++pass) {
    for (int k = 0, i = first; k < t && fallbacks.size() < down.size(); ++k) {
      const Slot& s = slots_[i];
      if (++i == t) i = 0;
      if (out.primaries.contains(s.node) || chosen(s.node) || !is_up(s.node)) continue;
      if (pass == 0 && !selector.offer(s.node, s.zone)) continue;
      fallbacks.push_back(s);
    }
  }

  // Match fallbacks to down primaries: same zone first (the hint then waits in the
  // zone that will hold the data), then in ring order.
  NodeId stand_in[kMaxReplicas] = {};
  bool used[kMaxReplicas] = {};
  for (int same_zone = 1; same_zone >= 0; --same_zone) {
    for (int d = 0; d < down.size(); ++d) {
      if (stand_in[d] != kNoNode) continue;
      for (int f = 0; f < fallbacks.size(); ++f) {
        if (used[f] || (same_zone && fallbacks[f].zone != primaries.zone(down[d]))) continue;
        stand_in[d] = fallbacks[f].node;
        used[f] = true;
        break;
      }
    }
  }
  for (int d = 0, k = 0; k < primaries.size(); ++k) {
    if (d < down.size() && down[d] == k) {
      if (stand_in[d] != kNoNode) out.replicas.push_back({stand_in[d], primaries.node(k)});
      ++d;
    } else {
      out.replicas.push_back({primaries.node(k), kNoNode});
    }
  }
  return out;
}

std::vector<ReplicaRange> Ring::replica_ranges(int n) const {
  std::vector<ReplicaRange> out;
  n = clamp_replicas(n);
  const int t = token_count();
  out.reserve(t);
  for (int i = 0; i < t; ++i) {
    ReplicaRange r;
    r.range = {tokens_[i == 0 ? t - 1 : i - 1], tokens_[i]};
    ReplicaSelector selector(n, zone_count());
    walk(i, selector);
    for (int k = 0; k < selector.size(); ++k) r.replicas.push_back(selector.node(k));
    out.push_back(r);
  }
  return out;
}

std::vector<Ownership> Ring::ownership(int n) const {
  std::vector<Ownership> out(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) out[i].node = nodes_[i].id;
  for (const ReplicaRange& r : replica_ranges(n)) {
    for (NodeId id : r.replicas) out[find(id) - nodes_.data()].replicated += r.range.fraction();
  }
  return out;
}

}  // namespace tally::ring
