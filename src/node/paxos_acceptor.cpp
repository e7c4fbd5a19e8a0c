#include "node/paxos_acceptor.hpp"

#include "codec/record_codec.hpp"

namespace tally {

namespace {
constexpr char kPaxosTag = 'p';
}  // namespace

PaxosAcceptor::PaxosAcceptor(const ClusterView& view, store::RecordStore& store, NodeStats& stats,
                             WriteDrain& drain)
    : view_(view), store_(store), stats_(stats), drain_(drain) {}

std::string PaxosAcceptor::state_key(std::string_view keyspace, std::string_view key) {
  return store::RecordStore::key_under(kPaxosTag, keyspace, key);
}

void PaxosAcceptor::handle(wire::PaxosRequest request, Respond respond) {
  const meta::Keyspace* ks = view_.map.keyspace(request.keyspace);
  if (!ks) return fail(respond, Status::UnknownKeyspace("keyspace '" + request.keyspace + "' does not exist"));
  if (ks->mode != meta::ConflictMode::kLinearizable) {
    return fail(respond, Status::InvalidArgument("keyspace '" + request.keyspace + "' is " +
                                                 std::string(meta::mode_name(ks->mode)) + ", not linearizable"));
  }
  if (request.epoch < view_.map.ring_epoch) {
    stats_.add(Counter::kFenced);
    return fail(respond, Status::StaleEpoch("routed by cluster map epoch " + std::to_string(request.epoch) +
                                            ", older than the ring's last change at epoch " +
                                            std::to_string(view_.map.ring_epoch) + "; refresh and retry"));
  }
  if (request.phase == wire::PaxosPhase::kAccept) {
    if (Status valid = quorum::validate(request.reg); !valid.ok()) return fail(respond, Status::ProtocolError(valid.message()));
  }
  drain_.started();
  std::string dkey = state_key(request.keyspace, request.key);
  auto it = slots_.try_emplace(std::move(dkey)).first;
  it->second.queue.push_back(Pending{std::move(request), std::move(respond)});
  if (!it->second.busy) run_next(&*it);
}

void PaxosAcceptor::run_next(SlotEntry* slot) {
  Slot& s = slot->second;
  if (s.head == s.queue.size()) {
    slots_.erase(slot->first);  // nothing refers to it: forget the key
    return;
  }
  if (s.head >= 64 && s.head * 2 >= s.queue.size()) {
    // A key that stays busy: drop the answered messages from the front.
    s.queue.erase(s.queue.begin(), s.queue.begin() + static_cast<std::ptrdiff_t>(s.head));
    s.head = 0;
  }
  s.busy = true;
  if (s.loaded) return run(slot);
  store_.get_raw(slot->first, [this, slot](Result<std::optional<std::string>> r) {
    Slot& s = slot->second;
    if (r.ok() && r->has_value()) {
      auto state = codec::decode_acceptor_state(**r);
      if (!state.ok()) r = state.status();
      else s.state = std::move(*state);
    }
    if (!r.ok()) {
      // Every message waiting fails: the state cannot be read.
      for (size_t i = s.head; i < s.queue.size(); ++i) {
        fail(s.queue[i].respond, r.status());
        drain_.finished();
      }
      s.head = s.queue.size();
      s.busy = false;
      return run_next(slot);
    }
    s.loaded = true;
    run(slot);
  });
}

void PaxosAcceptor::run(SlotEntry* slot) {
  Slot& s = slot->second;
  Pending& p = s.queue[s.head];
  const quorum::AcceptorState before = s.state;
  const quorum::AcceptorReply reply = p.request.phase == wire::PaxosPhase::kPrepare
                                          ? quorum::on_prepare(s.state, p.request.ballot)
                                          : quorum::on_accept(s.state, p.request.ballot, p.request.reg);
  wire::PaxosReply out{reply.ok, reply.promised, reply.accepted, reply.reg, view_.epoch()};
  if (s.state == before) {
    p.respond(std::move(out));
    return finish(slot);
  }
  store_.put_raw(slot->first, codec::encode_acceptor_state(s.state), [this, slot, out = std::move(out)](Status st) mutable {
    Slot& s = slot->second;
    if (st.ok()) {
      s.queue[s.head].respond(std::move(out));
    } else {
      // Whether the state reached the disk is unknown: read it again.
      s.loaded = false;
      s.state = {};
      fail(s.queue[s.head].respond, st);
    }
    finish(slot);
  });
}

void PaxosAcceptor::finish(SlotEntry* slot) {
  Slot& s = slot->second;
  s.queue[s.head] = Pending{};
  ++s.head;
  s.busy = false;
  drain_.finished();
  run_next(slot);
}

}  // namespace tally
