// Which connections have proved the cluster secret (common/auth.hpp,
// docs/security.md "Peer authentication"), and the handshakes that make them so.
//
// Owns: per connection, the handshake under way and whether it is trusted;
// on connections this node opens, the frames held back until the other end
// has proved itself. It never decides what a trusted or untrusted connection
// may do (Node's dispatch does); it only answers trusted(conn).
//
// With no secret (a node started with --insecure, the simulator) it is off:
// every connection is trusted and no handshake is made.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/address.hpp"
#include "common/log.hpp"
#include "net/messages.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"

namespace tally {

class ConnectionAuth {
 public:
  // `secret` empty: authentication off. `self` names this node in hellos.
  // `password` (requirepass) empty: clients need none.
  ConnectionAuth(Env& env, Logger log, NodeStats& stats, std::string secret, std::string self,
                 std::string password = {});

  bool enabled() const { return !secret_.empty(); }
  // May `conn` carry what only peers and administrators may send?
  bool trusted(ConnId conn) const { return !enabled() || trusted_.contains(conn); }
  // May `conn` send a client's requests? With requirepass: once it gave the
  // password, or proved the cluster secret.
  bool client_allowed(ConnId conn) const {
    return password_.empty() || passed_.contains(conn) || (enabled() && trusted_.contains(conn));
  }

  // Opens a connection to another node and starts proving the secret on it.
  ConnId connect(const HostPort& addr);
  // Sends a frame on a connection; on one this node opened, frames wait until
  // the other end has proved the secret (they are dropped if it cannot).
  void send(ConnId conn, std::string payload);

  // An authentication message (AuthHello, AuthProof, AuthChallenge, AuthOk,
  // or an error answering a hello): handled here, and true. False for
  // anything else, which the caller handles.
  bool on_message(ConnId conn, const wire::Message& msg);
  // Counts and logs (once per connection, with its address) a message of
  // type `what` refused on an untrusted connection.
  void refuse(ConnId conn, std::string_view what);
  void on_closed(ConnId conn);

 private:
  struct Accepting {  // a hello came; the connector's proof has not
    std::string connector_nonce, nonce, who;
  };
  struct Connecting {  // we sent a hello; the acceptor has not proved itself yet
    std::string nonce;
    std::vector<std::string> held;
  };

  void reply(ConnId conn, wire::Body body);
  // Answers a failed handshake with `why`, then closes the connection.
  void fail(ConnId conn, const Status& why);

  Env& env_;
  Logger log_;
  NodeStats& stats_;
  std::string secret_;
  std::string self_;
  std::string password_;
  std::unordered_set<ConnId> trusted_;
  std::unordered_set<ConnId> passed_;  // gave the password
  std::unordered_map<ConnId, Accepting> accepting_;
  std::unordered_map<ConnId, Connecting> connecting_;
  std::unordered_set<ConnId> refused_;  // connections whose refusal was logged
};

}  // namespace tally
