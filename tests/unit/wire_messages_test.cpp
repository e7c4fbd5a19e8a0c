// Every message type from its one description (wire_fields() in
// net/messages.hpp), found by walking wire::Body at compile time, so a message
// added to Body is tested here without a line changed: each field set to a
// non-default value round-trips; a sender that leaves out the optional fields
// (an older one) decodes to their defaults; one required field fewer is an
// error naming the message; type_of and is_reply agree with the struct.
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <msgpack.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "net/codec.hpp"
#include "quorum/dvv.hpp"

namespace tally::net {
namespace {

namespace as = wire::as;

const std::string kBinary("b\0\xff\x80", 4);

// A value other than the default for each kind of field.
void fill(as::Str, std::string& s, const char* name) { s = std::string(name) + kBinary; }
void fill(as::Bin, std::string& s, const char* name) { s = kBinary + name; }
void fill(as::Bool, bool& b, const char*) { b = true; }
template <class T>
void fill(as::UInt, T& v, const char*) {
  v = std::numeric_limits<T>::max();
}
template <uint64_t Max, class T>
void fill(as::UIntMax<Max>, T& v, const char*) {
  v = static_cast<T>(Max);
}
template <uint64_t Max, uint64_t Min, class E>
void fill(as::Enum<Max, Min>, E& e, const char*) {
  e = static_cast<E>(Max);
}
void fill(as::StrPairs, std::vector<std::pair<std::string, std::string>>& pairs, const char*) {
  pairs = {{"name", "value"}, {"", ""}, {kBinary, kBinary}};
}
void fill(as::Ids, std::vector<uint64_t>& ids, const char*) { ids = {1, std::numeric_limits<uint64_t>::max()}; }
void fill(as::Record, quorum::DvvSet& record, const char*) {
  for (quorum::ReplicaId r : {1u, 4'000'000'000u}) {
    auto next = quorum::update(record, {}, quorum::ClientWrite::Put(kBinary, {1767225600000ULL, 2, r}), r);
    REQUIRE(next.ok());
    record = *next;
  }
}
void fill(as::ClusterMap, meta::ClusterMap& map, const char*) {
  map.epoch = 7;
  map.members.push_back(meta::Member{3, "n3", "10.0.0.3:7400", "z1", {5, 1u << 31}, meta::NodeState::kLeaving});
  map.keyspaces.push_back(meta::Keyspace{"ks", 5, 1, 4, meta::ConflictMode::kLww});
}
void fill(as::RaftEntry, raft::Entry& entry, const char*) {
  entry.term = 4;
  entry.index = 10;
  entry.type = raft::EntryType::kConfChange;
  entry.change = raft::ConfChange{raft::ConfChangeType::kPromoteLearner, 6};
  entry.data = kBinary;
}
void fill(as::RaftSnapshot, std::shared_ptr<const raft::Snapshot>& snapshot, const char*) {
  auto s = std::make_shared<raft::Snapshot>();
  s->metadata.index = 40;
  s->metadata.term = 3;
  s->metadata.membership.voters = {1, 2, 3};
  s->metadata.membership.learners = {6};
  s->data = kBinary;
  snapshot = s;
}
template <class Elem, class T>
void fill(as::List<Elem>, std::vector<T>& list, const char* name) {
  list.resize(3);  // the first left at its default
  for (size_t i = 1; i < list.size(); ++i) fill(Elem{}, list[i], name);
}
template <class T>
void fill_all(T& value);
template <class T>
void fill(as::Fields, T& nested, const char*) {
  fill_all(nested);
}

template <class T>
void fill_all(T& value) {
  std::apply(
      [&](const auto&... f) { (fill(typename std::decay_t<decltype(f)>::kind{}, std::invoke(f.access, value), f.name), ...); },
      T::wire_fields());
}

// Fields every sender sends: those before the first optional one.
template <class T>
size_t required_fields() {
  size_t n = 0;
  bool optional_seen = false;
  std::apply([&](const auto&... f) { ((optional_seen = optional_seen || f.optional, n += optional_seen ? 0 : 1), ...); },
             T::wire_fields());
  return n;
}
template <class T>
constexpr size_t field_count() {
  return std::tuple_size_v<decltype(T::wire_fields())>;
}

// The payload with only its first `keep` fields (after version, type, id).
std::string first_fields(const std::string& payload, size_t keep) {
  msgpack::object_handle h = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object_array& a = h.get().via.array;
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> p(out);
  p.pack_array(static_cast<uint32_t>(3 + keep));
  for (size_t i = 0; i < 3 + keep; ++i) p.pack(a.ptr[i]);
  return std::string(out.data(), out.size());
}

template <class M>
void check_message() {
  if constexpr (requires { M::kReserved; }) {
    // A number held for another branch's message: refused as unknown.
    CHECK_FALSE(decode_payload(encode_payload(wire::Message{1, M{}})).ok());
    return;
  }
  INFO("message " << M::kName << " (type " << static_cast<int>(M::kType) << ")");
  M filled;
  fill_all(filled);
  const wire::Message message{static_cast<uint64_t>(M::kType) * 1000, filled};
  CHECK(wire::type_of(message.body) == M::kType);
  CHECK(wire::is_reply(M::kType) == M::kIsReply);

  // Every field round-trips, with a value other than its default.
  const std::string payload = encode_payload(message);
  Result<wire::Message> back = decode_payload(payload);
  REQUIRE(back.ok());
  CHECK(*back == message);
  if constexpr (field_count<M>() > 0) CHECK_FALSE(M{} == filled);

  // An older sender, without the optional fields: they decode to their defaults.
  const size_t required = required_fields<M>();
  M older;
  std::apply(
      [&](const auto&... f) {
        size_t i = 0;
        ((i++ < required ? void(std::invoke(f.access, older) = std::invoke(f.access, filled)) : void()), ...);
      },
      M::wire_fields());
  Result<wire::Message> short_back = decode_payload(first_fields(payload, required));
  REQUIRE(short_back.ok());
  CHECK(*short_back == wire::Message{message.request_id, older});

  // One required field fewer is an error that names the message.
  if (required > 0) {
    Result<wire::Message> missing = decode_payload(first_fields(payload, required - 1));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == Code::kProtocolError);
    CHECK_THAT(missing.status().message(),
               Catch::Contains(std::string(M::kName) + " needs " + std::to_string(required) + " fields"));
  }
}

template <size_t... I>
void check_every_message(std::index_sequence<I...>) {
  (check_message<std::variant_alternative_t<I, wire::Body>>(), ...);
}

TEST_CASE("every message type, filled from its description, packs and decodes back equal", "[codec]") {
  check_every_message(std::make_index_sequence<wire::kMessageTypes>{});
}

TEST_CASE("types outside Body are neither replies nor decodable", "[codec]") {
  for (uint8_t t : {uint8_t{0}, static_cast<uint8_t>(wire::kMessageTypes + 1), uint8_t{255}}) {
    CHECK_FALSE(wire::is_reply(static_cast<wire::MsgType>(t)));
  }
}

}  // namespace
}  // namespace tally::net
