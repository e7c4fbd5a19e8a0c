#include "raft/config.hpp"

#include <string>

namespace tally::raft {

namespace {

std::string num(uint64_t v) { return std::to_string(v); }

}  // namespace

Status RaftConfig::validate() const {
  if (id == kNoNode) return Status::InvalidArgument("raft node id 0 is reserved");
  if (heartbeat_ticks == 0) return Status::InvalidArgument("heartbeat_ticks must be >= 1");
  if (election_ticks <= heartbeat_ticks) {
    return Status::InvalidArgument("election_ticks (" + num(election_ticks) +
                                   ") must be greater than heartbeat_ticks (" +
                                   num(heartbeat_ticks) + ")");
  }
  if (max_entries_per_append == 0 || max_inflight_appends == 0 || max_committed_per_ready == 0) {
    return Status::InvalidArgument("raft flow-control limits must be >= 1");
  }
  for (NodeId l : bootstrap_learners) {
    for (NodeId v : bootstrap_voters) {
      if (l == v) return Status::InvalidArgument("node " + num(l) + " is voter and learner");
    }
  }
  return Status::Ok();
}

}  // namespace tally::raft
