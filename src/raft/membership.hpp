// raft/membership.hpp — single-server membership changes and the history of
// configurations in the log.
//
// Raft uses a configuration as soon as its entry is in the server's log, committed
// or not (dissertation §4.1). So a server's configuration is a function of its
// log: the configuration of its snapshot, changed by every kConfChange entry after
// it. When a follower's uncommitted suffix is overwritten, a configuration entry
// can disappear, and the server must fall back to the one before it. ConfigHistory
// keeps exactly what that needs: the configuration at the snapshot (the base) and
// one configuration per conf-change entry still in the log.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "raft/types.hpp"
#include "tally/status.hpp"

namespace tally::raft {

// Checks that `change` makes sense against `current`: adding a node that is not a
// member, promoting a learner, removing a member, and never removing the last
// voter. InvalidArgument (naming the node) otherwise.
Status validate_conf_change(const Membership& current, const ConfChange& change);

// The configuration after `change`. A change that does not validate leaves the
// configuration as it is; a leader never appends one, but every server must derive
// the same configuration from the same log, so the rule has to be total.
Membership apply_conf_change(const Membership& current, const ConfChange& change);

// The largest v such that a majority of the voters have value_of(voter) >= v.
// With match indexes it is the highest index stored on a majority (what may be
// committed, §5.3); with acknowledged ReadIndex rounds, the latest round a
// majority confirmed. 0 when there are no voters.
template <class ValueOf>
uint64_t quorum_value(const Membership& membership, ValueOf value_of) {
  if (membership.voters.empty()) return 0;
  std::vector<uint64_t> values;
  values.reserve(membership.voters.size());
  for (NodeId v : membership.voters) values.push_back(value_of(v));
  std::sort(values.begin(), values.end(), std::greater<uint64_t>());
  return values[membership.quorum() - 1];
}

class ConfigHistory {
 public:
  // Forgets everything: `base` is the configuration in force at `base_index` (a
  // snapshot's, or the empty configuration at index 0).
  void reset(uint64_t base_index, Membership base);

  // Records the conf-change entry at `index`, which must be past every recorded one.
  void append(uint64_t index, const ConfChange& change);

  // Drops the configurations of entries at `index` and after: the log was
  // truncated there, so the server returns to the configuration before it.
  // `index` must be past the base.
  void truncate_from(uint64_t index);

  // The log was compacted up to `index` (<= the commit index): the base becomes
  // the configuration at `index`, and older history is dropped.
  void compact_to(uint64_t index);

  // The configuration in force now: the latest in the log.
  const Membership& current() const;
  // The index of the entry that produced current(), or the base index.
  uint64_t current_index() const;
  // The configuration in force at `index` (>= base_index()).
  const Membership& at(uint64_t index) const;
  uint64_t base_index() const { return base_index_; }

 private:
  struct Change {
    uint64_t index;
    Membership membership;  // the configuration from this entry on
  };

  uint64_t base_index_ = 0;
  Membership base_;
  std::vector<Change> changes_;  // increasing index, all > base_index_
};

}  // namespace tally::raft
