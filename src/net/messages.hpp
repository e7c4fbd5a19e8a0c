// Every message that crosses the wire, as plain structs, each with the one
// description of it that everything else derives from.
//
// On the wire a message is one frame: a 4-byte big-endian length, then a
// msgpack array [version, type, request_id, ...fields] (docs/architecture.md,
// "Wire format"). The codec (net/codec.hpp) is the only code that knows that
// layout; everything else sees these structs. Type numbers are part of the
// protocol: append only.
//
// Adding a message: give it a number in MsgType, write its struct with kType,
// kIsReply, kName and wire_fields() (net/wire_fields.hpp), and put the struct in
// Body in number order. The codec, type_of and is_reply follow from that; a
// struct out of MsgType order in Body, a kind that does not fit its member, or
// an optional field before a required one fails to compile. Numbers may be
// handed out ahead of the code (several messages written at once), so Body may
// skip a number: a type without a struct is decoded as unknown.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "meta/cluster_map.hpp"
#include "net/wire_fields.hpp"
#include "quorum/paxos.hpp"
#include "quorum/version.hpp"
#include "raft/message.hpp"
#include "tally/status.hpp"

namespace tally::wire {

constexpr uint8_t kProtocolVersion = 1;

enum class MsgType : uint8_t {
  kError = 1,
  kPing = 2,
  kPingReply = 3,
  kPut = 4,
  kPutReply = 5,
  kGet = 6,
  kGetReply = 7,
  kDelete = 8,
  kDeleteReply = 9,
  kStatus = 10,
  kStatusReply = 11,
  kReplicaWrite = 12,
  kReplicaWriteReply = 13,
  kReplicaRead = 14,
  kReplicaReadReply = 15,
  kRaft = 16,
  kClusterInfo = 17,
  kClusterInfoReply = 18,
  kMetaChange = 19,
  kMetaChangeReply = 20,
  kFault = 21,
  kFaultReply = 22,
  kStream = 23,
  kStreamReply = 24,
  kLocalGet = 25,
  kLocalGetReply = 26,
  kAeCompare = 27,
  kAeCompareReply = 28,
  kAeFetch = 29,
  kAeFetchReply = 30,
  kAePush = 31,
  kAePushReply = 32,
  kRepair = 33,
  kRepairReply = 34,
  kAuthHello = 35,
  kAuthChallenge = 36,
  kAuthProof = 37,
  kAuthOk = 38,
  kAuthPassword = 39,
  kPaxos = 40,
  kPaxosReply = 41,
};

// Per-request knobs. Zero means "the keyspace's default".
struct RequestOptions {
  uint8_t r = 0;
  uint8_t w = 0;
  uint32_t timeout_ms = 0;
  bool sloppy = false;  // may fallback nodes holding hints count towards W?
  // Reads: repair stale replicas before answering (monotonic quorum reads)
  // rather than in the background.
  bool blocking_repair = false;
  // Set by a node that hands a write to a replica of the key (only replicas
  // mint dots): the receiver must coordinate it, never forward it again.
  bool forwarded = false;
  // Puts without a context: supersede every version the coordinating replica
  // holds (as a delete without a context does) instead of adding a sibling.
  bool overwrite = false;
  // Set only on a forwarded write (and honoured only from a peer, which is the
  // only place a forwarded request is taken from): when the node that took
  // the client's request got it. `deadline_us` is the time on the receiver's
  // monotonic clock (PeerCalls::deadline_for) after which the write must not
  // be applied, 0 for none; `arrival_*` is the HLC tag it gave the request
  // on arrival, which the write carries and which bounds what an overwrite
  // supersedes (quorum::join_before). docs/architecture.md, "Late writes".
  uint64_t deadline_us = 0;
  uint64_t arrival_ms = 0;
  uint32_t arrival_logical = 0;
  uint32_t arrival_node = 0;
  // Older clients send the first four; the rest default to false (or 0).
  static constexpr auto wire_fields() {
    return std::tuple{field<as::UInt>("options.r", &RequestOptions::r),
                      field<as::UInt>("options.w", &RequestOptions::w),
                      field<as::UInt>("options.timeout_ms", &RequestOptions::timeout_ms),
                      field<as::Bool>("options.sloppy", &RequestOptions::sloppy),
                      optional_field<as::Bool>("options.blocking_repair", &RequestOptions::blocking_repair),
                      optional_field<as::Bool>("options.forwarded", &RequestOptions::forwarded),
                      optional_field<as::Bool>("options.overwrite", &RequestOptions::overwrite),
                      optional_field<as::UInt>("options.deadline_us", &RequestOptions::deadline_us),
                      optional_field<as::UInt>("options.arrival_ms", &RequestOptions::arrival_ms),
                      optional_field<as::UInt>("options.arrival_logical", &RequestOptions::arrival_logical),
                      optional_field<as::UInt>("options.arrival_node", &RequestOptions::arrival_node)};
  }
  bool operator==(const RequestOptions&) const = default;
};

struct ErrorReply {
  static constexpr MsgType kType = MsgType::kError;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "error";
  Code code = Code::kInternal;
  std::string message;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Enum<255>>("error.code", &ErrorReply::code),
                      field<as::Str>("error.message", &ErrorReply::message)};
  }
  bool operator==(const ErrorReply&) const = default;
};

struct PingRequest {
  static constexpr MsgType kType = MsgType::kPing;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "ping";
  uint32_t from = 0;  // the sending node's id for a heartbeat; 0 from a client
  // Clients older than heartbeats with a sender send no field.
  static constexpr auto wire_fields() { return std::tuple{optional_field<as::UInt>("from", &PingRequest::from)}; }
  bool operator==(const PingRequest&) const = default;
};
struct PingReply {
  static constexpr MsgType kType = MsgType::kPingReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "ping reply";
  std::string node_id;
  // The answering node's monotonic clock (Env::now_us) when it answered: a
  // heartbeat's sender learns how the two clocks are offset (PeerLink), to
  // send deadlines in the receiver's time. Older nodes leave it out (0).
  uint64_t now_us = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("node_id", &PingReply::node_id),
                      optional_field<as::UInt>("now_us", &PingReply::now_us)};
  }
  bool operator==(const PingReply&) const = default;
};

// The longest time to live a write may ask for: ten years.
inline constexpr uint64_t kMaxTtlMs = 10ULL * 365 * 24 * 3600 * 1000;

struct PutRequest {
  static constexpr MsgType kType = MsgType::kPut;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "put";
  std::string keyspace;
  std::string key;
  std::string value;
  std::string context;  // opaque causal context from an earlier get; empty = none
  RequestOptions options;
  // Linearizable keyspaces only: write only if the condition holds
  // (quorum::Condition: 1 if absent, 2 if present, 3 if the value is
  // `expected`, 4 if the version is `context`'s). 0: unconditional.
  uint8_t condition = 0;
  std::string expected;
  // The value's time to live, in milliseconds; 0: it never expires.
  uint64_t ttl_ms = 0;
  // A fenced write: applied only if `fence_token` is at least the highest
  // token the key has seen for lock `fence_lock` (docs/locks.md).
  std::string fence_lock;
  uint64_t fence_token = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &PutRequest::keyspace), field<as::Bin>("key", &PutRequest::key),
                      field<as::Bin>("value", &PutRequest::value), field<as::Bin>("context", &PutRequest::context),
                      field<as::Fields>("options", &PutRequest::options),
                      optional_field<as::UIntMax<4>>("condition", &PutRequest::condition),
                      optional_field<as::Bin>("expected", &PutRequest::expected),
                      optional_field<as::UInt>("ttl_ms", &PutRequest::ttl_ms),
                      optional_field<as::Bin>("fence_lock", &PutRequest::fence_lock),
                      optional_field<as::UInt>("fence_token", &PutRequest::fence_token)};
  }
  bool operator==(const PutRequest&) const = default;
};
// Replies to clients' data requests carry the answering node's metadata
// epoch: a client routing by an older map fetches the newer one. (Replies
// from nodes older than epochs in replies lack it.)
struct PutReply {
  static constexpr MsgType kType = MsgType::kPutReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "put reply";
  std::string context;  // the context of the new version
  uint64_t epoch = 0;
  // A conditional put whose condition did not hold: nothing was written, and
  // `current` is the key's value (`current_found` false: absent); `context`
  // is then the current version's.
  bool not_applied = false;
  bool current_found = false;
  std::string current;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bin>("context", &PutReply::context),
                      optional_field<as::UInt>("epoch", &PutReply::epoch),
                      optional_field<as::Bool>("not_applied", &PutReply::not_applied),
                      optional_field<as::Bool>("current_found", &PutReply::current_found),
                      optional_field<as::Bin>("current", &PutReply::current)};
  }
  bool operator==(const PutReply&) const = default;
};

struct GetRequest {
  static constexpr MsgType kType = MsgType::kGet;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "get";
  std::string keyspace;
  std::string key;
  RequestOptions options;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &GetRequest::keyspace), field<as::Bin>("key", &GetRequest::key),
                      field<as::Fields>("options", &GetRequest::options)};
  }
  bool operator==(const GetRequest&) const = default;
};
struct GetReply {
  static constexpr MsgType kType = MsgType::kGetReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "get reply";
  // Concurrent siblings, oldest first by their writes' HLC tags (the last
  // arrived at its coordinator last); empty = not found (or deleted).
  std::vector<std::string> values;
  std::string context;  // pass to put/delete to supersede what was read
  uint64_t epoch = 0;
  // The newest write among the siblings, by tag, is a delete (a delete
  // concurrent with the values listed): a reader that wants one answer
  // (RESP GET) answers "absent".
  bool latest_deleted = false;
  // When some value has a time to live: one entry per value, the
  // milliseconds it has left (0: it does not expire). Empty: none expires.
  std::vector<uint64_t> ttl_ms;
  // The keyspace is linearizable: `context` is a version, and a write that
  // must not lose a change made since this read passes it as if-version.
  bool linearizable = false;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::List<as::Bin>>("values", &GetReply::values), field<as::Bin>("context", &GetReply::context),
                      optional_field<as::UInt>("epoch", &GetReply::epoch),
                      optional_field<as::Bool>("latest_deleted", &GetReply::latest_deleted),
                      optional_field<as::Ids>("ttl_ms", &GetReply::ttl_ms),
                      optional_field<as::Bool>("linearizable", &GetReply::linearizable)};
  }
  bool operator==(const GetReply&) const = default;
};

struct DeleteRequest {
  static constexpr MsgType kType = MsgType::kDelete;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "delete";
  std::string keyspace;
  std::string key;
  std::string context;
  RequestOptions options;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &DeleteRequest::keyspace),
                      field<as::Bin>("key", &DeleteRequest::key),
                      field<as::Bin>("context", &DeleteRequest::context),
                      field<as::Fields>("options", &DeleteRequest::options)};
  }
  bool operator==(const DeleteRequest&) const = default;
};
struct DeleteReply {
  static constexpr MsgType kType = MsgType::kDeleteReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "delete reply";
  uint64_t epoch = 0;
  static constexpr auto wire_fields() { return std::tuple{optional_field<as::UInt>("epoch", &DeleteReply::epoch)}; }
  bool operator==(const DeleteReply&) const = default;
};

struct StatusRequest {
  static constexpr MsgType kType = MsgType::kStatus;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "status";
  static constexpr auto wire_fields() { return std::tuple{}; }
  bool operator==(const StatusRequest&) const = default;
};
// An ordered list of (name, value) pairs, like Redis' INFO: new fields can be
// added without a protocol change.
struct StatusReply {
  static constexpr MsgType kType = MsgType::kStatusReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "status reply";
  std::vector<std::pair<std::string, std::string>> fields;
  static constexpr auto wire_fields() { return std::tuple{field<as::StrPairs>("fields", &StatusReply::fields)}; }
  bool operator==(const StatusReply&) const = default;
};

// Node to node: store `record` by merging it (DVV sync) into what the replica
// has. With hint_for set, the receiver is a fallback: it keeps the record as a
// hint for that node and hands it over when the node is back.
//
// Node-to-node data messages and their replies carry the sender's metadata
// epoch: a node that sees a higher one than its own fetches the newer map.
struct ReplicaWrite {
  static constexpr MsgType kType = MsgType::kReplicaWrite;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "replica write";
  std::string keyspace;
  std::string key;
  quorum::DvvSet record;
  uint32_t hint_for = 0;
  uint64_t epoch = 0;
  // A fenced client write (siblings and lww keyspaces): the replica refuses
  // it (kFenced) if the key's fence for `fence_lock` is above `fence_token`.
  // Empty: not fenced, or a repair.
  std::string fence_lock;
  uint64_t fence_token = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &ReplicaWrite::keyspace), field<as::Bin>("key", &ReplicaWrite::key),
                      field<as::Record>("record", &ReplicaWrite::record),
                      field<as::UInt>("hint_for", &ReplicaWrite::hint_for),
                      field<as::UInt>("epoch", &ReplicaWrite::epoch),
                      optional_field<as::Bin>("fence_lock", &ReplicaWrite::fence_lock),
                      optional_field<as::UInt>("fence_token", &ReplicaWrite::fence_token)};
  }
  bool operator==(const ReplicaWrite&) const = default;
};
struct ReplicaWriteReply {
  static constexpr MsgType kType = MsgType::kReplicaWriteReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "replica write reply";
  uint64_t epoch = 0;
  static constexpr auto wire_fields() { return std::tuple{field<as::UInt>("epoch", &ReplicaWriteReply::epoch)}; }
  bool operator==(const ReplicaWriteReply&) const = default;
};
struct ReplicaRead {
  static constexpr MsgType kType = MsgType::kReplicaRead;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "replica read";
  std::string keyspace;
  std::string key;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &ReplicaRead::keyspace), field<as::Bin>("key", &ReplicaRead::key),
                      field<as::UInt>("epoch", &ReplicaRead::epoch)};
  }
  bool operator==(const ReplicaRead&) const = default;
};
struct ReplicaReadReply {
  static constexpr MsgType kType = MsgType::kReplicaReadReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "replica read reply";
  bool found = false;
  quorum::DvvSet record;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bool>("found", &ReplicaReadReply::found),
                      field<as::Record>("record", &ReplicaReadReply::record),
                      field<as::UInt>("epoch", &ReplicaReadReply::epoch)};
  }
  bool operator==(const ReplicaReadReply&) const = default;
};

// Node to node: one message of the metadata Raft group. No reply: Raft's own
// responses are messages too. Its fields are the Raft message's, flattened.
struct RaftMessage {
  static constexpr MsgType kType = MsgType::kRaft;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "raft message";
  raft::Message msg;
  static constexpr auto wire_fields() {
    using M = raft::Message;
    auto in_msg = [](auto member) { return member_of(&RaftMessage::msg, member); };
    return std::tuple{field<as::Enum<9>>("raft.type", in_msg(&M::type)),
                      field<as::UInt>("raft.from", in_msg(&M::from)),
                      field<as::UInt>("raft.to", in_msg(&M::to)),
                      field<as::UInt>("raft.term", in_msg(&M::term)),
                      field<as::UInt>("raft.log_term", in_msg(&M::log_term)),
                      field<as::UInt>("raft.index", in_msg(&M::index)),
                      field<as::List<as::RaftEntry>>("raft.entries", in_msg(&M::entries)),
                      field<as::UInt>("raft.commit", in_msg(&M::commit)),
                      field<as::Bool>("raft.reject", in_msg(&M::reject)),
                      field<as::UInt>("raft.reject_hint", in_msg(&M::reject_hint)),
                      field<as::UInt>("raft.context", in_msg(&M::context)),
                      field<as::Bool>("raft.leader_transfer", in_msg(&M::leader_transfer)),
                      field<as::RaftSnapshot>("raft.snapshot", in_msg(&M::snapshot))};
  }
  bool operator==(const RaftMessage& o) const;
};

// The cluster's metadata, from any node. With `linearizable` the answer holds
// every change committed before the request arrived (a ReadIndex round on the
// metadata leader, to which a follower forwards it); without, it is the
// answering node's own copy, which may be a little behind.
struct ClusterInfoRequest {
  static constexpr MsgType kType = MsgType::kClusterInfo;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "cluster info";
  bool linearizable = false;
  bool forwarded = false;  // set by a node passing it to the leader
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bool>("linearizable", &ClusterInfoRequest::linearizable),
                      field<as::Bool>("forwarded", &ClusterInfoRequest::forwarded)};
  }
  bool operator==(const ClusterInfoRequest&) const = default;
};
struct ClusterInfoReply {
  static constexpr MsgType kType = MsgType::kClusterInfoReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "cluster info reply";
  std::string answered_by;  // the name of the node that answered
  uint64_t leader = 0;      // node id of the metadata leader; 0 while unknown
  uint64_t term = 0;
  uint64_t commit = 0;  // the answering node's commit and applied indexes
  uint64_t applied = 0;
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  std::vector<uint64_t> down;  // members the answering node's failure detector holds down
  meta::ClusterMap map;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("answered_by", &ClusterInfoReply::answered_by),
                      field<as::UInt>("leader", &ClusterInfoReply::leader),
                      field<as::UInt>("term", &ClusterInfoReply::term),
                      field<as::UInt>("commit", &ClusterInfoReply::commit),
                      field<as::UInt>("applied", &ClusterInfoReply::applied),
                      field<as::Ids>("voters", &ClusterInfoReply::voters),
                      field<as::Ids>("learners", &ClusterInfoReply::learners),
                      field<as::Ids>("down", &ClusterInfoReply::down),
                      field<as::ClusterMap>("map", &ClusterInfoReply::map)};
  }
  bool operator==(const ClusterInfoReply&) const = default;
};

// A change of the metadata, from any node (a follower forwards it to the
// leader). Answered once the change is committed and applied on the leader.
enum class MetaOp : uint8_t {
  kJoin = 1,            // node, address, zone: a new member, a Raft learner, joining
  kLeave = 2,           // node: normal -> leaving
  kRemove = 3,          // node: leaving or joining -> removed, and out of the Raft group
  kPromote = 4,         // node: Raft learner -> voter
  kDemote = 5,          // node: Raft voter -> learner
  kCreateKeyspace = 6,  // keyspace, n, r, w, mode (0: the default)
  kAlterKeyspace = 7,   // keyspace, r, w, mode (0: unchanged)
  kDropKeyspace = 8,    // keyspace
  kFinishJoin = 9,      // node: joining -> normal (obsolete: a join completes when its ranges are in)
  kStreamUpdate = 10,   // a receiver's progress on a ring movement (the stream_* fields)
};
inline std::string_view meta_op_name(MetaOp op) {
  switch (op) {
    case MetaOp::kJoin: return "join";
    case MetaOp::kLeave: return "leave";
    case MetaOp::kRemove: return "remove";
    case MetaOp::kPromote: return "promote";
    case MetaOp::kDemote: return "demote";
    case MetaOp::kCreateKeyspace: return "create keyspace";
    case MetaOp::kAlterKeyspace: return "alter keyspace";
    case MetaOp::kDropKeyspace: return "drop keyspace";
    case MetaOp::kStreamUpdate: return "stream update";
    case MetaOp::kFinishJoin: return "finish join";
  }
  return "unknown";
}

struct MetaChangeRequest {
  static constexpr MsgType kType = MsgType::kMetaChange;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "metadata change";
  MetaOp op = MetaOp::kJoin;
  std::string node;      // a node's name
  std::string address;   // kJoin: "host:port"
  std::string zone;      // kJoin
  std::string keyspace;  // keyspace ops
  uint8_t n = 0, r = 0, w = 0;
  uint8_t mode = 0;  // 0 default/unchanged, else meta::mode_code: 1 siblings, 2 lww, 3 linearizable
  bool forwarded = false;
  // kStreamUpdate (meta::StreamUpdate): the movement (its epoch), the
  // receiver's transfers, the key they now hold up to, whether they are done,
  // and the keys and bytes received since the last update.
  uint64_t stream_movement = 0;
  std::vector<uint64_t> stream_transfers;
  std::string stream_cursor;
  bool stream_done = false;
  uint64_t stream_keys = 0;
  uint64_t stream_bytes = 0;
  static constexpr auto wire_fields() {
    using M = MetaChangeRequest;
    return std::tuple{field<as::Enum<10, 1>>("op", &M::op),
                      field<as::Str>("node", &M::node),
                      field<as::Str>("address", &M::address),
                      field<as::Str>("zone", &M::zone),
                      field<as::Str>("keyspace", &M::keyspace),
                      field<as::UInt>("n", &M::n),
                      field<as::UInt>("r", &M::r),
                      field<as::UInt>("w", &M::w),
                      field<as::UIntMax<meta::kMaxModeCode>>("mode", &M::mode),
                      field<as::Bool>("forwarded", &M::forwarded),
                      optional_field<as::UInt>("stream_movement", &M::stream_movement),
                      optional_field<as::Ids>("stream_transfers", &M::stream_transfers),
                      optional_field<as::Bin>("stream_cursor", &M::stream_cursor),
                      optional_field<as::Bool>("stream_done", &M::stream_done),
                      optional_field<as::UInt>("stream_keys", &M::stream_keys),
                      optional_field<as::UInt>("stream_bytes", &M::stream_bytes)};
  }
  bool operator==(const MetaChangeRequest&) const = default;
};
struct MetaChangeReply {
  static constexpr MsgType kType = MsgType::kMetaChangeReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "metadata change reply";
  uint64_t node_id = 0;  // kJoin: the id given to the node
  uint64_t epoch = 0;    // the map's epoch once the change applied
  uint64_t index = 0;    // the change's position in the metadata log
  static constexpr auto wire_fields() {
    return std::tuple{field<as::UInt>("node_id", &MetaChangeReply::node_id),
                      field<as::UInt>("epoch", &MetaChangeReply::epoch),
                      field<as::UInt>("index", &MetaChangeReply::index)};
  }
  bool operator==(const MetaChangeReply&) const = default;
};

// A receiver's pull of the ranges a ring movement gives it
// (docs/architecture.md, Range movement): the sender scans `keyspace` in key
// order from just after `after` (from the first key when `from_start`) and
// answers the records whose positions lie in `ranges`, at most about
// `max_bytes` of them. Peer to peer only.
struct StreamRange {
  uint64_t start = 0;  // exclusive, as ring::TokenRange
  uint64_t end = 0;    // inclusive
  static constexpr auto wire_fields() {
    return std::tuple{field<as::UInt>("range.start", &StreamRange::start),
                      field<as::UInt>("range.end", &StreamRange::end)};
  }
  bool operator==(const StreamRange&) const = default;
};
struct StreamRequest {
  static constexpr MsgType kType = MsgType::kStream;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "stream";
  uint64_t movement = 0;  // the movement's epoch: the sender must know it
  std::string keyspace;
  std::vector<StreamRange> ranges;
  std::string after;
  bool from_start = true;
  uint32_t max_bytes = 0;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = StreamRequest;
    return std::tuple{field<as::UInt>("movement", &M::movement),    field<as::Str>("keyspace", &M::keyspace),
                      field<as::List<as::Fields>>("ranges", &M::ranges), field<as::Bin>("after", &M::after),
                      field<as::Bool>("from_start", &M::from_start), field<as::UInt>("max_bytes", &M::max_bytes),
                      field<as::UInt>("epoch", &M::epoch)};
  }
  bool operator==(const StreamRequest&) const = default;
};
struct StreamedRecord {
  std::string key;
  quorum::DvvSet record;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bin>("record.key", &StreamedRecord::key),
                      field<as::Record>("record.record", &StreamedRecord::record)};
  }
  bool operator==(const StreamedRecord&) const = default;
};
struct StreamReply {
  static constexpr MsgType kType = MsgType::kStreamReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "stream reply";
  std::vector<StreamedRecord> records;
  std::string cursor;  // the last key scanned: the next request starts after it
  bool done = false;   // the scan reached the end of the keyspace
  uint64_t scanned = 0;  // keys looked at for this answer
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = StreamReply;
    return std::tuple{field<as::List<as::Fields>>("records", &M::records), field<as::Bin>("cursor", &M::cursor),
                      field<as::Bool>("done", &M::done), field<as::UInt>("scanned", &M::scanned),
                      field<as::UInt>("epoch", &M::epoch)};
  }
  bool operator==(const StreamReply&) const = default;
};

// Makes the receiving node play a fault, for tests and benchmarks (see
// tally::Fault): answer other nodes' replica requests `delay_ms` later, or
// ignore them and their heartbeats (`silent`), and read its wall clock
// `clock_offset_ms` off (a clock running ahead or behind: HLC tags, Raft's
// timestamps). Replaces the fault it played.
struct FaultRequest {
  static constexpr MsgType kType = MsgType::kFault;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "fault";
  uint32_t delay_ms = 0;
  bool silent = false;
  int64_t clock_offset_ms = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::UIntMax<3'600'000>>("delay_ms", &FaultRequest::delay_ms),
                      field<as::Bool>("silent", &FaultRequest::silent),
                      optional_field<as::Int>("clock_offset_ms", &FaultRequest::clock_offset_ms)};
  }
  bool operator==(const FaultRequest&) const = default;
};
struct FaultReply {
  static constexpr MsgType kType = MsgType::kFaultReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "fault reply";
  static constexpr auto wire_fields() { return std::tuple{}; }
  bool operator==(const FaultReply&) const = default;
};

// An operator's look at one node's own copy of a key (`tally get KEY
// --replica NODE`): no quorum, no read repair, no hints. Any node takes it;
// one that is not `node` hands it to `node` (once: `forwarded`). `node` need
// not be a replica of the key (a stray copy is worth seeing too).
struct LocalGetRequest {
  static constexpr MsgType kType = MsgType::kLocalGet;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "local get";
  std::string keyspace;
  std::string key;
  std::string node;         // the name of the node whose copy is wanted ("n3")
  uint32_t timeout_ms = 0;  // for the hand-over to `node`; 0: the node's request timeout
  bool forwarded = false;   // set by the node that hands it over
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &LocalGetRequest::keyspace),
                      field<as::Bin>("key", &LocalGetRequest::key),
                      field<as::Str>("node", &LocalGetRequest::node),
                      field<as::UInt>("timeout_ms", &LocalGetRequest::timeout_ms),
                      field<as::Bool>("forwarded", &LocalGetRequest::forwarded)};
  }
  bool operator==(const LocalGetRequest&) const = default;
};
// The record as `answered_by` stores it: every sibling with its dot and tag,
// tombstones included, and the causal clock; found = false when it holds
// nothing for the key.
struct LocalGetReply {
  static constexpr MsgType kType = MsgType::kLocalGetReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "local get reply";
  std::string answered_by;  // the name of the node whose copy this is
  bool found = false;
  quorum::DvvSet record;
  uint64_t epoch = 0;  // the answering node's metadata epoch
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("answered_by", &LocalGetReply::answered_by),
                      field<as::Bool>("found", &LocalGetReply::found),
                      field<as::Record>("record", &LocalGetReply::record),
                      field<as::UInt>("epoch", &LocalGetReply::epoch)};
  }
  bool operator==(const LocalGetReply&) const = default;
};

// ---- anti-entropy (docs/architecture.md, "Anti-entropy") -------------------------
// Node to node, between two replicas of one token range of one keyspace. The
// range is named by its bounds (start, end]: both sides must cut the ring the
// same way, or the responder answers kUnavailable and the pair tries later.
// Every request and reply carries the sender's metadata epoch.

// The initiator's hashes of nodes `indices` of `level` of its tree for the
// range; the reply holds the responder's hashes of the same nodes, in the
// same order. Sending the initiator's hashes lets the responder learn too
// which subtrees the two hold equal (tombstone collection needs both sides
// to know).
struct AeCompare {
  static constexpr MsgType kType = MsgType::kAeCompare;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "anti-entropy compare";
  std::string keyspace;
  uint64_t range_start = 0;
  uint64_t range_end = 0;
  uint32_t level = 0;
  std::vector<uint64_t> indices;
  std::vector<uint64_t> hashes;
  uint32_t from = 0;  // the initiator's node id
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = AeCompare;
    return std::tuple{field<as::Str>("keyspace", &M::keyspace),   field<as::UInt>("range_start", &M::range_start),
                      field<as::UInt>("range_end", &M::range_end), field<as::UIntMax<2>>("level", &M::level),
                      field<as::Ids>("indices", &M::indices),     field<as::Ids>("hashes", &M::hashes),
                      field<as::UInt>("from", &M::from),           field<as::UInt>("epoch", &M::epoch)};
  }
  bool operator==(const AeCompare&) const = default;
};
struct AeCompareReply {
  static constexpr MsgType kType = MsgType::kAeCompareReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "anti-entropy compare reply";
  std::vector<uint64_t> hashes;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Ids>("hashes", &AeCompareReply::hashes),
                      field<as::UInt>("epoch", &AeCompareReply::epoch)};
  }
  bool operator==(const AeCompareReply&) const = default;
};

// Two questions about differing leaves. With `leaves`: the keys the
// responder holds in those leaves of the range, each with its record's
// summary (quorum::summary; no records), answered from its tree alone. With
// `keys`: the responder's records of those keys (a key it does not hold, or
// outside the range, is left out). The initiator asks the first, then the
// second for the keys whose summaries differ: a leaf with one new write
// moves one record, not the leaf's.
struct AeFetch {
  static constexpr MsgType kType = MsgType::kAeFetch;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "anti-entropy fetch";
  std::string keyspace;
  uint64_t range_start = 0;
  uint64_t range_end = 0;
  std::vector<uint64_t> leaves;
  std::vector<std::string> keys;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = AeFetch;
    return std::tuple{field<as::Str>("keyspace", &M::keyspace),   field<as::UInt>("range_start", &M::range_start),
                      field<as::UInt>("range_end", &M::range_end), field<as::Ids>("leaves", &M::leaves),
                      field<as::List<as::Bin>>("keys", &M::keys), field<as::UInt>("epoch", &M::epoch)};
  }
  bool operator==(const AeFetch&) const = default;
};
// keys[i] has summaries[i] (a question by leaves) or records[i] (by keys).
struct AeFetchReply {
  static constexpr MsgType kType = MsgType::kAeFetchReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "anti-entropy fetch reply";
  std::vector<std::string> keys;
  std::vector<uint64_t> summaries;
  std::vector<quorum::DvvSet> records;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::List<as::Bin>>("keys", &AeFetchReply::keys),
                      field<as::Ids>("summaries", &AeFetchReply::summaries),
                      field<as::List<as::Record>>("records", &AeFetchReply::records),
                      field<as::UInt>("epoch", &AeFetchReply::epoch)};
  }
  bool operator==(const AeFetchReply&) const = default;
};

// Records the initiator holds newer than (or that are missing from) the
// responder's copy: merged into it with the keyspace's merge, never written
// over it. A tombstone for a key the responder holds nothing of is not
// stored (docs/architecture.md, "Tombstones").
struct AePush {
  static constexpr MsgType kType = MsgType::kAePush;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "anti-entropy push";
  std::string keyspace;
  std::vector<std::string> keys;
  std::vector<quorum::DvvSet> records;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &AePush::keyspace), field<as::List<as::Bin>>("keys", &AePush::keys),
                      field<as::List<as::Record>>("records", &AePush::records),
                      field<as::UInt>("epoch", &AePush::epoch)};
  }
  bool operator==(const AePush&) const = default;
};
struct AePushReply {
  static constexpr MsgType kType = MsgType::kAePushReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "anti-entropy push reply";
  uint64_t changed = 0;  // keys whose copy the push changed
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::UInt>("changed", &AePushReply::changed), field<as::UInt>("epoch", &AePushReply::epoch)};
  }
  bool operator==(const AePushReply&) const = default;
};

// From an operator (`tally repair`): with `start`, the node begins a repair
// of every range it replicates (of `keyspace` only, when set) now, back to
// back, unless one is running; without, it only reports. Either way the reply
// is the progress of the node's latest repair.
struct RepairRequest {
  static constexpr MsgType kType = MsgType::kRepair;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "repair";
  std::string keyspace;
  bool start = false;
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Str>("keyspace", &RepairRequest::keyspace),
                      field<as::Bool>("start", &RepairRequest::start)};
  }
  bool operator==(const RepairRequest&) const = default;
};
struct RepairReply {
  static constexpr MsgType kType = MsgType::kRepairReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "repair reply";
  bool running = false;
  uint64_t ranges_total = 0;     // (range, peer) exchanges the repair holds
  uint64_t ranges_done = 0;      // of which finished (compared, repaired or skipped)
  uint64_t ranges_skipped = 0;   // of which the peer could not be asked (down, or not ready)
  uint64_t keys_repaired = 0;    // keys whose copy changed, here or on the peer
  uint64_t elapsed_ms = 0;
  static constexpr auto wire_fields() {
    using M = RepairReply;
    return std::tuple{field<as::Bool>("running", &M::running), field<as::UInt>("ranges_total", &M::ranges_total),
                      field<as::UInt>("ranges_done", &M::ranges_done),
                      field<as::UInt>("ranges_skipped", &M::ranges_skipped),
                      field<as::UInt>("keys_repaired", &M::keys_repaired),
                      field<as::UInt>("elapsed_ms", &M::elapsed_ms)};
  }
  bool operator==(const RepairReply&) const = default;
};

// Peer authentication (common/auth.hpp, docs/security.md): the first
// messages on a connection whose opener holds the cluster secret. They carry
// request_id 0; the opener sends nothing else on the connection until it has
// checked the acceptor's proof, and until the acceptor has checked the
// opener's it refuses every message that only peers and administrators may send.
struct AuthHello {
  static constexpr MsgType kType = MsgType::kAuthHello;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "auth hello";
  std::string nonce;  // the connector's, fresh for this connection
  std::string who;    // the connector's name for logs ("n2", "tally"): not trusted
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bin>("nonce", &AuthHello::nonce), field<as::Str>("who", &AuthHello::who)};
  }
  bool operator==(const AuthHello&) const = default;
};
struct AuthChallenge {
  static constexpr MsgType kType = MsgType::kAuthChallenge;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "auth challenge";
  std::string nonce;  // the acceptor's, fresh for this connection
  std::string proof;  // auth::acceptor_proof over both nonces
  static constexpr auto wire_fields() {
    return std::tuple{field<as::Bin>("nonce", &AuthChallenge::nonce),
                      field<as::Bin>("proof", &AuthChallenge::proof)};
  }
  bool operator==(const AuthChallenge&) const = default;
};
struct AuthProof {
  static constexpr MsgType kType = MsgType::kAuthProof;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "auth proof";
  std::string proof;  // auth::connector_proof over both nonces
  static constexpr auto wire_fields() { return std::tuple{field<as::Bin>("proof", &AuthProof::proof)}; }
  bool operator==(const AuthProof&) const = default;
};
struct AuthOk {
  static constexpr MsgType kType = MsgType::kAuthOk;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "auth ok";
  static constexpr auto wire_fields() { return std::tuple{}; }
  bool operator==(const AuthOk&) const = default;
};

// A client's password, on a node with requirepass (docs/security.md): the
// node answers AuthOk, or an error and counts it; until then it refuses the
// client's other requests (but pings). request_id 0.
struct AuthPassword {
  static constexpr MsgType kType = MsgType::kAuthPassword;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "auth password";
  std::string password;
  static constexpr auto wire_fields() { return std::tuple{field<as::Bin>("password", &AuthPassword::password)}; }
  bool operator==(const AuthPassword&) const = default;
};

// A ballot member of message M, flattened into three fields named
// "<name>.wall_ms", "<name>.logical" and "<name>.node".
template <class M>
constexpr auto ballot_fields(quorum::Ballot M::*ballot, const char* wall_ms, const char* logical,
                             const char* node) {
  using B = quorum::Ballot;
  return std::tuple{field<as::UInt>(wall_ms, member_of(ballot, &B::wall_ms)),
                    field<as::UInt>(logical, member_of(ballot, &B::logical)),
                    field<as::UInt>(node, member_of(ballot, &B::node))};
}
// A register member `reg` of message M, flattened: the fields every sender
// sends, and those added later (optional, after the message's own).
template <class M>
constexpr auto register_fields() {
  using R = quorum::Register;
  return std::tuple{field<as::UInt>("reg.seq", member_of(&M::reg, &R::seq)),
                    field<as::Bool>("reg.present", member_of(&M::reg, &R::present)),
                    field<as::Bin>("reg.value", member_of(&M::reg, &R::value)),
                    field<as::Ids>("reg.ops", member_of(&M::reg, &R::ops))};
}
template <class M>
constexpr auto register_later_fields() {
  using R = quorum::Register;
  return std::tuple{optional_field<as::UInt>("reg.expires_ms", member_of(&M::reg, &R::expires_ms)),
                    optional_field<as::List<as::Bin>>("reg.fence_locks", member_of(&M::reg, &R::fence_locks)),
                    optional_field<as::Ids>("reg.fence_tokens", member_of(&M::reg, &R::fence_tokens))};
}

// Node to node: one phase of a Paxos attempt on a key of a linearizable
// keyspace (quorum/paxos.hpp). The replica answers once its new state is
// durable.
enum class PaxosPhase : uint8_t { kPrepare = 1, kAccept = 2 };
struct PaxosRequest {
  static constexpr MsgType kType = MsgType::kPaxos;
  static constexpr bool kIsReply = false;
  static constexpr std::string_view kName = "paxos";
  std::string keyspace;
  std::string key;
  PaxosPhase phase = PaxosPhase::kPrepare;
  quorum::Ballot ballot;
  quorum::Register reg;  // kAccept: the register proposed
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = PaxosRequest;
    return std::tuple_cat(std::tuple{field<as::Str>("keyspace", &M::keyspace), field<as::Bin>("key", &M::key),
                                     field<as::Enum<2, 1>>("phase", &M::phase)},
                          ballot_fields(&M::ballot, "ballot.wall_ms", "ballot.logical", "ballot.node"),
                          register_fields<M>(), std::tuple{field<as::UInt>("epoch", &M::epoch)},
                          register_later_fields<M>());
  }
  bool operator==(const PaxosRequest&) const = default;
};
struct PaxosReply {
  static constexpr MsgType kType = MsgType::kPaxosReply;
  static constexpr bool kIsReply = true;
  static constexpr std::string_view kName = "paxos reply";
  // quorum::AcceptorReply's fields.
  bool ok = false;
  quorum::Ballot promised;
  quorum::Ballot accepted;  // kPrepare: the ballot `reg` was accepted at
  quorum::Register reg;
  uint64_t epoch = 0;
  static constexpr auto wire_fields() {
    using M = PaxosReply;
    return std::tuple_cat(std::tuple{field<as::Bool>("ok", &M::ok)},
                          ballot_fields(&M::promised, "promised.wall_ms", "promised.logical", "promised.node"),
                          ballot_fields(&M::accepted, "accepted.wall_ms", "accepted.logical", "accepted.node"),
                          register_fields<M>(), std::tuple{field<as::UInt>("epoch", &M::epoch)},
                          register_later_fields<M>());
  }
  quorum::AcceptorReply acceptor_reply() const { return quorum::AcceptorReply{ok, promised, accepted, reg}; }
  bool operator==(const PaxosReply&) const = default;
};

// Every message, in MsgType order (numbers without a message skipped).
using Body = std::variant<ErrorReply, PingRequest, PingReply, PutRequest, PutReply, GetRequest,
                          GetReply, DeleteRequest, DeleteReply, StatusRequest, StatusReply,
                          ReplicaWrite, ReplicaWriteReply, ReplicaRead, ReplicaReadReply,
                          RaftMessage, ClusterInfoRequest, ClusterInfoReply, MetaChangeRequest,
                          MetaChangeReply, FaultRequest, FaultReply, StreamRequest, StreamReply,
                          LocalGetRequest, LocalGetReply, AeCompare, AeCompareReply, AeFetch, AeFetchReply,
                          AePush, AePushReply, RepairRequest, RepairReply, AuthHello, AuthChallenge,
                          AuthProof, AuthOk, AuthPassword, PaxosRequest, PaxosReply>;

// What every alternative of Body carries.
template <class M>
concept WireMessage = requires {
  { M::kType } -> std::convertible_to<MsgType>;
  { M::kIsReply } -> std::convertible_to<bool>;
  { M::kName } -> std::convertible_to<std::string_view>;
  M::wire_fields();
};

inline constexpr size_t kMessageTypes = std::variant_size_v<Body>;  // alternatives, not the highest number

namespace detail {
template <size_t... I>
consteval std::array<MsgType, sizeof...(I)> body_types(std::index_sequence<I...>) {
  static_assert((WireMessage<std::variant_alternative_t<I, Body>> && ...),
                "a message needs kType, kIsReply, kName and wire_fields()");
  return {std::variant_alternative_t<I, Body>::kType...};
}
// Alternative i's type number.
inline constexpr auto kBodyTypes = body_types(std::make_index_sequence<kMessageTypes>{});

consteval bool body_in_type_order() {
  for (size_t i = 0; i < kBodyTypes.size(); ++i) {
    if (static_cast<int>(kBodyTypes[i]) < 1) return false;
    if (i > 0 && kBodyTypes[i] <= kBodyTypes[i - 1]) return false;
  }
  return true;
}
static_assert(body_in_type_order(),
              "Body's alternatives must be in MsgType order, each number once, from 1 on");

// For each type number, the index of its alternative in Body; -1 for none.
consteval std::array<int, 256> alternative_of_type() {
  std::array<int, 256> index{};
  index.fill(-1);
  for (size_t i = 0; i < kBodyTypes.size(); ++i) index[static_cast<size_t>(kBodyTypes[i])] = static_cast<int>(i);
  return index;
}
template <size_t... I>
consteval std::array<bool, sizeof...(I)> replies(std::index_sequence<I...>) {
  return {std::variant_alternative_t<I, Body>::kIsReply...};
}
}  // namespace detail

// The alternative of Body that carries type `t`, or -1 when no message has that number.
inline int alternative_of(MsgType t) {
  static constexpr auto kIndex = detail::alternative_of_type();
  return kIndex[static_cast<size_t>(t)];
}

inline MsgType type_of(const Body& body) { return detail::kBodyTypes[body.index()]; }

// The message's name for errors and logs ("replica write").
inline std::string_view name_of(const Body& body) {
  return std::visit([](const auto& m) { return std::string_view(std::decay_t<decltype(m)>::kName); }, body);
}

// Replies answer a request_id; everything else is a request.
inline bool is_reply(MsgType t) {
  static constexpr auto kReplies = detail::replies(std::make_index_sequence<kMessageTypes>{});
  const int i = alternative_of(t);
  return i >= 0 && kReplies[static_cast<size_t>(i)];
}

inline bool RaftMessage::operator==(const RaftMessage& o) const {
  const raft::Message &a = msg, &b = o.msg;
  bool snapshots_equal = (!a.snapshot && !b.snapshot) ||
                         (a.snapshot && b.snapshot && *a.snapshot == *b.snapshot);
  return a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
         a.log_term == b.log_term && a.index == b.index && a.entries == b.entries &&
         a.commit == b.commit && a.reject == b.reject && a.reject_hint == b.reject_hint &&
         a.context == b.context && a.leader_transfer == b.leader_transfer && snapshots_equal;
}

struct Message {
  uint64_t request_id = 0;  // chosen by the sender of a request, echoed in its reply
  Body body;
  bool operator==(const Message&) const = default;
};

}  // namespace tally::wire
