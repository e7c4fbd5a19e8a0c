// Connections to the other nodes: one per pair of nodes, opened on first use
// and again after it breaks; request/reply matching by request id; heartbeats
// that feed the failure detector.
//
// Both nodes of a pair may open a connection to the other. The pair settles
// on the one the node with the smaller id opened: that node always calls on
// its own, and the other takes it over once a heartbeat on it says who opened
// it. Then each node's requests and its answers to the other's requests share
// one socket, so a loop turn writes (and the kernel carries) them together.
#include "node/peer_link.hpp"

#include "net/codec.hpp"

namespace tally {

PeerLink::PeerLink(Env& env, Logger log, const ClusterView& view, ConnectionAuth& auth, Hooks hooks,
                   uint64_t heartbeat_interval_us)
    : env_(env), log_(std::move(log)), view_(view), auth_(auth), hooks_(std::move(hooks)),
      heartbeat_interval_us_(heartbeat_interval_us) {}

void PeerLink::start() {
  heartbeat_timer_ = env_.set_timer(heartbeat_interval_us_, [this] { send_heartbeats(); });
}

void PeerLink::stop() {
  if (heartbeat_timer_) env_.cancel_timer(heartbeat_timer_);
  heartbeat_timer_ = 0;
}

bool PeerLink::is_up(ring::NodeId peer) const {
  return peer == view_.self || fd_.is_up(peer, env_.now_us());
}

std::string PeerLink::name_of(ring::NodeId peer) const {
  const meta::Member* m = hooks_.member(peer);
  return m ? m->name : "node " + std::to_string(peer);
}

void PeerLink::watch(ring::NodeId peer) { fd_.watch(peer, env_.now_us()); }

ConnId PeerLink::peer_conn(ring::NodeId peer) {
  auto it = peer_conns_.find(peer);
  if (it != peer_conns_.end()) return it->second;
  const meta::Member* m = hooks_.member(peer);
  if (!m) return 0;
  auto addr = parse_host_port(m->address);
  if (!addr.ok()) return 0;
  ConnId conn = auth_.connect(*addr);
  peer_conns_[peer] = conn;
  conn_peer_[conn] = peer;
  return conn;
}

void PeerLink::on_ping(ConnId conn, ring::NodeId peer) {
  if (peer == ring::kNoNode || peer >= view_.self || !accepted_.contains(conn) || !hooks_.member(peer)) return;
  auto it = peer_conns_.find(peer);
  if (it != peer_conns_.end() && it->second == conn) return;
  ConnId before = it == peer_conns_.end() ? 0 : it->second;
  // The connection may have stood for another node (only a confused or
  // hostile sender names two): that node is reached anew.
  auto named = conn_peer_.find(conn);
  if (named != conn_peer_.end() && named->second != peer) {
    auto other = peer_conns_.find(named->second);
    if (other != peer_conns_.end() && other->second == conn) peer_conns_.erase(other);
  }
  peer_conns_[peer] = conn;
  conn_peer_[conn] = peer;
  // Only a connection we opened is ours to close. One the peer opened (it
  // could only be replaced by another connection claiming the peer's id,
  // which proved the cluster secret too) is left to its opener.
  if (before != 0 && !accepted_.contains(before)) retire_when_idle(before);
}

void PeerLink::retire_when_idle(ConnId conn) {
  for (const auto& [id, c] : calls_) {
    if (c.conn == conn) {
      retiring_.insert(conn);
      return;
    }
  }
  retiring_.erase(conn);
  env_.close(conn, Status::Ok());
}

void PeerLink::call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done) {
  ConnId conn = peer_conn(peer);
  if (conn == 0) {
    env_.defer([done = std::move(done), peer] {
      done(Status::InvalidArgument("no node with id " + std::to_string(peer)));
    });
    return;
  }
  call_on(conn, name_of(peer), std::move(request), timeout_us, std::move(done));
}

void PeerLink::call_address(const HostPort& addr, std::string who, wire::Body request, uint64_t timeout_us,
                            ReplyFn done) {
  ConnId conn = auth_.connect(addr);
  call_on(conn, std::move(who), std::move(request), timeout_us,
          [this, conn, done = std::move(done)](Result<wire::Message> r) {
            env_.close(conn, Status::Ok());
            done(std::move(r));
          });
}

void PeerLink::call_on(ConnId conn, std::string who, wire::Body request, uint64_t timeout_us, ReplyFn done) {
  uint64_t id = next_call_id_++;
  // The timer holds no more than fits in std::function's own storage: one
  // allocation fewer per call.
  TimerId timer = env_.set_timer(timeout_us, [this, id] {
    auto c = calls_.find(id);
    if (c == calls_.end()) return;
    Call call = take_call(c);
    call.done(Status::Timeout("no answer from " + call.who));
  });
  calls_[id] = Call{conn, timer, std::move(done), std::move(who)};
  auth_.send(conn, net::encode_payload(wire::Message{id, std::move(request)}));
}

bool PeerLink::on_reply(ConnId conn, wire::Message reply) {
  auto c = calls_.find(reply.request_id);
  // A reply we no longer wait for (timed out, duplicated): the caller drops it.
  if (c == calls_.end() || c->second.conn != conn) return false;
  env_.cancel_timer(c->second.timer);
  Call call = take_call(c);
  call.done(std::move(reply));
  return true;
}

PeerLink::Call PeerLink::take_call(Calls::iterator c) {
  Call call = std::move(c->second);
  calls_.erase(c);
  if (retiring_.contains(call.conn)) retire_when_idle(call.conn);
  return call;
}

void PeerLink::on_closed(ConnId conn, const Status& why) {
  accepted_.erase(conn);
  for (auto it = raft_inbound_.begin(); it != raft_inbound_.end();) {
    it = it->second == conn ? raft_inbound_.erase(it) : std::next(it);
  }
  retiring_.erase(conn);
  std::string who = "the node";
  auto p = conn_peer_.find(conn);
  if (p != conn_peer_.end()) {
    ring::NodeId peer = p->second;
    conn_peer_.erase(p);
    auto pc = peer_conns_.find(peer);
    if (pc != peer_conns_.end() && pc->second == conn) {
      peer_conns_.erase(pc);
      // The peer may come back as another process on another machine, with
      // another monotonic clock: estimate its offset afresh.
      clocks_.erase(peer);
    }
    who = name_of(peer);
  }
  std::vector<ReplyFn> failed;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.conn == conn) {
      env_.cancel_timer(it->second.timer);
      failed.push_back(std::move(it->second.done));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& fn : failed) fn(Status::Unavailable("connection to " + who + " lost: " + why.message()));
}

void PeerLink::send_raft(raft::Message message) {
  ConnId conn = peer_conn(static_cast<ring::NodeId>(message.to));
  if (conn == 0) {
    auto it = raft_inbound_.find(static_cast<ring::NodeId>(message.to));
    if (it == raft_inbound_.end()) return;  // no way to it yet; Raft sends again
    conn = it->second;
  }
  auth_.send(conn, net::encode_payload(wire::Message{0, wire::RaftMessage{std::move(message)}}));
}

void PeerLink::raft_arrived(ConnId conn, ring::NodeId from) { raft_inbound_[from] = conn; }

void PeerLink::send_heartbeats() {
  heartbeat_timer_ = env_.set_timer(heartbeat_interval_us_, [this] { send_heartbeats(); });
  for (const auto& m : view_.map.members) {
    if (m.id == view_.self || m.state == meta::NodeState::kRemoved) continue;
    ring::NodeId peer = m.id;
    const uint64_t sent = env_.now_us();
    call(peer, wire::PingRequest{view_.self}, 1'000'000, [this, peer, sent](Result<wire::Message> r) {
      const auto* pong = r.ok() ? std::get_if<wire::PingReply>(&r->body) : nullptr;
      if (!pong) return;
      const uint64_t now = env_.now_us();
      fd_.heartbeat(peer, now);
      if (pong->now_us != 0) clocks_[peer].add(sent, now, pong->now_us);
    });
  }
}

void PeerLink::PeerClock::add(uint64_t sent_us, uint64_t received_us, uint64_t peer_now_us) {
  // The peer read its clock somewhere between our send and our receipt: at
  // the midpoint, give or take half the round trip.
  const uint64_t half_rtt = (received_us - sent_us) / 2;
  const auto offset = static_cast<int64_t>(peer_now_us - (sent_us + half_rtt));
  samples[next] = {offset, half_rtt + 1};
  next = (next + 1) % samples.size();
  count = std::min(count + 1, samples.size());
}

std::optional<uint64_t> PeerLink::deadline_for(ring::NodeId peer, uint64_t local_deadline_us) const {
  if (peer == view_.self) return local_deadline_us;
  auto it = clocks_.find(peer);
  if (it == clocks_.end() || it->second.count == 0) return std::nullopt;
  // The sample with the shortest round trip is the tightest; a deadline
  // errs early by its error bound, never late.
  const PeerClock& c = it->second;
  const PeerClock::Sample* best = &c.samples[0];
  for (size_t i = 1; i < c.count; ++i) {
    if (c.samples[i].error_us < best->error_us) best = &c.samples[i];
  }
  const int64_t at = static_cast<int64_t>(local_deadline_us) + best->offset_us - static_cast<int64_t>(best->error_us);
  return static_cast<uint64_t>(std::max<int64_t>(at, 1));
}

}  // namespace tally
