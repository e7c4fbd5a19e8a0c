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
void fill(as::Int, int64_t& v, const char*) { v = std::numeric_limits<int64_t>::min(); }
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
  meta::Movement mv;
  mv.kind = meta::MovementKind::kLeave;
  mv.node = 3;
  mv.epoch = 6;
  mv.transfers.push_back(meta::Transfer{"ks", {9, 5}, 4, {3, 1}, meta::TransferState::kStreaming, kBinary});
  mv.transfers.push_back(meta::Transfer{"ks", {5, 9}, 1, {3}, meta::TransferState::kDone, ""});
  mv.keys = 12;
  mv.bytes = std::numeric_limits<uint64_t>::max();
  mv.started_ms = 1;
  mv.updated_ms = 2;
  map.movement = mv;
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
template <class T>
void fill(as::Fields, T& nested, const char*);
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

TEST_CASE("type numbers without a message in Body are neither replies nor decodable", "[codec]") {
  int unknown = 0;
  for (int t = 0; t <= 255; ++t) {
    const auto type = static_cast<wire::MsgType>(t);
    if (wire::alternative_of(type) >= 0) continue;
    ++unknown;
    INFO("type " << t);
    CHECK_FALSE(wire::is_reply(type));
    msgpack::sbuffer out;
    msgpack::packer<msgpack::sbuffer> p(out);
    p.pack_array(3);
    p.pack(wire::kProtocolVersion);
    p.pack(t);
    p.pack(7);
    Result<wire::Message> decoded = decode_payload(std::string(out.data(), out.size()));
    REQUIRE_FALSE(decoded.ok());
    CHECK_THAT(decoded.status().message(), Catch::Contains("unknown message type " + std::to_string(t)));
  }
  // 0, the numbers handed out to messages not in this build (Body may skip
  // some), and those above the last.
  CHECK(unknown == 256 - static_cast<int>(wire::kMessageTypes));
}

TEST_CASE("the local get pair has its protocol numbers", "[codec]") {
  // Numbers are the protocol: these are what every node and client agree on.
  STATIC_REQUIRE(static_cast<int>(wire::LocalGetRequest::kType) == 25);
  STATIC_REQUIRE(static_cast<int>(wire::LocalGetReply::kType) == 26);
  CHECK_FALSE(wire::is_reply(wire::MsgType::kLocalGet));
  CHECK(wire::is_reply(wire::MsgType::kLocalGetReply));
  const wire::Body request = wire::LocalGetRequest{"default", "k", "n3", 250, true};
  const wire::Body reply = wire::LocalGetReply{"n3", true, {}, 9};
  CHECK(wire::type_of(request) == wire::MsgType::kLocalGet);
  CHECK(wire::type_of(reply) == wire::MsgType::kLocalGetReply);
}

TEST_CASE("a local get reply carries a replica's record whole: values, tombstones, dots and the clock",
          "[codec]") {
  quorum::DvvSet record;
  auto write = [&](quorum::ClientWrite w, quorum::ReplicaId by) {
    auto next = quorum::update(record, {}, std::move(w), by);
    REQUIRE(next.ok());
    record = *next;
  };
  write(quorum::ClientWrite::Put("alice", {1767225600000ULL, 0, 2}), 2);
  write(quorum::ClientWrite::Delete({1767225600001ULL, 1, 3}), 3);
  REQUIRE(record.siblings.size() == 2);
  const wire::Message sent{42, wire::LocalGetReply{"n3", true, record, 17}};
  Result<wire::Message> back = decode_payload(encode_payload(sent));
  REQUIRE(back.ok());
  CHECK(back->request_id == 42);
  auto* reply = std::get_if<wire::LocalGetReply>(&back->body);
  REQUIRE(reply);
  CHECK(reply->answered_by == "n3");
  CHECK(reply->found);
  CHECK(reply->epoch == 17);
  REQUIRE(reply->record.siblings.size() == 2);
  CHECK(reply->record.siblings[0].value == "alice");
  CHECK_FALSE(reply->record.siblings[0].tombstone);
  CHECK(reply->record.siblings[0].dot == quorum::Dot{2, 1});
  CHECK(reply->record.siblings[1].tombstone);
  CHECK(reply->record.siblings[1].dot == quorum::Dot{3, 1});
  CHECK(reply->record.siblings[1].timestamp == quorum::HlcTimestamp{1767225600001ULL, 1, 3});
  CHECK(reply->record.clock == record.clock);

  // Not found: an empty record, and found = false.
  Result<wire::Message> none = decode_payload(encode_payload({43, wire::LocalGetReply{"n1", false, {}, 17}}));
  REQUIRE(none.ok());
  CHECK_FALSE(std::get<wire::LocalGetReply>(none->body).found);
  CHECK(std::get<wire::LocalGetReply>(none->body).record.siblings.empty());
}

TEST_CASE("a local get missing its node field is refused, naming the message", "[codec]") {
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> p(out);
  p.pack_array(5);
  p.pack(wire::kProtocolVersion);
  p.pack(static_cast<int>(wire::MsgType::kLocalGet));
  p.pack(7);
  p.pack(std::string("default"));
  p.pack_bin(1);
  p.pack_bin_body("k", 1);
  Result<wire::Message> decoded = decode_payload(std::string(out.data(), out.size()));
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().code() == Code::kProtocolError);
  CHECK_THAT(decoded.status().message(), Catch::Contains("local get needs 5 fields, got 2"));
}

}  // namespace
}  // namespace tally::net
