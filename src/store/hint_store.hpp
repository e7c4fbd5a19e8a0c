// Hints: writes a node keeps for a replica that missed them (hinted handoff,
// Dynamo §4.6). A coordinator keeps one for each replica that did not
// acknowledge a write; a fallback keeps one for the primary it stood in for
// (sloppy quorums). Hints are DVV sets like any record, so two hints for one
// key merge, and handing one over is a plain replica write (a sync).
//
// Hints are bounded: past `max_hints` keys, new ones are refused (and the
// read repair and anti-entropy that follow must close the gap); the count is
// visible in `tally status`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quorum/version.hpp"
#include "store/record_store.hpp"

namespace tally::store {

struct Hint {
  uint32_t target = 0;  // the node that should have the write
  std::string keyspace;
  std::string key;
  quorum::DvvSet record;
};

class HintStore {
 public:
  // Merges two states of a key of `keyspace` (DVV sync, or lww for lww keyspaces).
  using MergeFn = std::function<quorum::DvvSet(const std::string& keyspace, const quorum::DvvSet&,
                                               const quorum::DvvSet&)>;
  HintStore(RecordStore& records, uint32_t max_hints, MergeFn merge);

  // Counts the hints on disk (call once at start-up).
  void load(std::function<void(Status)> done);

  // Keeps `record` for `target` (merged into any hint it already has for the
  // key). Errors: kTooLarge when the store is full, or the disk's.
  void add(uint32_t target, const std::string& keyspace, const std::string& key,
           const quorum::DvvSet& record, std::function<void(Status)> done);

  // Up to `limit` hints, starting after `after_key` (empty: from the start).
  void list(const std::string& after_key, size_t limit,
            std::function<void(Result<std::vector<std::pair<std::string, Hint>>>)> done);

  // Drops the hint at `dkey` if it still holds exactly `delivered` (a hint
  // that grew meanwhile stays, to be delivered again).
  void remove_if_unchanged(const std::string& dkey, const quorum::DvvSet& delivered,
                           std::function<void(Status)> done);

  uint64_t count() const { return count_; }
  uint64_t refused() const { return refused_; }
  uint32_t max_hints() const { return max_hints_; }

  static std::string hint_key(uint32_t target, const std::string& keyspace, const std::string& key);
  // A key that sorts after every hint for `target` and before every hint for
  // the next node: list(after_target(t), ...) skips t's hints whole.
  static std::string after_target(uint32_t target);

 private:
  RecordStore& records_;
  uint32_t max_hints_;
  MergeFn merge_;
  uint64_t count_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace tally::store
