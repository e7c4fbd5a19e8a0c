#include "codec/meta_codec.hpp"

#include "codec/parts.hpp"

namespace tally::codec {

namespace {

enum class MetaTag : uint8_t {
  kAddNode = 1,
  kSetNodeState = 2,
  kCreateKeyspace = 3,
  kAlterKeyspace = 4,
  kDropKeyspace = 5,
  kInitCluster = 6,
  kStreamUpdate = 7,
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
  k.mode = static_cast<meta::ConflictMode>(get_uint(a.ptr[4], "keyspace.mode", 2));
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
  m.state = static_cast<meta::NodeState>(get_uint(f.ptr[5], "member.state", 4));
  return m;
}

void pack_ids(Packer& p, const std::vector<ring::NodeId>& ids) {
  p.pack_array(static_cast<uint32_t>(ids.size()));
  for (auto id : ids) p.pack(id);
}

void pack_transfer(Packer& p, const meta::Transfer& t) {
  p.pack_array(7);
  pack_str(p, t.keyspace);
  p.pack(t.range.start);
  p.pack(t.range.end);
  p.pack(t.to);
  pack_ids(p, t.sources);
  p.pack(static_cast<uint8_t>(t.state));
  pack_str(p, t.cursor);
}

meta::Transfer get_transfer(const msgpack::object& o) {
  const auto& f = get_array(o, "transfer", 7);
  meta::Transfer t;
  t.keyspace = get_bytes(f.ptr[0], "transfer.keyspace");
  t.range.start = get_uint(f.ptr[1], "transfer.start", UINT64_MAX);
  t.range.end = get_uint(f.ptr[2], "transfer.end", UINT64_MAX);
  t.to = static_cast<ring::NodeId>(get_uint(f.ptr[3], "transfer.to", UINT32_MAX));
  for (auto id : get_ids(f.ptr[4], "transfer.sources")) t.sources.push_back(static_cast<ring::NodeId>(id));
  t.state = static_cast<meta::TransferState>(get_uint(f.ptr[5], "transfer.state", 2));
  t.cursor = get_bytes(f.ptr[6], "transfer.cursor");
  return t;
}

void pack_movement(Packer& p, const meta::Movement& m) {
  p.pack_array(8);
  p.pack(static_cast<uint8_t>(m.kind));
  p.pack(m.node);
  p.pack(m.epoch);
  p.pack_array(static_cast<uint32_t>(m.transfers.size()));
  for (const auto& t : m.transfers) pack_transfer(p, t);
  p.pack(m.keys);
  p.pack(m.bytes);
  p.pack(m.started_ms);
  p.pack(m.updated_ms);
}

meta::Movement get_movement(const msgpack::object& o) {
  const auto& f = get_array(o, "movement", 8);
  meta::Movement m;
  auto kind = get_uint(f.ptr[0], "movement.kind", 2);
  if (kind == 0) fail("movement.kind", "1 (join) or 2 (leave)");
  m.kind = static_cast<meta::MovementKind>(kind);
  m.node = static_cast<ring::NodeId>(get_uint(f.ptr[1], "movement.node", UINT32_MAX));
  m.epoch = get_uint(f.ptr[2], "movement.epoch", UINT64_MAX);
  const auto& ts = get_array(f.ptr[3], "movement.transfers", 0);
  for (uint32_t i = 0; i < ts.size; ++i) m.transfers.push_back(get_transfer(ts.ptr[i]));
  m.keys = get_uint(f.ptr[4], "movement.keys", UINT64_MAX);
  m.bytes = get_uint(f.ptr[5], "movement.bytes", UINT64_MAX);
  m.started_ms = get_uint(f.ptr[6], "movement.started_ms", UINT64_MAX);
  m.updated_ms = get_uint(f.ptr[7], "movement.updated_ms", UINT64_MAX);
  return m;
}

}  // namespace

void pack_cluster_map(Packer& p, const meta::ClusterMap& map) {
  p.pack_array(5);
  p.pack(map.epoch);
  p.pack_array(static_cast<uint32_t>(map.members.size()));
  for (const auto& m : map.members) pack_member(p, m);
  p.pack_array(static_cast<uint32_t>(map.keyspaces.size()));
  for (const auto& k : map.keyspaces) pack_keyspace(p, k);
  if (map.movement) {
    pack_movement(p, *map.movement);
  } else {
    p.pack_nil();
  }
  p.pack(map.ring_epoch);
}

meta::ClusterMap get_cluster_map(const msgpack::object& o) {
  const auto& f = get_array(o, "cluster_map", 3);
  meta::ClusterMap map;
  map.epoch = get_uint(f.ptr[0], "cluster_map.epoch", UINT64_MAX);
  const auto& members = get_array(f.ptr[1], "cluster_map.members", 0);
  for (uint32_t i = 0; i < members.size; ++i) map.members.push_back(get_member(members.ptr[i]));
  const auto& keyspaces = get_array(f.ptr[2], "cluster_map.keyspaces", 0);
  for (uint32_t i = 0; i < keyspaces.size; ++i) map.keyspaces.push_back(get_keyspace(keyspaces.ptr[i]));
  if (f.size > 3 && f.ptr[3].type != msgpack::type::NIL) map.movement = get_movement(f.ptr[3]);
  if (f.size > 4) map.ring_epoch = get_uint(f.ptr[4], "cluster_map.ring_epoch", UINT64_MAX);
  return map;
}

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
  } else if (auto* c = std::get_if<meta::StreamUpdate>(&command)) {
    p.pack(static_cast<uint8_t>(MetaTag::kStreamUpdate));
    p.pack_array(8);
    p.pack(c->movement);
    p.pack(c->to);
    p.pack_array(static_cast<uint32_t>(c->transfers.size()));
    for (auto i : c->transfers) p.pack(i);
    pack_str(p, c->cursor);
    p.pack(c->done);
    p.pack(c->keys);
    p.pack(c->bytes);
    p.pack(c->now_ms);
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
      case MetaTag::kStreamUpdate: {
        const auto& f = get_array(body, "stream_update", 8);
        meta::StreamUpdate u;
        u.movement = get_uint(f.ptr[0], "stream_update.movement", UINT64_MAX);
        u.to = static_cast<ring::NodeId>(get_uint(f.ptr[1], "stream_update.to", UINT32_MAX));
        for (auto i : get_ids(f.ptr[2], "stream_update.transfers")) {
          if (i > UINT32_MAX) fail("stream_update.transfers", "indexes below 2^32");
          u.transfers.push_back(static_cast<uint32_t>(i));
        }
        u.cursor = get_bytes(f.ptr[3], "stream_update.cursor");
        u.done = get_bool(f.ptr[4], "stream_update.done");
        u.keys = get_uint(f.ptr[5], "stream_update.keys", UINT64_MAX);
        u.bytes = get_uint(f.ptr[6], "stream_update.bytes", UINT64_MAX);
        u.now_ms = get_uint(f.ptr[7], "stream_update.now_ms", UINT64_MAX);
        return u;
      }
    }
    throw DecodeError{"unknown metadata command " + std::to_string(static_cast<int>(tag))};
  });
}

}  // namespace tally::codec
