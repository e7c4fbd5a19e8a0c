// A blocking Redis-protocol client with a deadline on every command, for the
// fault suite: one connection, one command at a time, as a plain redis-cli
// user would run them. redis-cli itself waits forever on a silent node; this
// gives up after `timeout`, and that is what makes an outcome "unknown".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tally/status.hpp"

namespace tally::clustertest {

struct RespReply {
  enum class Kind { kSimple, kError, kInteger, kBulk, kNil, kArray };
  Kind kind = Kind::kNil;
  std::string text;  // simple string, error (without its '-') or bulk
  int64_t integer = 0;
  std::vector<RespReply> elements;  // kArray
  bool is_error() const { return kind == Kind::kError; }
};

class RespClient {
 public:
  RespClient(std::string host, int port, std::chrono::milliseconds timeout);
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Sends `args` as one command and waits for its reply (an error reply is a
  // reply, not a failed call). Errors: kTimeout when no whole reply came
  // within the timeout, kUnavailable when the connection could not be made
  // or was lost, kProtocolError for bytes that are not RESP. After any of
  // these the connection is dropped (a late reply would answer the next
  // command) and the next call opens a new one.
  Result<RespReply> command(const std::vector<std::string>& args);
  // A command sent first on every new connection (TALLY.KEYSPACE ks, TALLY.QUORUM
  // R W), so that a reconnect after a timeout keeps the session's settings.
  // An error reply to it fails the command that opened the connection.
  void on_connect(std::vector<std::string> command) { greeting_ = std::move(command); }

 private:
  Status connect_now(std::chrono::steady_clock::time_point deadline);
  Result<RespReply> exchange(const std::vector<std::string>& args, std::chrono::steady_clock::time_point deadline);
  void drop();

  std::string host_;
  int port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string in_;  // bytes read and not yet parsed
  std::vector<std::string> greeting_;
};

}  // namespace tally::clustertest
