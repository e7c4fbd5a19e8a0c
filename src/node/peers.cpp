// Connections to the other nodes: one per pair of nodes, opened on first use
// and again after it breaks; request/reply matching by request id; heartbeats
// that feed the failure detector.
//
// Both nodes of a pair may open a connection to the other. The pair settles
// on the one the node with the smaller id opened: that node always calls on
// its own, and the other takes it over once a heartbeat on it says who opened
// it. Then each node's requests and its answers to the other's requests share
// one socket, so a loop turn writes (and the kernel carries) them together.
#include "node/node.hpp"

namespace tally {

const meta::Member* Node::known_member(ring::NodeId id) const {
  const meta::Member* m = map_.member(id);
  return m ? m : meta_.map().member(id);
}

ConnId Node::peer_conn(ring::NodeId peer) {
  auto it = peer_conns_.find(peer);
  if (it != peer_conns_.end()) return it->second;
  const meta::Member* m = known_member(peer);
  if (!m) return 0;
  auto addr = parse_host_port(m->address);
  if (!addr.ok()) return 0;
  ConnId conn = env_.connect(*addr);
  peer_conns_[peer] = conn;
  conn_peer_[conn] = peer;
  return conn;
}

void Node::adopt_peer_conn(ConnId conn, ring::NodeId peer) {
  if (peer == ring::kNoNode || peer >= id_ || !conns_.contains(conn) || !known_member(peer)) return;
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
  // could only be replaced by a sender claiming the peer's id: there is no
  // authentication between nodes) is left to its opener.
  if (before != 0 && !conns_.contains(before)) retire_when_idle(before);
}

void Node::retire_when_idle(ConnId conn) {
  for (const auto& [id, c] : calls_) {
    if (c.conn == conn) {
      retiring_.insert(conn);
      return;
    }
  }
  retiring_.erase(conn);
  env_.close(conn, Status::Ok());
}

void Node::call(ring::NodeId peer, wire::Body request, uint64_t timeout_us, ReplyFn done) {
  ConnId conn = peer_conn(peer);
  if (conn == 0) {
    env_.defer([done = std::move(done), peer] {
      done(Status::InvalidArgument("no node with id " + std::to_string(peer)));
    });
    return;
  }
  call_on(conn, name_of(peer), std::move(request), timeout_us, std::move(done));
}

void Node::call_on(ConnId conn, std::string who, wire::Body request, uint64_t timeout_us, ReplyFn done) {
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
  env_.send(conn, net::encode_payload(wire::Message{id, std::move(request)}));
}

void Node::on_reply(ConnId conn, wire::Message msg) {
  auto c = calls_.find(msg.request_id);
  // A reply we no longer wait for (timed out, duplicated): drop it.
  if (c == calls_.end() || c->second.conn != conn) return;
  env_.cancel_timer(c->second.timer);
  Call call = take_call(c);
  call.done(std::move(msg));
}

Node::Call Node::take_call(std::unordered_map<uint64_t, Call>::iterator c) {
  Call call = std::move(c->second);
  calls_.erase(c);
  if (retiring_.contains(call.conn)) retire_when_idle(call.conn);
  return call;
}

void Node::fail_calls_on(ConnId conn, const Status& why) {
  retiring_.erase(conn);
  std::string who = "the node";
  auto p = conn_peer_.find(conn);
  if (p != conn_peer_.end()) {
    ring::NodeId peer = p->second;
    conn_peer_.erase(p);
    auto pc = peer_conns_.find(peer);
    if (pc != peer_conns_.end() && pc->second == conn) peer_conns_.erase(pc);
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

void Node::send_heartbeats() {
  heartbeat_timer_ = env_.set_timer(timings_.heartbeat_interval_us, [this] { send_heartbeats(); });
  for (const auto& m : map_.members) {
    if (m.id == id_ || m.state == meta::NodeState::kRemoved) continue;
    ring::NodeId peer = m.id;
    call(peer, wire::PingRequest{id_}, 1'000'000, [this, peer](Result<wire::Message> r) {
      if (r.ok() && std::holds_alternative<wire::PingReply>(r->body)) fd_.heartbeat(peer, env_.now_us());
    });
  }
}

}  // namespace tally
