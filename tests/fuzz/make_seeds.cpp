// Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/
// (`make fuzz-seeds`), each seed a real encoding made by the code's own
// encoders: frames and payloads of every wire message, stored records and
// mint epochs, data keys, RESP requests, config files. Files it does not
// write (inputs that once found a bug, kept as test cases) stay as they are.
//
// Usage: make_seeds <corpus folder> <config files...>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "codec/record_codec.hpp"
#include "net/codec.hpp"
#include "net/frame.hpp"
#include "node/resp.hpp"
#include "quorum/dvv.hpp"
#include "store/record_store.hpp"

namespace {

namespace fs = std::filesystem;
namespace codec = tally::codec;
namespace net = tally::net;
namespace quorum = tally::quorum;
namespace resp = tally::resp;
namespace wire = tally::wire;

fs::path root;

void write(const std::string& target, std::string name, const std::string& bytes) {
  for (char& c : name) {
    if (c == ' ') c = '-';
  }
  fs::create_directories(root / target);
  std::ofstream out(root / target / ("seed-" + name), std::ios::binary);
  out << bytes;
}

// Every message type, default-valued.
template <size_t... I>
std::vector<std::pair<std::string, wire::Message>> every_message(std::index_sequence<I...>) {
  std::vector<std::pair<std::string, wire::Message>> out;
  uint64_t id = 1;
  ((out.emplace_back(std::string(std::variant_alternative_t<I, wire::Body>::kName),
                     wire::Message{id++, std::variant_alternative_t<I, wire::Body>{}})),
   ...);
  return out;
}

const quorum::HlcTimestamp kTs{1767225600000ULL, 0, 1};

quorum::DvvSet put(const quorum::DvvSet& on, const quorum::VersionVector& ctx, std::string value,
                   quorum::ActorId by, bool tombstone = false) {
  quorum::HlcTimestamp ts = kTs;
  ts.wall_ms += on.siblings.size() * 7 + value.size();
  ts.node = quorum::node_of(by);
  auto w =
      tombstone ? quorum::ClientWrite::Delete(ts) : quorum::ClientWrite::Put(std::move(value), ts);
  auto r = quorum::update(on, ctx, std::move(w), by);
  if (!r.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", r.status().message().c_str());
    std::exit(1);
  }
  return *r;
}

// Records of the shapes replicas hold: one value, siblings, a tombstone, a
// value over a tombstone, several actors and mint epochs, binary values.
std::vector<std::pair<std::string, quorum::DvvSet>> records() {
  using quorum::actor_id;
  std::vector<std::pair<std::string, quorum::DvvSet>> out;
  const quorum::DvvSet empty;
  const auto one = put(empty, {}, "hello", actor_id(1, 0));
  out.emplace_back("empty", empty);
  out.emplace_back("one-value", one);
  const auto two = put(one, {}, "concurrent", actor_id(2, 0));
  out.emplace_back("two-siblings", two);
  const auto three = put(two, {}, std::string("bin\0\xff\x80", 6), actor_id(3, 7));
  out.emplace_back("three-actors-epoch", three);
  const auto resolved = put(three, quorum::join(three), "resolved", actor_id(2, 0));
  out.emplace_back("resolved", resolved);
  const auto deleted = put(resolved, quorum::join(resolved), "", actor_id(1, 0), true);
  out.emplace_back("tombstone", deleted);
  const auto reborn = put(deleted, {}, "after-delete", actor_id(4'000'000'000u, 0xffffffffu));
  out.emplace_back("value-and-tombstone", reborn);
  out.emplace_back("synced",
                   quorum::sync(two, put(one, quorum::join(one), "newer", actor_id(1, 0))));
  out.emplace_back("lww", quorum::lww_resolve(three));
  out.emplace_back("long-value", put(empty, {}, std::string(300, 'x'), actor_id(9, 1)));
  return out;
}

void wire_seeds() {
  auto messages = every_message(std::make_index_sequence<wire::kMessageTypes>{});
  wire::PutRequest p;
  p.keyspace = "default";
  p.key = "user:42";
  p.value = "some value";
  p.context = net::encode_context(quorum::join(records()[2].second));
  messages.emplace_back("put-filled", wire::Message{77, p});
  wire::ReplicaWrite rw;
  rw.keyspace = "default";
  rw.key = "k";
  rw.record = records()[3].second;
  rw.hint_for = 3;
  rw.epoch = 12;
  messages.emplace_back("replica-write-filled", wire::Message{78, rw});
  wire::GetReply g;
  g.values = {"a", "b"};
  g.context = p.context;
  g.epoch = 5;
  messages.emplace_back("get-reply-filled", wire::Message{79, g});

  for (const auto& [name, msg] : messages) write("message_fuzz", name, net::encode_payload(msg));
  for (const auto& [name, rec] : records()) {
    write("message_fuzz", "context-" + name, net::encode_context(quorum::join(rec)));
  }

  // frame_fuzz: byte 0 picks the limit (1 + b % 64), byte 1 seeds the chunk
  // sizes, then frames back to back.
  std::string small;  // frames of at most 64 bytes
  for (const auto& [name, msg] : messages) {
    std::string frame;
    net::encode_frame(msg, frame);
    if (frame.size() - net::kFrameHeaderBytes <= 64) small += frame;
  }
  write("frame_fuzz", "many-frames", std::string("\x3f\x05", 2) + small);
  std::string ping;
  net::encode_frame(wire::Message{1, wire::PingRequest{}}, ping);
  write("frame_fuzz", "one-ping", std::string("\x3f\x00", 2) + ping);
  write("frame_fuzz", "truncated",
        std::string("\x3f\x11", 2) + ping + ping.substr(0, ping.size() - 1));
  write("frame_fuzz", "over-limit", std::string("\x02\x21", 2) + ping);
  write("frame_fuzz", "zero-length", std::string("\x3f\x07", 2) + ping + std::string(4, '\0'));
}

void record_seeds() {
  for (const auto& [name, rec] : records())
    write("record_fuzz", "record-" + name, codec::encode_record(rec));
  codec::MintEpochs m;
  write("record_fuzz", "mint-epochs-empty", codec::encode_mint_epochs(m));
  m.base = 17;
  m.last = 40;
  tally::ring::PositionMap map;
  if (!tally::ring::PositionMap::from_breakpoints({{0, 17}, {1ULL << 62, 40}, {3ULL << 62, 23}},
                                                  &map))
    std::exit(1);
  m.keyspaces.emplace("default", map);
  m.keyspaces.emplace("users", tally::ring::PositionMap{});
  write("record_fuzz", "mint-epochs", codec::encode_mint_epochs(m));
  using tally::store::RecordStore;
  write("record_fuzz", "data-key", RecordStore::data_key("default", "user:42"));
  write("record_fuzz", "data-key-empty", RecordStore::data_key("", ""));
  write("record_fuzz", "data-key-binary", RecordStore::data_key("ks", std::string("\0\xff", 2)));
}

void resp_seeds() {
  // Byte 0 picks the limits ('\xff': 8 arguments, 512-byte bulks, 128-byte
  // inline lines), byte 1 seeds the chunk sizes.
  auto array = [](std::initializer_list<std::string> args) {
    std::string out;
    resp::put_array_header(out, args.size());
    for (const auto& a : args) resp::put_bulk(out, a);
    return out;
  };
  const std::string head("\xff\x03", 2);
  write("resp_fuzz", "set", head + array({"SET", "k", "v"}));
  write("resp_fuzz", "get", head + array({"GET", "user:42"}));
  write("resp_fuzz", "pipeline",
        head + array({"SET", "a", "1"}) + array({"GET", "a"}) + array({"DEL", "a"}) +
            array({"PING"}));
  write("resp_fuzz", "binary-value",
        head + array({"SET", std::string("k\0", 2), std::string("\r\n\0\xff", 4)}));
  write("resp_fuzz", "empty-and-null-arrays", head + "*0\r\n*-1\r\n" + array({"PING"}));
  write("resp_fuzz", "inline", head + "PING\r\nSET k \"two words\"\r\nGET k\n");
  write("resp_fuzz", "inline-escapes", head + "SET \"a\\x00\\n\\\"b\" 'it\\'s'\r\n\r\n");
  write("resp_fuzz", "mixed", head + "ECHO hi\r\n" + array({"AUTH", "secret"}) + "INFO\r\n");
  write("resp_fuzz", "unbalanced", head + "SET \"k v\r\n");
  write("resp_fuzz", "bad-bulk-length", head + "*1\r\n$x\r\n");
  write("resp_fuzz", "tiny-limits",
        std::string("\x00\x09", 2) + array({"SET", "key-longer-than-limit", "v"}));
  write("resp_fuzz", "wire-protocol", head + std::string("\0\0\0\x05", 4) + "hello");
}

void config_seeds(const std::vector<std::string>& files) {
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write("config_fuzz", fs::path(f).filename().string(), text);
  }
  const std::string nodes3 =
      "[[nodes]]\nid = \"n1\"\nlisten = \"127.0.0.1:7401\"\ndata_dir = \"data/n1\"\nzone = \"z1\"\n"
      "resp_listen = \"127.0.0.1:6401\"\n"
      "[[nodes]]\nid = \"n2\"\nlisten = \"[::1]:7402\"\ndata_dir = \"/var/lib/tally/n2\"\nzone = "
      "\"z2\"\n"
      "[[nodes]]\nid = \"n3\"\nlisten = \"db3.example:7403\"\ndata_dir = \"../n3\"\n";
  write("config_fuzz", "keyspaces",
        "[cluster]\nname = \"prod\"\nvoters = [\"n1\", \"n2\", \"n3\"]\nrequirepass = "
        "\"p\\u00e9ss\"\n" +
            nodes3 +
            "[[keyspaces]]\nname = \"users\"\nn = 3\nr = 2\nw = 2\nmode = \"siblings\"\n"
            "[[keyspaces]]\nname = \"cache\"\nn = 2\nr = 1\nw = 1\nmode = \"lww\"\n");
  write("config_fuzz", "limits",
        "[limits]\nmax_key_bytes = 1024\nmax_value_bytes = 0\nmax_frame_bytes = "
        "2048\nmax_connections = 10\n"
        "idle_timeout_s = 0\nframe_timeout_s = 5\ninput_budget_mb = 1\noutput_pause_kb = "
        "64\noutput_limit_mb = 1\n"
        "[storage]\ndurability = \"buffered\"\nrecord_cache_mb = 0\n[log]\nlevel = \"debug\"\n"
        "[anti_entropy]\nbackground = false\n" +
            nodes3);
  write("config_fuzz", "secret-file", "[cluster]\nsecret_file = \"secret\"\n" + nodes3);
  write("config_fuzz", "inline-tables",
        "cluster = { name = 'lit', voters = ['a'] }\nnodes = [ { id = 'a', listen = 'h:1', "
        "data_dir = '/d' } ]\n");
  write("config_fuzz", "unknown-key", "[storage]\ndurabilty = \"fsync\"\n" + nodes3);
  write("config_fuzz", "syntax-error", "[cluster\nname = \"x\"\n" + nodes3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus folder> <config files...>\n");
    return 2;
  }
  root = argv[1];
  wire_seeds();
  record_seeds();
  resp_seeds();
  config_seeds(std::vector<std::string>(argv + 2, argv + argc));
  return 0;
}
