#include "codec/record_codec.hpp"

#include "codec/parts.hpp"
#include "quorum/dvv.hpp"

namespace tally::codec {

namespace {
constexpr uint64_t kRecordFormat = 1;
}  // namespace

void pack_clock(Packer& p, const quorum::VersionVector& vv) {
  p.pack_array(static_cast<uint32_t>(vv.entries.size() * 2));
  for (const auto& [id, counter] : vv.entries) {
    p.pack(id);
    p.pack(counter);
  }
}

quorum::VersionVector get_clock(const msgpack::object& o, const char* field) {
  const auto& a = get_array(o, field, 0);
  if (a.size % 2 != 0) fail(field, "an even-length array of (replica, counter)");
  quorum::VersionVector vv;
  vv.entries.reserve(a.size / 2);
  for (uint32_t i = 0; i < a.size; i += 2) {
    quorum::ActorId id = get_uint(a.ptr[i], field, UINT64_MAX);
    uint64_t counter = get_uint(a.ptr[i + 1], field, UINT64_MAX);
    if (!vv.entries.empty() && vv.entries.back().first >= id) fail(field, "replica ids in increasing order");
    if (counter == 0) fail(field, "non-zero counters");
    if (quorum::node_of(id) == 0) fail(field, "actors that name a node (non-zero low 32 bits)");
    vv.entries.emplace_back(id, counter);
  }
  return vv;
}

void pack_record(Packer& p, const quorum::DvvSet& record) {
  // The fences, a fourth and fifth field, only when there are some: a record
  // without them is written as it was before fencing existed.
  const bool fences = !record.fence_locks.empty();
  p.pack_array(fences ? 5 : 3);
  p.pack(kRecordFormat);
  pack_clock(p, record.clock);
  p.pack_array(static_cast<uint32_t>(record.siblings.size()));
  for (const auto& s : record.siblings) {
    // An eighth field, the expiry, only when there is one (or a fence
    // follows), and the fence's lock and token only for a fenced write: a
    // plain sibling is written as it was before either existed.
    const bool fenced = !s.fence_lock.empty();
    p.pack_array(fenced ? 10 : s.expires_ms != 0 ? 8 : 7);
    p.pack(s.dot.replica);
    p.pack(s.dot.counter);
    p.pack(s.timestamp.wall_ms);
    p.pack(s.timestamp.logical);
    p.pack(s.timestamp.node);
    p.pack(s.tombstone);
    pack_bin(p, s.value);
    if (fenced || s.expires_ms != 0) p.pack(s.expires_ms);
    if (fenced) {
      pack_bin(p, s.fence_lock);
      p.pack(s.fence_token);
    }
  }
  if (fences) {
    p.pack_array(static_cast<uint32_t>(record.fence_locks.size()));
    for (const auto& lock : record.fence_locks) pack_bin(p, lock);
    pack_ids(p, record.fence_tokens);
  }
}

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
    s.dot.replica = get_uint(f.ptr[0], "sibling.replica", UINT64_MAX);
    s.dot.counter = get_uint(f.ptr[1], "sibling.counter", UINT64_MAX);
    s.timestamp.wall_ms = get_uint(f.ptr[2], "sibling.wall_ms", UINT64_MAX);
    s.timestamp.logical = static_cast<uint32_t>(get_uint(f.ptr[3], "sibling.logical", UINT32_MAX));
    s.timestamp.node = static_cast<quorum::ReplicaId>(get_uint(f.ptr[4], "sibling.node", UINT32_MAX));
    s.tombstone = get_bool(f.ptr[5], "sibling.tombstone");
    s.value = get_bytes(f.ptr[6], "sibling.value");
    if (f.size > 7) {
      s.expires_ms = get_uint(f.ptr[7], "sibling.expires_ms", UINT64_MAX);
      if (s.tombstone && s.expires_ms != 0) fail("sibling.expires_ms", "no expiry on a tombstone");
    }
    if (f.size > 9) {
      s.fence_lock = get_bytes(f.ptr[8], "sibling.fence_lock");
      s.fence_token = get_uint(f.ptr[9], "sibling.fence_token", UINT64_MAX);
    }
    rec.siblings.push_back(std::move(s));
  }
  if (a.size > 4) {
    const auto& locks = get_array(a.ptr[3], "record.fence_locks", 0);
    for (uint32_t i = 0; i < locks.size; ++i) rec.fence_locks.push_back(get_bytes(locks.ptr[i], "record.fence_locks"));
    rec.fence_tokens = get_ids(a.ptr[4], "record.fence_tokens");
  }
  // Well-formed bytes can still hold a state no update could have made.
  Status valid = quorum::validate(rec);
  if (!valid.ok()) throw DecodeError{"not a valid version set: " + valid.message()};
  return rec;
}

uint64_t record_size_estimate(std::string_view key, const quorum::DvvSet& record) {
  // Array headers and the format; per clock entry two uints of up to 9
  // bytes; per sibling five uints, a bool and a bin header.
  uint64_t n = key.size() + 16 + 18 * record.clock.entries.size();
  for (const auto& s : record.siblings) n += s.value.size() + s.fence_lock.size() + 49;
  for (const auto& lock : record.fence_locks) n += lock.size() + 14;
  return n;
}

std::string encode_record(const quorum::DvvSet& record) {
  return packed([&](Packer& p) { pack_record(p, record); });
}

Result<quorum::DvvSet> decode_record(std::string_view bytes) {
  return decode_guarded<quorum::DvvSet>(bytes, kStoredLimits, Code::kCorruption,
                                        "stored record does not decode",
                                        [](const msgpack::object& o) { return get_record(o); });
}

std::string encode_mint_epochs(const MintEpochs& epochs) {
  return packed([&](Packer& p) {
    p.pack_array(4);
    p.pack(kRecordFormat);
    p.pack(epochs.base);
    p.pack(epochs.last);
    p.pack_array(static_cast<uint32_t>(epochs.keyspaces.size()));
    for (const auto& [name, map] : epochs.keyspaces) {
      const auto points = map.breakpoints();
      p.pack_array(2);
      pack_bin(p, name);
      p.pack_array(static_cast<uint32_t>(points.size() * 2));
      for (const auto& [position, epoch] : points) {
        p.pack(position);
        p.pack(epoch);
      }
    }
  });
}

Result<MintEpochs> decode_mint_epochs(std::string_view bytes) {
  return decode_guarded<MintEpochs>(
      bytes, kStoredLimits, Code::kCorruption, "stored mint epochs do not decode", [](const msgpack::object& o) {
        const auto& a = get_array(o, "mint_epochs", 4);
        uint64_t format = get_uint(a.ptr[0], "mint_epochs.format", UINT64_MAX);
        if (format != kRecordFormat) throw DecodeError{"unknown mint epochs format " + std::to_string(format)};
        MintEpochs out;
        out.base = static_cast<uint32_t>(get_uint(a.ptr[1], "mint_epochs.base", UINT32_MAX));
        out.last = static_cast<uint32_t>(get_uint(a.ptr[2], "mint_epochs.last", UINT32_MAX));
        if (out.last < out.base) fail("mint_epochs.last", "a last epoch no lower than the base");
        const auto& spaces = get_array(a.ptr[3], "mint_epochs.keyspaces", 0);
        for (uint32_t i = 0; i < spaces.size; ++i) {
          const auto& ks = get_array(spaces.ptr[i], "mint_epochs.keyspaces[]", 2);
          std::string name = get_bytes(ks.ptr[0], "mint_epochs.keyspace");
          const auto& flat = get_array(ks.ptr[1], "mint_epochs.points", 0);
          if (flat.size % 2 != 0) fail("mint_epochs.points", "an even-length array of (position, epoch)");
          std::vector<std::pair<uint64_t, uint32_t>> points;
          for (uint32_t j = 0; j < flat.size; j += 2) {
            const uint64_t position = get_uint(flat.ptr[j], "mint_epochs.position", UINT64_MAX);
            const auto epoch = static_cast<uint32_t>(get_uint(flat.ptr[j + 1], "mint_epochs.epoch", out.last));
            points.emplace_back(position, epoch);
          }
          ring::PositionMap map;
          if (!ring::PositionMap::from_breakpoints(points, &map)) {
            fail("mint_epochs.points", "breakpoints from 0 in increasing order, neighbours differing");
          }
          if (!out.keyspaces.emplace(std::move(name), std::move(map)).second) {
            fail("mint_epochs.keyspaces", "each keyspace once");
          }
        }
        return out;
      });
}

namespace {
void pack_ballot(Packer& p, const quorum::Ballot& b) {
  p.pack_array(3);
  p.pack(b.wall_ms);
  p.pack(b.logical);
  p.pack(b.node);
}
quorum::Ballot get_ballot(const msgpack::object& o, const char* field) {
  const auto& a = get_array(o, field, 3);
  return quorum::Ballot{get_uint(a.ptr[0], field, UINT64_MAX), static_cast<uint32_t>(get_uint(a.ptr[1], field, UINT32_MAX)),
                        static_cast<quorum::ReplicaId>(get_uint(a.ptr[2], field, UINT32_MAX))};
}
}  // namespace

std::string encode_acceptor_state(const quorum::AcceptorState& state) {
  return packed([&](Packer& p) {
    p.pack_array(4);
    p.pack(kRecordFormat);
    pack_ballot(p, state.promised);
    pack_ballot(p, state.accepted);
    // Fields past the fourth only when set: a register without them reads as before.
    const bool fences = !state.reg.fence_locks.empty();
    p.pack_array(fences ? 7 : state.reg.expires_ms != 0 ? 5 : 4);
    p.pack(state.reg.seq);
    p.pack(state.reg.present);
    pack_bin(p, state.reg.value);
    pack_ids(p, state.reg.ops);
    if (fences || state.reg.expires_ms != 0) p.pack(state.reg.expires_ms);
    if (fences) {
      p.pack_array(static_cast<uint32_t>(state.reg.fence_locks.size()));
      for (const auto& lock : state.reg.fence_locks) pack_bin(p, lock);
      pack_ids(p, state.reg.fence_tokens);
    }
  });
}

Result<quorum::AcceptorState> decode_acceptor_state(std::string_view bytes) {
  return decode_stored<quorum::AcceptorState>(bytes, "paxos state", [](const msgpack::object& o) {
    const auto& a = get_array(o, "paxos", 4);
    uint64_t format = get_uint(a.ptr[0], "paxos.format", UINT64_MAX);
    if (format != kRecordFormat) throw DecodeError{"unknown paxos state format " + std::to_string(format)};
    quorum::AcceptorState s;
    s.promised = get_ballot(a.ptr[1], "paxos.promised");
    s.accepted = get_ballot(a.ptr[2], "paxos.accepted");
    if (s.promised < s.accepted) fail("paxos.promised", "a promise no lower than the accepted ballot");
    const auto& r = get_array(a.ptr[3], "paxos.register", 4);
    s.reg.seq = get_uint(r.ptr[0], "paxos.seq", UINT64_MAX);
    s.reg.present = get_bool(r.ptr[1], "paxos.present");
    s.reg.value = get_bytes(r.ptr[2], "paxos.value");
    s.reg.ops = get_ids(r.ptr[3], "paxos.ops");
    if (r.size > 4) s.reg.expires_ms = get_uint(r.ptr[4], "paxos.expires_ms", UINT64_MAX);
    if (r.size > 6) {
      const auto& locks = get_array(r.ptr[5], "paxos.fence_locks", 0);
      for (uint32_t i = 0; i < locks.size; ++i) s.reg.fence_locks.push_back(get_bytes(locks.ptr[i], "paxos.fence_locks"));
      s.reg.fence_tokens = get_ids(r.ptr[6], "paxos.fence_tokens");
    }
    // Well-formed bytes can still hold a register no apply() could have made.
    Status valid = quorum::validate(s.reg);
    if (!valid.ok()) throw DecodeError{"not a valid register: " + valid.message()};
    return s;
  });
}

}  // namespace tally::codec
