#include "codec/raft_codec.hpp"

#include "codec/parts.hpp"

namespace tally::codec {

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

}  // namespace tally::codec
