// Real Node objects on simulated hosts, and simulated clients that speak the
// wire protocol to them: the whole request path, minus the kernel.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "common/config.hpp"
#include "net/messages.hpp"
#include "node/node.hpp"
#include "sim/sim_world.hpp"

namespace tally::sim {

class SimCluster {
 public:
  // Adds `nodes` hosts n1..nN (10.0.0.i:7400) to `world` and starts a node on each.
  // `tweak` may adjust the config (hint limits, keyspaces) before the nodes start.
  SimCluster(SimWorld& world, int nodes, Durability durability,
             const std::function<void(ClusterConfig&)>& tweak = nullptr);
  ~SimCluster();

  const ClusterConfig& config() const { return config_; }
  int size() const { return static_cast<int>(hosts_.size()); }
  SimHost& host(int i) { return *hosts_[i]; }
  // The running node on host i, or nullptr while it is down.
  Node* node(int i) { return nodes_[i].get(); }

  // The node dies (see SimHost::crash); its object is destroyed.
  void crash(int i, CrashKind kind);
  // A fresh node starts on host i from what its disk kept.
  void restart(int i);

  // A new host n<size+1> (10.0.0.<size+1>:7400) whose node joins the running
  // cluster through node `through` (as `tallyd --join` does: its config
  // names only itself). Returns its index.
  int add_joiner(int through);
  // Where node i listens.
  const HostPort& listen(int i) const { return own_[i].nodes.front().listen; }

 private:
  SimWorld& world_;
  ClusterConfig config_;
  Result<meta::ClusterMap> initial_map_;  // computed once for every founder
  std::vector<SimHost*> hosts_;
  std::vector<std::unique_ptr<Node>> nodes_;
  // Per host: the config it starts from (a joiner's names only itself, first
  // in `nodes`) and the address it joins through (empty for a founder).
  std::vector<ClusterConfig> own_;
  std::vector<std::string> join_;
};

// A client on its own simulated host: sends requests to one node and calls
// back with the reply, or with kTimeout / kUnavailable.
class SimClient final : public NetworkHandler {
 public:
  using Done = std::function<void(Result<wire::Message>)>;
  SimClient(SimHost& host, HostPort server, uint64_t timeout_us);

  void request(wire::Body body, Done done);
  SimHost& host() { return host_; }

  // NetworkHandler
  void on_accept(ConnId) override {}
  void on_connected(ConnId) override {}
  void on_frame(ConnId conn, std::string_view payload) override;
  void on_closed(ConnId conn, const Status& why) override;

 private:
  struct Pending {
    Done done;
    TimerId timer;
  };
  void finish(uint64_t id, Result<wire::Message> result);

  SimHost& host_;
  HostPort server_;
  uint64_t timeout_us_;
  ConnId conn_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace tally::sim
