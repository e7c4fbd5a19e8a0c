// What a put and a get have in common as coordinated requests: one round of
// calls to the key's replicas, counted by a quorum tally, bounded by the
// request's timeout, answered once.
//
// Owns: the round's bookkeeping (its timer, whether it replied, whether it
// finished, the answers still to come) and the one way a replica's answer is
// read: an answer of the expected type, a failure (an ErrorReply, a lost
// connection, an unexpected reply), or silence, which is left to the
// round's own timer. PutFsm and GetFsm derive from it and add what to ask and
// what to do with the answers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "net/messages.hpp"
#include "node/coordinator_context.hpp"
#include "node/respond.hpp"
#include "quorum/quorum_tally.hpp"

namespace tally {

class ReplicaRound {
 protected:
  ReplicaRound(CoordinatorContext& ctx, Respond respond, uint32_t timeout_ms)
      : ctx_(ctx), respond_(std::move(respond)), timeout_ms_(timeout_ms) {}

  // Starts the request's timer: when it fires, every replica still silent is
  // marked timed out in `self->tally_` and `self->progress()` decides.
  template <class Self>
  static void start_timer(const std::shared_ptr<Self>& self) {
    ReplicaRound& round = *self;
    round.timer_ = round.ctx_.env.set_timer(uint64_t{round.timeout_ms_} * 1000, [self] {
      ReplicaRound& r = *self;
      r.timer_ = 0;
      r.outstanding_ = 0;
      self->tally_->timeout();
      self->progress();
    });
  }

  // Sends `request` to replica `node` (one of the answers still to come).
  // Unless the round has finished meanwhile, `on_answer(*self, node, reply,
  // error)` runs when it answers: `reply` points to the answer when it is an
  // Expected, and is null on a failure, which the Status `error` describes
  // (the replica's own code when it answered with an error). A newer epoch
  // in the answer is reported; silence calls nothing.
  template <class Expected, class Self, class OnAnswer>
  static void ask(const std::shared_ptr<Self>& self, ring::NodeId node, wire::Body request, OnAnswer on_answer) {
    ReplicaRound& round = *self;
    ++round.outstanding_;
    round.ctx_.peers.call(node, std::move(request), uint64_t{round.timeout_ms_} * 1000,
                          [self, node, on_answer = std::move(on_answer)](Result<wire::Message> r) mutable {
                            ReplicaRound& round = *self;
                            if (round.finished_) return;
                            --round.outstanding_;
                            if (!r.ok() && r.status().code() == Code::kTimeout) return;
                            Expected* reply = r.ok() ? std::get_if<Expected>(&r->body) : nullptr;
                            if (reply) {
                              round.ctx_.saw_epoch(reply->epoch, node);
                              return on_answer(*self, node, reply, Status::Ok());
                            }
                            Status error = !r.ok() ? r.status() : Status::ProtocolError("unexpected reply");
                            if (r.ok()) {
                              if (auto* e = std::get_if<wire::ErrorReply>(&r->body)) error = Status(e->code, e->message);
                            }
                            on_answer(*self, node, nullptr, std::move(error));
                          });
  }

  // Ends the round: no answer arriving later is looked at.
  void end() {
    finished_ = true;
    if (timer_) ctx_.env.cancel_timer(timer_);
    timer_ = 0;
  }

  std::string name_of(ring::NodeId node) const { return ctx_.peers.name_of(node); }

  CoordinatorContext& ctx_;
  Respond respond_;
  uint32_t timeout_ms_;
  TimerId timer_ = 0;
  bool replied_ = false;
  bool finished_ = false;
  int outstanding_ = 0;  // replica answers still to come
};

}  // namespace tally
