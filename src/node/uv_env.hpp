// The production Env: one libuv loop, TCP, libuv timers, LevelDB on libuv's
// worker threads. Nothing here decides anything; it only carries events
// between the world and the node.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.hpp"
#include "net/frame.hpp"
#include "node/env.hpp"
#include "raft/random.hpp"
#include "store/leveldb_engine.hpp"

namespace tally {

class UvEnv final : public Env {
 public:
  // Opens LevelDB in `data_dir`. Errors: the folder cannot be created or the
  // database cannot be opened (another tallyd holds its lock, corruption).
  static Result<std::unique_ptr<UvEnv>> create(const std::string& data_dir, const Limits& limits,
                                               Logger log);
  ~UvEnv() override;

  uv_loop_t* loop() { return loop_.get(); }
  // Runs the loop until stop() and until every handle is closed.
  void run();
  // Closes the listeners, every connection and timer; run() then returns.
  void stop();
  // Calls `fn` on the loop when `signum` arrives (SIGTERM, SIGINT).
  void on_signal(int signum, std::function<void()> fn);

  // Env
  uint64_t now_us() override;
  uint64_t wall_ms() override;
  void set_clock_offset_ms(int64_t ms) override { clock_offset_ms_ = ms; }
  TimerId set_timer(uint64_t delay_us, std::function<void()> fn) override;
  void cancel_timer(TimerId id) override;
  void defer(std::function<void()> fn) override;
  Status listen(const HostPort& addr, NetworkHandler* handler) override;
  ConnId connect(const HostPort& addr) override;
  void send(ConnId conn, std::string payload) override;
  void close(ConnId conn, const Status& why) override;
  Status listen_stream(const HostPort& addr, StreamHandler* handler) override;
  void send_raw(ConnId conn, std::string bytes) override;
  void pause_reading(ConnId conn) override;
  void resume_reading(ConnId conn) override;
  std::string remote_address(ConnId conn) override;
  uint64_t connections_refused() const override { return refused_; }
  uint64_t bytes_received() const override { return bytes_received_; }
  uint64_t bytes_sent() const override { return bytes_sent_; }
  store::Disk& disk() override;
  uint64_t random() override;
  const Logger& log() override { return log_; }

 private:
  struct Conn;
  struct WriteReq;
  class UvDisk;

  UvEnv(std::unique_ptr<store::LevelDbEngine> engine, const std::string& data_dir, const Limits& limits,
        Logger log);
  Conn* find(ConnId id);
  Conn* new_conn();
  // Binds and listens on `addr` into *out (listener_, or one of
  // stream_listeners_, which decides whether its connections are framed or
  // raw streams).
  Status start_listener(const HostPort& addr, uv_tcp_t** out);
  // `stream`: the handler of the stream listener `server`; null for the framed one.
  void on_connection(uv_stream_t* server, StreamHandler* stream);
  StreamHandler* stream_handler_of(uv_stream_t* server) const;
  // Reads from the socket unless the handler or a full write queue paused it.
  void update_reading(Conn* c);
  void on_read(Conn* c, ssize_t nread, const uv_buf_t* buf);
  // Hands the complete frames read on a framed connection to the handler,
  // until it pauses the connection.
  void hand_over_frames(ConnId id);
  void gather(Conn* c, std::string_view payload);
  void write_bytes(Conn* c, std::string bytes);
  void flush(Conn* c);
  void flush_frames();
  void keep_turning();  // run the check phase this turn (the idle handle)
  void write_raw(Conn* c, std::string bytes);
  void submit_write(Conn* c, WriteReq* w, uv_buf_t* bufs, unsigned nbufs);
  void on_written(Conn* c);
  // Marks `c` closing; with `linger`, first lets its last bytes reach a peer
  // that is still there (stream connections; see close()).
  void close_conn(Conn* c, const Status& why, bool linger);
  // uv_close and, from its callback, on_closed; idempotent.
  void finish_close(Conn* c);
  void start_connect(Conn* c, const sockaddr* addr);
  void run_deferred();

  // ---- limits on accepted connections (docs/security.md, "Limits") ----
  // Records how much unfinished input `c` holds after a read, against the
  // node-wide budget; pauses `c` past the budget, resumes the paused below it.
  void account_input(Conn* c, size_t held);
  // Pauses reading an accepted connection whose replies pile up unread;
  // closes it past the hard limit. False when it was closed.
  bool check_output(Conn* c);
  // Every second: closes idle connections and unfinished frames past their
  // deadline; logs the connections refused since the last log line.
  void sweep();
  void refuse_connection(uv_stream_t* server);

  std::unique_ptr<uv_loop_t> loop_;
  Limits limits_;
  Logger log_;
  SplitMix64 rng_;  // seeded from std::random_device: each process draws its own
  std::unique_ptr<UvDisk> disk_;
  NetworkHandler* handler_ = nullptr;

  uv_tcp_t* listener_ = nullptr;
  // Raw byte-stream listeners (RESP, metrics), each with its handler.
  std::vector<std::pair<uv_tcp_t*, StreamHandler*>> stream_listeners_;
  std::unordered_map<ConnId, std::unique_ptr<Conn>> conns_;
  ConnId next_conn_ = 1;
  // Timers: one libuv timer, armed for the earliest deadline of a queue, so
  // setting and cancelling one (a few times per request) costs a map
  // operation rather than a libuv handle opened and closed.
  void arm_timer();
  void fire_timers();
  uv_timer_t timer_handle_;
  std::map<std::pair<uint64_t, TimerId>, std::function<void()>> timer_queue_;  // by (due_us, id)
  std::unordered_map<TimerId, uint64_t> timer_due_;
  uint64_t armed_due_ = UINT64_MAX;
  TimerId next_timer_ = 1;

  uv_check_t check_;
  uv_idle_t idle_;  // keeps the loop from blocking in poll while work is deferred
  std::vector<std::function<void()>> deferred_;
  // Framed connections with frames gathered this loop turn, written in one
  // go at its end (flush_frames): one write call per connection per turn
  // instead of one per message.
  std::vector<ConnId> unflushed_;
  std::vector<uv_signal_t*> signals_;
  std::vector<std::function<void()>> signal_fns_;
  bool stopping_ = false;
  std::vector<char> read_buf_;

  uint32_t max_connections_ = 0;  // limits_.max_connections, or what the fd limit allows
  size_t accepted_open_ = 0;      // accepted connections not yet closed
  uint64_t refused_ = 0;          // connections refused at the limit, ever
  uint64_t bytes_received_ = 0;   // read from every connection, ever
  uint64_t bytes_sent_ = 0;       // handed to every connection's socket, ever
  uint64_t refused_logged_ = 0;   // of which reported in a log line
  int64_t clock_offset_ms_ = 0;   // set_clock_offset_ms (fault injection)
  uint64_t refusal_logged_us_ = 0;
  size_t input_held_ = 0;         // unfinished input of every connection
  std::vector<ConnId> input_paused_;
  TimerId sweep_timer_ = 0;
};

}  // namespace tally
