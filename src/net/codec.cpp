#include "net/codec.hpp"

#include "codec/msgpack_io.hpp"
#include "codec/parts.hpp"
#include "net/frame.hpp"

namespace tally::net {

using namespace codec;

namespace {

void pack_options(Packer& p, const wire::RequestOptions& o) {
  p.pack_array(7);
  p.pack(o.r);
  p.pack(o.w);
  p.pack(o.timeout_ms);
  p.pack(o.sloppy);
  p.pack(o.blocking_repair);
  p.pack(o.forwarded);
  p.pack(o.overwrite);
}

// A Raft message is its fields, flattened into the wire message.
void pack_raft_fields(Packer& p, const raft::Message& m) {
  p.pack(static_cast<uint8_t>(m.type));
  p.pack(m.from);
  p.pack(m.to);
  p.pack(m.term);
  p.pack(m.log_term);
  p.pack(m.index);
  p.pack_array(static_cast<uint32_t>(m.entries.size()));
  for (const auto& e : m.entries) pack_entry(p, e);
  p.pack(m.commit);
  p.pack(m.reject);
  p.pack(m.reject_hint);
  p.pack(m.context);
  p.pack(m.leader_transfer);
  if (m.snapshot) {
    pack_snapshot(p, *m.snapshot);
  } else {
    p.pack_nil();
  }
}

raft::Message get_raft_fields(const msgpack::object* f) {
  raft::Message m;
  m.type = static_cast<raft::MessageType>(get_uint(f[0], "raft.type", 9));
  m.from = get_uint(f[1], "raft.from", UINT64_MAX);
  m.to = get_uint(f[2], "raft.to", UINT64_MAX);
  m.term = get_uint(f[3], "raft.term", UINT64_MAX);
  m.log_term = get_uint(f[4], "raft.log_term", UINT64_MAX);
  m.index = get_uint(f[5], "raft.index", UINT64_MAX);
  const auto& entries = get_array(f[6], "raft.entries", 0);
  m.entries.reserve(entries.size);
  for (uint32_t i = 0; i < entries.size; ++i) m.entries.push_back(get_entry(entries.ptr[i]));
  m.commit = get_uint(f[7], "raft.commit", UINT64_MAX);
  m.reject = get_bool(f[8], "raft.reject");
  m.reject_hint = get_uint(f[9], "raft.reject_hint", UINT64_MAX);
  m.context = get_uint(f[10], "raft.context", UINT64_MAX);
  m.leader_transfer = get_bool(f[11], "raft.leader_transfer");
  if (f[12].type != msgpack::type::NIL) m.snapshot = std::make_shared<const raft::Snapshot>(get_snapshot(f[12]));
  return m;
}


// Fields after [version, type, request_id], per message type.
size_t field_count(const wire::Body& body) {
  struct {
    size_t operator()(const wire::ErrorReply&) { return 2; }
    size_t operator()(const wire::PingRequest&) { return 1; }
    size_t operator()(const wire::PingReply&) { return 1; }
    size_t operator()(const wire::PutRequest&) { return 5; }
    size_t operator()(const wire::PutReply&) { return 2; }
    size_t operator()(const wire::GetRequest&) { return 3; }
    size_t operator()(const wire::GetReply&) { return 3; }
    size_t operator()(const wire::DeleteRequest&) { return 4; }
    size_t operator()(const wire::DeleteReply&) { return 1; }
    size_t operator()(const wire::StatusRequest&) { return 0; }
    size_t operator()(const wire::StatusReply&) { return 1; }
    size_t operator()(const wire::ReplicaWrite&) { return 5; }
    size_t operator()(const wire::ReplicaWriteReply&) { return 1; }
    size_t operator()(const wire::ReplicaRead&) { return 3; }
    size_t operator()(const wire::ReplicaReadReply&) { return 3; }
    size_t operator()(const wire::RaftMessage&) { return 13; }
    size_t operator()(const wire::ClusterInfoRequest&) { return 2; }
    size_t operator()(const wire::ClusterInfoReply&) { return 9; }
    size_t operator()(const wire::MetaChangeRequest&) { return 10; }
    size_t operator()(const wire::MetaChangeReply&) { return 3; }
    size_t operator()(const wire::FaultRequest&) { return 2; }
    size_t operator()(const wire::FaultReply&) { return 0; }
  } count;
  return std::visit(count, body);
}

void pack_fields(Packer& p, const wire::Body& body) {
  struct Visitor {
    Packer& p;
    void operator()(const wire::ErrorReply& m) {
      p.pack(static_cast<uint8_t>(m.code));
      pack_str(p, m.message);
    }
    void operator()(const wire::PingRequest& m) { p.pack(m.from); }
    void operator()(const wire::PingReply& m) { pack_str(p, m.node_id); }
    void operator()(const wire::PutRequest& m) {
      pack_str(p, m.keyspace);
      pack_bin(p, m.key);
      pack_bin(p, m.value);
      pack_bin(p, m.context);
      pack_options(p, m.options);
    }
    void operator()(const wire::PutReply& m) {
      pack_bin(p, m.context);
      p.pack(m.epoch);
    }
    void operator()(const wire::GetRequest& m) {
      pack_str(p, m.keyspace);
      pack_bin(p, m.key);
      pack_options(p, m.options);
    }
    void operator()(const wire::GetReply& m) {
      p.pack_array(static_cast<uint32_t>(m.values.size()));
      for (const auto& v : m.values) pack_bin(p, v);
      pack_bin(p, m.context);
      p.pack(m.epoch);
    }
    void operator()(const wire::DeleteRequest& m) {
      pack_str(p, m.keyspace);
      pack_bin(p, m.key);
      pack_bin(p, m.context);
      pack_options(p, m.options);
    }
    void operator()(const wire::DeleteReply& m) { p.pack(m.epoch); }
    void operator()(const wire::StatusRequest&) {}
    void operator()(const wire::StatusReply& m) {
      p.pack_array(static_cast<uint32_t>(m.fields.size()));
      for (const auto& [k, v] : m.fields) {
        p.pack_array(2);
        pack_str(p, k);
        pack_str(p, v);
      }
    }
    void operator()(const wire::ReplicaWrite& m) {
      pack_str(p, m.keyspace);
      pack_bin(p, m.key);
      pack_record(p, m.record);
      p.pack(m.hint_for);
      p.pack(m.epoch);
    }
    void operator()(const wire::ReplicaWriteReply& m) { p.pack(m.epoch); }
    void operator()(const wire::ReplicaRead& m) {
      pack_str(p, m.keyspace);
      pack_bin(p, m.key);
      p.pack(m.epoch);
    }
    void operator()(const wire::ReplicaReadReply& m) {
      p.pack(m.found);
      pack_record(p, m.record);
      p.pack(m.epoch);
    }
    void operator()(const wire::RaftMessage& r) { pack_raft_fields(p, r.msg); }
    void operator()(const wire::ClusterInfoRequest& m) {
      p.pack(m.linearizable);
      p.pack(m.forwarded);
    }
    void operator()(const wire::ClusterInfoReply& m) {
      pack_str(p, m.answered_by);
      p.pack(m.leader);
      p.pack(m.term);
      p.pack(m.commit);
      p.pack(m.applied);
      pack_ids(p, m.voters);
      pack_ids(p, m.learners);
      pack_ids(p, m.down);
      pack_cluster_map(p, m.map);
    }
    void operator()(const wire::MetaChangeRequest& m) {
      p.pack(static_cast<uint8_t>(m.op));
      pack_str(p, m.node);
      pack_str(p, m.address);
      pack_str(p, m.zone);
      pack_str(p, m.keyspace);
      p.pack(m.n);
      p.pack(m.r);
      p.pack(m.w);
      p.pack(m.mode);
      p.pack(m.forwarded);
    }
    void operator()(const wire::MetaChangeReply& m) {
      p.pack(m.node_id);
      p.pack(m.epoch);
      p.pack(m.index);
    }
    void operator()(const wire::FaultRequest& m) {
      p.pack(m.delay_ms);
      p.pack(m.silent);
    }
    void operator()(const wire::FaultReply&) {}
  };
  std::visit(Visitor{p}, body);
}

void pack_message(Packer& p, const wire::Message& msg) {
  p.pack_array(static_cast<uint32_t>(3 + field_count(msg.body)));
  p.pack(wire::kProtocolVersion);
  p.pack(static_cast<uint8_t>(wire::type_of(msg.body)));
  p.pack(msg.request_id);
  pack_fields(p, msg.body);
}

wire::RequestOptions get_options(const msgpack::object& o) {
  const auto& a = get_array(o, "options", 4);
  wire::RequestOptions opt;
  opt.r = static_cast<uint8_t>(get_uint(a.ptr[0], "options.r", 255));
  opt.w = static_cast<uint8_t>(get_uint(a.ptr[1], "options.w", 255));
  opt.timeout_ms = static_cast<uint32_t>(get_uint(a.ptr[2], "options.timeout_ms", UINT32_MAX));
  opt.sloppy = get_bool(a.ptr[3], "options.sloppy");
  // Older clients send four options; the rest default to false.
  if (a.size > 4) opt.blocking_repair = get_bool(a.ptr[4], "options.blocking_repair");
  if (a.size > 5) opt.forwarded = get_bool(a.ptr[5], "options.forwarded");
  if (a.size > 6) opt.overwrite = get_bool(a.ptr[6], "options.overwrite");
  return opt;
}

wire::Body decode_body(wire::MsgType type, const msgpack::object* f, uint32_t n) {
  auto need = [&](uint32_t count, const char* name) {
    if (n < count) {
      throw DecodeError{std::string(name) + " needs " + std::to_string(count) + " fields, got " +
                        std::to_string(n)};
    }
  };
  switch (type) {
    case wire::MsgType::kError: {
      need(2, "error");
      uint64_t code = get_uint(f[0], "error.code", 255);
      return wire::ErrorReply{static_cast<Code>(code), get_bytes(f[1], "error.message")};
    }
    case wire::MsgType::kPing:
      // Clients older than heartbeats with a sender send no field.
      return wire::PingRequest{n >= 1 ? static_cast<uint32_t>(get_uint(f[0], "from", UINT32_MAX)) : 0};
    case wire::MsgType::kPingReply: need(1, "ping reply"); return wire::PingReply{get_bytes(f[0], "node_id")};
    case wire::MsgType::kPut:
      need(5, "put");
      return wire::PutRequest{get_bytes(f[0], "keyspace"), get_bytes(f[1], "key"),
                              get_bytes(f[2], "value"), get_bytes(f[3], "context"),
                              get_options(f[4])};
    // Replies from nodes older than epochs in replies have fewer fields.
    case wire::MsgType::kPutReply:
      need(1, "put reply");
      return wire::PutReply{get_bytes(f[0], "context"), n > 1 ? get_uint(f[1], "epoch", UINT64_MAX) : 0};
    case wire::MsgType::kGet:
      need(3, "get");
      return wire::GetRequest{get_bytes(f[0], "keyspace"), get_bytes(f[1], "key"),
                              get_options(f[2])};
    case wire::MsgType::kGetReply: {
      need(2, "get reply");
      const auto& vals = get_array(f[0], "values", 0);
      wire::GetReply r;
      r.values.reserve(vals.size);
      for (uint32_t i = 0; i < vals.size; ++i) r.values.push_back(get_bytes(vals.ptr[i], "values[]"));
      r.context = get_bytes(f[1], "context");
      if (n > 2) r.epoch = get_uint(f[2], "epoch", UINT64_MAX);
      return r;
    }
    case wire::MsgType::kDelete:
      need(4, "delete");
      return wire::DeleteRequest{get_bytes(f[0], "keyspace"), get_bytes(f[1], "key"),
                                 get_bytes(f[2], "context"), get_options(f[3])};
    case wire::MsgType::kDeleteReply: return wire::DeleteReply{n > 0 ? get_uint(f[0], "epoch", UINT64_MAX) : 0};
    case wire::MsgType::kStatus: return wire::StatusRequest{};
    case wire::MsgType::kStatusReply: {
      need(1, "status reply");
      const auto& fields = get_array(f[0], "fields", 0);
      wire::StatusReply r;
      for (uint32_t i = 0; i < fields.size; ++i) {
        const auto& kv = get_array(fields.ptr[i], "fields[]", 2);
        r.fields.emplace_back(get_bytes(kv.ptr[0], "fields[].name"),
                              get_bytes(kv.ptr[1], "fields[].value"));
      }
      return r;
    }
    case wire::MsgType::kReplicaWrite:
      need(5, "replica write");
      return wire::ReplicaWrite{get_bytes(f[0], "keyspace"), get_bytes(f[1], "key"), get_record(f[2]),
                                static_cast<uint32_t>(get_uint(f[3], "hint_for", UINT32_MAX)),
                                get_uint(f[4], "epoch", UINT64_MAX)};
    case wire::MsgType::kReplicaWriteReply:
      need(1, "replica write reply");
      return wire::ReplicaWriteReply{get_uint(f[0], "epoch", UINT64_MAX)};
    case wire::MsgType::kReplicaRead:
      need(3, "replica read");
      return wire::ReplicaRead{get_bytes(f[0], "keyspace"), get_bytes(f[1], "key"), get_uint(f[2], "epoch", UINT64_MAX)};
    case wire::MsgType::kReplicaReadReply:
      need(3, "replica read reply");
      return wire::ReplicaReadReply{get_bool(f[0], "found"), get_record(f[1]), get_uint(f[2], "epoch", UINT64_MAX)};
    case wire::MsgType::kRaft:
      need(13, "raft message");
      return wire::RaftMessage{get_raft_fields(f)};
    case wire::MsgType::kClusterInfo:
      need(2, "cluster info");
      return wire::ClusterInfoRequest{get_bool(f[0], "linearizable"), get_bool(f[1], "forwarded")};
    case wire::MsgType::kClusterInfoReply: {
      need(9, "cluster info reply");
      wire::ClusterInfoReply r;
      r.answered_by = get_bytes(f[0], "answered_by");
      r.leader = get_uint(f[1], "leader", UINT64_MAX);
      r.term = get_uint(f[2], "term", UINT64_MAX);
      r.commit = get_uint(f[3], "commit", UINT64_MAX);
      r.applied = get_uint(f[4], "applied", UINT64_MAX);
      r.voters = get_ids(f[5], "voters");
      r.learners = get_ids(f[6], "learners");
      r.down = get_ids(f[7], "down");
      r.map = get_cluster_map(f[8]);
      return r;
    }
    case wire::MsgType::kMetaChange: {
      need(10, "metadata change");
      wire::MetaChangeRequest r;
      uint64_t op = get_uint(f[0], "op", 255);
      if (op < 1 || op > 9) fail("op", "a metadata operation 1..9");
      r.op = static_cast<wire::MetaOp>(op);
      r.node = get_bytes(f[1], "node");
      r.address = get_bytes(f[2], "address");
      r.zone = get_bytes(f[3], "zone");
      r.keyspace = get_bytes(f[4], "keyspace");
      r.n = static_cast<uint8_t>(get_uint(f[5], "n", 255));
      r.r = static_cast<uint8_t>(get_uint(f[6], "r", 255));
      r.w = static_cast<uint8_t>(get_uint(f[7], "w", 255));
      r.mode = static_cast<uint8_t>(get_uint(f[8], "mode", 2));
      r.forwarded = get_bool(f[9], "forwarded");
      return r;
    }
    case wire::MsgType::kFault:
      need(2, "fault");
      return wire::FaultRequest{static_cast<uint32_t>(get_uint(f[0], "delay_ms", 3'600'000)), get_bool(f[1], "silent")};
    case wire::MsgType::kFaultReply: return wire::FaultReply{};
    case wire::MsgType::kMetaChangeReply:
      need(3, "metadata change reply");
      return wire::MetaChangeReply{get_uint(f[0], "node_id", UINT64_MAX), get_uint(f[1], "epoch", UINT64_MAX),
                                   get_uint(f[2], "index", UINT64_MAX)};
  }
  throw DecodeError{"unknown message type " + std::to_string(static_cast<int>(type))};
}

}  // namespace

void encode_frame(const wire::Message& msg, std::string& out) {
  size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  StringSink sink{&out};
  Packer p(sink);
  pack_message(p, msg);
  uint32_t len = static_cast<uint32_t>(out.size() - start - kFrameHeaderBytes);
  out[start] = static_cast<char>(len >> 24);
  out[start + 1] = static_cast<char>(len >> 16);
  out[start + 2] = static_cast<char>(len >> 8);
  out[start + 3] = static_cast<char>(len);
}

std::string encode_payload(const wire::Message& msg) {
  return packed([&](Packer& p) { pack_message(p, msg); });
}

Result<wire::Message> decode_payload(std::string_view payload, const DecodeLimits& limits) {
  return decode_guarded<wire::Message>(
      payload, limits, Code::kProtocolError, "malformed message",
      [](const msgpack::object& o) -> Result<wire::Message> {
        const auto& a = get_array(o, "message", 3);
        uint64_t version = get_uint(a.ptr[0], "version", 255);
        if (version != wire::kProtocolVersion) {
          return Status::ProtocolError("unsupported protocol version " + std::to_string(version) +
                                       " (this node speaks " +
                                       std::to_string(wire::kProtocolVersion) + ")");
        }
        auto type = static_cast<wire::MsgType>(get_uint(a.ptr[1], "type", 255));
        wire::Message msg;
        msg.request_id = get_uint(a.ptr[2], "request_id", UINT64_MAX);
        msg.body = decode_body(type, a.ptr + 3, a.size - 3);
        return msg;
      });
}

// ---- contexts -------------------------------------------------------------------

std::string encode_context(const quorum::VersionVector& clock) {
  return packed([&](Packer& p) { pack_clock(p, clock); });
}

Result<quorum::VersionVector> decode_context(std::string_view bytes) {
  if (bytes.empty()) return quorum::VersionVector{};
  // A context comes from a user, who may have mangled it: an invalid argument.
  return decode_guarded<quorum::VersionVector>(
      bytes, DecodeLimits{1024, 1024, 2}, Code::kInvalidArgument,
      "bad context (pass the context a get returned, unchanged)",
      [](const msgpack::object& o) { return get_clock(o, "context"); });
}

}  // namespace tally::net
