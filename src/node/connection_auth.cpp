#include "node/connection_auth.hpp"

#include "common/auth.hpp"
#include "net/codec.hpp"

namespace tally {

namespace {
// A connection whose handshake failed is closed this long after the error
// that says why was queued, so that the error reaches the other end first.
constexpr uint64_t kCloseAfterFailureUs = 100'000;
}  // namespace

ConnectionAuth::ConnectionAuth(Env& env, Logger log, NodeStats& stats, std::string secret,
                               std::string self, std::string password)
    : env_(env),
      log_(std::move(log)),
      stats_(stats),
      secret_(std::move(secret)),
      self_(std::move(self)),
      password_(std::move(password)) {}

ConnId ConnectionAuth::connect(const HostPort& addr) {
  ConnId conn = env_.connect(addr);
  if (!enabled()) return conn;
  Connecting& c = connecting_[conn];
  c.nonce = auth::fresh_nonce();
  env_.send(conn, net::encode_payload(wire::Message{0, wire::AuthHello{c.nonce, self_}}));
  return conn;
}

void ConnectionAuth::send(ConnId conn, std::string payload) {
  auto it = connecting_.find(conn);
  if (it != connecting_.end()) {
    it->second.held.push_back(std::move(payload));
    return;
  }
  env_.send(conn, std::move(payload));
}

void ConnectionAuth::reply(ConnId conn, wire::Body body) {
  env_.send(conn, net::encode_payload(wire::Message{0, std::move(body)}));
}

void ConnectionAuth::fail(ConnId conn, const Status& why) {
  stats_.add(Counter::kAuthFailures);
  TALLY_LOG(log_, kWarn) << "authentication failed on the connection with "
                         << env_.remote_address(conn) << ": " << why.message();
  reply(conn, wire::ErrorReply{why.code(), why.message()});
  trusted_.erase(conn);
  accepting_.erase(conn);
  env_.set_timer(kCloseAfterFailureUs, [this, conn, why] { env_.close(conn, why); });
}

bool ConnectionAuth::on_message(ConnId conn, const wire::Message& msg) {
  if (auto* pw = std::get_if<wire::AuthPassword>(&msg.body)) {
    if (password_.empty()) {
      reply(conn, wire::ErrorReply{Code::kInvalidArgument, "a password was given but node " +
                                                               self_ + " has no requirepass"});
    } else if (!auth::password_matches(password_, pw->password)) {
      stats_.add(Counter::kPasswordFailures);
      passed_.erase(conn);
      TALLY_LOG(log_, kWarn) << "wrong password from " << env_.remote_address(conn);
      reply(conn, wire::ErrorReply{Code::kUnauthenticated, "wrong password (requirepass)"});
    } else {
      passed_.insert(conn);
      reply(conn, wire::AuthOk{});
    }
    return true;
  }
  if (auto* hello = std::get_if<wire::AuthHello>(&msg.body)) {
    if (!enabled()) {
      reply(conn, wire::ErrorReply{
                      Code::kUnauthenticated,
                      "node " + self_ +
                          " runs without a cluster secret (--insecure): it cannot "
                          "prove one; give it the cluster's secret_file or connect without one"});
      return true;
    }
    if (hello->nonce.size() != auth::kNonceBytes) {
      fail(conn, Status::Unauthenticated("auth hello with a nonce of " +
                                         std::to_string(hello->nonce.size()) + " bytes (" +
                                         std::to_string(auth::kNonceBytes) + " expected)"));
      return true;
    }
    // A hello starts the handshake over (fresh nonce): a connection is trusted
    // for what its latest handshake proved.
    trusted_.erase(conn);
    Accepting& a = accepting_[conn];
    a.connector_nonce = hello->nonce;
    a.nonce = auth::fresh_nonce();
    a.who = hello->who.substr(0, 64);
    reply(conn,
          wire::AuthChallenge{a.nonce, auth::acceptor_proof(secret_, a.connector_nonce, a.nonce)});
    return true;
  }
  if (auto* proof = std::get_if<wire::AuthProof>(&msg.body)) {
    auto it = accepting_.find(conn);
    if (!enabled() || it == accepting_.end()) {
      fail(conn, Status::Unauthenticated("auth proof without an auth hello before it"));
      return true;
    }
    Accepting a = std::move(it->second);
    accepting_.erase(it);
    if (!auth::proof_matches(auth::connector_proof(secret_, a.connector_nonce, a.nonce),
                             proof->proof)) {
      fail(conn, Status::Unauthenticated("wrong proof of the cluster secret from '" + a.who +
                                         "' (does it have another secret_file?)"));
      return true;
    }
    trusted_.insert(conn);
    TALLY_LOG(log_, kDebug) << "connection from " << env_.remote_address(conn) << " (" << a.who
                            << ") proved the cluster secret";
    reply(conn, wire::AuthOk{});
    return true;
  }
  auto c = connecting_.find(conn);
  if (c == connecting_.end()) {
    // Late or repeated acceptor messages on a settled connection: nothing to do.
    return std::holds_alternative<wire::AuthChallenge>(msg.body) ||
           std::holds_alternative<wire::AuthOk>(msg.body);
  }
  if (auto* challenge = std::get_if<wire::AuthChallenge>(&msg.body)) {
    Connecting pending = std::move(c->second);
    connecting_.erase(c);
    if (challenge->nonce.size() != auth::kNonceBytes ||
        !auth::proof_matches(auth::acceptor_proof(secret_, pending.nonce, challenge->nonce),
                             challenge->proof)) {
      stats_.add(Counter::kAuthFailures);
      Status why =
          Status::Unauthenticated("the node at " + env_.remote_address(conn) +
                                  " did not prove the cluster secret (another secret_file?)");
      TALLY_LOG(log_, kWarn) << why.message();
      env_.close(conn, why);
      return true;
    }
    trusted_.insert(conn);
    env_.send(
        conn,
        net::encode_payload(wire::Message{
            0, wire::AuthProof{auth::connector_proof(secret_, pending.nonce, challenge->nonce)}}));
    for (auto& frame : pending.held) env_.send(conn, std::move(frame));
    return true;
  }
  if (auto* error = std::get_if<wire::ErrorReply>(&msg.body); error && msg.request_id == 0) {
    // The acceptor refused our hello (it runs without a secret, or took our
    // hello for a bad one).
    connecting_.erase(c);
    stats_.add(Counter::kAuthFailures);
    Status why(error->code, "the node at " + env_.remote_address(conn) +
                                " refused the handshake: " + error->message);
    TALLY_LOG(log_, kWarn) << why.message();
    env_.close(conn, why);
    return true;
  }
  return std::holds_alternative<wire::AuthOk>(msg.body);
}

void ConnectionAuth::refuse(ConnId conn, std::string_view what) {
  stats_.add(Counter::kAuthRefused);
  if (!refused_.insert(conn).second) return;
  TALLY_LOG(log_, kWarn)
      << "refused " << what << " from " << env_.remote_address(conn)
      << ": the connection has not proved the cluster secret (further refusals on it are "
         "counted in auth_refused, not logged)";
}

void ConnectionAuth::on_closed(ConnId conn) {
  trusted_.erase(conn);
  passed_.erase(conn);
  accepting_.erase(conn);
  connecting_.erase(conn);
  refused_.erase(conn);
}

}  // namespace tally
