// Real tallyd processes, each in its own network namespace (fault_net.hpp),
// for the fault suite: partitions between chosen nodes, pauses, kill -9 and
// restarts, a clock running ahead, all from outside, while the test's
// clients stay in this process's namespace and reach every node.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tally/status.hpp"
#include "testing/cluster_harness.hpp"
#include "testing/fault_net.hpp"

namespace tally::clustertest {

class FaultCluster {
 public:
  struct Options {
    int nodes = 5;
    std::string durability = "buffered";  // survives kill -9, and spares the shared disk
    std::string extra;                    // more TOML, as write_config takes it
  };
  // The namespaces and a config naming each node's own address (not started).
  // Errors: kUnavailable from FaultNet::create when this machine cannot.
  static Result<std::unique_ptr<FaultCluster>> create(const Options& options);

  // Starts every node, then waits until each sees every other up and knows
  // a metadata leader. Errors name the node and what it showed.
  Status start();

  int size() const { return static_cast<int>(nodes.size()); }
  std::string endpoint(int node) const { return nodes.at(node)->endpoint(); }
  std::string endpoints() const;  // every node's, comma-separated
  const std::string& host(int node) const { return net->address(node); }
  static constexpr int kPort = 7400;
  static constexpr int kRespPort = 6400;
  // "n3" -> 2; -1 for a name not in the cluster.
  int index_of(const std::string& name) const;
  const std::string& name(int node) const { return specs.at(node).id; }

  // Makes `node`'s wall clock run `ms` ahead (negative: behind), through an
  // authenticated FaultRequest; it plays no other fault afterwards.
  Status set_clock_offset(int node, int64_t ms);

  // Waits until every node in `observers` shows `peer` up (or down).
  Status wait_peer(const std::vector<int>& observers, int peer, bool up,
                   std::chrono::milliseconds within = std::chrono::milliseconds(10000));

  std::unique_ptr<FaultNet> net;
  TempDir dir;
  std::vector<NodeSpec> specs;
  std::string config;
  std::vector<std::unique_ptr<TallydProcess>> nodes;

 private:
  FaultCluster() = default;
};

// What every replica of each key holds: for each key, the values (live
// siblings) found on its replicas, each replica's copy, read with
// Client::get_replica. `converged` is true when every replica of every key
// answered and holds the same values.
struct ReplicaState {
  std::map<std::string, std::vector<std::string>> values;  // the union over replicas
  bool converged = false;
  std::string why_not;  // the first key whose replicas disagree, or an error
};
ReplicaState read_replicas(Client& client, const std::vector<std::string>& keys, const std::string& keyspace = "");

}  // namespace tally::clustertest
