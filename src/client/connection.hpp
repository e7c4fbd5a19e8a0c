// A blocking TCP connection that speaks tally frames, with deadlines. The
// synchronous client's transport; also used by tests that talk to real nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/address.hpp"
#include "net/frame.hpp"
#include "net/messages.hpp"
#include "tally/status.hpp"

namespace tally::client {

using Clock = std::chrono::steady_clock;

class Connection {
 public:
  Connection() = default;
  Connection(Connection&& o) noexcept;
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Connects within `timeout_ms`. Errors: kUnavailable naming the address and why.
  static Result<Connection> open(const HostPort& addr, uint32_t timeout_ms);

  bool is_open() const { return fd_ >= 0; }
  // True when the peer has closed or reset the connection (checked without
  // blocking): an idle pooled connection to a node that died since.
  bool peer_closed() const;
  void close();
  const std::string& peer() const { return peer_; }

  // Writes raw bytes. `wrote_any` tells whether any byte left (a failed request
  // that left nothing may safely go elsewhere).
  Status write_all(std::string_view bytes, Clock::time_point deadline, bool* wrote_any = nullptr);
  // Sends one message as a frame.
  Status send(const wire::Message& msg, Clock::time_point deadline, bool* wrote_any = nullptr);
  // Reads the next message. Errors: kTimeout at the deadline, kUnavailable when
  // the peer closed, kProtocolError for a bad frame.
  Result<wire::Message> receive(Clock::time_point deadline);

 private:
  int fd_ = -1;
  std::string peer_;
  net::FrameReader reader_{256u * 1024 * 1024};
};

}  // namespace tally::client
