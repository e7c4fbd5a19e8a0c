// The msgpack codec: every wire message round-trips, and decoding never trusts
// its input (wrong version, unknown type, missing or mistyped fields, trailing
// bytes, truncation, sizes over the limits), with errors that name the field.
// Stored records round-trip and are validated as DVV sets; client contexts
// round-trip and garbage is the user's error (InvalidArgument).
#include "net/codec.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <msgpack.hpp>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "codec/record_codec.hpp"
#include "net/frame.hpp"
#include "quorum/dvv.hpp"

namespace tally::net {
namespace {

using codec::decode_record;
using codec::encode_record;
using wire::Message;

// Bytes with NULs and high bytes in them: the codec must not treat them as C strings.
const std::string kBinary("k\0e\xFF\x80y\0", 7);

wire::RequestOptions options() { return {2, 3, 1500, true}; }

// A valid DVV set with binary and empty values, a tombstone and a 32-bit replica id.
quorum::DvvSet sample_record() {
  quorum::DvvSet s;
  auto put = [&s](std::string v, quorum::ReplicaId coordinator, bool tombstone = false) {
    quorum::HlcTimestamp ts{1767225600000ULL + s.siblings.size(), 3, coordinator};
    auto w =
        tombstone ? quorum::ClientWrite::Delete(ts) : quorum::ClientWrite::Put(std::move(v), ts);
    auto next = quorum::update(s, {}, std::move(w), coordinator);
    REQUIRE(next.ok());
    s = *next;
  };
  put(kBinary, 1);
  put("", 2);
  put("", 7, /*tombstone=*/true);
  put("third", 1);
  put(std::string(1000, 'x'), 4'000'000'000u);
  return s;
}

// A record whose live values expire: one at a set time, one never.
quorum::DvvSet sample_record_with_expiry() {
  auto w = quorum::ClientWrite::Put("lease", quorum::HlcTimestamp{1767225600000ULL, 0, 1});
  w.expires_ms = 1767225610000ULL;
  quorum::DvvSet s = *quorum::update({}, {}, std::move(w), 1);
  return *quorum::update(s, {}, quorum::ClientWrite::Put("forever", quorum::HlcTimestamp{1767225600001ULL, 0, 2}), 2);
}

// At least one sample of every message type, with empty, binary and extreme values.
raft::Message sample_raft_append() {
  raft::Message m;
  m.type = raft::MessageType::kAppend;
  m.from = 1;
  m.to = 3;
  m.term = 7;
  m.log_term = 6;
  m.index = 41;
  raft::Entry e1;
  e1.term = 7;
  e1.index = 42;
  e1.data = std::string("cmd\0x", 5);
  raft::Entry e2;
  e2.term = 7;
  e2.index = 43;
  e2.type = raft::EntryType::kConfChange;
  e2.change = raft::ConfChange{raft::ConfChangeType::kPromoteLearner, 4};
  e2.data = "10.0.0.4:7400";
  m.entries = {e1, e2};
  m.commit = 40;
  m.context = 99;
  return m;
}

raft::Message sample_raft_snapshot() {
  raft::Message m;
  m.type = raft::MessageType::kSnapshot;
  m.from = 2;
  m.to = 5;
  m.term = 9;
  m.reject = true;
  m.reject_hint = 12;
  m.leader_transfer = true;
  auto s = std::make_shared<raft::Snapshot>();
  s->metadata.index = 100;
  s->metadata.term = 8;
  s->metadata.membership.voters = {1, 2, 3};
  s->metadata.membership.learners = {5};
  s->data = std::string(1000, 's');
  m.snapshot = s;
  return m;
}

wire::ClusterInfoReply sample_cluster_info() {
  wire::ClusterInfoReply r;
  r.answered_by = "n2";
  r.leader = 1;
  r.term = 4;
  r.commit = 17;
  r.applied = 16;
  r.voters = {1, 2, 3};
  r.learners = {4, 6};
  r.down = {6};
  r.map.epoch = 9;
  r.map.members.push_back(meta::Member{1, "n1", "10.0.0.1:7400", "z1", {5, 1u << 31, std::numeric_limits<uint64_t>::max()}, meta::NodeState::kNormal});
  r.map.members.push_back(meta::Member{6, "n6", "10.0.0.6:7400", "z2", {7}, meta::NodeState::kJoining});
  r.map.keyspaces.push_back(meta::Keyspace{"default", 3, 2, 2, meta::ConflictMode::kSiblings});
  r.map.keyspaces.push_back(meta::Keyspace{"lww", 5, 1, 4, meta::ConflictMode::kLww});
  return r;
}

std::vector<Message> sample_messages() {
  const uint64_t kMaxId = std::numeric_limits<uint64_t>::max();
  return {
      {1, wire::ErrorReply{Code::kQuorumNotReached, "quorum not reached: 1 of W=2 within 500 ms"}},
      {0, wire::ErrorReply{Code::kAborted, ""}},
      {kMaxId, wire::PingRequest{}},
      {2, wire::PingReply{"n1"}},
      {3, wire::PingReply{""}},
      {4, wire::PutRequest{"default", kBinary, kBinary + kBinary, kBinary, options()}},
      {5, wire::PutRequest{"", "", "", "", {}}},
      {6, wire::PutReply{kBinary}},
      {7, wire::PutReply{""}},
      {8, wire::GetRequest{"users", kBinary, options()}},
      {9, wire::GetRequest{"", "", {255, 255, std::numeric_limits<uint32_t>::max(), false}}},
      {10, wire::GetReply{{"a", "", kBinary}, kBinary}},
      {11, wire::GetReply{{}, ""}},
      {12, wire::DeleteRequest{"default", kBinary, kBinary, options()}},
      {13, wire::DeleteRequest{"", "", "", {}}},
      {14, wire::DeleteReply{}},
      {15, wire::StatusRequest{}},
      {16, wire::StatusReply{{{"node", "n1"}, {"", ""}, {kBinary, kBinary}}}},
      {kMaxId - 1, wire::StatusReply{{}}},
      {17, wire::ReplicaWrite{"default", kBinary, sample_record(), 0}},
      {18, wire::ReplicaWrite{"", "", {}, std::numeric_limits<uint32_t>::max()}},
      {19, wire::ReplicaWriteReply{}},
      {20, wire::ReplicaRead{"default", kBinary}},
      {21, wire::ReplicaRead{"", ""}},
      {22, wire::ReplicaReadReply{true, sample_record()}},
      {23, wire::ReplicaReadReply{false, {}}},
      {24, wire::GetRequest{"ks", "k", {1, 2, 3, false, /*blocking_repair=*/true, false}}},
      {25, wire::PutRequest{"ks", "k", "v", "", {0, 0, 0, false, false, /*forwarded=*/true}}},
      {26, wire::RaftMessage{sample_raft_append()}},
      {27, wire::RaftMessage{sample_raft_snapshot()}},
      {28, wire::RaftMessage{raft::Message{}}},
      {29, wire::ReplicaWrite{"default", kBinary, sample_record(), 3, /*epoch=*/7}},
      {30, wire::ReplicaWriteReply{std::numeric_limits<uint64_t>::max()}},
      {31, wire::ReplicaRead{"default", kBinary, 12}},
      {32, wire::ReplicaReadReply{true, sample_record(), 9}},
      {33, wire::ClusterInfoRequest{true, false}},
      {34, wire::ClusterInfoRequest{false, true}},
      {35, sample_cluster_info()},
      {36, wire::ClusterInfoReply{}},
      {37, wire::MetaChangeRequest{wire::MetaOp::kJoin, "n6", "10.0.0.6:7400", "z2", "", 0, 0, 0, 0, false}},
      {38, wire::MetaChangeRequest{wire::MetaOp::kCreateKeyspace, "", "", "", "users", 5, 3, 2, 2, true}},
      {39, wire::MetaChangeReply{6, 12, 40}},
      {40, wire::PingRequest{5}},
      {41, wire::FaultRequest{2, false}},
      {42, wire::FaultRequest{0, true}},
      {42, wire::FaultRequest{0, false, -300'000}},  // a clock five minutes behind
      {42, wire::FaultRequest{0, false, 300'000}},
      {43, wire::FaultReply{}},
      {44, wire::StreamRequest{6, "users", {{1, 1}, {kMaxId, 5}}, std::string("k\0\xff", 3), false, 1 << 20, 7}},
      {45, wire::StreamRequest{6, "default", {{0, 0}}, "", true, 0, 0}},
      {46, wire::StreamReply{{{"a", sample_record()}, {std::string("\0", 1), quorum::DvvSet{}}}, "a", false, 2048, 9}},
      {47, wire::StreamReply{{}, "", true, 0, 0}},
      {44, wire::PutReply{kBinary, 9}},
      {45, wire::GetReply{{"a"}, kBinary, std::numeric_limits<uint64_t>::max()}},
      {46, wire::DeleteReply{3}},
      {47, wire::LocalGetRequest{"default", kBinary, "n3", 0, false}},
      {48, wire::LocalGetRequest{"", "", "", std::numeric_limits<uint32_t>::max(), true}},
      {49, wire::LocalGetReply{"n3", true, sample_record(), 9}},
      {50, wire::LocalGetReply{"n1", false, {}, 0}},
      {60, wire::AeCompare{"default", 5, std::numeric_limits<uint64_t>::max(), 2, {0, 255}, {kMaxId, 0}, 3, 9}},
      {61, wire::AeCompare{}},
      {62, wire::AeCompareReply{{1, 2, kMaxId}, 9}},
      {63, wire::AeFetch{"default", 1, 2, {3, 4}, {}, 9}},
      {64, wire::AeFetchReply{{kBinary, ""}, {}, {sample_record(), {}}, 9}},
      {65, wire::AeFetch{"default", 1, 2, {}, {kBinary, "k"}, 9}},
      {66, wire::AeFetchReply{{kBinary}, {kMaxId}, {}, 9}},
      {67, wire::AePush{"lww", {kBinary}, {sample_record()}, 9}},
      {68, wire::AePushReply{12, 9}},
      {69, wire::RepairRequest{"default", true}},
      {70, wire::RepairReply{true, 10, 4, 1, 300, 1234}},
      {0, wire::AuthHello{std::string(32, '\x01'), "n2"}},
      {0, wire::AuthChallenge{std::string(32, '\xff'), std::string(32, '\0')}},
      {0, wire::AuthProof{std::string(32, '\x7f')}},
      {0, wire::AuthOk{}},
      {0, wire::AuthPassword{"open sesame"}},
      {44, wire::PaxosRequest{"locks", "k", wire::PaxosPhase::kPrepare, quorum::Ballot{1700000000000, 3, 2}, {}, 9}},
      {45, wire::PaxosRequest{"locks", std::string("k\0", 2), wire::PaxosPhase::kAccept,
                              quorum::Ballot{kMaxId, 0xffffffffu, 7}, quorum::Register{12, true, "v", {1, kMaxId}}, 9}},
      {44, wire::PaxosReply{true, quorum::Ballot{5, 1, 2}, quorum::Ballot{4, 0, 1},
                            quorum::Register{3, false, "", {7, 8, 9}}, 10}},
      {45, wire::PaxosReply{false, quorum::Ballot{6, 0, 3}, {}, {}, 10}},
      {46, wire::PutRequest{"locks", "k", "v", "v3", {}, 4, ""}},
      {47, wire::PutReply{"v4", 2, true, true, "current"}},
      {48, wire::PutRequest{"default", "k", "v", "", {}, 0, "", /*ttl_ms=*/wire::kMaxTtlMs}},
      {49, wire::GetReply{{"a", "b"}, kBinary, 3, false, {0, 1500}, /*linearizable=*/true}},
      {50, wire::PaxosRequest{"locks", "k", wire::PaxosPhase::kAccept, quorum::Ballot{9, 0, 1},
                              quorum::Register{2, true, "v", {5, 6}, /*expires_ms=*/1767225600000ULL}, 9}},
      {51, wire::ReplicaWrite{"default", "k", sample_record_with_expiry(), 0, 7}},
      {52, wire::PaxosReply{true, quorum::Ballot{5, 1, 2}, quorum::Ballot{4, 0, 1},
                            quorum::Register{3, true, "v", {7, 8, 9}, 0, {"jobs", "reports"}, {17, 4}}, 10}},
      {53, wire::PutRequest{"locks", "k", "v", "", {}, 0, "", 0, "jobs", 17}},
  };
}

// A msgpack writer for hand-made (malformed) payloads.
struct Bytes {
  std::string out;
  void write(const char* data, size_t n) { out.append(data, n); }
};

template <class F>
std::string packed(F&& fill) {
  Bytes bytes;
  msgpack::packer<Bytes> p(bytes);
  fill(p);
  return bytes.out;
}

std::string raw(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

void pack_options(msgpack::packer<Bytes>& p) {
  p.pack_array(4);
  p.pack(1);
  p.pack(1);
  p.pack(100);
  p.pack(false);
}

Status decode_error(const std::string& payload, const DecodeLimits& limits = {}) {
  Result<Message> r = decode_payload(payload, limits);
  if (r.ok()) return Status::Internal("decoded, but should not have");
  return r.status();
}

// ---- round trips --------------------------------------------------------------

TEST_CASE("the message samples cover every message type", "[codec]") {
  std::set<wire::MsgType> types;
  for (const auto& m : sample_messages()) types.insert(wire::type_of(m.body));
  CHECK(types.size() == std::variant_size_v<wire::Body>);
}

TEST_CASE("every message type round-trips through encode_payload and decode_payload", "[codec]") {
  for (const Message& m : sample_messages()) {
    INFO("type " << static_cast<int>(wire::type_of(m.body)) << ", request " << m.request_id);
    Result<Message> back = decode_payload(encode_payload(m));
    REQUIRE(back.ok());
    CHECK(*back == m);
  }
}

TEST_CASE("encode_frame is a length header and the payload, and reads back through FrameReader",
          "[codec]") {
  std::string stream;
  const auto messages = sample_messages();
  for (const Message& m : messages) {
    size_t start = stream.size();
    encode_frame(m, stream);
    const std::string payload = encode_payload(m);
    char h[kFrameHeaderBytes];
    put_frame_header(h, static_cast<uint32_t>(payload.size()));
    CHECK(stream.substr(start) == std::string(h, kFrameHeaderBytes) + payload);
  }
  FrameReader reader(1 << 20);
  REQUIRE(reader.feed(stream).ok());
  std::string payload;
  size_t i = 0;
  while (reader.next(payload)) {
    REQUIRE(i < messages.size());
    Result<Message> m = decode_payload(payload);
    REQUIRE(m.ok());
    CHECK(*m == messages[i++]);
  }
  CHECK(i == messages.size());
}

TEST_CASE("decode accepts str and bin interchangeably for byte fields", "[codec]") {
  // Clients in other languages do not always tell them apart.
  std::string payload = packed([](auto& p) {
    p.pack_array(4);
    p.pack(1);
    p.pack(5);  // put reply
    p.pack(42);
    p.pack_str(3);
    p.pack_str_body("abc", 3);
  });
  Result<Message> m = decode_payload(payload);
  REQUIRE(m.ok());
  CHECK(*m == Message{42, wire::PutReply{"abc"}});
}

TEST_CASE("options from an older client (four fields) decode with the newer flags off", "[codec]") {
  std::string payload = packed([](auto& p) {
    p.pack_array(6);
    p.pack(1);
    p.pack(6);  // get
    p.pack(9);
    p.pack(std::string("ks"));
    p.pack(std::string("k"));
    p.pack_array(4);
    p.pack(1);
    p.pack(2);
    p.pack(300);
    p.pack(true);
  });
  Result<Message> m = decode_payload(payload);
  REQUIRE(m.ok());
  CHECK(*m == Message{9, wire::GetRequest{"ks", "k", {1, 2, 300, true, false, false}}});
}

// ---- rejections ---------------------------------------------------------------

TEST_CASE("decode rejects a protocol version it does not speak, naming it", "[codec]") {
  std::string payload = packed([](auto& p) {
    p.pack_array(3);
    p.pack(2);  // version 2
    p.pack(2);  // ping
    p.pack(7);
  });
  Status s = decode_error(payload);
  CHECK(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("version 2"));
}

TEST_CASE("decode rejects an unknown message type, naming it", "[codec]") {
  for (int type : {0, 99, 200, 255}) {
    INFO("type " << type);
    std::string payload = packed([type](auto& p) {
      p.pack_array(3);
      p.pack(1);
      p.pack(type);
      p.pack(7);
    });
    Status s = decode_error(payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("unknown message type " + std::to_string(type)));
  }
}

TEST_CASE("decode rejects a message with too few fields for its type", "[codec]") {
  SECTION("no header") {
    std::string payload = packed([](auto& p) {
      p.pack_array(2);
      p.pack(1);
      p.pack(2);
    });
    Status s = decode_error(payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("'message'") && Catch::Contains("at least 3"));
  }
  SECTION("a put with two of its five fields") {
    std::string payload = packed([](auto& p) {
      p.pack_array(5);
      p.pack(1);
      p.pack(4);
      p.pack(7);
      p.pack(std::string("ks"));
      p.pack(std::string("key"));
    });
    Status s = decode_error(payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("put needs 5 fields, got 2"));
  }
  SECTION("options with three of their four fields") {
    std::string payload = packed([](auto& p) {
      p.pack_array(6);
      p.pack(1);
      p.pack(6);  // get
      p.pack(7);
      p.pack(std::string("ks"));
      p.pack(std::string("key"));
      p.pack_array(3);
      p.pack(1);
      p.pack(1);
      p.pack(100);
    });
    Status s = decode_error(payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("'options'"));
  }
}

TEST_CASE("decode rejects a field of the wrong type, naming the field", "[codec]") {
  struct Case {
    const char* field;
    std::string payload;
  };
  const std::vector<Case> cases = {
      {"'key'", packed([](auto& p) {
         p.pack_array(8);
         p.pack(1);
         p.pack(4);  // put
         p.pack(7);
         p.pack(std::string("ks"));
         p.pack(12345);  // key: an integer
         p.pack(std::string("v"));
         p.pack(std::string(""));
         pack_options(p);
       })},
      {"'options.sloppy'", packed([](auto& p) {
         p.pack_array(6);
         p.pack(1);
         p.pack(6);  // get
         p.pack(7);
         p.pack(std::string("ks"));
         p.pack(std::string("k"));
         p.pack_array(4);
         p.pack(1);
         p.pack(1);
         p.pack(100);
         p.pack(1);  // sloppy: an integer, not a boolean
       })},
      {"'options.r'", packed([](auto& p) {
         p.pack_array(6);
         p.pack(1);
         p.pack(6);
         p.pack(7);
         p.pack(std::string("ks"));
         p.pack(std::string("k"));
         p.pack_array(4);
         p.pack(256);  // r: does not fit its byte
         p.pack(1);
         p.pack(100);
         p.pack(false);
       })},
      {"'request_id'", packed([](auto& p) {
         p.pack_array(3);
         p.pack(1);
         p.pack(2);
         p.pack(-1);  // negative
       })},
      {"'type'", packed([](auto& p) {
         p.pack_array(3);
         p.pack(1);
         p.pack(std::string("ping"));
         p.pack(7);
       })},
      {"'values'", packed([](auto& p) {
         p.pack_array(5);
         p.pack(1);
         p.pack(7);  // get reply
         p.pack(7);
         p.pack(std::string("not an array"));
         p.pack(std::string(""));
       })},
      {"'values[]'", packed([](auto& p) {
         p.pack_array(5);
         p.pack(1);
         p.pack(7);
         p.pack(7);
         p.pack_array(2);
         p.pack(std::string("ok"));
         p.pack_nil();
         p.pack(std::string(""));
       })},
      {"'fields[]'", packed([](auto& p) {
         p.pack_array(4);
         p.pack(1);
         p.pack(11);  // status reply
         p.pack(7);
         p.pack_array(1);
         p.pack_array(1);  // a (name, value) pair with one element
         p.pack(std::string("name"));
       })},
      {"'options.blocking_repair'", packed([](auto& p) {
         p.pack_array(6);
         p.pack(1);
         p.pack(6);
         p.pack(7);
         p.pack(std::string("ks"));
         p.pack(std::string("k"));
         p.pack_array(5);
         p.pack(1);
         p.pack(1);
         p.pack(100);
         p.pack(false);
         p.pack(std::string("yes"));
       })},
      {"'record'", packed([](auto& p) {
         p.pack_array(8);
         p.pack(1);
         p.pack(12);  // replica write
         p.pack(7);
         p.pack(std::string("ks"));
         p.pack(std::string("k"));
         p.pack(std::string("not a record"));
         p.pack(0);
         p.pack(0);
       })},
      {"'error.code'", packed([](auto& p) {
         p.pack_array(5);
         p.pack(1);
         p.pack(1);  // error
         p.pack(7);
         p.pack(std::string("3"));
         p.pack(std::string("msg"));
       })},
  };
  for (const auto& c : cases) {
    INFO("field " << c.field);
    Status s = decode_error(c.payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains(c.field));
  }
}

TEST_CASE("decode rejects trailing bytes after the message", "[codec]") {
  std::string payload = encode_payload({7, wire::PingRequest{}}) + raw({0xC0});
  Status s = decode_error(payload);
  CHECK(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("1 trailing bytes"));
}

TEST_CASE("decode rejects a payload that is not an array", "[codec]") {
  const std::vector<std::string> payloads = {
      packed([](auto& p) { p.pack(1); }),
      packed([](auto& p) { p.pack(std::string("[1, 2, 7]")); }),
      packed([](auto& p) {
        p.pack_map(1);
        p.pack(1);
        p.pack(2);
      }),
      packed([](auto& p) { p.pack_nil(); }),
  };
  for (const auto& payload : payloads) {
    Status s = decode_error(payload);
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("'message'") && Catch::Contains("an array"));
  }
}

TEST_CASE("decode rejects an empty payload and bytes that are not msgpack", "[codec]") {
  CHECK(decode_error("").code() == Code::kProtocolError);
  CHECK(decode_error(raw({0xC1})).code() == Code::kProtocolError);  // the one unused type byte
}

TEST_CASE("decode rejects every proper prefix of a valid payload", "[codec]") {
  for (const Message& m : sample_messages()) {
    const std::string payload = encode_payload(m);
    for (size_t n = 0; n < payload.size(); ++n) {
      INFO("type " << static_cast<int>(wire::type_of(m.body)) << ", prefix of " << n << " of "
                   << payload.size() << " bytes");
      CHECK(decode_error(payload.substr(0, n)).code() == Code::kProtocolError);
    }
  }
}

TEST_CASE("decode rejects an array header claiming 2^31 elements before allocating", "[codec]") {
  // 5 bytes announcing 2^31 elements: the element limit must stop it, not the
  // allocator (which would have to find 32 GiB for the object array first).
  Status s = decode_error(raw({0xDD, 0x80, 0x00, 0x00, 0x00}));
  CHECK(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("array size overflow"));
  CHECK_THAT(s.message(), !Catch::Contains("too large to decode"));
}

TEST_CASE("decode enforces the element limit exactly", "[codec]") {
  DecodeLimits limits;
  limits.max_elements = 9;  // the get reply's outer array has 9
  auto reply = [](size_t n) {
    return encode_payload({1, wire::GetReply{std::vector<std::string>(n, "v"), ""}});
  };
  CHECK(decode_payload(reply(9), limits).ok());
  Status s = decode_error(reply(10), limits);
  CHECK(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("array size overflow"));

  std::string status_map = packed([](auto& p) {
    p.pack_map(10);
    for (int i = 0; i < 10; ++i) {
      p.pack(i);
      p.pack(i);
    }
  });
  CHECK_THAT(decode_error(status_map, limits).message(), Catch::Contains("map size overflow"));
}

TEST_CASE("decode enforces the byte limit on strings and binaries", "[codec]") {
  DecodeLimits limits;
  limits.max_bytes = 16;
  auto put = [](size_t value_size, size_t keyspace_size) {
    return encode_payload(
        {1, wire::PutRequest{
                std::string(keyspace_size, 'k'), "key", std::string(value_size, 'v'), "", {}}});
  };
  CHECK(decode_payload(put(16, 16), limits).ok());
  CHECK_THAT(decode_error(put(17, 1), limits).message(), Catch::Contains("bin size overflow"));
  CHECK_THAT(decode_error(put(1, 17), limits).message(), Catch::Contains("str size overflow"));
  // The default limit (16 MiB) holds against a header claiming 2^32-1 bytes.
  CHECK(decode_error(raw({0x93, 0x01, 0x02, 0xC6, 0xFF, 0xFF, 0xFF, 0xFF})).code() ==
        Code::kProtocolError);
}

TEST_CASE("decode enforces the nesting depth limit", "[codec]") {
  auto nested = [](int depth) {
    return packed([depth](auto& p) {
      p.pack_array(4);
      p.pack(1);
      p.pack(10);  // status: extra fields are ignored, so depth is all that can fail
      p.pack(7);
      for (int i = 0; i < depth; ++i) p.pack_array(i + 1 < depth ? 1 : 0);
    });
  };
  DecodeLimits limits;
  limits.max_depth = 4;
  CHECK(decode_payload(nested(3), limits).ok());  // 1 outer + 3 nested
  Status s = decode_error(nested(4), limits);
  CHECK(s.code() == Code::kProtocolError);
  CHECK_THAT(s.message(), Catch::Contains("depth size overflow"));
}

// ---- records ----------------------------------------------------------------

TEST_CASE("records round-trip through encode_record and decode_record", "[codec]") {
  const quorum::DvvSet rec = sample_record();
  REQUIRE(quorum::validate(rec).ok());
  REQUIRE(rec.siblings.size() == 5);
  Result<quorum::DvvSet> back = decode_record(encode_record(rec));
  REQUIRE(back.ok());
  CHECK(*back == rec);

  Result<quorum::DvvSet> empty = decode_record(encode_record({}));
  REQUIRE(empty.ok());
  CHECK(*empty == quorum::DvvSet{});
}

TEST_CASE("records keep each value's expiry; one without any is written as before expiries", "[codec][ttl]") {
  const quorum::DvvSet rec = sample_record_with_expiry();
  REQUIRE(rec.siblings.size() == 2);
  CHECK(rec.siblings[0].expires_ms == 1767225610000ULL);
  CHECK(rec.siblings[1].expires_ms == 0);
  Result<quorum::DvvSet> back = decode_record(encode_record(rec));
  REQUIRE(back.ok());
  CHECK(*back == rec);
  // Without an expiry the bytes are those of a record from before: no
  // eighth field, so an older node reads them.
  quorum::DvvSet plain = rec;
  plain.siblings[0].expires_ms = 0;
  const std::string bytes = encode_record(plain);
  CHECK(bytes.size() + 9 == encode_record(rec).size());
  // A tombstone does not expire: bytes that say it does are corrupt.
  quorum::DvvSet bad = *quorum::update({}, {}, quorum::ClientWrite::Delete({5, 0, 1}), 1);
  bad.siblings[0].expires_ms = 99;
  Result<quorum::DvvSet> refused = decode_record(encode_record(bad));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kCorruption);
  CHECK_THAT(refused.status().message(), Catch::Contains("no expiry on a tombstone"));
}

TEST_CASE("records keep actors with a mint epoch (ids above 2^32) exactly", "[codec][mint-epoch]") {
  const quorum::ActorId old_actor = quorum::actor_id(3, 0), new_actor = quorum::actor_id(3, 0xfffffffeu);
  quorum::DvvSet rec = *quorum::update({}, {}, quorum::ClientWrite::Put("a", {}), old_actor);
  rec = *quorum::update(rec, {}, quorum::ClientWrite::Put("b", {}), new_actor);
  REQUIRE(rec.clock.entries.size() == 2);
  Result<quorum::DvvSet> back = decode_record(encode_record(rec));
  REQUIRE(back.ok());
  CHECK(*back == rec);
  CHECK(back->siblings[1].dot.replica == new_actor);
}

TEST_CASE("mint epochs round-trip, and bytes that are not mint epochs are corruption", "[codec][mint-epoch]") {
  codec::MintEpochs e;
  e.base = 1;
  e.last = 4;
  e.keyspaces.emplace("default", ring::PositionMap(1));
  e.keyspaces.at("default").assign(ring::TokenRange{10, 20}, 3);
  e.keyspaces.at("default").assign(ring::TokenRange{UINT64_MAX - 5, 2}, 4);
  e.keyspaces[kBinary].assign(ring::TokenRange{7, 7}, 2);
  Result<codec::MintEpochs> back = codec::decode_mint_epochs(codec::encode_mint_epochs(e));
  REQUIRE(back.ok());
  CHECK(*back == e);
  CHECK(back->keyspaces.at("default").at(15) == 3);
  CHECK(back->keyspaces.at("default").at(0) == 4);
  CHECK(back->keyspaces.at("default").at(100) == 1);
  CHECK(back->base == 1);

  CHECK(codec::decode_mint_epochs(codec::encode_mint_epochs({}))->last == 0);
  Result<codec::MintEpochs> bad = codec::decode_mint_epochs(encode_record({}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kCorruption);
  // An epoch above `last`: a map the node could not have written.
  codec::MintEpochs over = e;
  over.last = 3;
  Result<codec::MintEpochs> r = codec::decode_mint_epochs(codec::encode_mint_epochs(over));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("mint_epochs.epoch"));
  codec::MintEpochs below = e;
  below.base = 5;
  r = codec::decode_mint_epochs(codec::encode_mint_epochs(below));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("mint_epochs.last"));
}

TEST_CASE("decode_record rejects a record that is not a valid DVV set as corruption", "[codec]") {
  const quorum::DvvSet good = sample_record();
  SECTION("siblings out of dot order") {
    quorum::DvvSet bad = good;
    std::swap(bad.siblings[0], bad.siblings[1]);
    Result<quorum::DvvSet> r = decode_record(encode_record(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK_THAT(r.status().message(), Catch::Contains("not sorted"));
  }
  SECTION("a sibling dot the clock does not cover") {
    quorum::DvvSet bad = good;
    bad.siblings.back().dot.counter = bad.clock.get(bad.siblings.back().dot.replica) + 1;
    Result<quorum::DvvSet> r = decode_record(encode_record(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK_THAT(r.status().message(), Catch::Contains("not covered by the clock"));
  }
  SECTION("a duplicate dot") {
    quorum::DvvSet bad = good;
    bad.siblings[1] = bad.siblings[0];
    Result<quorum::DvvSet> r = decode_record(encode_record(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
  }
  SECTION("a clock with replica ids out of order") {
    quorum::DvvSet bad = good;
    std::swap(bad.clock.entries[0], bad.clock.entries[1]);
    Result<quorum::DvvSet> r = decode_record(encode_record(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK_THAT(r.status().message(), Catch::Contains("record.clock"));
  }
}

TEST_CASE("a replica message carrying an invalid DVV set is a protocol error", "[codec]") {
  // The record validation applies on the wire too, not only on disk.
  quorum::DvvSet bad = sample_record();
  std::swap(bad.siblings[0], bad.siblings[1]);
  for (const Message& m : {Message{1, wire::ReplicaWrite{"ks", "k", bad, 0}},
                           Message{2, wire::ReplicaReadReply{true, bad}}}) {
    Status s = decode_error(encode_payload(m));
    CHECK(s.code() == Code::kProtocolError);
    CHECK_THAT(s.message(), Catch::Contains("not sorted"));
  }
}

TEST_CASE("decode_record rejects bytes that are not a record as corruption", "[codec]") {
  const std::string good = encode_record(sample_record());
  const std::vector<std::string> bad = {
      "",
      "garbage",
      raw({0xC1}),
      good + raw({0x00}),                  // trailing byte
      packed([](auto& p) { p.pack(1); }),  // not an array
      packed([](auto& p) {                 // unknown format
        p.pack_array(3);
        p.pack(2);
        p.pack_array(0);
        p.pack_array(0);
      }),
      packed([](auto& p) {  // odd-length clock
        p.pack_array(3);
        p.pack(1);
        p.pack_array(1);
        p.pack(1);
        p.pack_array(0);
      }),
      packed([](auto& p) {  // a sibling of 6 fields
        p.pack_array(3);
        p.pack(1);
        p.pack_array(2);
        p.pack(1);
        p.pack(1);
        p.pack_array(1);
        p.pack_array(6);
        for (int i = 0; i < 6; ++i) p.pack(1);
      }),
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i);
    Result<quorum::DvvSet> r = decode_record(bad[i]);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
  }
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    Result<quorum::DvvSet> r = decode_record(good.substr(0, n));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
  }
}

// Regression: decode_record once unpacked with no element limit, so 7 corrupt
// bytes made msgpack allocate 2^31 objects (32 GiB) and std::bad_alloc escaped
// instead of a Corruption status.
TEST_CASE("decode_record rejects an array header claiming 2^31 elements as corruption",
          "[codec]") {
  const std::string bytes = raw({0x93, 0x01, 0xDD, 0x80, 0x00, 0x00, 0x00});
  Result<quorum::DvvSet> r = Status::Internal("not run");
  REQUIRE_NOTHROW(r = decode_record(bytes));
  CHECK(r.status().code() == Code::kCorruption);
}

// ---- contexts ---------------------------------------------------------------

TEST_CASE("contexts round-trip, and the empty string is the empty context", "[codec]") {
  const quorum::VersionVector vv{
      {{1, 5}, {2, 1}, {4'000'000'000u, std::numeric_limits<uint64_t>::max()}}};
  Result<quorum::VersionVector> back = decode_context(encode_context(vv));
  REQUIRE(back.ok());
  CHECK(*back == vv);

  Result<quorum::VersionVector> none = decode_context("");
  REQUIRE(none.ok());
  CHECK(none->entries.empty());
  Result<quorum::VersionVector> encoded_empty = decode_context(encode_context({}));
  REQUIRE(encoded_empty.ok());
  CHECK(encoded_empty->entries.empty());

  // A record's context is its clock.
  const quorum::DvvSet rec = sample_record();
  Result<quorum::VersionVector> ctx = decode_context(encode_context(quorum::join(rec)));
  REQUIRE(ctx.ok());
  CHECK(*ctx == rec.clock);
}

TEST_CASE("garbage contexts are an invalid argument, not a crash", "[codec]") {
  const std::string good = encode_context({{{1, 5}, {2, 1}}});
  const std::vector<std::string> bad = {
      "not a context",
      raw({0xC1}),
      good + raw({0x01}),                                   // trailing byte
      packed([](auto& p) { p.pack(std::string("ctx")); }),  // not an array
      packed([](auto& p) {                                  // odd length
        p.pack_array(3);
        p.pack(1);
        p.pack(5);
        p.pack(2);
      }),
      packed([](auto& p) {  // zero counter
        p.pack_array(2);
        p.pack(1);
        p.pack(0);
      }),
      packed([](auto& p) {  // ids out of order
        p.pack_array(4);
        p.pack(2);
        p.pack(1);
        p.pack(1);
        p.pack(1);
      }),
      packed([](auto& p) {  // an actor naming node 0 (mint epoch 1 of no node)
        p.pack_array(2);
        p.pack(uint64_t{1} << 32);
        p.pack(1);
      }),
      packed([](auto& p) {  // nested deeper than a context is
        p.pack_array(1);
        p.pack_array(1);
        p.pack_array(0);
      }),
      packed([](auto& p) {  // more entries than any context holds
        p.pack_array(2000);
        for (int i = 1; i <= 1000; ++i) {
          p.pack(i);
          p.pack(1);
        }
      }),
      raw({0xDD, 0x80, 0x00, 0x00, 0x00}),  // claims 2^31 elements
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i);
    Result<quorum::VersionVector> r = decode_context(bad[i]);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains("bad context"));
  }
  for (size_t n = 1; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(decode_context(good.substr(0, n)).status().code() == Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace tally::net
