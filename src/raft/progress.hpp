// raft/progress.hpp — what a leader knows about each follower's log.
//
// The leader's nextIndex/matchIndex of Figure 2, plus the flow control of etcd's
// tracker: a follower is probed one append at a time until its log is found to
// match (kProbe), then fed a pipeline of at most max_inflight appends
// (kReplicate), or sent a snapshot when the entries it needs are compacted away
// (kSnapshot).
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>

namespace tally::raft {

enum class ProgressState : uint8_t { kProbe = 0, kReplicate = 1, kSnapshot = 2 };

std::string_view progress_state_name(ProgressState state);

struct Progress {
  uint64_t match = 0;  // highest index known to be in the follower's durable log
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  // kProbe: an append is on its way; wait for its answer (or a heartbeat answer,
  // in case it was lost) before sending another.
  bool probe_sent = false;
  // kSnapshot: the index of the snapshot sent, and ticks since it was sent (a lost
  // snapshot message is retried after a timeout; the core does no I/O so nothing
  // else would tell it).
  uint64_t pending_snapshot = 0;
  uint64_t snapshot_elapsed = 0;
  // kReplicate: the last index of each append sent and not yet answered.
  std::deque<uint64_t> inflight;
  // The leader's tick at which it last heard from this node (CheckQuorum).
  uint64_t last_heard = 0;
  // The highest ReadIndex round this node acknowledged in the current term.
  uint64_t read_ack = 0;

  void become_probe();
  void become_replicate();
  void become_snapshot(uint64_t snapshot_index);

  // An append (or snapshot) up to `index` was acknowledged. False if it tells
  // nothing new (a duplicate or reordered answer).
  bool maybe_update(uint64_t index);
  // The follower rejected an append whose prevLogIndex was `rejected`; `hint` is
  // where to probe next. False if the rejection is stale (it answers an append
  // sent before the leader already moved on).
  bool maybe_decrease(uint64_t rejected, uint64_t hint);
  // Records that an append ending at `last` was sent (last == next - 1 when empty).
  void sent(uint64_t last, bool had_entries);
  // True when no append should be sent now.
  bool is_paused(size_t max_inflight) const;
};

}  // namespace tally::raft
