// Every message that crosses the wire, as plain structs.
//
// On the wire a message is one frame: a 4-byte big-endian length, then a
// msgpack array [version, type, request_id, ...fields] (DESIGN.md §6). The
// codec (net/codec.hpp) is the only code that knows that layout; everything
// else sees these structs. Type numbers are part of the protocol: append only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

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
  bool operator==(const RequestOptions&) const = default;
};

struct ErrorReply {
  Code code = Code::kInternal;
  std::string message;
  bool operator==(const ErrorReply&) const = default;
};

struct PingRequest {
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
struct PutReply {
  std::string context;  // the context of the new version
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
struct ReplicaWrite {
  std::string keyspace;
  std::string key;
  quorum::DvvSet record;
  uint32_t hint_for = 0;
  bool operator==(const ReplicaWrite&) const = default;
};
struct ReplicaWriteReply {
  bool operator==(const ReplicaWriteReply&) const = default;
};
struct ReplicaRead {
  std::string keyspace;
  std::string key;
  bool operator==(const ReplicaRead&) const = default;
};
struct ReplicaReadReply {
  bool found = false;
  quorum::DvvSet record;
  bool operator==(const ReplicaReadReply&) const = default;
};

// Node to node: one message of the metadata Raft group. No reply: Raft's own
// responses are messages too.
struct RaftMessage {
  raft::Message msg;
  bool operator==(const RaftMessage& o) const;
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
};

// The variant's alternatives are in MsgType order (index + 1 == type).
using Body = std::variant<ErrorReply, PingRequest, PingReply, PutRequest, PutReply, GetRequest,
                          GetReply, DeleteRequest, DeleteReply, StatusRequest, StatusReply,
                          ReplicaWrite, ReplicaWriteReply, ReplicaRead, ReplicaReadReply,
                          RaftMessage>;

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
    case MsgType::kReplicaReadReply: return true;
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
