// The one seam between a node and the world (docs/architecture.md, "The Env seam").
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

// What a raw byte-stream listener tells its owner (Env::listen_stream): the
// bytes exactly as TCP delivered them, cut wherever the reads fell. Parsing,
// and any limit on what a connection may leave unparsed, is the handler's job.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // A client connected to the stream listener.
  virtual void on_accept(ConnId conn) = 0;
  // Some bytes arrived: one read's worth, never empty, valid only during the
  // call (copy what is kept).
  virtual void on_data(ConnId conn, std::string_view bytes) = 0;
  // The connection is gone (closed by either side, reset). No more bytes will
  // arrive on it and sends to it are dropped.
  virtual void on_closed(ConnId conn, const Status& why) = 0;
  // Bytes the handler holds of `conn`'s input that do not form a whole
  // request yet: what the env's limits on unfinished input count.
  virtual size_t unparsed_bytes(ConnId) const { return 0; }
};

class Env {
 public:
  virtual ~Env() = default;

  // ---- clock ----
  // Monotonic microseconds since an arbitrary start; never goes backwards.
  virtual uint64_t now_us() = 0;
  // Wall-clock milliseconds since the Unix epoch (may jump; used for HLC tags).
  virtual uint64_t wall_ms() = 0;
  // Fault injection only (a node started with it, wire::FaultRequest): from
  // now on wall_ms() reads `ms` off the real clock, as a machine whose clock
  // runs ahead (positive) or behind would. now_us() is not affected.
  virtual void set_clock_offset_ms(int64_t ms) = 0;

  // ---- timers and deferred work ----
  virtual TimerId set_timer(uint64_t delay_us, std::function<void()> fn) = 0;
  virtual void cancel_timer(TimerId id) = 0;
  // Runs `fn` on this loop after the current event and every other event of
  // this loop turn: the hook for group commit and write coalescing.
  virtual void defer(std::function<void()> fn) = 0;

  // ---- network ----
  // Connections a node accepts are bounded (config Limits, docs/security.md):
  // past max_connections new ones are closed at once and never reported;
  // one idle too long, or with a frame (a RESP command) unfinished too long,
  // is closed; one whose replies pile up unread is no longer read, and is
  // closed past output_limit_mb; past the node's input budget, connections
  // holding unfinished frames wait for TCP instead of growing our memory.
  //
  // Starts accepting on `addr` and routes every event to `handler`. Errors:
  // the address is taken or cannot be bound.
  virtual Status listen(const HostPort& addr, NetworkHandler* handler) = 0;
  // Opens a connection; frames sent before it is established are queued.
  // Failure is reported through on_closed.
  virtual ConnId connect(const HostPort& addr) = 0;
  // Queues a frame payload. Sends to a closed connection are dropped.
  virtual void send(ConnId conn, std::string payload) = 0;
  // Closes a connection; on_closed follows with `why`. A stream connection
  // closes lingering: the bytes already queued are written first and what the
  // peer still sends is dropped until it closes (a few seconds at most), so
  // the last reply, which may say why, reaches it instead of a reset.
  virtual void close(ConnId conn, const Status& why) = 0;

  // ---- raw byte streams (text protocols: RESP) ----
  // Starts accepting on `addr` next to the framed listener: its connections
  // carry bytes without framing and report to `handler`. A node may have
  // several (RESP, metrics), each on its own address and handler. They share the ConnId
  // space with framed connections and are closed with close(). Errors: the
  // address is taken or cannot be bound.
  virtual Status listen_stream(const HostPort& addr, StreamHandler* handler) = 0;
  // Queues bytes on a stream connection as they are, without a length header.
  // Sends to a closed connection are dropped; on a framed connection they are
  // dropped with a warning (they would break its framing).
  virtual void send_raw(ConnId conn, std::string bytes) = 0;
  // Flow control for a connection: while paused, nothing is read from the
  // socket (and no more frames already read are handed over), so a client
  // that sends faster than the node answers is held back by TCP instead of
  // by the node's memory. Pauses do not nest: one resume_reading undoes any
  // number of pause_reading. Unknown and closed connections are ignored (and
  // the simulator ignores framed ones). The env also stops reading on its own
  // while the peer does not take what was sent to it (a client that pipelines
  // requests but never reads the replies); the two pauses are independent.
  virtual void pause_reading(ConnId conn) = 0;
  virtual void resume_reading(ConnId conn) = 0;
  // Who is at the other end of `conn` ("127.0.0.1:51234"), for log lines
  // about refused or misbehaving connections; "unknown" when it is gone.
  virtual std::string remote_address(ConnId conn) = 0;
  // Connections accepted only to be closed at once, over limits.max_connections,
  // since the start (`connections_refused` in status). The simulator refuses none.
  virtual uint64_t connections_refused() const { return 0; }
  // Bytes read from and written to every connection since the start (the
  // simulator counts none).
  virtual uint64_t bytes_received() const { return 0; }
  virtual uint64_t bytes_sent() const { return 0; }

  // ---- disk, randomness, logging ----
  virtual store::Disk& disk() = 0;
  virtual uint64_t random() = 0;
  virtual const Logger& log() = 0;
};

}  // namespace tally
