#include "node/paxos_fsm.hpp"

#include <algorithm>

namespace tally {

namespace {
// Backoff after a lost attempt: a random wait up to kBackoffBaseMs << attempt,
// at most kBackoffMaxMs, so that proposers that collided spread out.
constexpr uint64_t kBackoffBaseMs = 2;
constexpr uint64_t kBackoffMaxMs = 100;
}  // namespace

Result<uint64_t> parse_version_context(std::string_view context) {
  if (auto seq = version_seq(context)) return *seq;
  return Status::InvalidArgument("not a version of a linearizable keyspace's key (a get's context there is 'v<N>')");
}

PaxosFsm::PaxosFsm(CoordinatorContext& ctx, PaxosAcceptor& local, NextBallot next_ballot, CasRequest request,
                   Respond respond)
    : ctx_(ctx),
      local_(local),
      next_ballot_(std::move(next_ballot)),
      req_(std::move(request)),
      respond_(std::move(respond)),
      proposer_(req_.op) {}

void PaxosFsm::start() {
  ctx_.drain.started();
  attempt();
}

void PaxosFsm::attempt() {
  if (done_) return;
  if (ctx_.env.now_us() >= req_.deadline_us) return give_up(Status::Timeout("no time left"));
  ++attempt_;
  ballot_ = next_ballot_(highest_seen_);
  round_ = std::make_unique<quorum::PaxosRound>(req_.replicas.size());
  in_phase2_ = false;
  send_all(wire::PaxosPhase::kPrepare);
}

void PaxosFsm::send_all(wire::PaxosPhase phase) {
  const uint64_t now = ctx_.env.now_us();
  const uint64_t timeout_us = req_.deadline_us > now ? req_.deadline_us - now : 1;
  for (ring::NodeId node : req_.replicas) {
    wire::PaxosRequest msg{req_.keyspace, req_.key, phase, ballot_,
                           phase == wire::PaxosPhase::kAccept ? proposer_.proposal() : quorum::Register{},
                           ctx_.view.epoch()};
    const uint64_t attempt = attempt_;
    auto self = shared_from_this();
    if (node == ctx_.view.self) {
      // Our own acceptor, answered on a later turn of the loop as a peer's
      // would be (it may answer at once).
      local_.handle(std::move(msg), [self, attempt, phase, node](wire::Body body) {
        self->ctx_.env.defer([self, attempt, phase, node, body = std::move(body)] {
          if (auto* r = std::get_if<wire::PaxosReply>(&body)) return self->answered(attempt, phase, node, r, Status::Ok());
          auto* e = std::get_if<wire::ErrorReply>(&body);
          self->answered(attempt, phase, node, nullptr,
                         e ? Status(e->code, e->message) : Status::Internal("unexpected reply"));
        });
      });
      continue;
    }
    ctx_.peers.call(node, std::move(msg), timeout_us, [self, attempt, phase, node](Result<wire::Message> r) {
      const wire::PaxosReply* reply = r.ok() ? std::get_if<wire::PaxosReply>(&r->body) : nullptr;
      if (reply) {
        self->ctx_.saw_epoch(reply->epoch, node);
        return self->answered(attempt, phase, node, reply, Status::Ok());
      }
      Status error = !r.ok() ? r.status() : Status::ProtocolError("unexpected reply");
      if (r.ok()) {
        if (auto* e = std::get_if<wire::ErrorReply>(&r->body)) error = Status(e->code, e->message);
      }
      self->answered(attempt, phase, node, nullptr, error);
    });
  }
}

void PaxosFsm::answered(uint64_t attempt, wire::PaxosPhase phase, ring::NodeId node, const wire::PaxosReply* reply,
                        Status error) {
  if (done_ || attempt != attempt_) return;  // an attempt given up on
  if ((phase == wire::PaxosPhase::kAccept) != in_phase2_) return;
  if (reply) {
    // A register no apply() could have made counts as no answer.
    if (Status valid = quorum::validate(reply->reg); !valid.ok()) {
      error = Status::ProtocolError(valid.message());
      reply = nullptr;
    }
  }
  quorum::AcceptorReply a;
  if (reply) {
    a = reply->acceptor_reply();
    highest_seen_ = std::max(highest_seen_, a.promised);
  } else {
    last_error_ = ctx_.peers.name_of(node) + ": " + error.to_string();
    // Fenced: the ring moved after our map. Fetch the map for later requests
    // (this one keeps its replicas; the replica counts as silent).
    if (error.code() == Code::kStaleEpoch) ctx_.refresh(node, [] {});
  }
  if (phase == wire::PaxosPhase::kPrepare) {
    const auto before = round_->prepared();
    round_->promise(reply ? &a : nullptr);
    if (before != quorum::PaxosRound::Phase::kWaiting) return;
    switch (round_->prepared()) {
      case quorum::PaxosRound::Phase::kWaiting: return;
      case quorum::PaxosRound::Phase::kDone: return prepared();
      case quorum::PaxosRound::Phase::kFailed:
        lost_quorum_ = !(highest_seen_ > ballot_);
        return retry(lost_quorum_ ? "too few replicas promised" : "a higher ballot was promised");
    }
  } else {
    const auto before = round_->accepted();
    round_->accept(reply ? &a : nullptr);
    if (before != quorum::PaxosRound::Phase::kWaiting) return;
    switch (round_->accepted()) {
      case quorum::PaxosRound::Phase::kWaiting: return;
      case quorum::PaxosRound::Phase::kDone: return accepted();
      case quorum::PaxosRound::Phase::kFailed:
        proposer_.accept_failed(round_->maybe_accepted());
        lost_quorum_ = !(highest_seen_ > ballot_);
        return retry(lost_quorum_ ? "too few replicas accepted" : "a higher ballot was promised");
    }
  }
}

void PaxosFsm::prepared() {
  switch (proposer_.prepared(*round_, ballot_.wall_ms)) {
    case quorum::Proposer::Step::kAnswer:
      return reply();
    case quorum::Proposer::Step::kUnknown:
      return give_up(Status::Timeout("more changes of the key than it remembers came after an attempt that may "
                                     "have been accepted"));
    case quorum::Proposer::Step::kPropose:
      in_phase2_ = true;
      return send_all(wire::PaxosPhase::kAccept);
  }
}

PaxosDecisionWatch& paxos_decision_watch() {
  static PaxosDecisionWatch watch;
  return watch;
}

void PaxosFsm::accepted() {
  if (const auto& watch = paxos_decision_watch()) {
    watch(PaxosDecision{req_.keyspace, req_.key, ballot_, round_->current(), proposer_.proposal()});
  }
  proposer_.accepted();
  reply();
}

void PaxosFsm::retry(const std::string& why) {
  ctx_.stats.add(Counter::kPaxosRetries);
  const uint64_t cap = std::min(kBackoffMaxMs, kBackoffBaseMs << std::min<uint64_t>(attempt_, 6));
  const uint64_t wait_us = 1000 + ctx_.env.random() % (cap * 1000);
  if (ctx_.env.now_us() + wait_us >= req_.deadline_us) return give_up(Status::Timeout(why));
  ctx_.env.set_timer(wait_us, [self = shared_from_this()] { self->attempt(); });
}

void PaxosFsm::reply() {
  done_ = true;
  const quorum::Register& reg = proposer_.answer();
  switch (req_.answer) {
    case CasRequest::Answer::kGet: {
      wire::GetReply out;
      if (proposer_.answer_live()) {
        out.values.push_back(reg.value);
        if (reg.expires_ms != 0) out.ttl_ms.push_back(reg.expires_ms - std::min(reg.expires_ms, ballot_.wall_ms));
      }
      out.context = version_context(reg.seq);
      out.epoch = ctx_.view.epoch();
      out.linearizable = true;
      respond_(std::move(out));
      break;
    }
    case CasRequest::Answer::kPut: {
      if (proposer_.fenced()) {
        ctx_.stats.add(Counter::kFencedWrites);
        fail(respond_, quorum::fenced_off(req_.key, req_.op.fence_lock, req_.op.fence_token,
                                          reg.fence_of(req_.op.fence_lock)));
        break;
      }
      if (proposer_.too_many_fences()) {
        fail(respond_, Status::InvalidArgument("key '" + req_.key + "' keeps fences for " +
                                               std::to_string(quorum::kMaxFences) +
                                               " locks already; a write fenced by another lock is refused"));
        break;
      }
      wire::PutReply out;
      out.context = version_context(reg.seq);
      out.epoch = ctx_.view.epoch();
      out.not_applied = !proposer_.applied();
      if (out.not_applied) {
        out.current_found = proposer_.answer_live();
        if (out.current_found) out.current = reg.value;
      }
      respond_(std::move(out));
      break;
    }
    case CasRequest::Answer::kDelete:
      respond_(wire::DeleteReply{ctx_.view.epoch()});
      break;
  }
  ctx_.drain.finished();
}

void PaxosFsm::give_up(Status why) {
  done_ = true;
  const std::string what = "linearizable " + std::string(req_.op.kind == quorum::CasKind::kRead ? "read" : "write") +
                           " of key '" + req_.key + "' in keyspace '" + req_.keyspace + "' after " +
                           std::to_string(attempt_) + " attempt(s)";
  const std::string detail = why.message() + (last_error_.empty() ? "" : "; last replica error: " + last_error_);
  if (proposer_.in_doubt()) {
    fail(respond_, Status::Timeout(what + ": outcome unknown, an attempt may still take effect (" + detail +
                                   "); read the key to learn it"));
  } else if (lost_quorum_) {
    fail(respond_, Status::QuorumNotReached(what + ": a majority of the " + std::to_string(req_.replicas.size()) +
                                            " replicas did not answer (" + detail + "); nothing was written"));
  } else {
    fail(respond_, Status(Code::kContention, what + ": other writers of the key kept winning (" + detail +
                                                 "); nothing was written"));
  }
  ctx_.drain.finished();
}

}  // namespace tally
