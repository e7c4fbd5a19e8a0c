// raft_read.cpp — linearizable reads with ReadIndex (dissertation §6.4).
#include "raft/raft_node.hpp"

namespace tally::raft {

Status RaftNode::read_index(uint64_t request_ctx) {
  if (role_ != Role::kLeader) return not_leader();
  if (log_.committed() < term_start_index_) {
    // §6.4 step 1: the commit index of a new leader may lag entries committed by
    // its predecessors until its own no-op commits. Hold the read until then.
    reads_.await_commit(request_ctx);
  } else {
    start_reads({request_ctx});
  }
  after_input();
  return Status::Ok();
}

void RaftNode::start_reads(const std::vector<uint64_t>& request_ctxs) {
  for (uint64_t ctx : request_ctxs) reads_.add(ctx, log_.committed());
  // §6.4 step 2: a heartbeat round answered by a majority proves that no newer
  // leader existed when the reads arrived. A single voter is its own majority.
  // One round serves every read queued before it.
  confirm_reads();
  broadcast_heartbeat();
}

void RaftNode::confirm_reads() {
  uint64_t confirmed = quorum_value(configs_.current(), [&](NodeId v) -> uint64_t {
    if (v == config_.id) return reads_.round();
    auto it = progress_.find(v);
    return it == progress_.end() ? 0 : it->second.read_ack;
  });
  reads_.confirm_through(confirmed);
}

}  // namespace tally::raft
