// The engine under both client faces (include/tally/client.hpp): one I/O
// thread that owns every socket, a pool of pipelined connections per node,
// token-aware routing from the cluster map it fetches, deadlines, and the
// retry rules. Callers on any thread submit requests; their callbacks run on
// the I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/address.hpp"
#include "meta/cluster_map.hpp"
#include "net/frame.hpp"
#include "net/messages.hpp"
#include "ring/ring.hpp"
#include "tally/client.hpp"

namespace tally::client {

using Clock = std::chrono::steady_clock;

struct Request {
  wire::Body body;
  // May it be sent again after it may have reached a node? (Reads, deletes.)
  bool idempotent = false;
  // Does a node's kUnavailable answer (it did not run the request) send it
  // on to the next node? Metadata requests leave that to their caller.
  bool retry_unavailable = true;
  // Token-aware routing: the key's keyspace and key (empty key: none).
  std::string keyspace;
  std::string key;
  // Send to this node and no other.
  std::optional<HostPort> target;
  Clock::time_point deadline;
  std::function<void(Result<wire::Message>)> done;
};

class Engine {
 public:
  // With a `secret` (the cluster secret's bytes), every connection proves it
  // before it carries a request (common/auth.hpp).
  Engine(ClientOptions options, std::vector<HostPort> endpoints, std::string secret = {});
  ~Engine();  // fails what is in flight with kAborted
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Thread-safe; `done` runs on the I/O thread, exactly once.
  void submit(Request request);
  size_t in_flight() const { return in_flight_.load(); }
  const ClientOptions& options() const { return options_; }

 private:
  struct Conn;
  struct Pool;
  struct Pending;

  void run();
  void wake();
  void dispatch(std::unique_ptr<Pending> p);
  // Where a request goes next: its target, a replica of its key, or an endpoint.
  std::optional<HostPort> route(const Pending& p);
  Conn* conn_to(const HostPort& addr, std::string* error);
  // Starts connecting; the reason when it cannot even start, else "".
  std::string open(Conn& c);
  void on_writable(Conn& c);
  void on_readable(Conn& c);
  void close_conn(Conn& c, const Status& why);
  void on_reply(wire::Message msg);
  // The node's answer to our hello: on a proof that holds, our proof and the
  // requests held back go out; otherwise the connection closes.
  void on_handshake_reply(Conn& c, const wire::Message& msg);
  void retry_or_fail(std::unique_ptr<Pending> p, const Status& why, bool may_have_run);
  void finish(std::unique_ptr<Pending> p, Result<wire::Message> result);
  void expire(Clock::time_point now);
  void refresh_ring();
  void take_map(const meta::ClusterMap& map);

  ClientOptions options_;
  std::vector<HostPort> endpoints_;
  std::string secret_;
  std::thread thread_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> in_flight_{0};

  std::mutex mu_;  // guards queue_
  std::vector<std::unique_ptr<Pending>> queue_;

  // I/O thread only, from here on.
  std::thread::id io_thread_;
  std::vector<std::unique_ptr<Pending>> local_;  // submitted by callbacks on the I/O thread
  std::map<std::string, std::unique_ptr<Pool>> pools_;  // by "host:port"
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;  // sent, by request id
  uint64_t next_id_ = 1;
  size_t next_endpoint_ = 0;
  uint64_t spread_ = 0;  // rotates the replica a request goes to
  // The cluster map's routing view.
  meta::ClusterMap map_;
  ring::Ring ring_;
  bool have_ring_ = false;
  std::unordered_map<ring::NodeId, HostPort> address_of_;
  bool refreshing_ = false;
  Clock::time_point next_refresh_{};
};

}  // namespace tally::client
