// tallyd: one tally node.
//
//   tallyd --config conf/local-cluster.toml --node n1
//
// Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 runtime failure (cannot bind,
// cannot open the data folder), 2 bad command line or config.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/config.hpp"
#include "node/node.hpp"
#include "node/uv_env.hpp"
#include "tally/version.hpp"

int main(int argc, char** argv) {
  using namespace tally;
  CLI::App app{"tallyd: a node of tally, a leaderless quorum key-value store"};
  app.set_version_flag("--version", "tallyd " + std::string(kVersion));
  std::string config_path, node_id, log_level;
  app.add_option("-c,--config", config_path, "the cluster's TOML config file")->required();
  app.add_option("-n,--node", node_id,
                 "this node's id in the config (may be left out when the file lists one node)");
  app.add_option("--log-level", log_level, "debug, info, warn or error (overrides log.level)");
  std::string join;
  app.add_option("--join", join,
                 "join the running cluster that the node at HOST:PORT belongs to, instead of founding one "
                 "from the config (this node's own entry in the config gives its address, zone and data)")
      ->type_name("HOST:PORT");
  bool insecure = false;
  app.add_flag("--insecure", insecure,
               "run a cluster without a secret: any connection may then speak as a peer (docs/security.md)");
  bool fault_injection = false;
  app.add_flag("--enable-fault-injection", fault_injection,
               "accept fault requests (delays, silence) from authenticated connections: tests and tally-bench");
  bool list_nodes = false;
  app.add_flag("--list-nodes", list_nodes,
               "print the config's nodes as `id listen data_dir` lines and exit (for scripts)");
  app.footer(
      "Exit codes: 0 stopped cleanly by SIGTERM or SIGINT; 1 runtime failure (cannot bind,\n"
      "cannot open the data folder); 2 bad command line or config.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto cfg = load_config(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "tallyd: %s\n", cfg.status().message().c_str());
    return 2;
  }
  if (list_nodes) {
    for (const auto& n : cfg->nodes) {
      std::printf("%s %s %s\n", n.id.c_str(), n.listen.to_string().c_str(), n.data_dir.c_str());
    }
    return 0;
  }
  if (node_id.empty()) {
    if (cfg->nodes.size() != 1) {
      std::fprintf(stderr, "tallyd: %s lists %zu nodes: say which one this is with --node\n",
                   config_path.c_str(), cfg->nodes.size());
      return 2;
    }
    node_id = cfg->nodes.front().id;
  }
  auto self = cfg->node(node_id);
  if (!self.ok()) {
    std::fprintf(stderr, "tallyd: %s\n", self.status().message().c_str());
    return 2;
  }
  LogLevel level = cfg->log_level;
  if (!log_level.empty()) {
    auto l = parse_log_level(log_level);
    if (!l) {
      std::fprintf(stderr, "tallyd: --log-level must be debug, info, warn or error, not '%s'\n",
                   log_level.c_str());
      return 2;
    }
    level = *l;
  }

  const bool cluster = cfg->nodes.size() > 1 || !join.empty();
  // A node's listen address is also what its peers and clients are told
  // (the cluster map carries it): a wildcard would send them to themselves.
  for (const auto& n : cfg->nodes) {
    if (cluster && (n.listen.host == "0.0.0.0" || n.listen.host == "::")) {
      std::fprintf(stderr,
                   "tallyd: %s: node %s listens on %s, but peers and clients connect to the address given "
                   "there: name this host's own address on their network, not a wildcard\n",
                   config_path.c_str(), n.id.c_str(), n.listen.to_string().c_str());
      return 2;
    }
  }
  if (cluster && cfg->secret.empty() && !insecure) {
    std::fprintf(stderr,
                 "tallyd: %s has no [cluster] secret_file: without one any connection can speak for a peer. "
                 "Create one (head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE) and name it in the "
                 "config, or start with --insecure\n",
                 config_path.c_str());
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);  // a peer vanishing mid-write is an error value, not a signal
  Logger log("tallyd", level);
  auto env = UvEnv::create(self->data_dir, cfg->limits, log);
  if (!env.ok()) {
    std::fprintf(stderr, "tallyd: node %s: %s\n", node_id.c_str(), env.status().to_string().c_str());
    return 1;
  }
  if (!join.empty()) {
    auto addr = parse_host_port(join);
    if (!addr.ok()) {
      std::fprintf(stderr, "tallyd: --join: %s\n", addr.status().message().c_str());
      return 2;
    }
  }
  if (cfg->secret.empty() && cluster) {
    TALLY_LOG(log, kWarn) << "running --insecure, without a cluster secret: any connection can send what only "
                             "peers should (replica writes, Raft, fault injection)";
  }
  Node node(**env, *cfg, *self, NodeTimings{}, join, NodeFeatures{fault_injection});
  Status s = node.start();
  if (!s.ok()) {
    std::fprintf(stderr, "tallyd: node %s: %s\n", node_id.c_str(), s.to_string().c_str());
    return 1;
  }
  UvEnv* e = env->get();
  auto shutdown = [&node, e, &log] {
    TALLY_LOG(log, kInfo) << "stopping";
    node.stop([e] { e->stop(); });
  };
  e->on_signal(SIGTERM, shutdown);
  e->on_signal(SIGINT, shutdown);
  e->run();
  TALLY_LOG(log, kInfo) << "stopped";
  return 0;
}
