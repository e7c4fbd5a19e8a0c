#include "node/resp_server.hpp"

#include <algorithm>
#include <vector>

namespace tally {

// One client connection: the session and the bytes it has sent this turn.
class RespServer::Client final : public RespConnection {
 public:
  Client(RespServer& server, ConnId id, RespSessionOptions options)
      : server_(server), id_(id), session_(server.backend_, *this, std::move(options)) {}

  RespSession& session() { return session_; }
  const RespSession& session() const { return session_; }

  // RespConnection
  void send(std::string bytes) override {
    if (out_.empty()) {
      out_ = std::move(bytes);
    } else {
      out_ += bytes;
    }
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    server_.env_.defer([server = &server_, alive = server_.alive_, id = id_] {
      if (!*alive) return;
      auto it = server->clients_.find(id);
      if (it != server->clients_.end()) it->second->flush();
    });
  }

  void close(const Status& why) override {
    flush();
    if (!why.ok()) {
      TALLY_LOG(server_.log_, kWarn)
          << "closing RESP connection " << id_ << ": " << why.to_string();
    }
    server_.env_.close(id_, why);
  }

  void pause_reading() override { server_.env_.pause_reading(id_); }
  void resume_reading() override { server_.env_.resume_reading(id_); }

  void flush() {
    flush_scheduled_ = false;
    if (out_.empty()) return;
    server_.env_.send_raw(id_, std::move(out_));
    out_.clear();
  }

 private:
  RespServer& server_;
  ConnId id_;
  std::string out_;
  bool flush_scheduled_ = false;
  RespSession session_;  // last: it is handed *this
};

RespServer::RespServer(Env& env, RespBackend& backend, RespSessionOptions options, Logger log)
    : env_(env), backend_(backend), options_(std::move(options)), log_(std::move(log)) {}

RespServer::~RespServer() { *alive_ = false; }

resp::Limits RespServer::limits_for(const Limits& node) {
  resp::Limits l;
  l.max_bulk_bytes = std::max(node.max_value_bytes, node.max_key_bytes);
  // Room for one largest argument and its framing, whatever the frame limit.
  l.max_buffered_bytes = std::max<size_t>(node.max_frame_bytes, l.max_bulk_bytes + 64 * 1024);
  return l;
}

Status RespServer::start(const HostPort& addr) {
  Status s = env_.listen_stream(addr, this);
  if (s.ok()) {
    TALLY_LOG(log_, kInfo) << "RESP (Redis protocol) on " << addr.to_string();
  }
  return s;
}

void RespServer::stop() {
  std::vector<ConnId> ids;
  for (const auto& [id, c] : clients_) ids.push_back(id);
  for (ConnId id : ids) env_.close(id, Status::Aborted("node shutting down"));
}

void RespServer::on_accept(ConnId conn) {
  RespSessionOptions o = options_;
  o.client_id = conn;
  clients_[conn] = std::make_unique<Client>(*this, conn, std::move(o));
  TALLY_LOG(log_, kDebug) << "RESP connection " << conn << " opened";
}

void RespServer::on_data(ConnId conn, std::string_view bytes) {
  auto it = clients_.find(conn);
  if (it != clients_.end()) it->second->session().on_data(bytes);
}

size_t RespServer::unparsed_bytes(ConnId conn) const {
  auto it = clients_.find(conn);
  return it == clients_.end() ? 0 : it->second->session().unparsed_bytes();
}

void RespServer::on_closed(ConnId conn, const Status& why) {
  // Also called for connections that failed before on_accept: erase is a no-op then.
  if (clients_.erase(conn)) {
    TALLY_LOG(log_, kDebug) << "RESP connection " << conn << " closed: " << why.to_string();
  }
}

}  // namespace tally
