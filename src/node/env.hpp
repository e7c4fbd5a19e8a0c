// The one seam between a node and the world (DESIGN.md §1).
//
// A node is its state machines plus an Env: clock, timers, network, disk,
// randomness and logging. Production runs on UvEnv (libuv + LevelDB); tests
// run many nodes on one SimWorld (virtual time, one seeded PRNG, a network and
// disks that fail on purpose). Code above this interface cannot tell which.
//
// Threading: everything here is called on, and calls back on, the node's one
// event-loop thread. No callback ever runs inside the call that registered it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/address.hpp"
#include "common/log.hpp"
#include "store/disk.hpp"
#include "tally/status.hpp"

namespace tally {

using TimerId = uint64_t;  // 0 is never a valid timer
using ConnId = uint64_t;   // 0 is never a valid connection

// What the network tells the node. Payloads are whole frames without their
// length header: framing and size limits are the transport's job.
class NetworkHandler {
 public:
  virtual ~NetworkHandler() = default;
  // A peer or client connected to our listener.
  virtual void on_accept(ConnId conn) = 0;
  // A connection we opened with Env::connect is established.
  virtual void on_connected(ConnId conn) = 0;
  virtual void on_frame(ConnId conn, std::string_view payload) = 0;
  // The connection is gone (closed by either side, reset, a framing error).
  // No more frames will arrive on it and sends to it are dropped.
  virtual void on_closed(ConnId conn, const Status& why) = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // ---- clock ----
  // Monotonic microseconds since an arbitrary start; never goes backwards.
  virtual uint64_t now_us() = 0;
  // Wall-clock milliseconds since the Unix epoch (may jump; used for HLC tags).
  virtual uint64_t wall_ms() = 0;

  // ---- timers and deferred work ----
  virtual TimerId set_timer(uint64_t delay_us, std::function<void()> fn) = 0;
  virtual void cancel_timer(TimerId id) = 0;
  // Runs `fn` on this loop after the current event and every other event of
  // this loop turn: the hook for group commit and write coalescing.
  virtual void defer(std::function<void()> fn) = 0;

  // ---- network ----
  // Starts accepting on `addr` and routes every event to `handler`. Errors:
  // the address is taken or cannot be bound.
  virtual Status listen(const HostPort& addr, NetworkHandler* handler) = 0;
  // Opens a connection; frames sent before it is established are queued.
  // Failure is reported through on_closed.
  virtual ConnId connect(const HostPort& addr) = 0;
  // Queues a frame payload. Sends to a closed connection are dropped.
  virtual void send(ConnId conn, std::string payload) = 0;
  // Closes a connection; on_closed follows with `why`.
  virtual void close(ConnId conn, const Status& why) = 0;

  // ---- disk, randomness, logging ----
  virtual store::Disk& disk() = 0;
  virtual uint64_t random() = 0;
  virtual const Logger& log() = 0;
};

}  // namespace tally
