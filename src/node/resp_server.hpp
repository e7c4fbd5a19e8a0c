// The Redis-protocol side of a node (docs/resp.md): the StreamHandler behind
// Env::listen_stream. Each client connection gets a RespSession; each
// connection's replies leave in one write per loop turn, however many
// requests completed in it (pipelined clients: redis-benchmark -P).
//
// Wiring, in the node that owns it:
//   resp_ = std::make_unique<RespServer>(env_, backend, options, log_.child("resp"));
//   Status s = resp_->start(resp_listen_address);
// where `backend` runs a wire request as the node runs a client's (RespBackend).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "common/config.hpp"
#include "common/log.hpp"
#include "node/env.hpp"
#include "node/resp.hpp"
#include "node/resp_session.hpp"

namespace tally {

class RespServer final : public StreamHandler {
 public:
  // `env` and `backend` must outlive the server. Every session starts from
  // `options`; client_id is set to each connection's id.
  RespServer(Env& env, RespBackend& backend, RespSessionOptions options, Logger log);
  ~RespServer() override;
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  // RESP limits that match the node's own: an argument may be as large as
  // the largest value or key, and what a connection holds unparsed is capped
  // at a frame's size (or one argument's, if that is larger).
  static resp::Limits limits_for(const Limits& node);

  // Starts the stream listener. Errors: as Env::listen_stream (the address
  // is taken or cannot be bound).
  Status start(const HostPort& addr);
  // Closes every client connection (for a node that stops): replies still
  // owed are dropped; the requests themselves run to their end in the node.
  void stop();

  size_t connections() const { return clients_.size(); }

  // StreamHandler
  void on_accept(ConnId conn) override;
  void on_data(ConnId conn, std::string_view bytes) override;
  void on_closed(ConnId conn, const Status& why) override;
  size_t unparsed_bytes(ConnId conn) const override;

 private:
  class Client;

  Env& env_;
  RespBackend& backend_;
  RespSessionOptions options_;
  Logger log_;
  std::unordered_map<ConnId, std::unique_ptr<Client>> clients_;
  // Cleared when the server is destroyed, for deferred flushes that outlive it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tally
