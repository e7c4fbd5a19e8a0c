// libFuzzer target for what a node reads back from its disk (`make fuzz`; see
// README.md here): the stored record (codec::decode_record), the mint epochs
// (codec::decode_mint_epochs) and the record store's data keys
// (RecordStore::parse_data_key). Every input is tried as each of them.
//
// Besides "no crash, no sanitizer report":
//  - errors are kCorruption with a message;
//  - what decodes re-encodes to bytes that decode to the same value, and the
//    encoding is canonical (encoding that again gives the same bytes);
//  - a decoded record is a state the DVV operations work on: it is valid,
//    sync with itself or with nothing is itself and needs no repair, a write
//    over it (with its context, or concurrent with it) gives a valid state
//    that descends it (sync of the two is the write's state, either way
//    round) and encodes back, and its lww resolution keeps at most one
//    sibling and is a fixed point of lww_sync;
//  - a data key parses only if it is exactly data_key() of what it parsed to,
//    and every data_key() parses back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"
#include "store/record_store.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::Code;
namespace codec = tally::codec;
namespace quorum = tally::quorum;
using tally::store::RecordStore;

// Round trip and canonical form of one encoding.
template <class T, class Encode, class Decode>
void round_trip(const T& value, Encode encode, Decode decode) {
  const std::string bytes = encode(value);
  auto back = decode(bytes);
  FUZZ_CHECK(back.ok() && *back == value);
  FUZZ_CHECK(encode(*back) == bytes);
}

// The DVV operations on a state read from disk.
void operations(const quorum::DvvSet& r) {
  FUZZ_CHECK(quorum::sync(r, r) == r);
  FUZZ_CHECK(quorum::sync(r, quorum::DvvSet{}) == r && quorum::sync(quorum::DvvSet{}, r) == r);
  FUZZ_CHECK(!quorum::needs_repair(r, r));

  // A coordinator the record knows (its counter may be near the top: update
  // must refuse to overflow it), or a new one.
  const quorum::ActorId coordinator =
      r.clock.entries.empty() ? quorum::actor_id(1, 0) : r.clock.entries.back().first;
  const quorum::HlcTimestamp ts{1767225600000ULL, 0, quorum::node_of(coordinator)};
  for (bool with_context : {true, false}) {
    const quorum::VersionVector context = with_context ? quorum::join(r) : quorum::VersionVector{};
    auto w = quorum::update(r, context, quorum::ClientWrite::Put("v", ts), coordinator);
    if (!w.ok()) {
      FUZZ_CHECK(w.status().code() == Code::kInvalidArgument ||
                 w.status().code() == Code::kTooLarge);
      continue;
    }
    FUZZ_CHECK(quorum::validate(*w).ok());
    FUZZ_CHECK(quorum::descends(w->clock, r.clock) && !quorum::descends(r.clock, w->clock));
    FUZZ_CHECK(quorum::sync(r, *w) == *w && quorum::sync(*w, r) == *w);
    FUZZ_CHECK(quorum::needs_repair(r, *w) && !quorum::needs_repair(*w, r));
    if (with_context) {
      FUZZ_CHECK(quorum::values(*w) == std::vector<std::string>{"v"});
    } else {
      FUZZ_CHECK(w->siblings.size() == r.siblings.size() + 1);
    }
    round_trip(*w, codec::encode_record, codec::decode_record);
  }

  const quorum::DvvSet l = quorum::lww_resolve(r);
  FUZZ_CHECK(l.siblings.size() <= 1 && l.siblings.size() <= r.siblings.size());
  FUZZ_CHECK(quorum::validate(l).ok());
  FUZZ_CHECK(quorum::lww_sync(l, l) == l && !quorum::lww_needs_repair(l, l));
}

void record(std::string_view bytes) {
  auto r = codec::decode_record(bytes);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == Code::kCorruption && !r.status().message().empty());
    return;
  }
  FUZZ_CHECK(quorum::validate(*r).ok());
  round_trip(*r, codec::encode_record, codec::decode_record);
  operations(*r);
}

void mint_epochs(std::string_view bytes) {
  auto m = codec::decode_mint_epochs(bytes);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == Code::kCorruption && !m.status().message().empty());
    return;
  }
  FUZZ_CHECK(m->base <= m->last);
  round_trip(*m, codec::encode_mint_epochs, codec::decode_mint_epochs);
}

void data_key(std::string_view bytes) {
  std::string_view keyspace, key;
  if (RecordStore::parse_data_key(bytes, keyspace, key)) {
    FUZZ_CHECK(RecordStore::data_key(keyspace, key) == bytes);
    FUZZ_CHECK(bytes >= RecordStore::data_begin() && bytes < RecordStore::data_end());
  }
  // Any keyspace of up to 255 bytes and any key make a key that parses back.
  const size_t split = std::min<size_t>(bytes.size() / 2, 255);
  const std::string made = RecordStore::data_key(bytes.substr(0, split), bytes.substr(split));
  FUZZ_CHECK(RecordStore::parse_data_key(made, keyspace, key));
  FUZZ_CHECK(keyspace == bytes.substr(0, split) && key == bytes.substr(split));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  record(bytes);
  mint_epochs(bytes);
  data_key(bytes);
  return 0;
}
