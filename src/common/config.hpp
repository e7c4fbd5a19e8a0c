// The one config loader: a TOML file describing the cluster's initial nodes
// and the settings every node shares. A node finds itself in it by id
// (`tallyd --config FILE --node n2`), as etcd does with --initial-cluster.
//
// Every error names the file, the line and the key:
//   conf/tally.toml:12: key 'storage.durability': expected "fsync" or "buffered", got "fast"
// Unknown keys are errors too: a misspelt setting must not be silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/log.hpp"
#include "meta/keyspace.hpp"
#include "tally/status.hpp"

namespace tally {

enum class Durability {
  kFsync,     // a write is acknowledged after fsync (group commit): survives power loss
  kBuffered,  // acknowledged once in the OS page cache: survives a process crash only
};
std::string_view durability_name(Durability d);

// Size limits, checked before anything is allocated (docs/architecture.md, Wire format).
struct Limits {
  uint32_t max_key_bytes = 64 * 1024;
  uint32_t max_value_bytes = 4 * 1024 * 1024;
  uint32_t max_frame_bytes = 16 * 1024 * 1024;
  // What one client may hold of a node (docs/security.md, "Limits"); they
  // apply to the connections a node accepts, wire protocol and RESP alike.
  // Connections open at once; 0: the process's file limit less the files
  // kept for the store and the node's own connections.
  uint32_t max_connections = 0;
  uint32_t idle_timeout_s = 300;   // no byte either way this long: closed (0: never)
  uint32_t frame_timeout_s = 30;   // a frame (or RESP command) begun must end within this (0: no limit)
  uint32_t input_budget_mb = 64;   // unfinished input of all connections together; past it, readers wait
  uint32_t output_pause_kb = 1024; // unsent replies at which a connection is no longer read
  uint32_t output_limit_mb = 64;   // unsent replies at which a connection is closed
};

// [anti_entropy] (docs/architecture.md, "Anti-entropy" and "Tombstones").
struct AntiEntropyConfig {
  bool background = true;            // compare ranges continuously; false: only `tally repair`
  uint32_t interval_ms = 100;        // between two background (range, peer) exchanges
  uint32_t rate_kb_per_sec = 8192;   // records moved by exchanges, KiB/s (0: no limit)
  uint32_t tombstone_grace_s = 600;  // a tombstone is kept at least this long
};

struct NodeEntry {
  std::string id;        // unique name in the cluster: [A-Za-z0-9_-], 1..64 characters
  HostPort listen;       // where the node binds (peers and clients)
  std::string data_dir;  // absolute, or relative to the config file's folder; resolved on load
  std::string zone = "default";
  // Where the node speaks the Redis protocol (docs/resp.md); none when unset.
  std::optional<HostPort> resp_listen;
  // Where the node serves GET /metrics over HTTP, in the Prometheus text
  // format (docs/operations.md, "Metrics"); none when unset.
  std::optional<HostPort> metrics_listen;
};

struct ClusterConfig {
  std::string path;  // the file it was loaded from
  std::string name = "tally";
  std::vector<std::string> voters;  // ids of the initial Raft voters
  // [cluster] secret_file: the file holding the cluster secret that peers
  // prove to each other (docs/security.md); absolute, or relative to the
  // config file's folder. Empty: none (a single node, or tallyd --insecure).
  std::string secret_file;
  // Its contents, read by load_config (parse_config leaves it empty).
  std::string secret;
  // [cluster] requirepass: clients must give this password (RESP AUTH, the
  // client library's password) before anything but a ping; empty: none.
  std::string requirepass;
  std::vector<NodeEntry> nodes;
  Durability durability = Durability::kFsync;
  // Budget of the node's cache of recently written records (store/record_cache.hpp).
  uint64_t record_cache_bytes = 64ULL << 20;
  // Budget of the filter of keys on disk (store/key_filter.hpp): about 1.3-2.5
  // bytes per key; past it, reads of absent keys go to the database. 0: none.
  uint64_t key_filter_bytes = 256ULL << 20;
  Limits limits;
  LogLevel log_level = LogLevel::kInfo;
  uint32_t request_timeout_ms = 1000;  // default per-request timeout
  uint32_t max_hints = 100000;         // hints a node keeps for others before it refuses more
  // [streaming] rate_mb_per_s: what a node receives in range streams and
  // sends in hint replay, together, in MiB per second (0: no limit).
  uint32_t stream_rate_mb = 64;
  // [streaming] cleanup_grace_s: how long the ring must stay unchanged before
  // a node drops its copies of ranges that moved to other nodes.
  uint32_t cleanup_grace_s = 60;
  AntiEntropyConfig anti_entropy;
  // [[keyspaces]]; meta::bootstrap adds `default` unless the file defines it.
  std::vector<meta::Keyspace> keyspaces;

  // The entry of node `id`, or an error naming the ids the file does have.
  Result<NodeEntry> node(std::string_view id) const;
};

// Reads and validates a config file.
Result<ClusterConfig> load_config(const std::string& path);

// Parses config text; `name` stands in for the file name in errors, and
// relative data_dir values are resolved against `base_dir`.
Result<ClusterConfig> parse_config(std::string_view text, const std::string& name,
                                   const std::string& base_dir);

}  // namespace tally
