// The stored record: a key's versions (a DVV set) as src/store keeps them on
// disk and replicas send them to each other. `[format=1, clock, siblings]`,
// msgpack; decoding checks the bytes and that the set is one that updates and
// syncs could have produced.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "quorum/paxos.hpp"
#include "quorum/version.hpp"
#include "ring/position_map.hpp"
#include "tally/status.hpp"

namespace tally::codec {

// Errors: kCorruption.
std::string encode_record(const quorum::DvvSet& record);
Result<quorum::DvvSet> decode_record(std::string_view bytes);
// About the bytes `key` and `record` take encoded, without encoding them (an
// upper bound for the fixed fields): what rate limits and batch sizes count.
uint64_t record_size_estimate(std::string_view key, const quorum::DvvSet& record);

// What a node keeps of the dots it minted once their records are gone: its
// mint epochs (quorum/version.hpp, ActorId). `base` is the epoch of every
// position the node never gave away: 0 for a node whose records predate
// mint epochs, a random one for a node that started with an empty store, so
// that a node whose disk was wiped never mints as its former self. `last` is
// the highest epoch it took; `keyspaces` maps each keyspace's positions to
// the epoch the node mints under there (absent: `base` everywhere). Stored as
// `[format=1, base, last, [[keyspace, [position, epoch, ...]], ...]]`.
struct MintEpochs {
  uint32_t base = 0;
  uint32_t last = 0;
  std::map<std::string, ring::PositionMap, std::less<>> keyspaces;
  bool operator==(const MintEpochs&) const = default;
};

// Errors: kCorruption.
std::string encode_mint_epochs(const MintEpochs& epochs);
Result<MintEpochs> decode_mint_epochs(std::string_view bytes);

// A replica's Paxos state for one key of a linearizable keyspace
// (quorum/paxos.hpp): `[format=1, promised, accepted, [seq, present, value,
// [op, ...]]]`, each ballot `[wall_ms, logical, node]`. The decoder checks
// that a register's window holds no more ids than it made changes, and no
// more than the window's size.
std::string encode_acceptor_state(const quorum::AcceptorState& state);
Result<quorum::AcceptorState> decode_acceptor_state(std::string_view bytes);

}  // namespace tally::codec
