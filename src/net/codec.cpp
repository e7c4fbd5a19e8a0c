#include "net/codec.hpp"

#include <algorithm>
#include <msgpack.hpp>

#include "net/frame.hpp"
#include "quorum/dvv.hpp"

namespace tally::net {
namespace {

// msgpack's packer writes through any type with write(const char*, size_t).
struct StringSink {
  std::string* out;
  void write(const char* data, size_t n) { out->append(data, n); }
};
using Packer = msgpack::packer<StringSink>;

// The buffer every packed() packs into, one per thread.
std::string& pack_scratch() {
  thread_local std::string scratch;
  return scratch;
}

// The bytes `fill` packs. Packed into the thread's buffer and copied out at
// their size: one allocation, where growing the result as it packs took three
// or four for a 200-byte record. `fill` packs; it must not call packed()
// itself (they would share the buffer).
template <class Fill>
std::string packed(Fill&& fill) {
  constexpr size_t kKeepBytes = 1 << 20;  // a snapshot's buffer is not kept
  std::string& scratch = pack_scratch();
  scratch.clear();
  StringSink sink{&scratch};
  Packer p(sink);
  fill(p);
  std::string out = scratch;
  if (scratch.capacity() > kKeepBytes) std::string().swap(scratch);
  return out;
}

void pack_str(Packer& p, const std::string& s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void pack_bin(Packer& p, const std::string& s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

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

void pack_clock(Packer& p, const quorum::VersionVector& vv) {
  p.pack_array(static_cast<uint32_t>(vv.entries.size() * 2));
  for (const auto& [id, counter] : vv.entries) {
    p.pack(id);
    p.pack(counter);
  }
}

constexpr uint64_t kRecordFormat = 1;

void pack_record(Packer& p, const quorum::DvvSet& record) {
  p.pack_array(3);
  p.pack(kRecordFormat);
  pack_clock(p, record.clock);
  p.pack_array(static_cast<uint32_t>(record.siblings.size()));
  for (const auto& s : record.siblings) {
    p.pack_array(7);
    p.pack(s.dot.replica);
    p.pack(s.dot.counter);
    p.pack(s.timestamp.wall_ms);
    p.pack(s.timestamp.logical);
    p.pack(s.timestamp.node);
    p.pack(s.tombstone);
    pack_bin(p, s.value);
  }
}

void pack_raft_fields(Packer& p, const raft::Message& m);
raft::Message get_raft_fields(const msgpack::object* f);
void pack_cluster_map(Packer& p, const meta::ClusterMap& map);
meta::ClusterMap get_cluster_map(const msgpack::object& o);

void pack_ids(Packer& p, const std::vector<uint64_t>& ids) {
  p.pack_array(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) p.pack(id);
}
std::vector<uint64_t> get_ids(const msgpack::object& o, const char* field);

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

// ---- decoding ----------------------------------------------------------------

// Thrown inside this file only; decode_* turn it into a Status.
struct DecodeError {
  std::string what;
};

[[noreturn]] void fail(const char* field, const char* expected) {
  throw DecodeError{std::string("field '") + field + "': expected " + expected};
}

uint64_t get_uint(const msgpack::object& o, const char* field, uint64_t max) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) fail(field, "an unsigned integer");
  if (o.via.u64 > max) fail(field, ("an integer at most " + std::to_string(max)).c_str());
  return o.via.u64;
}
bool get_bool(const msgpack::object& o, const char* field) {
  if (o.type != msgpack::type::BOOLEAN) fail(field, "a boolean");
  return o.via.boolean;
}
// Strings and binaries are accepted interchangeably: clients in other
// languages do not always distinguish them.
std::string get_bytes(const msgpack::object& o, const char* field) {
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  fail(field, "a string");
}
const msgpack::object_array& get_array(const msgpack::object& o, const char* field,
                                       uint32_t min_size) {
  if (o.type != msgpack::type::ARRAY) fail(field, "an array");
  if (o.via.array.size < min_size) {
    fail(field, ("an array of at least " + std::to_string(min_size) + " elements").c_str());
  }
  return o.via.array;
}

std::vector<uint64_t> get_ids(const msgpack::object& o, const char* field) {
  const auto& a = get_array(o, field, 0);
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < a.size; ++i) out.push_back(get_uint(a.ptr[i], field, UINT64_MAX));
  return out;
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

// Bytes are referenced, not copied, while the object tree is walked; the
// strings are copied once into the message structs.
bool reference_all(msgpack::type::object_type, std::size_t, void*) { return true; }

msgpack::object unpack_one(msgpack::zone& zone, std::string_view bytes, const DecodeLimits& lim) {
  // Every element takes at least one byte, so no honest header claims more
  // elements than there are bytes: capping there keeps a 5-byte array header
  // from making msgpack allocate gigabytes up front.
  size_t elements = std::min<size_t>(lim.max_elements, bytes.size());
  msgpack::unpack_limit limit(elements, elements, lim.max_bytes, lim.max_bytes, /*ext=*/0, lim.max_depth);
  std::size_t off = 0;
  msgpack::object o =
      msgpack::unpack(zone, bytes.data(), bytes.size(), off, reference_all, nullptr, limit);
  if (off != bytes.size()) {
    throw DecodeError{std::to_string(bytes.size() - off) + " trailing bytes after the message"};
  }
  return o;
}

// Unpacks `bytes` within `limits` and runs `body` on the object, turning every
// way decoding can fail into one Status: `code`, and a message that starts
// with `prefix` and says what was wrong. The one place that catches.
template <class T, class Fn>
Result<T> decode_guarded(std::string_view bytes, const DecodeLimits& limits, Code code,
                         std::string_view prefix, Fn body) {
  auto fail = [&](std::string_view what) { return Status(code, std::string(prefix) + ": " + std::string(what)); };
  // One zone per thread, emptied for each decode: its first chunk is reused
  // instead of allocated and freed for every message (the results own their
  // bytes; nothing points into the zone once `body` returns).
  thread_local msgpack::zone zone;
  struct Emptied {
    ~Emptied() { zone.clear(); }
  } emptied;
  try {
    msgpack::object o = unpack_one(zone, bytes, limits);
    return body(o);
  } catch (const DecodeError& e) {
    return fail(e.what);
  } catch (const msgpack::unpack_error& e) {
    return fail(std::string("msgpack: ") + e.what());
  } catch (const std::bad_alloc&) {
    return fail("too large to decode");
  }
}

// Stored bytes (records, Raft state) are ours: any limit they hit is corruption.
constexpr DecodeLimits kStoredLimits{UINT32_MAX, UINT32_MAX, 8};

quorum::VersionVector get_clock(const msgpack::object& o, const char* field);
quorum::DvvSet get_record(const msgpack::object& o);

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

// ---- records and contexts ------------------------------------------------------

namespace {

quorum::VersionVector get_clock(const msgpack::object& o, const char* field) {
  const auto& a = get_array(o, field, 0);
  if (a.size % 2 != 0) fail(field, "an even-length array of (replica, counter)");
  quorum::VersionVector vv;
  vv.entries.reserve(a.size / 2);
  for (uint32_t i = 0; i < a.size; i += 2) {
    auto id = static_cast<quorum::ReplicaId>(get_uint(a.ptr[i], field, UINT32_MAX));
    uint64_t counter = get_uint(a.ptr[i + 1], field, UINT64_MAX);
    if (!vv.entries.empty() && vv.entries.back().first >= id) fail(field, "replica ids in increasing order");
    if (counter == 0) fail(field, "non-zero counters");
    vv.entries.emplace_back(id, counter);
  }
  return vv;
}

// A DVV set, checked to be one that updates and syncs could have produced.
quorum::DvvSet get_record(const msgpack::object& o) {
  const auto& a = get_array(o, "record", 3);
  uint64_t format = get_uint(a.ptr[0], "record.format", UINT64_MAX);
  if (format != kRecordFormat) throw DecodeError{"unknown record format " + std::to_string(format)};
  quorum::DvvSet rec;
  rec.clock = get_clock(a.ptr[1], "record.clock");
  const auto& sibs = get_array(a.ptr[2], "record.siblings", 0);
  rec.siblings.reserve(sibs.size);
  for (uint32_t i = 0; i < sibs.size; ++i) {
    const auto& f = get_array(sibs.ptr[i], "record.siblings[]", 7);
    quorum::Sibling s;
    s.dot.replica = static_cast<quorum::ReplicaId>(get_uint(f.ptr[0], "sibling.replica", UINT32_MAX));
    s.dot.counter = get_uint(f.ptr[1], "sibling.counter", UINT64_MAX);
    s.timestamp.wall_ms = get_uint(f.ptr[2], "sibling.wall_ms", UINT64_MAX);
    s.timestamp.logical = static_cast<uint32_t>(get_uint(f.ptr[3], "sibling.logical", UINT32_MAX));
    s.timestamp.node = static_cast<quorum::ReplicaId>(get_uint(f.ptr[4], "sibling.node", UINT32_MAX));
    s.tombstone = get_bool(f.ptr[5], "sibling.tombstone");
    s.value = get_bytes(f.ptr[6], "sibling.value");
    rec.siblings.push_back(std::move(s));
  }
  // Well-formed bytes can still hold a state no update could have made.
  Status valid = quorum::validate(rec);
  if (!valid.ok()) throw DecodeError{"not a valid version set: " + valid.message()};
  return rec;
}

}  // namespace

std::string encode_record(const quorum::DvvSet& record) {
  return packed([&](Packer& p) { pack_record(p, record); });
}

Result<quorum::DvvSet> decode_record(std::string_view bytes) {
  return decode_guarded<quorum::DvvSet>(bytes, kStoredLimits, Code::kCorruption,
                                        "stored record does not decode",
                                        [](const msgpack::object& o) { return get_record(o); });
}

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

// ---- Raft's persistent state ------------------------------------------------------

namespace {

// Stored Raft state and metadata: any failure is corruption of "stored <what>".
template <class T, class Fn>
Result<T> decode_stored(std::string_view bytes, const char* what, Fn body) {
  return decode_guarded<T>(bytes, kStoredLimits, Code::kCorruption,
                           std::string("stored ") + what + " does not decode", body);
}

}  // namespace

namespace {

void pack_entry(Packer& p, const raft::Entry& e) {
  p.pack_array(6);
  p.pack(e.term);
  p.pack(e.index);
  p.pack(static_cast<uint8_t>(e.type));
  pack_bin(p, e.data);
  p.pack(static_cast<uint8_t>(e.change.type));
  p.pack(e.change.node);
}

raft::Entry get_entry(const msgpack::object& o) {
  const auto& a = get_array(o, "entry", 6);
  raft::Entry e;
  e.term = get_uint(a.ptr[0], "entry.term", UINT64_MAX);
  e.index = get_uint(a.ptr[1], "entry.index", UINT64_MAX);
  e.type = static_cast<raft::EntryType>(get_uint(a.ptr[2], "entry.type", 1));
  e.data = get_bytes(a.ptr[3], "entry.data");
  e.change.type = static_cast<raft::ConfChangeType>(get_uint(a.ptr[4], "entry.change.type", 4));
  e.change.node = static_cast<raft::NodeId>(get_uint(a.ptr[5], "entry.change.node", UINT64_MAX));
  return e;
}

void pack_snapshot(Packer& p, const raft::Snapshot& s) {
  p.pack_array(5);
  p.pack(s.metadata.index);
  p.pack(s.metadata.term);
  pack_ids(p, s.metadata.membership.voters);
  pack_ids(p, s.metadata.membership.learners);
  pack_bin(p, s.data);
}

raft::Snapshot get_snapshot(const msgpack::object& o) {
  const auto& a = get_array(o, "snapshot", 5);
  raft::Snapshot s;
  s.metadata.index = get_uint(a.ptr[0], "snapshot.index", UINT64_MAX);
  s.metadata.term = get_uint(a.ptr[1], "snapshot.term", UINT64_MAX);
  s.metadata.membership.voters = get_ids(a.ptr[2], "snapshot.voters");
  s.metadata.membership.learners = get_ids(a.ptr[3], "snapshot.learners");
  s.data = get_bytes(a.ptr[4], "snapshot.data");
  return s;
}

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

}  // namespace

std::string encode_raft_entry(const raft::Entry& e) {
  return packed([&](Packer& p) { pack_entry(p, e); });
}

Result<raft::Entry> decode_raft_entry(std::string_view bytes) {
  return decode_stored<raft::Entry>(bytes, "raft entry", [](const msgpack::object& o) { return get_entry(o); });
}

std::string encode_hard_state(const raft::HardState& hs) {
  std::string out;
  StringSink sink{&out};
  Packer p(sink);
  p.pack_array(3);
  p.pack(hs.term);
  p.pack(hs.vote);
  p.pack(hs.commit);
  return out;
}

Result<raft::HardState> decode_hard_state(std::string_view bytes) {
  return decode_stored<raft::HardState>(bytes, "raft hard state", [](const msgpack::object& o) {
    const auto& a = get_array(o, "hard_state", 3);
    raft::HardState hs;
    hs.term = get_uint(a.ptr[0], "hard_state.term", UINT64_MAX);
    hs.vote = static_cast<raft::NodeId>(get_uint(a.ptr[1], "hard_state.vote", UINT64_MAX));
    hs.commit = get_uint(a.ptr[2], "hard_state.commit", UINT64_MAX);
    return hs;
  });
}

std::string encode_snapshot(const raft::Snapshot& s) {
  return packed([&](Packer& p) { pack_snapshot(p, s); });
}

Result<raft::Snapshot> decode_snapshot(std::string_view bytes) {
  return decode_stored<raft::Snapshot>(bytes, "raft snapshot", [](const msgpack::object& o) { return get_snapshot(o); });
}

// ---- metadata commands -------------------------------------------------------------

namespace {

enum class MetaTag : uint8_t {
  kAddNode = 1,
  kSetNodeState = 2,
  kCreateKeyspace = 3,
  kAlterKeyspace = 4,
  kDropKeyspace = 5,
  kInitCluster = 6,
};

void pack_keyspace(Packer& p, const meta::Keyspace& k) {
  p.pack_array(5);
  pack_str(p, k.name);
  p.pack(k.n);
  p.pack(k.r);
  p.pack(k.w);
  p.pack(static_cast<uint8_t>(k.mode));
}

meta::Keyspace get_keyspace(const msgpack::object& o) {
  const auto& a = get_array(o, "keyspace", 5);
  meta::Keyspace k;
  k.name = get_bytes(a.ptr[0], "keyspace.name");
  k.n = static_cast<int>(get_uint(a.ptr[1], "keyspace.n", 255));
  k.r = static_cast<int>(get_uint(a.ptr[2], "keyspace.r", 255));
  k.w = static_cast<int>(get_uint(a.ptr[3], "keyspace.w", 255));
  k.mode = static_cast<meta::ConflictMode>(get_uint(a.ptr[4], "keyspace.mode", 1));
  return k;
}

void pack_member(Packer& p, const meta::Member& m) {
  p.pack_array(6);
  p.pack(m.id);
  pack_str(p, m.name);
  pack_str(p, m.address);
  pack_str(p, m.zone);
  p.pack_array(static_cast<uint32_t>(m.tokens.size()));
  for (uint64_t t : m.tokens) p.pack(t);
  p.pack(static_cast<uint8_t>(m.state));
}

meta::Member get_member(const msgpack::object& o) {
  const auto& f = get_array(o, "member", 6);
  meta::Member m;
  m.id = static_cast<ring::NodeId>(get_uint(f.ptr[0], "member.id", UINT32_MAX));
  m.name = get_bytes(f.ptr[1], "member.name");
  m.address = get_bytes(f.ptr[2], "member.address");
  m.zone = get_bytes(f.ptr[3], "member.zone");
  const auto& tokens = get_array(f.ptr[4], "member.tokens", 0);
  for (uint32_t i = 0; i < tokens.size; ++i) m.tokens.push_back(get_uint(tokens.ptr[i], "member.tokens", UINT64_MAX));
  m.state = static_cast<meta::NodeState>(get_uint(f.ptr[5], "member.state", 3));
  return m;
}

void pack_cluster_map(Packer& p, const meta::ClusterMap& map) {
  p.pack_array(3);
  p.pack(map.epoch);
  p.pack_array(static_cast<uint32_t>(map.members.size()));
  for (const auto& m : map.members) pack_member(p, m);
  p.pack_array(static_cast<uint32_t>(map.keyspaces.size()));
  for (const auto& k : map.keyspaces) pack_keyspace(p, k);
}

meta::ClusterMap get_cluster_map(const msgpack::object& o) {
  const auto& f = get_array(o, "cluster_map", 3);
  meta::ClusterMap map;
  map.epoch = get_uint(f.ptr[0], "cluster_map.epoch", UINT64_MAX);
  const auto& members = get_array(f.ptr[1], "cluster_map.members", 0);
  for (uint32_t i = 0; i < members.size; ++i) map.members.push_back(get_member(members.ptr[i]));
  const auto& keyspaces = get_array(f.ptr[2], "cluster_map.keyspaces", 0);
  for (uint32_t i = 0; i < keyspaces.size; ++i) map.keyspaces.push_back(get_keyspace(keyspaces.ptr[i]));
  return map;
}

}  // namespace

std::string encode_cluster_map(const meta::ClusterMap& map) {
  return packed([&](Packer& p) { pack_cluster_map(p, map); });
}

Result<meta::ClusterMap> decode_cluster_map(std::string_view bytes) {
  return decode_stored<meta::ClusterMap>(bytes, "cluster map",
                                         [](const msgpack::object& o) { return get_cluster_map(o); });
}

std::string encode_meta_command(const meta::Command& command) {
  std::string out;
  StringSink sink{&out};
  Packer p(sink);
  p.pack_array(2);
  if (auto* c = std::get_if<meta::AddNode>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kAddNode));
    pack_member(p, c->member);
  } else if (auto* c = std::get_if<meta::InitCluster>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kInitCluster));
    pack_cluster_map(p, c->map);
  } else if (auto* c = std::get_if<meta::SetNodeState>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kSetNodeState));
    p.pack_array(2);
    p.pack(c->id);
    p.pack(static_cast<uint8_t>(c->state));
  } else if (auto* c = std::get_if<meta::CreateKeyspace>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kCreateKeyspace));
    pack_keyspace(p, c->keyspace);
  } else if (auto* c = std::get_if<meta::AlterKeyspace>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kAlterKeyspace));
    pack_keyspace(p, c->keyspace);
  } else {
    p.pack(static_cast<uint8_t>(MetaTag::kDropKeyspace));
    pack_str(p, std::get<meta::DropKeyspace>(command).name);
  }
  return out;
}

Result<meta::Command> decode_meta_command(std::string_view bytes) {
  return decode_stored<meta::Command>(bytes, "metadata command", [](const msgpack::object& o) -> meta::Command {
    const auto& a = get_array(o, "command", 2);
    auto tag = static_cast<MetaTag>(get_uint(a.ptr[0], "command.tag", 255));
    const msgpack::object& body = a.ptr[1];
    switch (tag) {
      case MetaTag::kAddNode: return meta::AddNode{get_member(body)};
      case MetaTag::kInitCluster: return meta::InitCluster{get_cluster_map(body)};
      case MetaTag::kSetNodeState: {
        const auto& f = get_array(body, "set_node_state", 2);
        return meta::SetNodeState{static_cast<ring::NodeId>(get_uint(f.ptr[0], "set_node_state.id", UINT32_MAX)),
                                  static_cast<meta::NodeState>(get_uint(f.ptr[1], "set_node_state.state", 3))};
      }
      case MetaTag::kCreateKeyspace: return meta::CreateKeyspace{get_keyspace(body)};
      case MetaTag::kAlterKeyspace: return meta::AlterKeyspace{get_keyspace(body)};
      case MetaTag::kDropKeyspace: return meta::DropKeyspace{get_bytes(body, "drop_keyspace.name")};
    }
    throw DecodeError{"unknown metadata command " + std::to_string(static_cast<int>(tag))};
  });
}

}  // namespace tally::net
