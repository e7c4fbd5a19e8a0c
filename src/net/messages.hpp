// Every message that crosses the wire, as plain structs.
//
// On the wire a message is one frame: a 4-byte big-endian length, then a
// msgpack array [version, type, request_id, ...fields] (docs/architecture.md, Wire format). The
// codec (net/codec.hpp) is the only code that knows that layout; everything
// else sees these structs. Type numbers are part of the protocol: append only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "meta/cluster_map.hpp"
#include "quorum/version.hpp"
#include "raft/message.hpp"
#include "tally/status.hpp"

namespace tally::wire {

constexpr uint8_t kProtocolVersion = 1;

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
  bool operator==(const RequestOptions&) const = default;
};

struct ErrorReply {
  Code code = Code::kInternal;
  std::string message;
  bool operator==(const ErrorReply&) const = default;
};

struct PingRequest {
  uint32_t from = 0;  // the sending node's id for a heartbeat; 0 from a client
  bool operator==(const PingRequest&) const = default;
};
struct PingReply {
  std::string node_id;
  bool operator==(const PingReply&) const = default;
};

struct PutRequest {
  std::string keyspace;
  std::string key;
  std::string value;
  std::string context;  // opaque causal context from an earlier get; empty = none
  RequestOptions options;
  bool operator==(const PutRequest&) const = default;
};
// Replies to clients' data requests carry the answering node's metadata
// epoch: a client routing by an older map fetches the newer one.
struct PutReply {
  std::string context;  // the context of the new version
  uint64_t epoch = 0;
  bool operator==(const PutReply&) const = default;
};

struct GetRequest {
  std::string keyspace;
  std::string key;
  RequestOptions options;
  bool operator==(const GetRequest&) const = default;
};
struct GetReply {
  std::vector<std::string> values;  // concurrent siblings; empty = not found (or deleted)
  std::string context;              // pass to put/delete to supersede what was read
  uint64_t epoch = 0;
  bool operator==(const GetReply&) const = default;
};

struct DeleteRequest {
  std::string keyspace;
  std::string key;
  std::string context;
  RequestOptions options;
  bool operator==(const DeleteRequest&) const = default;
};
struct DeleteReply {
  uint64_t epoch = 0;
  bool operator==(const DeleteReply&) const = default;
};

struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};
// An ordered list of (name, value) pairs, like Redis' INFO: new fields can be
// added without a protocol change.
struct StatusReply {
  std::vector<std::pair<std::string, std::string>> fields;
  bool operator==(const StatusReply&) const = default;
};

// Node to node: store `record` by merging it (DVV sync) into what the replica
// has. With hint_for set, the receiver is a fallback: it keeps the record as a
// hint for that node and hands it over when the node is back.
//
// Node-to-node data messages and their replies carry the sender's metadata
// epoch: a node that sees a higher one than its own fetches the newer map.
struct ReplicaWrite {
  std::string keyspace;
  std::string key;
  quorum::DvvSet record;
  uint32_t hint_for = 0;
  uint64_t epoch = 0;
  bool operator==(const ReplicaWrite&) const = default;
};
struct ReplicaWriteReply {
  uint64_t epoch = 0;
  bool operator==(const ReplicaWriteReply&) const = default;
};
struct ReplicaRead {
  std::string keyspace;
  std::string key;
  uint64_t epoch = 0;
  bool operator==(const ReplicaRead&) const = default;
};
struct ReplicaReadReply {
  bool found = false;
  quorum::DvvSet record;
  uint64_t epoch = 0;
  bool operator==(const ReplicaReadReply&) const = default;
};

// Node to node: one message of the metadata Raft group. No reply: Raft's own
// responses are messages too.
struct RaftMessage {
  raft::Message msg;
  bool operator==(const RaftMessage& o) const;
};

// The cluster's metadata, from any node. With `linearizable` the answer holds
// every change committed before the request arrived (a ReadIndex round on the
// metadata leader, to which a follower forwards it); without, it is the
// answering node's own copy, which may be a little behind.
struct ClusterInfoRequest {
  bool linearizable = false;
  bool forwarded = false;  // set by a node passing it to the leader
  bool operator==(const ClusterInfoRequest&) const = default;
};
struct ClusterInfoReply {
  std::string answered_by;  // the name of the node that answered
  uint64_t leader = 0;      // node id of the metadata leader; 0 while unknown
  uint64_t term = 0;
  uint64_t commit = 0;  // the answering node's commit and applied indexes
  uint64_t applied = 0;
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  std::vector<uint64_t> down;  // members the answering node's failure detector holds down
  meta::ClusterMap map;
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
  kFinishJoin = 9,      // node: joining -> normal (sent by the joiner once it has caught up)
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
    case MetaOp::kFinishJoin: return "finish join";
  }
  return "unknown";
}

struct MetaChangeRequest {
  MetaOp op = MetaOp::kJoin;
  std::string node;      // a node's name
  std::string address;   // kJoin: "host:port"
  std::string zone;      // kJoin
  std::string keyspace;  // keyspace ops
  uint8_t n = 0, r = 0, w = 0;
  uint8_t mode = 0;  // 0 default/unchanged, 1 siblings, 2 lww
  bool forwarded = false;
  bool operator==(const MetaChangeRequest&) const = default;
};
struct MetaChangeReply {
  uint64_t node_id = 0;  // kJoin: the id given to the node
  uint64_t epoch = 0;    // the map's epoch once the change applied
  uint64_t index = 0;    // the change's position in the metadata log
  bool operator==(const MetaChangeReply&) const = default;
};

// Makes the receiving node play a fault, for tests and benchmarks (see
// tally::Fault): answer other nodes' replica requests `delay_ms` later, or
// ignore them and their heartbeats (`silent`). Replaces the fault it played.
struct FaultRequest {
  uint32_t delay_ms = 0;
  bool silent = false;
  bool operator==(const FaultRequest&) const = default;
};
struct FaultReply {
  bool operator==(const FaultReply&) const = default;
};

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
};

// The variant's alternatives are in MsgType order (index + 1 == type).
using Body = std::variant<ErrorReply, PingRequest, PingReply, PutRequest, PutReply, GetRequest,
                          GetReply, DeleteRequest, DeleteReply, StatusRequest, StatusReply,
                          ReplicaWrite, ReplicaWriteReply, ReplicaRead, ReplicaReadReply,
                          RaftMessage, ClusterInfoRequest, ClusterInfoReply, MetaChangeRequest,
                          MetaChangeReply, FaultRequest, FaultReply>;

inline MsgType type_of(const Body& body) { return static_cast<MsgType>(body.index() + 1); }

// Replies answer a request_id; everything else is a request.
inline bool is_reply(MsgType t) {
  switch (t) {
    case MsgType::kError:
    case MsgType::kPingReply:
    case MsgType::kPutReply:
    case MsgType::kGetReply:
    case MsgType::kDeleteReply:
    case MsgType::kStatusReply:
    case MsgType::kReplicaWriteReply:
    case MsgType::kReplicaReadReply:
    case MsgType::kClusterInfoReply:
    case MsgType::kMetaChangeReply:
    case MsgType::kFaultReply: return true;
    default: return false;
  }
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
