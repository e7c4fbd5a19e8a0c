// The wire layout, byte for byte: the payloads of a few messages as this
// version of the protocol writes them (type numbers, field order, str or bin,
// integer widths, nested arrays). Nodes and clients of different builds talk
// to each other, so a change here is a protocol change: these must not move.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "net/codec.hpp"

namespace tally::net {
namespace {

std::string hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

struct Golden {
  const char* what;
  wire::Message message;
  const char* payload;  // hex
};

std::vector<Golden> goldens() {
  quorum::DvvSet record;
  record.clock = quorum::VersionVector{{{1, 2}, {4, 1}}};
  record.siblings.push_back(quorum::Sibling{{1, 2}, {1767225600000ULL, 3, 1}, false, "v1"});
  record.siblings.push_back(quorum::Sibling{{4, 1}, {1767225600001ULL, 0, 4}, true, ""});

  raft::Message append;
  append.type = raft::MessageType::kAppend;
  append.from = 1;
  append.to = 2;
  append.term = 3;
  append.log_term = 2;
  append.index = 10;
  raft::Entry entry;
  entry.term = 3;
  entry.index = 11;
  entry.data = "cmd";
  append.entries = {entry};
  append.commit = 9;
  append.context = 4;

  wire::ClusterInfoReply info;
  info.answered_by = "n1";
  info.leader = 1;
  info.term = 2;
  info.commit = 3;
  info.applied = 3;
  info.voters = {1, 2};
  info.learners = {3};
  info.map.epoch = 4;
  info.map.members.push_back(meta::Member{1, "n1", "h:1", "z", {10, 20}, meta::NodeState::kNormal});
  info.map.keyspaces.push_back(meta::Keyspace{"default", 3, 2, 2, meta::ConflictMode::kLww});

  return {
      {"put: str keyspace, bin key/value/context, 11 options (the last four: a forward's deadline and arrival tag), condition, expected, ttl_ms, fence_lock, fence_token",
       {7, wire::PutRequest{"default", std::string("k\0\xff", 3), "value", "", {2, 3, 1500, true, false, true, false}}},
       "9d010407a764656661756c74c4036b00ffc40576616c7565c4009b0203cd05dcc3c2c3c20000000000c40000c40000"},
      {"get reply: bin values, bin context, epoch, latest_deleted, ttl_ms (uint array), linearizable",
       {300, wire::GetReply{{"a", ""}, std::string("\x92\x01\x05", 3), 70000}},
       "990107cd012c92c40161c400c403920105ce00011170c290c2"},
      {"replica write: a record [format, clock, siblings], hint_for, epoch, fence lock and token",
       {9, wire::ReplicaWrite{"ks", "key", record, 5, 12, "L", 7}},
       "9a010c09a26b73c4036b65799301940102040192970102cf0000019b76daa8000301c2c4027631970401cf00"
       "00019b76daa8010004c3c400050cc4014c07"},
      {"raft: the message's 13 fields flattened, entries nested, no snapshot (nil)",
       {0, wire::RaftMessage{append}},
       "dc001001100000010203020a9196030b00c403636d64000009c20004c2c0"},
      // The map ends with its ring movement (nil: none) and ring epoch.
      {"cluster info reply: ids and the cluster map",
       {11, info},
       "9c01120ba26e31010203039201029103909504919601a26e31a3683a31a17a920a14019195a764656661756c74"
       "03020201c000"},
      // The stream_* fields (a ring movement's progress) came later: optional,
      // sent at their defaults by every other op, ignored by older nodes.
      {"metadata change: op as a byte, strings, n/r/w/mode, then the stream fields",
       {12, wire::MetaChangeRequest{wire::MetaOp::kCreateKeyspace, "", "", "", "users", 3, 2, 1, 2, true}},
       "dc001301130c06a0a0a0a5757365727303020102c30090c400c20000"},
      {"error: code as a byte, message", {13, wire::ErrorReply{Code::kNotLeader, "no"}}, "9501010d0aa26e6f"},
      {"local get (type 25): str keyspace, bin key, str node, timeout, forwarded",
       {14, wire::LocalGetRequest{"default", "k", "n3", 250, false}},
       "9801190ea764656661756c74c4016ba26e33ccfac2"},
      {"local get reply (type 26): str node, found, the record as stored, epoch",
       {15, wire::LocalGetReply{"n3", true, record, 21}},
       "97011a0fa26e33c39301940102040192970102cf0000019b76daa8000301c2c4027631970401cf0000019b76daa80100"
       "04c3c40015"},
  };
}

TEST_CASE("messages encode to the same bytes as the protocol's golden payloads", "[codec]") {
  for (const Golden& g : goldens()) {
    INFO(g.what);
    CHECK(hex(encode_payload(g.message)) == g.payload);
    Result<wire::Message> back = decode_payload(encode_payload(g.message));
    REQUIRE(back.ok());
    CHECK(*back == g.message);
  }
}

}  // namespace
}  // namespace tally::net
