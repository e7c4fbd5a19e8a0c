// A tally node: request handlers on top of the record store, talking to the
// world only through its Env (so the very same object runs in tallyd and in
// the simulator).
//
// Today a node serves the keys it is asked for on its own (one replica); the
// quorum data path replaces the handlers' store calls with the coordinator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include "common/config.hpp"
#include "net/codec.hpp"
#include "net/messages.hpp"
#include "node/env.hpp"
#include "quorum/hlc.hpp"
#include "store/record_store.hpp"

namespace tally {

constexpr std::string_view kTallyVersion = "0.1.0";

class Node final : public NetworkHandler {
 public:
  // `self` must be one of `config.nodes`.
  Node(Env& env, ClusterConfig config, NodeEntry self);

  // Binds the listener. Errors: the address cannot be bound.
  Status start();
  // Stops taking requests; `done` runs once every write already accepted has
  // reached the disk (so nothing acknowledged is cut short).
  void stop(std::function<void()> done);

  const NodeEntry& self() const { return self_; }
  const store::RecordStore& store() const { return store_; }

  // NetworkHandler
  void on_accept(ConnId conn) override;
  void on_connected(ConnId conn) override;
  void on_frame(ConnId conn, std::string_view payload) override;
  void on_closed(ConnId conn, const Status& why) override;

 private:
  void handle(ConnId conn, wire::Message msg);
  void handle_ping(ConnId conn, uint64_t id);
  void handle_put(ConnId conn, uint64_t id, wire::PutRequest& req);
  void handle_get(ConnId conn, uint64_t id, wire::GetRequest& req);
  void handle_delete(ConnId conn, uint64_t id, wire::DeleteRequest& req);
  void handle_status(ConnId conn, uint64_t id);

  // Checks keyspace, key, R/W: the problems a request can have before it runs.
  Status validate(const std::string& keyspace, const std::string& key,
                  const wire::RequestOptions& opt) const;
  void reply(ConnId conn, uint64_t id, wire::Body body);
  void reply_error(ConnId conn, uint64_t id, const Status& status);
  void write_started();
  void write_finished();

  Env& env_;
  ClusterConfig config_;
  NodeEntry self_;
  quorum::ReplicaId replica_id_;
  Logger log_;
  store::RecordStore store_;
  quorum::HybridClock clock_;
  net::DecodeLimits decode_limits_;
  std::unordered_set<ConnId> conns_;
  uint64_t started_us_ = 0;
  uint64_t requests_ = 0;
  uint64_t protocol_errors_ = 0;
  int writes_in_flight_ = 0;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace tally
