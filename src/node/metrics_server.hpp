// The metrics door (docs/operations.md, "Metrics"): HTTP/1.1 on the node's
// metrics_listen address, serving GET /metrics in the Prometheus text format.
// The StreamHandler behind a second Env::listen_stream; each connection gets
// a strict request parser (net/http_request.hpp) and its answers in order,
// keep-alive unless the client asks to close.
//
// Owns: the connections of its door and their unparsed bytes. It renders
// nothing itself (the node hands it `render`) and touches no other room.
// Connections are bounded as on the other doors: the env's max_connections,
// idle and frame timeouts and input budget apply (common/config.hpp, Limits),
// and a request breaking the parser's limits is answered 4xx and closed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "common/log.hpp"
#include "net/http_request.hpp"
#include "node/env.hpp"
#include "node/node_stats.hpp"

namespace tally {

class MetricsServer final : public StreamHandler {
 public:
  // `env` and `stats` must outlive the server. `render` returns the
  // exposition text, called once per GET /metrics.
  MetricsServer(Env& env, std::function<std::string()> render, NodeStats& stats, Logger log,
                http::Limits limits = {});
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts listening. Errors: as Env::listen_stream.
  Status start(const HostPort& addr);
  // Closes every connection (a node that stops).
  void stop();

  size_t connections() const { return clients_.size(); }

  // StreamHandler
  void on_accept(ConnId conn) override;
  void on_data(ConnId conn, std::string_view bytes) override;
  void on_closed(ConnId conn, const Status& why) override;
  size_t unparsed_bytes(ConnId conn) const override;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  // The answer to one whole request.
  std::string answer(const http::Request& request);

  Env& env_;
  std::function<std::string()> render_;
  NodeStats& stats_;
  Logger log_;
  http::Limits limits_;
  std::unordered_map<ConnId, http::RequestParser> clients_;
};

// An HTTP/1.1 response with a text body (HEAD: the same head, no body).
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, bool head = false, std::string_view extra_headers = {});

}  // namespace tally
