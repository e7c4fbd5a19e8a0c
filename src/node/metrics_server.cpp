#include "node/metrics_server.hpp"

#include <vector>

namespace tally {

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive, bool head, std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http::reason_phrase(status)) +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

MetricsServer::MetricsServer(Env& env, std::function<std::string()> render, NodeStats& stats,
                             Logger log, http::Limits limits)
    : env_(env), render_(std::move(render)), stats_(stats), log_(std::move(log)), limits_(limits) {}

Status MetricsServer::start(const HostPort& addr) {
  Status s = env_.listen_stream(addr, this);
  if (s.ok()) {
    TALLY_LOG(log_, kInfo) << "metrics (Prometheus) on http://" << addr.to_string() << "/metrics";
  }
  return s;
}

void MetricsServer::stop() {
  std::vector<ConnId> ids;
  for (const auto& [id, parser] : clients_) ids.push_back(id);
  for (ConnId id : ids) env_.close(id, Status::Aborted("node shutting down"));
}

void MetricsServer::on_accept(ConnId conn) { clients_.emplace(conn, http::RequestParser(limits_)); }

std::string MetricsServer::answer(const http::Request& r) {
  const bool head = r.method == "HEAD";
  if (r.path() != "/metrics") {
    stats_.add(Counter::kHttpRefused);
    return http_response(404, "text/plain; charset=utf-8",
                         "no such page: this door serves /metrics only\n", r.keep_alive, head);
  }
  if (r.method != "GET" && !head) {
    stats_.add(Counter::kHttpRefused);
    return http_response(405, "text/plain; charset=utf-8",
                         "method " + r.method + " not allowed: use GET\n", r.keep_alive, false,
                         "Allow: GET, HEAD\r\n");
  }
  stats_.add(Counter::kMetricsScrapes);
  return http_response(200, kContentType, render_(), r.keep_alive, head);
}

void MetricsServer::on_data(ConnId conn, std::string_view bytes) {
  auto it = clients_.find(conn);
  if (it == clients_.end()) return;
  http::RequestParser& parser = it->second;
  parser.feed(bytes);
  std::string out;  // pipelined requests answered in one write
  http::Request request;
  bool close = false;
  Status why;
  while (!close) {
    auto n = parser.next(&request);
    if (n == http::RequestParser::Next::kNeedMore) break;
    if (n == http::RequestParser::Next::kError) {
      const http::Error& e = parser.error();
      stats_.add(Counter::kHttpRefused);
      TALLY_LOG(log_, kInfo) << "metrics connection " << conn << " from "
                             << env_.remote_address(conn) << ": " << e.status << " " << e.reason;
      out += http_response(e.status, "text/plain; charset=utf-8", e.reason + "\n", false);
      why = Status::ProtocolError("HTTP " + std::to_string(e.status) + ": " + e.reason);
      close = true;
      break;
    }
    out += answer(request);
    close = !request.keep_alive;
  }
  if (!out.empty()) env_.send_raw(conn, std::move(out));
  if (close) env_.close(conn, why);
}

size_t MetricsServer::unparsed_bytes(ConnId conn) const {
  auto it = clients_.find(conn);
  return it == clients_.end() ? 0 : it->second.buffered();
}

void MetricsServer::on_closed(ConnId conn, const Status&) { clients_.erase(conn); }

}  // namespace tally
