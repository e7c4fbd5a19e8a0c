// The deterministic simulator (docs/architecture.md, Principles; after
// FoundationDB and TigerBeetle's VOPR): many hosts in one process, virtual
// time, one seeded PRNG (SplitMix64, raft/random.hpp), a network that drops,
// delays, reorders, duplicates and partitions, and disks that lose what was not
// synced when a host crashes.
//
// Every event runs in (time, sequence) order from one queue, and every
// decision comes from the world's PRNG, so a seed replays the same run byte
// for byte. Each event is folded into a trace hash: two runs with the same
// seed have the same hash, and a failing seed can be replayed to debug it.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/env.hpp"
#include "raft/random.hpp"
#include "sim/sim_disk.hpp"

namespace tally::sim {

class SimWorld;

// The distribution a one-way network latency is drawn from.
enum class LatencyShape : uint8_t {
  kUniform,      // uniform in [min_latency_us, max_latency_us]
  kFixed,        // always mean_latency_us
  kExponential,  // exponential with mean mean_latency_us: mostly quick, a long tail
  kLognormal,    // lognormal with mean mean_latency_us; lognormal_sigma is ln(latency)'s spread
};

// What the network does to messages. Every message, connection set-up and
// close draws its own latency (SimWorld::draw_latency_us), so framed messages
// may overtake each other; streams keep their order.
struct NetworkFaults {
  LatencyShape latency_shape = LatencyShape::kUniform;
  uint64_t min_latency_us = 50;    // kUniform only
  uint64_t max_latency_us = 1000;  // kUniform only
  double mean_latency_us = 500;    // the other shapes
  double lognormal_sigma = 0.5;    // kLognormal
  double drop = 0.0;               // probability a message is lost
  double duplicate = 0.0;          // probability a message is delivered twice
};

enum class CrashKind {
  kProcess,    // the process dies; the OS keeps what it had buffered
  kPowerLoss,  // the machine dies; only what was fsynced survives
};

// One simulated machine, and the Env of whatever node runs on it. It outlives
// the node's crashes: its disk keeps what was synced.
class SimHost final : public Env {
 public:
  SimHost(SimWorld& world, int index, std::string name, HostPort addr);

  const std::string& name() const { return name_; }
  const HostPort& addr() const { return addr_; }
  int index() const { return index_; }
  bool alive() const { return alive_; }
  uint64_t incarnation() const { return incarnation_; }
  SimDisk& sim_disk() { return disk_; }
  // Shifts this host's wall clock (clock skew), in milliseconds.
  void set_clock_offset_ms(int64_t ms) override { clock_offset_ms_ = ms; }
  // Messages to and from this host are never duplicated (they may still be
  // lost or delayed): a client whose TCP connection delivers each request at
  // most once, where a duplicate would be a second operation it never made.
  void set_no_duplicates(bool on) { no_duplicates_ = on; }

  // The process (or machine) dies: timers, connections and pending work are
  // gone, and the disk forgets what `kind` loses. The node object must be
  // destroyed by whoever owns it; no event will reach it again.
  void crash(CrashKind kind);
  // The host is up again, with an empty process: start a new node on it.
  void restart();

  // Opens a raw byte stream to a stream listener (listen_stream) on some host:
  // the client's end of a text-protocol connection, for tests that play a RESP
  // client. Its events go to `handler`; no on_accept is reported on this end,
  // and bytes sent at once are queued until the stream is up. A listener that
  // is missing or unreachable is reported through on_closed, a while later.
  //
  // Unlike framed connections, a stream is TCP: bytes arrive once and in
  // order, whatever the drop and duplicate rates. A send across a cut resets
  // the connection (both ends see on_closed).
  ConnId connect_stream(const HostPort& addr, StreamHandler* handler);

  // Env
  uint64_t now_us() override;
  uint64_t wall_ms() override;
  TimerId set_timer(uint64_t delay_us, std::function<void()> fn) override;
  void cancel_timer(TimerId id) override;
  void defer(std::function<void()> fn) override;
  Status listen(const HostPort& addr, NetworkHandler* handler) override;
  ConnId connect(const HostPort& addr) override;
  void send(ConnId conn, std::string payload) override;
  void close(ConnId conn, const Status& why) override;
  // Only `addr.host` of this host, on a port other than the framed listener's.
  Status listen_stream(const HostPort& addr, StreamHandler* handler) override;
  void send_raw(ConnId conn, std::string bytes) override;
  void pause_reading(ConnId conn) override;
  void resume_reading(ConnId conn) override;
  // The simulated host at the other end ("n2").
  std::string remote_address(ConnId conn) override;
  // Framed connections this host has open with `other` (one end each).
  size_t links_to(const SimHost& other) const;
  store::Disk& disk() override { return disk_; }
  uint64_t random() override;
  const Logger& log() override { return log_; }

 private:
  friend class SimWorld;
  struct Link {
    SimHost* peer;
    ConnId peer_conn;
    StreamHandler* stream = nullptr;  // null on framed connections
    // Streams only: when the last bytes sent on this link reach the peer.
    // Later bytes (and the close) never overtake them, as on TCP.
    uint64_t arrives_at_us = 0;
    bool paused = false;           // pause_reading on this end
    std::deque<std::string> held;  // bytes that arrived while paused
  };

  // Runs `fn` after `delay_us` if this incarnation of the host is still alive.
  void at(uint64_t delay_us, std::function<void()> fn);
  ConnId new_conn_id() { return next_conn_++; }
  void peer_closed(ConnId conn, const Status& why);
  // Sends bytes down stream link `conn` in order; resets it across a cut.
  void stream_send(ConnId conn, std::string bytes);
  // Bytes of a stream arrive at this end.
  void stream_arrived(ConnId conn, std::string bytes);
  // Hands held bytes to the handler while the link is not paused.
  void drain_held(ConnId conn);

  SimWorld& world_;
  int index_;
  std::string name_;
  HostPort addr_;
  uint64_t mono_start_us_;  // where this host's monotonic clock stood at the world's start
  Logger log_;
  SimDisk disk_;
  bool alive_ = true;
  bool no_duplicates_ = false;
  uint64_t incarnation_ = 0;
  int64_t clock_offset_ms_ = 0;
  NetworkHandler* handler_ = nullptr;
  bool listening_ = false;
  StreamHandler* stream_handler_ = nullptr;  // set while a stream listener is up
  HostPort stream_addr_;
  std::unordered_map<ConnId, Link> links_;
  std::set<TimerId> timers_;
  TimerId next_timer_ = 1;
  ConnId next_conn_ = 1;
};

class SimWorld {
 public:
  explicit SimWorld(uint64_t seed);
  ~SimWorld();

  uint64_t seed() const { return seed_; }
  uint64_t now_us() const { return now_us_; }
  SplitMix64& rng() { return rng_; }
  NetworkFaults& faults() { return faults_; }
  // One latency from faults().latency_shape, in whole microseconds. kUniform
  // takes exactly one draw from rng(), as it always has, so the traces of
  // existing seeds do not change.
  uint64_t draw_latency_us();

  // Adds a machine named `name` reachable at `addr`.
  SimHost& add_host(std::string name, HostPort addr);
  SimHost& host(int index) { return *hosts_[index]; }
  size_t host_count() const { return hosts_.size(); }

  // Runs the next event; false when none is left.
  bool step();
  // Runs every event up to and including time `t_us`, then sets the clock to it.
  void run_until(uint64_t t_us);
  void run_for(uint64_t us) { run_until(now_us_ + us); }

  // Schedules `fn` at now + delay. Events at equal times run in the order scheduled.
  void schedule(uint64_t delay_us, std::function<void()> fn);

  // Messages between the two hosts are dropped (both ways) until healed.
  void cut(int a, int b);
  // Splits the listed hosts into groups that cannot talk across; hosts in no
  // group are not cut off.
  void partition(const std::vector<std::vector<int>>& groups);
  void heal();
  bool reachable(int a, int b) const;

  // Folds an event into the trace hash (and prints it when TALLY_SIM_TRACE is set).
  void trace(std::string_view what);
  uint64_t trace_hash() const;
  uint64_t events_run() const { return events_run_; }

 private:
  friend class SimHost;
  struct Event {
    uint64_t time;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  SimHost* find_listener(const HostPort& addr);
  SimHost* find_stream_listener(const HostPort& addr);
  // Carries one message from `from` to (to, conn), with faults and latency.
  void deliver(SimHost& from, SimHost& to, uint64_t to_incarnation, ConnId conn, std::string payload);

  uint64_t seed_;
  SplitMix64 rng_;
  uint64_t now_us_ = 0;
  uint64_t seq_ = 0;
  uint64_t events_run_ = 0;
  NetworkFaults faults_;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::vector<std::unique_ptr<SimHost>> hosts_;
  std::set<std::pair<int, int>> cut_;
  XXH3_state_t* trace_;
  bool print_trace_ = false;
};

}  // namespace tally::sim
