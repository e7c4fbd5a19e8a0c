// Real tallyd processes on loopback, for the cluster tests and meta_bench:
// what needs the kernel (kill -9, SIGTERM, raw sockets, the CLI binary).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tally/client.hpp"
#include "tally/status.hpp"
#include "testing/temp_dir.hpp"

namespace tally::clustertest {

// The build folder (BUILD, as set by tests/run.sh; default "build").
std::string build_dir();
using testing::TempDir;  // a fresh folder under /tmp (testing/temp_dir.hpp)
// A loopback port nobody listens on right now, below the ephemeral range
// (so no outgoing connection takes it before the node binds it).
int free_port();

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr, interleaved
};
// Runs a shell command line and captures what it prints.
CommandResult run(const std::string& command_line);

// A client of the library for `endpoints` ("host:port[,host:port...]"),
// holding secret_file() (an administrator's client).
std::unique_ptr<Client> connect_client(const std::string& endpoints);

// A number from the status of the node at `endpoint` (a counter such as
// "tombstones_collected"); nullopt when the status cannot be read or lacks it.
std::optional<uint64_t> status_number(Client& client, const std::string& endpoint, const std::string& name);

// The cluster secret every config write_config writes names: one file for
// the whole process, made on first use. It also sets TALLY_SECRET_FILE to
// it, so that the tally CLI a test runs is an administrator of the cluster.
std::string secret_file();

struct NodeSpec {
  std::string id;
  int port = 0;
  int resp_port = 0;  // the node's RESP listener; 0 for none
  std::string host = "127.0.0.1";  // the address it listens on (its own, in a network namespace)
  std::string zone;                // empty: the default zone
  int metrics_port = 0;            // the node's metrics (HTTP) listener; 0 for none
};

// Writes a cluster config for `nodes` (data under dir/<id>) and returns its
// path. `extra` is added verbatim (more TOML sections; a [cluster] table in it
// is merged with the one written here). The config names secret_file(), so
// peers authenticate.
std::string write_config(const std::string& dir, const std::vector<NodeSpec>& nodes,
                         const std::string& durability = "fsync", const std::string& extra = "");

class TallydProcess {
 public:
  // With `join` ("host:port"), tallyd is started with --join. Every tallyd
  // started here has --enable-fault-injection unless set_flags says otherwise.
  TallydProcess(std::string config, std::string node_id, int port, std::string log_path, std::string join = {});
  ~TallydProcess();  // kills the process if it still runs

  // The flags tallyd gets besides --config, --node and --join (default:
  // --enable-fault-injection). Takes effect at the next start().
  void set_flags(std::vector<std::string> flags) { flags_ = std::move(flags); }
  // Runs tallyd inside network namespace `netns` (`ip netns exec`), listening
  // on `host` (an address of that namespace); endpoint() then names it.
  // Takes effect at the next start().
  void place_in(std::string netns, std::string host) {
    netns_ = std::move(netns);
    host_ = std::move(host);
  }
  // Starts tallyd and waits until it answers a ping. Errors say why, with its log.
  Status start();
  // Waits until the node takes puts (its status' `serving` reads "yes": it
  // has a cluster map and knows the dots it minted before), which a ping
  // does not say. A node whose cluster has no metadata leader yet waits for
  // its peers: start them first. Errors: kTimeout naming what it last said.
  Status wait_serving(std::chrono::milliseconds within = std::chrono::seconds(15));
  void kill9();
  // SIGSTOP and SIGCONT: the process freezes (its sockets stay open, nothing
  // answers) and thaws.
  void pause();
  void resume();
  // Sends SIGTERM and waits; returns the exit code (-1 on timeout).
  int terminate(int timeout_ms = 10000);
  bool running();
  std::string endpoint() const { return host_ + ":" + std::to_string(port_); }
  int port() const { return port_; }
  // The resident set size of the running process, in bytes (0 when it is not running).
  uint64_t rss_bytes() const;
  std::string log() const;
  pid_t pid() const { return pid_; }  // -1 until started

 private:
  std::string config_, node_id_, log_path_, join_;
  std::string netns_;  // empty: this process's own network namespace
  std::string host_ = "127.0.0.1";
  std::vector<std::string> flags_{"--enable-fault-injection"};
  int port_;
  pid_t pid_ = -1;
};

// Any program run in the background (`tally elect`, a client that must be
// paused or killed), its stdout and stderr appended to a file.
class BackgroundProcess {
 public:
  BackgroundProcess(std::vector<std::string> argv, std::string out_path);
  ~BackgroundProcess();  // kills it if it still runs
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  Status start();
  void kill9();
  void pause();   // SIGSTOP
  void resume();  // SIGCONT
  bool running();
  // Waits for it to exit (up to `timeout_ms`): its exit code, -1 on timeout.
  int wait(int timeout_ms);
  std::string output() const;
  pid_t pid() const { return pid_; }

 private:
  std::vector<std::string> argv_;
  std::string out_path_;
  pid_t pid_ = -1;
};

// Nodes n1..nN on loopback ports, from one config written under a temporary
// folder (logs beside it), each a TallydProcess not yet started.
struct LocalCluster {
  struct Options {
    int nodes = 3;
    std::string durability = "fsync";
    std::string extra;  // more TOML, as write_config takes it
    bool resp = false;  // give every node a RESP port too
    bool metrics = false;  // and a metrics port
  };
  explicit LocalCluster(const Options& options);

  // Starts every node, then waits until each serves (wait_serving); the
  // first failure.
  Status start();
  // "127.0.0.1:p1,127.0.0.1:p2,...".
  std::string endpoints() const;

  TempDir dir;
  std::vector<NodeSpec> specs;
  std::string config;
  std::vector<std::unique_ptr<TallydProcess>> nodes;
};

}  // namespace tally::clustertest
