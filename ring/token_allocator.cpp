#include "ring/token_allocator.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "ring/placement.hpp"

namespace tally::ring {

namespace {

// The share of the ring covered by a range of `len` positions; 0 stands for 2^64, the
// whole ring of a one-token model.
double fraction(uint64_t len) { return len == 0 ? 1.0 : static_cast<double>(len) * 0x1p-64; }

// A well-mixed 64-bit value (SplitMix64's finaliser): the first node's tokens start at
// an offset that depends on its id, and ties between candidates break pseudo-randomly
// but deterministically.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// What a token of the new node placed inside one range does to replicated load. The
// ranges before it whose walk reaches it change by a fixed amount (`fixed`); the range
// itself splits, and its first part, of length a, moves from `dropped` to the new node,
// linearly in a. Keeping the two apart lets the cost of every candidate be re-scored
// cheaply as loads change, and the best a be found in closed form.
struct Candidate {
  bool room = false;  // the range can take a token
  int dropped = -1;   // the replica that gives the first part away; -1: nobody does
  std::vector<std::pair<uint32_t, double>> fixed;  // (dense node, load change)

  void add(uint32_t node, double d) {
    for (auto& [n, v] : fixed) {
      if (n == node) {
        v += d;
        return;
      }
    }
    fixed.emplace_back(node, d);
  }
};

// A candidate scored against the current loads.
struct Score {
  double improvement = 0;  // decrease of the cost; higher is better
  uint64_t token = 0;
  double part = 0;  // the share of the ring between the range start and the token
};

// The ring being grown: its tokens, every node's replicated load, and for every range
// the effect of placing the new node's next token in it.
class JoinModel {
 public:
  JoinModel(const Ring& ring, uint32_t zone_of_new, int zone_count, int n)
      : n_(n), zone_count_(zone_count), tokens_(ring.tokens()) {
    const int nodes = ring.node_count();
    new_node_ = static_cast<uint32_t>(nodes);
    for (int i = 0; i < nodes; ++i) zone_.push_back(ring.zone_index(i));
    zone_.push_back(zone_of_new);
    for (int i = 0; i < ring.token_count(); ++i) owner_.push_back(ring.owner_index(i));
    target_ = static_cast<double>(n) / (nodes + 1);
    load_.assign(nodes + 1, 0.0);
    for (int i = 0; i < size(); ++i) {
      ReplicaSelector s = selector();
      max_walk_ = std::max(max_walk_, walk(i, -1, s));
      for (int k = 0; k < s.size(); ++k) load_[s.node(k)] += range_fraction(i);
    }
    candidates_.resize(size());
    for (int i = 0; i < size(); ++i) candidates_[i] = analyse(i);
  }

  int size() const { return static_cast<int>(tokens_.size()); }

  // The best range for the new node's next token when its load should reach
  // `new_target`, and its score; -1 if no range has room left. O(T) re-scorings.
  int best(double new_target, Score& best_score) const {
    int best = -1;
    for (int i = 0; i < size(); ++i) {
      if (!candidates_[i].room) continue;
      const Score s = score(i, new_target);
      if (best < 0 || better(s, i, best_score, best)) {
        best = i;
        best_score = s;
      }
    }
    return best;
  }

  // Places the new node's token in range i as `s` scored it. O(T + W³·n).
  void place(int i, const Score& s) {
    const Candidate& c = candidates_[i];
    for (const auto& [node, d] : c.fixed) load_[node] += d;
    if (c.dropped >= 0) {
      load_[new_node_] += s.part;
      load_[c.dropped] -= s.part;
    }
    tokens_.insert(tokens_.begin() + i, s.token);
    owner_.insert(owner_.begin() + i, new_node_);
    candidates_.insert(candidates_.begin() + i, Candidate{});

    // The walks through the new token changed, and with them every candidate that reads
    // one of those walks: the ranges within a walk's length of it, either side.
    const int t = size();
    for (int back = 0; back <= max_walk_ + 1 && back < t; ++back) {
      ReplicaSelector sel = selector();
      max_walk_ = std::max(max_walk_, walk((i - back + t) % t, -1, sel));
    }
    const int radius = max_walk_ + 2;
    if (2 * radius + 1 >= t) {
      for (int k = 0; k < t; ++k) candidates_[k] = analyse(k);
    } else {
      for (int k = i - radius; k <= i + radius; ++k) {
        const int j = (k % t + t) % t;
        candidates_[j] = analyse(j);
      }
    }
  }

 private:
  uint64_t range_start(int i) const { return tokens_[i == 0 ? size() - 1 : i - 1]; }
  uint64_t range_length(int i) const { return tokens_[i] - range_start(i); }
  double range_fraction(int i) const { return fraction(range_length(i)); }
  ReplicaSelector selector() const { return ReplicaSelector(n_, zone_count_); }
  double excess(uint32_t node, double new_target) const {
    return load_[node] - (node == new_node_ ? new_target : target_);
  }

  // Offers nodes in ring order from token `from`, with a token of the new node met just
  // before token `virtual_before` (-1: none), until `s` is full. Returns how many of the
  // model's tokens it consumed, or size() + 1 if it went round without filling.
  int walk(int from, int virtual_before, ReplicaSelector& s) const {
    const int t = size();
    for (int k = 0, i = from; k < t; ++k) {
      if (i == virtual_before && k > 0) s.offer(new_node_, zone_[new_node_]);
      if (s.full()) return k;
      s.offer(owner_[i], zone_[owner_[i]]);
      if (s.full()) return k + 1;
      if (++i == t) i = 0;
    }
    return t + 1;
  }

  // What a token of the new node inside range i would change. O(W²·n).
  Candidate analyse(int i) const {
    Candidate c;
    const uint64_t len = range_length(i);
    c.room = len == 0 || len >= 4;
    if (!c.room) return c;

    // The ranges before i whose walk reaches token i meet the new token first. A walk
    // that starts one token earlier fills no later (putting an element first in a
    // matroid's greedy order swaps out at most one basis element, never bringing in a
    // later one), so the first walk that stops short of token i ends the search.
    const int t = size();
    for (int back = 1; back < t; ++back) {
      const int j = (i - back + t) % t;
      ReplicaSelector before = selector();
      if (walk(j, -1, before) <= back) break;
      ReplicaSelector after = selector();
      walk(j, i, after);
      const double f = range_fraction(j);
      for (int k = 0; k < before.size(); ++k) {
        if (!after.contains(before.node(k))) c.add(before.node(k), -f);
      }
      for (int k = 0; k < after.size(); ++k) {
        if (!before.contains(after.node(k))) c.add(after.node(k), f);
      }
    }

    // The first part of range i gets replicas {new} + the walk from i: by the matroid
    // property one old replica at most gives way.
    ReplicaSelector old_list = selector();
    walk(i, -1, old_list);
    if (old_list.contains(new_node_)) return c;
    ReplicaSelector new_list = selector();
    new_list.offer(new_node_, zone_[new_node_]);
    walk(i, -1, new_list);
    for (int k = 0; k < old_list.size(); ++k) {
      if (!new_list.contains(old_list.node(k))) c.dropped = static_cast<int>(old_list.node(k));
    }
    return c;
  }

  // Scores candidate i against the current loads. O(size of its `fixed`).
  Score score(int i, double new_target) const {
    const Candidate& c = candidates_[i];
    double change = 0, fixed_new = 0, fixed_dropped = 0;
    for (const auto& [node, d] : c.fixed) {
      const double e = excess(node, new_target);
      change += (e + d) * (e + d) - e * e;
      if (node == new_node_) fixed_new = d;
      if (static_cast<int>(node) == c.dropped) fixed_dropped = d;
    }
    // The cost is a parabola in the first part's length a, least at a = (ef - ex) / 2.
    // Keeping a within the middle half of the range leaves no sliver ranges behind.
    const uint64_t len = range_length(i);
    const double whole = fraction(len);
    double share = 0.5;
    double ex = 0, ef = 0;
    if (c.dropped >= 0) {
      ex = excess(new_node_, new_target) + fixed_new;
      ef = excess(static_cast<uint32_t>(c.dropped), new_target) + fixed_dropped;
      share = std::clamp((ef - ex) / 2 / whole, 0.25, 0.75);
    }
    const uint64_t last = len == 0 ? ~uint64_t{0} - 1 : len - 1;  // keep the token inside
    Score s;
    s.token = range_start(i) + std::clamp<uint64_t>(whole * share * 0x1p64, 1, last);
    if (c.dropped >= 0) {
      s.part = fraction(s.token - range_start(i));
      change += (ex + s.part) * (ex + s.part) - ex * ex;
      change += (ef - s.part) * (ef - s.part) - ef * ef;
    }
    s.improvement = -change;
    return s;
  }

  // Whether candidate (s, i) beats (b, j). Near-ties, common on the regular rings the
  // first joins build, go to the larger range (it keeps ranges even), then to a hash of
  // the range's token, so that tied choices scatter over the ring instead of bunching
  // at its start.
  bool better(const Score& s, int i, const Score& b, int j) const {
    const double tolerance = 1e-9 * std::max(std::abs(s.improvement), std::abs(b.improvement));
    if (s.improvement > b.improvement + tolerance) return true;
    if (s.improvement < b.improvement - tolerance) return false;
    const uint64_t li = range_length(i) - 1, lj = range_length(j) - 1;  // 0 (all) wraps up
    if (li != lj) return li > lj;
    return mix(tokens_[i]) < mix(tokens_[j]);
  }

  int n_;
  int zone_count_;
  uint32_t new_node_ = 0;
  double target_ = 0;                  // the mean replicated load once the node has joined
  int max_walk_ = 0;                   // the longest walk, in tokens, of any range: analyse's reach
  std::vector<uint64_t> tokens_;       // sorted
  std::vector<uint32_t> owner_;        // token index -> dense node index
  std::vector<uint32_t> zone_;         // dense node index -> zone index
  std::vector<double> load_;           // dense node index -> replicated share of the ring
  std::vector<Candidate> candidates_;  // token index -> its range as a candidate
};

// Splits the largest ranges in half, `count` times. When more ranges are (nearly) the
// largest than tokens are left, the ones split are spread evenly along the ring: ties
// broken by position would bunch the node's tokens in one arc, and the uneven ranges
// left behind would outlast every later join.
std::vector<uint64_t> split_largest(std::vector<uint64_t> tokens, int count) {
  std::vector<uint64_t> out;
  while (static_cast<int>(out.size()) < count) {
    std::vector<std::pair<uint64_t, uint64_t>> largest;  // (start, length); length 0 = all
    uint64_t max_len = 1;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const uint64_t start = tokens[i == 0 ? tokens.size() - 1 : i - 1];
      const uint64_t len = tokens[i] - start;
      if (len - 1 > max_len - 1) max_len = len;  // len - 1 wraps 0 (whole ring) to the top
    }
    if (max_len != 0 && max_len < 2) break;  // no room left
    for (size_t i = 0; i < tokens.size(); ++i) {
      const uint64_t start = tokens[i == 0 ? tokens.size() - 1 : i - 1];
      const uint64_t len = tokens[i] - start;
      if (len - 1 >= (max_len - 1) - (max_len - 1) / 64) largest.emplace_back(start, len);
    }
    const size_t need = count - out.size();
    const size_t take = std::min(need, largest.size());
    for (size_t j = 0; j < take; ++j) {
      const auto [start, len] = largest[(2 * j + 1) * largest.size() / (2 * take)];
      out.push_back(start + (len == 0 ? uint64_t{1} << 63 : len / 2));
    }
    tokens.insert(tokens.end(), out.end() - take, out.end());
    std::sort(tokens.begin(), tokens.end());
  }
  return out;
}

}  // namespace

Result<std::vector<uint64_t>> allocate_tokens(const Ring& ring, NodeId node, std::string_view zone,
                                              int num_tokens, int replication_factor) {
  const std::string who = "token allocation for node " + std::to_string(node);
  if (node == kNoNode) return Status::InvalidArgument("token allocation: node id 0 is reserved");
  if (ring.find(node) != nullptr) return Status::InvalidArgument(who + ": already in the ring");
  if (zone.empty()) return Status::InvalidArgument(who + ": empty zone name");
  if (num_tokens < 1 || num_tokens > kMaxTokensPerNode) {
    return Status::InvalidArgument(who + ": " + std::to_string(num_tokens) +
                                   " tokens asked, must be 1.." +
                                   std::to_string(kMaxTokensPerNode));
  }
  if (replication_factor < 1 || replication_factor > kMaxReplicas) {
    return Status::InvalidArgument(who + ": replication factor " +
                                   std::to_string(replication_factor) + " outside 1.." +
                                   std::to_string(kMaxReplicas));
  }

  std::vector<uint64_t> out;
  if (ring.empty()) {
    const uint64_t step = num_tokens == 1 ? 0 : (~uint64_t{0} / num_tokens) + 1;
    const uint64_t offset = mix(node);
    for (int k = 0; k < num_tokens; ++k) out.push_back(offset + step * k);
    std::sort(out.begin(), out.end());
    return out;
  }

  int zone_count = ring.zone_count();
  uint32_t zone_index = static_cast<uint32_t>(zone_count);  // a new zone unless found
  for (int i = 0; i < ring.node_count(); ++i) {
    if (ring.nodes()[i].zone == zone) zone_index = ring.zone_index(i);
  }
  const bool new_zone = zone_index == static_cast<uint32_t>(zone_count);
  if (new_zone) ++zone_count;

  if (ring.node_count() + 1 <= replication_factor ||
      (new_zone && zone_count <= replication_factor)) {
    out = split_largest(ring.tokens(), num_tokens);
  } else {
    JoinModel model(ring, zone_index, zone_count, replication_factor);
    const double target = static_cast<double>(replication_factor) / (ring.node_count() + 1);
    for (int placed = 0; placed < num_tokens; ++placed) {
      // The node's own target grows with its tokens, so that each token takes about
      // 1/num_tokens of its share rather than the first ones grabbing it all.
      Score s;
      const int i = model.best(target * (placed + 1) / num_tokens, s);
      if (i < 0) break;
      model.place(i, s);
      out.push_back(s.token);
    }
    std::sort(out.begin(), out.end());
  }
  if (static_cast<int>(out.size()) < num_tokens) {
    return Status::Unavailable(who + ": the ring has no room for " + std::to_string(num_tokens) +
                               " more tokens");
  }
  return out;
}

}  // namespace tally::ring
