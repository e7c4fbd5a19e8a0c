// Clients of the fault suite: RESP connections to chosen nodes, each on its
// own thread, writing unique values (blind SETs) to keys only it writes and
// reading them back, every operation recorded in a HistoryRecorder. Plus the
// single recorded SET and GET the scripted scenarios use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "testing/history.hpp"
#include "testing/resp_client.hpp"

namespace tally::clustertest {

// How long a client waits for any reply: longer than a node's own deadline
// for a forwarded write (1.5 s), so that "unknown" means the node went
// silent, not that the client was impatient (testing/history.hpp).
constexpr std::chrono::milliseconds kClientTimeout{3000};
constexpr std::chrono::milliseconds kThink{10};

// One SET, recorded: ok for +OK, failed for an error reply (its text in
// `note`), unknown when no reply came. Returns the op as recorded.
testing::Op recorded_set(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key,
                         const std::string& value);
// One GET, recorded: ok with the value (or nothing), failed, or unknown.
testing::Op recorded_get(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key);

// One compare-and-set on a linearizable keyspace, recorded as OpKind::kCas:
// `SET key value NX` when `expected` is nullopt, else `TALLY.CAS key expected
// value`. A `-TIMEOUT` reply is "outcome unknown" (it may still take effect);
// any other error reply says nothing was written (failed).
testing::Op recorded_cas(RespClient& c, testing::HistoryRecorder& history, int client, const std::string& key,
                         const std::optional<std::string>& expected, const std::string& value);

class Workload {
 public:
  explicit Workload(testing::HistoryRecorder& history) : history_(history) {}
  ~Workload() { stop(); }

  // A client on its own thread against host:port, writing `own_keys` (no
  // other client writes them) and reading them and `also_read`, until stop().
  // `keyspace`: sent as TALLY.KEYSPACE on every connection ("" for default).
  // Each client pauses kThink between operations: a user, not a benchmark,
  // so that the nodes on two shared cores keep up and histories stay small.
  void add_client(int id, const std::string& host, int port, std::vector<std::string> own_keys,
                  std::vector<std::string> also_read, uint64_t seed, const std::string& keyspace = "");
  // A client incrementing counters of a linearizable keyspace: GET a counter
  // (absent: 0), then compare-and-set it one higher (SET NX for the first),
  // every operation recorded.
  void add_counter_client(int id, const std::string& host, int port, std::vector<std::string> counters,
                          uint64_t seed, const std::string& keyspace);
  // Asks every client to stop and waits for them (each finishes the operation
  // it is in, at most kClientTimeout).
  void stop();

 private:
  testing::HistoryRecorder& history_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace tally::clustertest
