// Waiting on real processes (the cluster tests, the benchmarks that start
// tallyd): a caller waits for the condition it needs (a node marked down by
// its peers, a replica holding a write, a map applied), polled with a
// deadline, never for a fixed time. A fixed sleep is too short on a
// loaded machine and too long everywhere else; a poll is neither, and its
// deadline turns a condition that never comes into a failure that says which.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tally/status.hpp"

namespace tally::clustertest {

// Polls `pred` every `every` until it returns true or `within` has passed;
// returns its last answer (it is asked once more at the deadline).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = std::chrono::milliseconds(3000),
                std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

// Whether a status' `peers` field ("n2:up n3:down") lists `entry` ("n3:down").
bool peers_field_lists(const std::string& peers, const std::string& entry);

// Waits until the node at each of `observers` ("host:port") shows `peer`
// ("n1") as down (`up` false) or up in the `peers` field of its status: what
// its failure detector believes, and so what its coordinator acts on. Errors:
// kTimeout after `within`, naming each observer that still disagrees and what
// it showed.
Status wait_for_peer_state(const std::vector<std::string>& observers, const std::string& peer, bool up,
                           std::chrono::milliseconds within = std::chrono::milliseconds(10000));

}  // namespace tally::clustertest
