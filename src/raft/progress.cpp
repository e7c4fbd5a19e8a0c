#include "raft/progress.hpp"

#include <algorithm>

namespace tally::raft {

std::string_view progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

namespace {

void clear_flow_control(Progress& pr) {
  pr.probe_sent = false;
  pr.pending_snapshot = 0;
  pr.snapshot_elapsed = 0;
  pr.inflight.clear();
}

}  // namespace

void Progress::become_probe() {
  clear_flow_control(*this);
  state = ProgressState::kProbe;
  // Probe from just past what the follower is known to hold: anything later may
  // have been lost (a dropped append or snapshot), and a rejection walks it back.
  next = match + 1;
}

void Progress::become_replicate() {
  clear_flow_control(*this);
  state = ProgressState::kReplicate;
  next = match + 1;
}

void Progress::become_snapshot(uint64_t snapshot_index) {
  clear_flow_control(*this);
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  next = snapshot_index + 1;
}

bool Progress::maybe_update(uint64_t index) {
  bool updated = false;
  if (match < index) {
    match = index;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, index + 1);
  while (!inflight.empty() && inflight.front() <= index) inflight.pop_front();
  return updated;
}

bool Progress::maybe_decrease(uint64_t rejected, uint64_t hint) {
  if (state == ProgressState::kReplicate) {
    // In the pipeline, anything at or below match was already acknowledged: the
    // rejection answers an older append and says nothing about the log now.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // When probing only the answer to the latest probe counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, hint + 1), match + 1);
  probe_sent = false;
  return true;
}

void Progress::sent(uint64_t last, bool had_entries) {
  switch (state) {
    case ProgressState::kReplicate:
      if (had_entries) {
        next = last + 1;
        inflight.push_back(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      break;
  }
}

bool Progress::is_paused(size_t max_inflight) const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflight.size() >= max_inflight;
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace tally::raft
