#include "ring/ownership_diff.hpp"

#include <algorithm>
#include <iterator>
#include <string>

namespace tally::ring {

namespace {

bool same_set(const PreferenceList& a, const PreferenceList& b) {
  if (a.size() != b.size()) return false;
  return std::all_of(a.begin(), a.end(), [&](NodeId x) { return b.contains(x); });
}

PreferenceList minus(const PreferenceList& a, const PreferenceList& b) {
  PreferenceList out;
  for (NodeId x : a) {
    if (!b.contains(x)) out.push_back(x);
  }
  return out;
}

}  // namespace

Result<std::vector<RangeChange>> ownership_diff(const Ring& before, const Ring& after, int n) {
  if (n < 1 || n > kMaxReplicas) {
    return Status::InvalidArgument("ownership diff: replication factor " + std::to_string(n) +
                                   " outside 1.." + std::to_string(kMaxReplicas));
  }
  // Between two consecutive boundaries of either ring, both rings map every position
  // to the same token, hence to the same preference list: one probe per elementary
  // range (its end) is exact.
  std::vector<uint64_t> bounds;
  std::set_union(before.tokens().begin(), before.tokens().end(), after.tokens().begin(),
                 after.tokens().end(), std::back_inserter(bounds));
  const int b = static_cast<int>(bounds.size());

  struct Piece {
    PreferenceList was, now;
    bool changed = false;
  };
  std::vector<Piece> pieces(b);
  for (int k = 0; k < b; ++k) {
    pieces[k].was = before.preference_list(bounds[k], n);
    pieces[k].now = after.preference_list(bounds[k], n);
    pieces[k].changed = !same_set(pieces[k].was, pieces[k].now);
  }
  auto same_change = [](const Piece& x, const Piece& y) {
    return x.changed && y.changed && same_set(x.was, y.was) && same_set(x.now, y.now);
  };

  std::vector<RangeChange> out;
  for (int k = 0; k < b; ++k) {
    const Piece& p = pieces[k];
    if (!p.changed) continue;
    if (k > 0 && same_change(pieces[k - 1], p)) {
      out.back().range.end = bounds[k];
      continue;
    }
    RangeChange c;
    c.range = {bounds[k == 0 ? b - 1 : k - 1], bounds[k]};
    c.before = p.was;
    c.after = p.now;
    c.lost = minus(p.was, p.now);
    c.gained = minus(p.now, p.was);
    out.push_back(c);
  }
  // A change that runs through 0 was cut in two: the first piece continues the last.
  // (When one change covers the whole ring it is already one range, start == end.)
  if (out.size() >= 2 && same_change(pieces[b - 1], pieces[0])) {
    out.back().range.end = out.front().range.end;
    out.erase(out.begin());
  }
  return out;
}

}  // namespace tally::ring
