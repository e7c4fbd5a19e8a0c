// tally/client.hpp — the client library: what a program embedding tally uses.
//
//   auto client = tally::Client::connect({.endpoints = {"127.0.0.1:7401"}});
//   if (!client.ok()) { ... client.status().to_string() ... }
//   auto ctx = (*client)->put("user:42", "alice", {.w = 2});
//   auto got = (*client)->get("user:42", {.r = 2});
//   for (const auto& v : got->values) ...   // concurrent siblings, if any
//   (*client)->put("user:42", "bob", {.context = got->context});  // supersedes what was read
//
// Errors are tally::Status values with a code and a message that says what
// went wrong and where (`quorum not reached: ...`, `unavailable: cannot
// connect to 127.0.0.1:7401: connection refused`). The library never throws.
//
// Thread safety: a Client is not thread-safe; give each thread its own (they
// are cheap: one TCP connection each). Different Clients share nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/status.hpp"

namespace tally {

struct ClientOptions {
  // "host:port" of one or more nodes. Requests go to the first reachable one;
  // when it cannot be reached the client moves on to the next.
  std::vector<std::string> endpoints;
  std::string keyspace = "default";   // used when a call does not name one
  uint32_t connect_timeout_ms = 1000;
  // How long the client waits for a reply, on top of the server's own
  // per-request timeout, before it gives up with kTimeout.
  uint32_t request_timeout_ms = 5000;
};

struct WriteOptions {
  std::string keyspace;     // empty: ClientOptions::keyspace
  std::optional<int> w;     // replicas that must acknowledge (1..N); unset: the keyspace's W
  uint32_t timeout_ms = 0;  // the server's quorum timeout; 0: the server default
  bool sloppy = false;      // may fallback nodes holding hints count towards W?
  std::string context;      // from an earlier get: the write supersedes what that get saw
};

struct ReadOptions {
  std::string keyspace;
  std::optional<int> r;     // replicas that must answer (1..N); unset: the keyspace's R
  // Repair stale replicas before answering (monotonic quorum reads) instead of
  // in the background.
  bool blocking_repair = false;
  uint32_t timeout_ms = 0;
};

struct GetResult {
  // The concurrent values (siblings) of the key; empty when the key does not
  // exist or was deleted. More than one means writers raced: resolve them and
  // put the result with `context`.
  std::vector<std::string> values;
  // Opaque; pass it to put or del to supersede exactly what this read saw.
  std::string context;
  bool found() const { return !values.empty(); }
};

struct NodeStatus {
  std::string endpoint;                                     // who answered
  std::vector<std::pair<std::string, std::string>> fields;  // name, value (node, uptime_ms, ...)
  // The value of field `name`, or "" when absent.
  std::string field(std::string_view name) const;
};

class Client {
 public:
  // Checks the options and returns a client. It connects lazily, on the first
  // request. Errors: kInvalidArgument for no endpoints or a malformed one.
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  virtual ~Client() = default;

  // Writes `value` under `key`. Returns the context of the new version.
  // Errors: kInvalidArgument (bad W, empty key), kTooLarge, kUnknownKeyspace,
  // kQuorumNotReached, kTimeout, kUnavailable (no endpoint reachable: the write
  // was not sent), kIoError.
  virtual Result<std::string> put(std::string_view key, std::string_view value,
                                  const WriteOptions& options = {}) = 0;

  // Reads `key`: all siblings and the context. A missing key is not an error:
  // it returns a GetResult with no values.
  virtual Result<GetResult> get(std::string_view key, const ReadOptions& options = {}) = 0;

  // Deletes `key`: writes a tombstone that supersedes what `context` saw, or,
  // without a context, every version the coordinating node holds. A write
  // concurrent with the delete survives it as a sibling.
  virtual Status del(std::string_view key, const WriteOptions& options = {}) = 0;

  // The status of the node at `endpoint` (one of the client's endpoints, or any
  // "host:port"); empty: the node the client is talking to.
  virtual Result<NodeStatus> status(std::string_view endpoint = {}) = 0;

  // Round-trips a ping to the current node: the node's id.
  virtual Result<std::string> ping() = 0;
};

}  // namespace tally
