// tally/client.hpp — the client library: what a program embedding tally uses.
//
//   auto client = tally::Client::connect({.endpoints = {"127.0.0.1:7401"}});
//   if (!client.ok()) { ... client.status().to_string() ... }
//   auto ctx = (*client)->put("user:42", "alice", {.w = 2});
//   auto got = (*client)->get("user:42", {.r = 2});
//   for (const auto& v : got->values) ...   // concurrent siblings, if any
//   (*client)->put("user:42", "bob", {.context = got->context});  // supersedes what was read
//
// Errors are tally::Status values with a code and a message that says what
// went wrong and where (`quorum not reached: ...`, `unavailable: cannot
// connect to 127.0.0.1:7401: connection refused`). The library never throws.
//
// Two faces over one engine: Client blocks the calling thread until the
// answer is in; AsyncClient returns at once and calls back (or fulfils a
// future) from the engine's own I/O thread, so one thread can keep many
// requests in flight.
//
// Routing: the client fetches the cluster map from a node and sends each
// request straight to a replica of its key (token-aware), so a write need not
// be forwarded; it fetches the map again when a reply carries a newer epoch
// than its own, when a node says the nodes disagree about the ring, and every
// ClientOptions::ring_refresh_ms. Before it has a map,
// or when no replica can be reached, it uses the endpoints it was given.
// Connections are pooled per node and carry many requests at once.
//
// Retries: a request that never left (no connection, a node shutting down) is
// sent to the next node. One that may have been applied is retried elsewhere
// only when repeating it is harmless (get, del, metadata reads); a put without
// that certainty fails with kIoError saying it may or may not have been
// applied.
//
// Thread safety: both Client and AsyncClient are thread-safe: any number of
// threads may call one object at once. Different clients share nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/status.hpp"

namespace tally {

struct ClientOptions {
  // "host:port" of one or more nodes. Requests go to the first reachable one;
  // when it cannot be reached the client moves on to the next.
  std::vector<std::string> endpoints;
  std::string keyspace = "default";   // used when a call does not name one
  uint32_t connect_timeout_ms = 1000;
  // How long the client waits for a reply, on top of the server's own
  // per-request timeout, before it gives up with kTimeout.
  uint32_t request_timeout_ms = 5000;
  // Send each request to a replica of its key (see above); false: to the
  // endpoints only, in order.
  bool token_aware = true;
  // Connections kept to each node; requests are spread over them.
  int connections_per_node = 2;
  // How often the cluster map is fetched again (0: only when needed).
  uint32_t ring_refresh_ms = 2000;
  // Administrators: the file holding the cluster secret ([cluster]
  // secret_file). When set, every connection first proves the secret to the
  // node (and the node to the client); metadata changes, repair and fault
  // injection are refused on connections that did not. connect() fails with
  // kInvalidArgument when the file cannot be read or is open to other users.
  std::string secret_file;
  // The password of nodes with requirepass, sent first on every connection.
  // A wrong one fails requests with kUnauthenticated ("wrong password").
  std::string password;
};

struct WriteOptions {
  std::string keyspace;     // empty: ClientOptions::keyspace
  std::optional<int> w;     // replicas that must acknowledge (1..N); unset: the keyspace's W
  uint32_t timeout_ms = 0;  // the server's quorum timeout; 0: the server default
  bool sloppy = false;      // may fallback nodes holding hints count towards W?
  std::string context;      // from an earlier get: the write supersedes what that get saw
  // put without a context: supersede every version the coordinating replica
  // holds instead of adding a sibling (a concurrent write it has not seen yet
  // still survives as a sibling). Ignored when a context is given.
  bool overwrite = false;
  // The value's time to live, in milliseconds (put and put_if; 0: it never
  // expires). Counted from when the request reaches its coordinator, by that
  // node's hybrid logical clock; once it runs out the value reads as absent
  // (docs/consistency.md, "Time to live").
  uint64_t ttl_ms = 0;
  // A fenced write (put and put_if, any keyspace): applied only if
  // `fence_token` is at least the highest token the key has been written
  // with for lock `fence_lock`, else kFenced (docs/locks.md says what the
  // siblings and lww modes guarantee). Pass a
  // Lock's token (tally/lock.hpp): a holder that lost its lease while paused
  // cannot overwrite what a later holder wrote. Empty: not fenced.
  std::string fence_lock;
  uint64_t fence_token = 0;
  // Conditions, for put_if on a linearizable keyspace (at most one): write
  // only if the key is absent, only if it holds a value, only if it holds
  // `if_value`, or only if its version is still `if_version` (the context of
  // a get or put_if there). A conditional write on a keyspace of another mode
  // fails with kInvalidArgument naming the mode.
  bool if_absent = false;
  bool if_present = false;
  std::optional<std::string> if_value;
  std::string if_version;
  bool conditional() const { return if_absent || if_present || if_value || !if_version.empty(); }
};

// What a conditional write (put_if) did.
struct CasResult {
  bool applied = false;
  // When not applied: the key's value that made the condition fail (nullopt:
  // the key is absent).
  std::optional<std::string> current;
  // The key's version after the write (applied) or the current one (not
  // applied): pass it as if_version to write only if nothing changed since.
  std::string context;
};

struct ReadOptions {
  std::string keyspace;
  std::optional<int> r;     // replicas that must answer (1..N); unset: the keyspace's R
  // Repair stale replicas before answering (monotonic quorum reads) instead of
  // in the background.
  bool blocking_repair = false;
  uint32_t timeout_ms = 0;
};

struct GetResult {
  // The concurrent values (siblings) of the key; empty when the key does not
  // exist or was deleted. More than one means writers raced: resolve them and
  // put the result with `context`. Oldest first by the hybrid logical clock
  // tag of their writes, so `values.back()` is the write that arrived last
  // (within the nodes' clock skew; docs/consistency.md).
  std::vector<std::string> values;
  // Opaque; pass it to put or del to supersede exactly what this read saw.
  std::string context;
  // When a value has a time to live: one entry per value, the milliseconds
  // it had left when the read reached its coordinator (0: that value does
  // not expire). Empty: no value expires.
  std::vector<uint64_t> ttl_ms;
  bool found() const { return !values.empty(); }
};

// Options of Client::get_replica.
struct ReplicaReadOptions {
  std::string keyspace;     // empty: ClientOptions::keyspace
  uint32_t timeout_ms = 0;  // for the node asked to reach the named one; 0: the server default
};

// One version a replica holds: a live value or a tombstone.
struct ReplicaVersion {
  std::string value;       // empty for a tombstone
  bool tombstone = false;  // a delete: it hides what it superseded from reads
  // The write that made it, its dot: the `counter`-th write of the key that
  // replica `minted_by` ("n2") coordinated in its mint epoch `mint_epoch` (a
  // node takes a new one when it gives a range away, and a random first one
  // on an empty data folder, so it never names two writes alike; 0 for
  // writes from before mint epochs).
  std::string minted_by;
  uint32_t mint_epoch = 0;
  uint64_t counter = 0;
  // Its hybrid-logical-clock tag (what an lww keyspace orders by): the
  // coordinator's wall clock in ms since the epoch, then a logical counter.
  uint64_t wall_ms = 0;
  uint32_t logical = 0;
  // When the value expires, in the same clock's ms since the epoch (its
  // coordinator's tag plus the write's time to live); 0: never.
  uint64_t expires_ms = 0;
};

// What one node stores for one key, read by Client::get_replica without a
// quorum and without repair: it may be behind the other replicas, or hold a
// key it is no longer (or never was) a replica of.
struct ReplicaCopy {
  std::string node;    // the node whose copy this is
  uint64_t epoch = 0;  // that node's metadata epoch when it answered
  bool found = false;  // false: the node holds nothing for the key
  // Live values and tombstones (found with only tombstones: the key was
  // deleted there), in dot order.
  std::vector<ReplicaVersion> siblings;
  // The causal clock: for each replica and mint epoch that coordinated writes
  // of the key, how many of them this copy has seen, superseded ones included.
  struct ClockEntry {
    std::string node;  // "n1"
    uint32_t mint_epoch = 0;
    uint64_t counter = 0;
    bool operator==(const ClockEntry&) const = default;
  };
  std::vector<ClockEntry> clock;
  // The key's replicas in preference order, as the cluster map the client
  // fetched places them; empty when that map could not be fetched.
  std::vector<std::string> replicas;
  // Whether `node` is one of `replicas` (true when they are unknown).
  bool is_replica() const;
};

struct NodeStatus {
  std::string endpoint;                                     // who answered
  std::vector<std::pair<std::string, std::string>> fields;  // name, value (node, uptime_ms, ...)
  // The value of field `name`, or "" when absent.
  std::string field(std::string_view name) const;
};

// ---- the cluster's metadata ----------------------------------------------------

struct MemberInfo {
  uint64_t id = 0;
  std::string name;     // "n1"
  std::string address;  // "host:port"
  std::string zone;
  std::string state;  // "joining", "normal", "leaving", "left" or "removed"
  std::string raft;   // in the metadata group: "voter", "learner" or "none"
  bool up = false;    // as the answering node's failure detector sees it
  std::vector<uint64_t> tokens;  // its positions on the ring
};

struct KeyspaceInfo {
  std::string name;
  int n = 0, r = 0, w = 0;  // replicas, default read and write quorums
  std::string mode;         // "siblings", "lww" or "linearizable"
};

// A join or leave whose ranges are moving (docs/operations.md, Joining and
// leaving): one at a time. Progress is what the receivers have reported.
struct MovementInfo {
  std::string kind;  // "join" or "leave"
  std::string node;  // the node joining or leaving
  uint64_t epoch = 0;  // the map epoch its start made
  size_t ranges = 0;   // (keyspace, range, receiver) transfers in all
  size_t ranges_done = 0;
  size_t ranges_streaming = 0;
  uint64_t keys = 0;   // records received so far
  uint64_t bytes = 0;
  uint64_t started_ms = 0;  // wall clock of the first and latest report (0: none yet)
  uint64_t updated_ms = 0;
  // Bytes per second between the first and latest report (0 until known).
  double rate() const {
    return updated_ms > started_ms ? static_cast<double>(bytes) * 1000.0 / static_cast<double>(updated_ms - started_ms)
                                   : 0.0;
  }
};

struct ClusterInfo {
  std::string answered_by;  // the node that answered
  std::string leader;       // the metadata leader's name; empty while there is none
  uint64_t term = 0;        // the metadata group's term
  uint64_t commit = 0;      // the answering node's commit and applied indexes
  uint64_t applied = 0;
  uint64_t epoch = 0;  // of the cluster map; bumped by every change
  std::vector<MemberInfo> members;
  std::vector<KeyspaceInfo> keyspaces;
  std::optional<MovementInfo> movement;  // the ring movement in progress, if any
  // The member named `name`, or nullptr.
  const MemberInfo* member(std::string_view name) const;
};

// A keyspace to create or alter. Zero and empty fields mean "the default" for
// create (n=3, r=w=n/2+1, siblings) and "unchanged" for alter.
struct KeyspaceSpec {
  std::string name;
  int n = 0, r = 0, w = 0;
  std::string mode;  // "siblings", "lww", "linearizable" or empty
};

// A fault a node plays on purpose, for tests and benchmarks (tally-bench's
// sweeps): a slow replica, or one that looks down to its peers.
struct Fault {
  // The node answers other nodes' replica reads and writes this much later.
  uint32_t delay_ms = 0;
  // The node ignores other nodes' replica requests and heartbeats, so its
  // peers hold it down; clients and the metadata group are left alone.
  bool silent = false;
};

// The progress of an anti-entropy repair on one node (`tally repair`).
struct RepairProgress {
  bool running = false;         // false: finished (or never started)
  uint64_t ranges_total = 0;    // (token range, peer) comparisons the repair holds
  uint64_t ranges_done = 0;     // of which finished
  uint64_t ranges_skipped = 0;  // of which could not run (the peer was down or not ready)
  uint64_t keys_repaired = 0;   // keys whose copy changed, on the node or its peers
  uint64_t elapsed_ms = 0;
};

// What a metadata change did.
struct ChangeResult {
  uint64_t epoch = 0;    // of the map once the change applied
  uint64_t index = 0;    // the change's position in the metadata log
  uint64_t node_id = 0;  // join: the id the node was given
};

class Client {
 public:
  // Checks the options and returns a client. It connects lazily, on the first
  // request. Errors: kInvalidArgument for no endpoints or a malformed one.
  static Result<std::unique_ptr<Client>> connect(ClientOptions options);
  virtual ~Client() = default;

  // Writes `value` under `key`. Returns the context of the new version.
  // Errors: kInvalidArgument (bad W, empty key), kTooLarge, kUnknownKeyspace,
  // kQuorumNotReached, kTimeout, kUnavailable (no node would take it: the write
  // was not made), kIoError (a connection was lost after the write left: it
  // may or may not have been made).
  virtual Result<std::string> put(std::string_view key, std::string_view value,
                                  const WriteOptions& options = {}) = 0;

  // A write on a linearizable keyspace that applies only if the condition in
  // `options` holds (none: always), decided by Paxos on the key's replicas.
  // The answer says whether it applied, and if not, the current value; it is
  // never a guess. Errors: put's, and kContention (other writers kept
  // winning: nothing was written); kTimeout means the outcome is unknown (it
  // may still take effect), never that it failed.
  virtual Result<CasResult> put_if(std::string_view key, std::string_view value, const WriteOptions& options) = 0;

  // Reads `key`: all siblings and the context. A missing key is not an error:
  // it returns a GetResult with no values.
  virtual Result<GetResult> get(std::string_view key, const ReadOptions& options = {}) = 0;

  // Deletes `key`: writes a tombstone that supersedes what `context` saw, or,
  // without a context, every version the coordinating node holds. A write
  // concurrent with the delete survives it as a sibling.
  virtual Status del(std::string_view key, const WriteOptions& options = {}) = 0;

  // The copy of `key` that node `node` ("n3") holds, as it stores it: every
  // sibling and tombstone with its dot, and the clock. No quorum, no read
  // repair: an operator's look at where a key lives. Any node takes the call
  // and asks `node`, which need not be a replica of the key. Not finding the
  // key there is not an error (found = false). Errors: kInvalidArgument (no
  // such node, naming the members; a removed node; an empty key),
  // kUnavailable (`node` is down or unreachable, naming it), kTimeout,
  // kUnknownKeyspace, kTooLarge (the key).
  virtual Result<ReplicaCopy> get_replica(std::string_view key, std::string_view node,
                                          const ReplicaReadOptions& options = {}) = 0;

  // The status of the node at `endpoint` (one of the client's endpoints, or any
  // "host:port"); empty: the node the client is talking to.
  virtual Result<NodeStatus> status(std::string_view endpoint = {}) = 0;

  // Round-trips a ping to the current node: the node's id.
  virtual Result<std::string> ping() = 0;

  // ---- metadata (served by the metadata Raft group; any node passes the
  // request to its leader). A change is answered once it is committed and
  // applied. While the group has no leader (an election, ~0.3 s) the client
  // retries until request_timeout_ms. Errors: kInvalidArgument naming what is
  // wrong (an unknown node, a quorum above n, a keyspace that exists...),
  // kUnknownKeyspace, kNotFound, kTimeout (it may still be made), kUnavailable.

  // The members, keyspaces, leader and epoch. `linearizable`: reflects every
  // change committed before the call (confirmed by the leader); otherwise the
  // answering node's own copy, which may be a moment behind.
  virtual Result<ClusterInfo> cluster_info(bool linearizable = true) = 0;

  // The N nodes that hold `key` in `keyspace` (empty: the client's), by name,
  // in preference-list order, as the cluster map places them.
  // Errors: kUnknownKeyspace, and cluster_info's.
  virtual Result<std::vector<std::string>> replicas(std::string_view key, std::string_view keyspace = {}) = 0;

  // Each node on the ring with the fraction of `keyspace`'s keys it holds a
  // replica of (Cassandra's "owns (effective)"; the shares add up to N).
  struct Share {
    std::string node;
    size_t tokens = 0;
    double owns = 0;
  };
  virtual Result<std::vector<Share>> ownership(std::string_view keyspace = {}) = 0;

  virtual Result<ChangeResult> create_keyspace(const KeyspaceSpec& spec) = 0;
  // n may not change (it would move every key).
  virtual Result<ChangeResult> alter_keyspace(const KeyspaceSpec& spec) = 0;
  // Its data stays on disk but can no longer be read; `default` cannot be dropped.
  virtual Result<ChangeResult> drop_keyspace(std::string_view name) = 0;

  // Registers node `name` at `address` ("host:port") as a joining member and a
  // learner of the metadata group (what `tallyd --join` asks for itself); the
  // same call again returns the same id. It owns ranges once the node has
  // caught up and made itself normal.
  virtual Result<ChangeResult> join_node(std::string_view name, std::string_view address,
                                         std::string_view zone = "default") = 0;
  // normal -> leaving.
  virtual Result<ChangeResult> leave_node(std::string_view name) = 0;
  // leaving (or joining) -> removed: off the ring and out of the metadata group.
  virtual Result<ChangeResult> remove_node(std::string_view name) = 0;
  // A learner of the metadata group becomes a voter, or a voter a learner.
  virtual Result<ChangeResult> promote_node(std::string_view name) = 0;
  virtual Result<ChangeResult> demote_node(std::string_view name) = 0;

  // Makes the node at `endpoint` play `fault` (replacing the one it played);
  // Fault{} ends it. The node logs it as a warning.
  virtual Status set_fault(std::string_view endpoint, const Fault& fault) = 0;

  // Anti-entropy repair on the node at `endpoint`: with `start`, it compares
  // every token range it replicates (of `keyspace` only, when not empty) with
  // each other replica now, back to back under its rate limit, and merges
  // what differs both ways (a repair already running is left to run). Returns
  // the progress of the node's latest repair; call again without `start` to
  // follow it. Errors: kUnknownKeyspace; kUnavailable while the node is still
  // building its trees.
  virtual Result<RepairProgress> repair(std::string_view endpoint, std::string_view keyspace, bool start) = 0;
};

// The asynchronous face: every call returns at once and `done` runs later, on
// the client's I/O thread, never inside the call. Callbacks must be quick and
// must not block (no synchronous calls from them): hand real work elsewhere.
// Destroying the client fails what is still in flight with kAborted.
class AsyncClient {
 public:
  using PutDone = std::function<void(Result<std::string>)>;
  using CasDone = std::function<void(Result<CasResult>)>;
  using GetDone = std::function<void(Result<GetResult>)>;
  using DelDone = std::function<void(Status)>;
  using GetReplicaDone = std::function<void(Result<ReplicaCopy>)>;

  // As Client::connect.
  static Result<std::unique_ptr<AsyncClient>> connect(ClientOptions options);
  virtual ~AsyncClient() = default;

  // As Client::put, get and del; the results and errors are the same.
  virtual void put(std::string_view key, std::string_view value, const WriteOptions& options, PutDone done) = 0;
  virtual void put_if(std::string_view key, std::string_view value, const WriteOptions& options, CasDone done) = 0;
  virtual void get(std::string_view key, const ReadOptions& options, GetDone done) = 0;
  virtual void del(std::string_view key, const WriteOptions& options, DelDone done) = 0;
  // As Client::get_replica.
  virtual void get_replica(std::string_view key, std::string_view node, const ReplicaReadOptions& options,
                           GetReplicaDone done) = 0;

  // The same, as futures.
  std::future<Result<std::string>> put(std::string_view key, std::string_view value,
                                       const WriteOptions& options = {});
  std::future<Result<CasResult>> put_if(std::string_view key, std::string_view value, const WriteOptions& options);
  std::future<Result<GetResult>> get(std::string_view key, const ReadOptions& options = {});
  std::future<Status> del(std::string_view key, const WriteOptions& options = {});
  std::future<Result<ReplicaCopy>> get_replica(std::string_view key, std::string_view node,
                                               const ReplicaReadOptions& options = {});

  // Requests sent or queued and not yet answered.
  virtual size_t in_flight() const = 0;
};

}  // namespace tally
