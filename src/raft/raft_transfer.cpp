// raft_transfer.cpp — leadership transfer (dissertation §3.10).
#include <string>

#include "raft/raft_node.hpp"

namespace tally::raft {

Status RaftNode::transfer_leadership(NodeId target) {
  if (role_ != Role::kLeader) return not_leader();
  if (target == config_.id) return Status::Ok();
  if (!configs_.current().is_voter(target)) {
    return Status::InvalidArgument("cannot transfer leadership to node " + std::to_string(target) +
                                   ", not a voter (" + configs_.current().to_string() + ")");
  }
  if (transfer_target_ == target) return Status::Ok();
  // §3.10 step 1: stop accepting proposals (propose() returns Aborted), so the
  // target can catch up with a log that no longer grows.
  transfer_target_ = target;
  transfer_elapsed_ = 0;
  const Progress& pr = progress_.at(target);
  if (pr.match == log_.last_index()) {
    Message m;
    m.type = MessageType::kTimeoutNow;
    m.to = target;
    send(std::move(m));
  } else {
    // Step 2: bring it up to date; handle_append_response sends TimeoutNow (step
    // 3) once its log matches ours.
    send_append(target, true);
  }
  after_input();
  return Status::Ok();
}

void RaftNode::abort_transfer() {
  transfer_target_ = kNoNode;
  transfer_elapsed_ = 0;
}

}  // namespace tally::raft
