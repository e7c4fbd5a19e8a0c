// RespSession, the Redis command layer, against a fake node: replies leave in
// request order however the node's answers interleave; each command maps to
// the requests and replies docs/resp.md promises (SET is one overwriting put,
// GET picks the greatest sibling, DEL counts what its read found); errors
// carry tally's code word and message and never close the connection, except
// a protocol error or input over the limit; pipelining is bounded.
#include "node/resp_session.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tally {
namespace {

// A node in miniature. Each write bumps the key's version; a write whose
// context names the current version, or an overwrite without a context,
// replaces the value, any other adds a sibling, as a write without a
// (current) context does in a `siblings` keyspace. Answers at once, or, when
// `deferred`, when the test says.
class FakeBackend final : public RespBackend {
 public:
  bool deferred = false;
  std::map<std::string, std::vector<std::string>> data;  // key -> siblings, oldest first
  std::set<std::string> deleted_last;  // keys whose newest write is a delete
  std::map<std::string, uint64_t> versions;
  std::map<std::string, uint64_t> ttl;  // key -> the newest value's time to live (ms), as the last write gave it
  bool linearizable = false;            // answer as a linearizable keyspace does (gets say so)
  std::map<std::string, Status> failing;  // key ("" for status) -> the error its requests get
  std::vector<wire::Body> requests;       // every request, in the order made

  void request(wire::Body req, std::function<void(wire::Body)> done) override {
    requests.push_back(req);
    if (deferred) {
      waiting_.push_back({std::move(req), std::move(done)});
    } else {
      done(answer(req));
    }
  }

  size_t waiting() const { return waiting_.size(); }

  // Answers the i-th request still waiting (0 = the oldest).
  void resolve(size_t i) {
    REQUIRE(i < waiting_.size());
    auto [req, done] = std::move(waiting_[i]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    done(answer(req));
  }

  void resolve_all() {
    while (!waiting_.empty()) resolve(0);
  }

  // Keeps the waiting requests without ever answering them (a session that
  // is gone must ignore late answers; see the test).
  std::vector<std::pair<wire::Body, std::function<void(wire::Body)>>> take_waiting() {
    return std::move(waiting_);
  }

  static std::string key_of(const wire::Body& b) {
    if (auto* g = std::get_if<wire::GetRequest>(&b)) return g->key;
    if (auto* p = std::get_if<wire::PutRequest>(&b)) return p->key;
    if (auto* d = std::get_if<wire::DeleteRequest>(&b)) return d->key;
    return "";
  }

  // The requests made of one kind, in order.
  template <class T>
  std::vector<T> made() const {
    std::vector<T> out;
    for (const auto& b : requests) {
      if (auto* r = std::get_if<T>(&b)) out.push_back(*r);
    }
    return out;
  }

 private:
  std::string context(const std::string& key) { return "v" + std::to_string(versions[key]); }

  wire::Body answer(const wire::Body& req) {
    auto f = failing.find(key_of(req));
    if (f != failing.end()) return wire::ErrorReply{f->second.code(), f->second.message()};
    if (auto* g = std::get_if<wire::GetRequest>(&req)) {
      auto it = data.find(g->key);
      wire::GetReply reply{it == data.end() ? std::vector<std::string>{} : it->second, context(g->key)};
      reply.latest_deleted = deleted_last.contains(g->key);
      reply.linearizable = linearizable;
      if (it != data.end() && ttl[g->key] != 0) {
        reply.ttl_ms.assign(it->second.size(), 0);
        reply.ttl_ms.back() = ttl[g->key];
      }
      return reply;
    }
    if (auto* p = std::get_if<wire::PutRequest>(&req); p && p->condition != 0) {
      // A linearizable keyspace's conditional put, on one value per key.
      auto it = data.find(p->key);
      const bool present = it != data.end() && !it->second.empty();
      bool holds = false;
      switch (static_cast<quorum::Condition>(p->condition)) {
        case quorum::Condition::kIfAbsent: holds = !present; break;
        case quorum::Condition::kIfPresent: holds = present; break;
        case quorum::Condition::kIfValue: holds = present && it->second.back() == p->expected; break;
        case quorum::Condition::kIfVersion: holds = p->context == context(p->key); break;
        default: break;
      }
      wire::PutReply reply{context(p->key)};
      if (holds) {
        data[p->key] = {p->value};
        ttl[p->key] = p->ttl_ms;
        ++versions[p->key];
      } else {
        reply.not_applied = true;
        reply.current_found = present;
        if (present) reply.current = it->second.back();
      }
      return reply;
    }
    if (auto* p = std::get_if<wire::PutRequest>(&req)) {
      if (p->context == context(p->key) || (p->options.overwrite && p->context.empty())) {
        data[p->key] = {p->value};
      } else {
        data[p->key].push_back(p->value);
      }
      ttl[p->key] = p->ttl_ms;
      ++versions[p->key];
      return wire::PutReply{context(p->key)};
    }
    if (auto* d = std::get_if<wire::DeleteRequest>(&req)) {
      if (d->context.empty() || d->context == context(d->key)) data.erase(d->key);
      ++versions[d->key];
      return wire::DeleteReply{};
    }
    if (std::holds_alternative<wire::StatusRequest>(req)) {
      return wire::StatusReply{{{"node", "n1"}, {"ring_epoch", "3"}}};
    }
    return wire::ErrorReply{Code::kProtocolError, "not a request"};
  }

  std::vector<std::pair<wire::Body, std::function<void(wire::Body)>>> waiting_;
};

// The client's end: what the session sent, and whether it closed or paused.
class FakeConnection final : public RespConnection {
 public:
  std::string out;
  int sends = 0;
  bool closed = false;
  Status why;
  bool paused = false;
  int pauses = 0;
  int resumes = 0;

  void send(std::string bytes) override {
    REQUIRE_FALSE(closed);
    out += bytes;
    ++sends;
  }
  void close(const Status& s) override {
    REQUIRE_FALSE(closed);
    closed = true;
    why = s;
  }
  void pause_reading() override {
    paused = true;
    ++pauses;
  }
  void resume_reading() override {
    paused = false;
    ++resumes;
  }
  // What was sent since the last take.
  std::string take() { return std::exchange(out, std::string()); }
};

std::string request(const std::vector<std::string>& words) {
  std::string out;
  resp::put_array_header(out, words.size());
  for (const auto& w : words) resp::put_bulk(out, w);
  return out;
}

struct Fixture {
  FakeBackend backend;
  FakeConnection conn;
  RespSession session;
  explicit Fixture(RespSessionOptions o = {}) : session(backend, conn, std::move(o)) {}

  // Sends one command and returns what the session answered (at once).
  std::string cmd(const std::vector<std::string>& words) {
    session.on_data(request(words));
    return conn.take();
  }
};

RespSessionOptions options(size_t max_pipeline) {
  RespSessionOptions o;
  o.max_pipeline = max_pipeline;
  o.client_id = 7;
  o.version = "9.9.9";
  return o;
}

TEST_CASE("PING, ECHO and inline commands", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"PING"}) == "+PONG\r\n");
  CHECK(f.cmd({"ping", "hi"}) == "$2\r\nhi\r\n");
  CHECK(f.cmd({"ECHO", "a b"}) == "$3\r\na b\r\n");
  f.session.on_data("PING\r\n");
  CHECK(f.conn.take() == "+PONG\r\n");
  CHECK(f.cmd({"PING", "a", "b"}) == "-ERR wrong number of arguments for 'ping' command\r\n");
  CHECK(f.backend.requests.empty());
}

TEST_CASE("replies leave in request order when the node answers out of order", "[resp_session]") {
  Fixture f;
  f.backend.deferred = true;
  f.backend.data = {{"a", {"A"}}, {"b", {"B"}}, {"c", {"C"}}};
  f.session.on_data(request({"GET", "a"}) + request({"GET", "b"}) + "PING\r\n" +
                    request({"GET", "c"}));
  REQUIRE(f.backend.waiting() == 3);
  CHECK(f.session.in_flight() == 4);

  f.backend.resolve(2);  // c first: nothing may leave before a and b
  CHECK(f.conn.out.empty());
  f.backend.resolve(1);  // b: still behind a
  CHECK(f.conn.out.empty());
  f.backend.resolve(0);  // a: now everything, in order, in one send
  CHECK(f.conn.take() == "$1\r\nA\r\n$1\r\nB\r\n+PONG\r\n$1\r\nC\r\n");
  CHECK(f.conn.sends == 1);
  CHECK(f.session.in_flight() == 0);
}

TEST_CASE("a command waits for earlier conflicting commands on its keys, and only for those",
          "[resp_session][order]") {
  Fixture f;
  f.backend.deferred = true;
  f.session.on_data(request({"SET", "k", "v"}) + request({"GET", "k"}) + request({"GET", "k"}) +
                    request({"SET", "k", "w"}) + request({"GET", "j"}));
  // Only SET k's write and GET j: GET k waits for the write before it.
  REQUIRE(f.backend.waiting() == 2);
  CHECK(std::holds_alternative<wire::PutRequest>(f.backend.requests[0]));
  CHECK(FakeBackend::key_of(f.backend.requests[0]) == "k");
  CHECK(FakeBackend::key_of(f.backend.requests[1]) == "j");
  f.backend.resolve(0);  // the write is acknowledged: both reads of k start together
  CHECK(f.backend.waiting() == 3);
  CHECK(f.backend.made<wire::GetRequest>().size() == 3);
  CHECK(f.backend.made<wire::PutRequest>().size() == 1);  // SET k w waits for both reads
  f.backend.resolve_all();
  f.backend.resolve_all();
  f.backend.resolve_all();
  CHECK(f.conn.take() == "+OK\r\n$1\r\nv\r\n$1\r\nv\r\n+OK\r\n$-1\r\n");
  CHECK(f.backend.data["k"] == std::vector<std::string>{"w"});
  CHECK(f.session.in_flight() == 0);
}

TEST_CASE("reads of one key, and writes of different keys, run at the same time",
          "[resp_session][order]") {
  Fixture f;
  f.backend.deferred = true;
  f.session.on_data(request({"GET", "k"}) + request({"GET", "k"}) + request({"MGET", "k", "j"}) +
                    request({"SET", "a", "1"}) + request({"SET", "b", "2"}));
  CHECK(f.backend.waiting() == 6);  // 2 + 2 reads, and both SETs' writes
  // A multi-key write waits for every earlier command on any of its keys.
  f.session.on_data(request({"MSET", "b", "3", "c", "4"}) + request({"DEL", "c"}));
  CHECK(f.backend.waiting() == 6);
  for (int i = 0; i < 6; ++i) f.backend.resolve_all();
  CHECK(f.conn.take() == "$-1\r\n$-1\r\n*2\r\n$-1\r\n$-1\r\n+OK\r\n+OK\r\n+OK\r\n:1\r\n");
  CHECK(f.backend.data["b"] == std::vector<std::string>{"3"});
  CHECK(f.backend.data.count("c") == 0);
}

TEST_CASE("the same key in another keyspace is another key", "[resp_session][order]") {
  Fixture f;
  f.backend.deferred = true;
  f.session.on_data(request({"SET", "k", "v"}) + request({"TALLY.KEYSPACE", "other"}) +
                    request({"GET", "k"}));
  CHECK(f.backend.waiting() == 2);
}

TEST_CASE("a pipelined batch answered at once leaves in one send", "[resp_session]") {
  Fixture f;
  std::string batch;
  std::string want;
  for (int i = 0; i < 100; ++i) {
    batch += request({"SET", "k" + std::to_string(i), "v"});
    batch += request({"GET", "k" + std::to_string(i)});
    want += "+OK\r\n$1\r\nv\r\n";
  }
  f.session.on_data(batch);
  CHECK(f.conn.take() == want);
  CHECK(f.conn.sends == 1);
}

TEST_CASE("GET answers one value: nil when missing, the newest sibling when several",
          "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"GET", "nope"}) == "$-1\r\n");
  // The node lists siblings oldest first by their writes' tags.
  f.backend.data["k"] = {"pear", "apple", "banana"};
  CHECK(f.cmd({"GET", "k"}) == "$6\r\nbanana\r\n");
  CHECK(f.cmd({"EXISTS", "k"}) == ":1\r\n");
  // Not byte-wise: 0xff sorts above every ASCII letter, but it is older.
  f.backend.data["k"] = {std::string("\xff"), "zzz"};
  CHECK(f.cmd({"GET", "k"}) == "$3\r\nzzz\r\n");
  CHECK(f.cmd({"TALLY.SIBLINGS", "k"}) == "*2\r\n$1\r\n\xff\r\n$3\r\nzzz\r\n");
  // A delete newer than every value: GET and EXISTS see no key, TALLY.SIBLINGS the values.
  f.backend.deleted_last.insert("k");
  CHECK(f.cmd({"GET", "k"}) == "$-1\r\n");
  CHECK(f.cmd({"MGET", "k"}) == "*1\r\n$-1\r\n");
  CHECK(f.cmd({"EXISTS", "k"}) == ":0\r\n");
  CHECK(f.cmd({"TALLY.SIBLINGS", "k"}) == "*2\r\n$1\r\n\xff\r\n$3\r\nzzz\r\n");
  CHECK(f.cmd({"TALLY.SIBLINGS", "nope"}) == "*0\r\n");
  CHECK(f.cmd({"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(f.cmd({"GET", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
}

TEST_CASE("SET is one overwriting put, replacing every sibling", "[resp_session]") {
  Fixture f;
  f.backend.data["k"] = {"x", "y"};
  f.backend.versions["k"] = 5;
  CHECK(f.cmd({"SET", "k", "z"}) == "+OK\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  CHECK(f.backend.made<wire::GetRequest>().empty());
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].key == "k");
  CHECK(puts[0].keyspace == "default");
  CHECK(puts[0].value == "z");
  CHECK(puts[0].context.empty());
  CHECK(puts[0].options.overwrite);
  CHECK(f.cmd({"GET", "k"}) == "$1\r\nz\r\n");
  CHECK(f.cmd({"SET", "k", "w", "KEEPTTL"}) == "+OK\r\n");
  CHECK(f.backend.data["k"] == std::vector<std::string>{"w"});
}

TEST_CASE("SET refuses the options tally cannot honour, and says why", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"SET", "k", "v", "EXAT", "1900000000"}).starts_with(
      "-ERR SET option 'EXAT' is not supported: give the time to live with EX or PX"));
  CHECK(f.cmd({"SET", "k", "v", "pxat", "1900000000000"}).starts_with("-ERR SET option 'PXAT' is not supported"));
  CHECK(f.cmd({"SET", "k", "v", "EX", "0"}) == "-ERR invalid expire time in 'set' command\r\n");
  CHECK(f.cmd({"SET", "k", "v", "PX", "-5"}) == "-ERR invalid expire time in 'set' command\r\n");
  CHECK(f.cmd({"SET", "k", "v", "EX", "999999999999"}) == "-ERR invalid expire time in 'set' command\r\n");
  CHECK(f.cmd({"SET", "k", "v", "EX", "ten"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.cmd({"SET", "k", "v", "EX"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k", "v", "EX", "10", "PX", "100"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k", "v", "EX", "10", "KEEPTTL"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k", "v", "GET"}) == "-ERR SET option 'GET' is not supported\r\n");
  CHECK(f.cmd({"SET", "k", "v", "NX", "XX"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k", "v", "nx", "NX"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k", "v", "bogus"}) == "-ERR syntax error\r\n");
  CHECK(f.cmd({"SET", "k"}) == "-ERR wrong number of arguments for 'set' command\r\n");
  CHECK(f.backend.requests.empty());  // nothing was written
}

TEST_CASE("SET NX and XX and TALLY.CAS are conditional puts, answered as Redis does", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"SET", "k", "1", "NX"}) == "+OK\r\n");
  CHECK(f.cmd({"SET", "k", "2", "NX"}) == "$-1\r\n");  // nil: it exists
  CHECK(f.cmd({"SET", "other", "2", "XX"}) == "$-1\r\n");  // nil: it does not
  CHECK(f.cmd({"SET", "k", "3", "XX"}) == "+OK\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 4);
  CHECK(puts[0].condition == static_cast<uint8_t>(quorum::Condition::kIfAbsent));
  CHECK(puts[2].condition == static_cast<uint8_t>(quorum::Condition::kIfPresent));
  CHECK(f.cmd({"TALLY.CAS", "k", "3", "4"}) == "*2\r\n:1\r\n$1\r\n4\r\n");
  CHECK(f.cmd({"TALLY.CAS", "k", "3", "5"}) == "*2\r\n:0\r\n$1\r\n4\r\n");
  CHECK(f.cmd({"TALLY.CAS", "nope", "3", "5"}) == "*2\r\n:0\r\n$-1\r\n");
  CHECK(f.cmd({"TALLY.CAS", "k", "3"}) == "-ERR wrong number of arguments for 'tally.cas' command\r\n");
  CHECK(f.backend.data["k"] == std::vector<std::string>{"4"});
}

TEST_CASE("SET EX and PX give the value a time to live; KEEPTTL keeps the one it had", "[resp_session][ttl]") {
  Fixture f;
  CHECK(f.cmd({"SET", "k", "v", "EX", "10"}) == "+OK\r\n");
  CHECK(f.cmd({"SET", "p", "v", "px", "250"}) == "+OK\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 2);
  CHECK(puts[0].ttl_ms == 10'000);
  CHECK(puts[0].options.overwrite);
  CHECK(puts[1].ttl_ms == 250);
  CHECK(f.cmd({"PTTL", "k"}) == ":10000\r\n");
  CHECK(f.cmd({"TTL", "k"}) == ":10\r\n");
  // KEEPTTL reads the time left first and writes it with the new value.
  f.backend.ttl["k"] = 4'400;
  CHECK(f.cmd({"SET", "k", "w", "KEEPTTL"}) == "+OK\r\n");
  puts = f.backend.made<wire::PutRequest>();
  CHECK(puts.back().ttl_ms == 4'400);
  CHECK(puts.back().value == "w");
  // A plain SET drops the time to live, as in Redis.
  CHECK(f.cmd({"SET", "k", "x"}) == "+OK\r\n");
  CHECK(f.backend.made<wire::PutRequest>().back().ttl_ms == 0);
  CHECK(f.cmd({"TTL", "k"}) == ":-1\r\n");
  // With NX on a linearizable keyspace: a conditional put that expires.
  CHECK(f.cmd({"SET", "n", "v", "NX", "PX", "300"}) == "+OK\r\n");
  CHECK(f.backend.made<wire::PutRequest>().back().ttl_ms == 300);
  CHECK(f.backend.made<wire::PutRequest>().back().condition == static_cast<uint8_t>(quorum::Condition::kIfAbsent));
}

TEST_CASE("TTL and PTTL answer as Redis does: -2 absent, -1 no expiry, else the time left", "[resp_session][ttl]") {
  Fixture f;
  CHECK(f.cmd({"TTL", "nope"}) == ":-2\r\n");
  CHECK(f.cmd({"PTTL", "nope"}) == ":-2\r\n");
  f.backend.data["k"] = {"v"};
  CHECK(f.cmd({"TTL", "k"}) == ":-1\r\n");
  CHECK(f.cmd({"PTTL", "k"}) == ":-1\r\n");
  f.backend.ttl["k"] = 1'499;
  CHECK(f.cmd({"TTL", "k"}) == ":1\r\n");  // rounded to the nearest second
  CHECK(f.cmd({"PTTL", "k"}) == ":1499\r\n");
  f.backend.ttl["k"] = 1'500;
  CHECK(f.cmd({"TTL", "k"}) == ":2\r\n");
  // Deleted last: absent.
  f.backend.deleted_last.insert("k");
  CHECK(f.cmd({"TTL", "k"}) == ":-2\r\n");
  CHECK(f.cmd({"TTL"}) == "-ERR wrong number of arguments for 'ttl' command\r\n");
  CHECK(f.backend.made<wire::PutRequest>().empty());  // reads only
}

TEST_CASE("EXPIRE, PEXPIRE and PERSIST write the value back with the new time to live over what they read",
          "[resp_session][ttl]") {
  Fixture f;
  CHECK(f.cmd({"EXPIRE", "nope", "10"}) == ":0\r\n");
  CHECK(f.cmd({"PERSIST", "nope"}) == ":0\r\n");
  CHECK(f.backend.made<wire::PutRequest>().empty());  // nothing to expire: nothing written
  f.backend.data["k"] = {"old", "new"};
  f.backend.versions["k"] = 7;
  CHECK(f.cmd({"EXPIRE", "k", "10"}) == ":1\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == "new");  // the value GET answers
  CHECK(puts[0].context == "v7");  // over what the read saw: it resolves the siblings
  CHECK(puts[0].ttl_ms == 10'000);
  CHECK(puts[0].condition == 0);
  CHECK(f.cmd({"PTTL", "k"}) == ":10000\r\n");
  CHECK(f.cmd({"PEXPIRE", "k", "2500"}) == ":1\r\n");
  CHECK(f.cmd({"PTTL", "k"}) == ":2500\r\n");
  // Redis 7's options.
  CHECK(f.cmd({"EXPIRE", "k", "100", "NX"}) == ":0\r\n");  // it has one
  CHECK(f.cmd({"EXPIRE", "k", "1", "GT"}) == ":0\r\n");    // not longer
  CHECK(f.cmd({"EXPIRE", "k", "100", "LT"}) == ":0\r\n");  // not shorter
  CHECK(f.cmd({"EXPIRE", "k", "100", "XX", "GT"}) == ":1\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "1", "NX", "XX"}) ==
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "1", "GT", "LT"}) == "-ERR GT and LT options at the same time are not compatible\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "1", "SOON"}) == "-ERR Unsupported option SOON\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "soon"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "999999999999"}) == "-ERR invalid expire time in 'expire' command\r\n");
  // PERSIST: 1 when it removed a time to live, 0 when there was none.
  CHECK(f.cmd({"PERSIST", "k"}) == ":1\r\n");
  CHECK(f.backend.made<wire::PutRequest>().back().ttl_ms == 0);
  CHECK(f.cmd({"TTL", "k"}) == ":-1\r\n");
  CHECK(f.cmd({"PERSIST", "k"}) == ":0\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "10", "LT"}) == ":1\r\n");  // no expiry counts as forever
  // A time to live at or below zero deletes the key, as in Redis.
  const size_t deletes = f.backend.made<wire::DeleteRequest>().size();
  CHECK(f.cmd({"EXPIRE", "k", "0"}) == ":1\r\n");
  CHECK(f.backend.made<wire::DeleteRequest>().size() == deletes + 1);
  CHECK(f.cmd({"GET", "k"}) == "$-1\r\n");
  CHECK(f.cmd({"EXPIRE", "k", "-1"}) == ":0\r\n");
}

TEST_CASE("EXPIRE on a linearizable keyspace writes only over the version it read", "[resp_session][ttl]") {
  Fixture f;
  f.backend.linearizable = true;
  f.backend.data["k"] = {"v"};
  f.backend.versions["k"] = 3;
  CHECK(f.cmd({"EXPIRE", "k", "5"}) == ":1\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].condition == static_cast<uint8_t>(quorum::Condition::kIfVersion));
  CHECK(puts[0].context == "v3");
  CHECK(puts[0].ttl_ms == 5'000);
  CHECK(f.cmd({"PTTL", "k"}) == ":5000\r\n");
}

TEST_CASE("TALLY.LOCK takes a free lock and answers its token; TALLY.UNLOCK frees only that holding",
          "[resp_session][lock]") {
  Fixture f;
  f.backend.linearizable = true;
  CHECK(f.cmd({"TALLY.LOCK", "job", "5000"}) == ":1\r\n");  // version 0 read: the holding is version 1
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].condition == static_cast<uint8_t>(quorum::Condition::kIfVersion));
  CHECK(puts[0].context == "v0");
  CHECK(puts[0].ttl_ms == 5000);
  CHECK(puts[0].value.starts_with("tally-lock 1 resp-client-"));
  CHECK(f.cmd({"TALLY.LOCK", "job", "5000"}) == "$-1\r\n");  // held: nil, nothing written
  CHECK(f.backend.made<wire::PutRequest>().size() == 1);
  CHECK(f.cmd({"TALLY.UNLOCK", "job", "2"}) == ":0\r\n");  // not that holding
  CHECK(f.cmd({"TALLY.UNLOCK", "job", "1"}) == ":1\r\n");
  CHECK(f.cmd({"TALLY.UNLOCK", "job", "1"}) == ":0\r\n");  // already free
  // Free again; the next holding's token is higher than every one before.
  CHECK(f.cmd({"TALLY.LOCK", "job", "100"}) == ":3\r\n");
  CHECK(f.cmd({"TALLY.LOCK", "job", "0"}) == "-ERR invalid lease in 'tally.lock' command (milliseconds, above zero)\r\n");
  CHECK(f.cmd({"TALLY.LOCK", "job", "soon"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.cmd({"TALLY.UNLOCK", "job", "-1"}) == "-ERR value is not an integer or out of range\r\n");
  f.backend.data["plain"] = {"not a lock"};
  CHECK(f.cmd({"TALLY.LOCK", "plain", "100"}) == "-ERR key 'plain' holds a value that is not a lock\r\n");
  CHECK(f.cmd({"TALLY.UNLOCK", "plain", "1"}) == ":0\r\n");
}

TEST_CASE("TALLY.FENCED is a put that names its lock and token", "[resp_session][lock]") {
  Fixture f;
  CHECK(f.cmd({"TALLY.FENCED", "job", "7", "k", "v"}) == "+OK\r\n");
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].key == "k");
  CHECK(puts[0].value == "v");
  CHECK(puts[0].fence_lock == "job");
  CHECK(puts[0].fence_token == 7);
  f.backend.failing["k"] = Status(Code::kFenced, "lock 'job' token 7 is below token 9");
  CHECK(f.cmd({"TALLY.FENCED", "job", "7", "k", "v"}) == "-FENCED fenced: lock 'job' token 7 is below token 9\r\n");
  CHECK(f.cmd({"TALLY.FENCED", "job", "0", "k", "v"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.cmd({"TALLY.FENCED", "job", "7", "k"}) ==
        "-ERR wrong number of arguments for 'tally.fenced' command\r\n");
}

TEST_CASE("TALLY.LOCK on a keyspace that is not linearizable says so", "[resp_session][lock]") {
  Fixture f;
  CHECK_THAT(f.cmd({"TALLY.LOCK", "job", "5000"}),
             Catch::StartsWith("-ERR invalid argument: locks need a linearizable keyspace; this connection's "
                               "keyspace 'default' is not"));
  CHECK(f.backend.made<wire::PutRequest>().empty());
}

TEST_CASE("SET answers the write's error with tally's code word", "[resp_session]") {
  Fixture f;
  f.backend.failing["k"] = Status::QuorumNotReached("1 of W=2 acked within 1000 ms");
  CHECK(f.cmd({"SET", "k", "v"}) == "-NOQUORUM quorum not reached: 1 of W=2 acked within 1000 ms\r\n");
  f.backend.failing["k"] = Status::UnknownKeyspace("keyspace 'x' does not exist");
  CHECK(f.cmd({"SET", "k", "v"}) == "-ERR unknown keyspace: keyspace 'x' does not exist\r\n");
  CHECK(f.backend.made<wire::PutRequest>().size() == 2);  // one write per SET, nothing more
}

TEST_CASE("DEL deletes what its read saw and counts the keys found", "[resp_session]") {
  Fixture f;
  f.backend.data = {{"a", {"1"}}, {"c", {"3", "4"}}};
  f.backend.versions = {{"a", 2}, {"c", 7}};
  CHECK(f.cmd({"DEL", "a", "b", "c", "a"}) == ":2\r\n");
  auto dels = f.backend.made<wire::DeleteRequest>();
  REQUIRE(dels.size() == 2);  // b was not found: nothing to delete; a once
  CHECK(dels[0].key == "a");
  CHECK(dels[0].context == "v2");
  CHECK(dels[1].key == "c");
  CHECK(dels[1].context == "v7");
  CHECK(f.backend.data.empty());
  CHECK(f.cmd({"DEL", "a"}) == ":0\r\n");
}

TEST_CASE("EXISTS counts found keys, repeats included; MGET and MSET", "[resp_session]") {
  Fixture f;
  f.backend.data = {{"a", {"1"}}, {"b", {"2", "3"}}};
  CHECK(f.cmd({"EXISTS", "a", "x", "a"}) == ":2\r\n");
  CHECK(f.cmd({"MGET", "a", "x", "b"}) == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
  CHECK(f.cmd({"MSET", "p", "1", "q", "2", "p", "3"}) == "+OK\r\n");
  CHECK(f.backend.data["p"] == std::vector<std::string>{"3"});  // the last value, written once
  CHECK(f.backend.data["q"] == std::vector<std::string>{"2"});
  CHECK(f.backend.made<wire::PutRequest>().size() == 2);
  CHECK(f.cmd({"MSET", "p", "1", "q"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
}

TEST_CASE("a multi-key command answers the first error if any key fails", "[resp_session]") {
  Fixture f;
  f.backend.data = {{"a", {"1"}}};
  f.backend.failing["b"] = Status::Timeout("get of 'b' took longer than 1000 ms");
  CHECK(f.cmd({"MGET", "a", "b"}) == "-TIMEOUT timeout: get of 'b' took longer than 1000 ms\r\n");
  CHECK(f.cmd({"EXISTS", "a", "b"}) == "-TIMEOUT timeout: get of 'b' took longer than 1000 ms\r\n");
  CHECK(f.cmd({"DEL", "a", "b"}) == "-TIMEOUT timeout: get of 'b' took longer than 1000 ms\r\n");
}

TEST_CASE("tally errors map to Redis error words followed by code and message", "[resp_session]") {
  CHECK(RespSession::error_reply(Status::QuorumNotReached("1 of W=2")) ==
        "-NOQUORUM quorum not reached: 1 of W=2\r\n");
  CHECK(RespSession::error_reply(Status::Timeout("t")) == "-TIMEOUT timeout: t\r\n");
  CHECK(RespSession::error_reply(Status::Unavailable("u")) == "-UNAVAILABLE unavailable: u\r\n");
  CHECK(RespSession::error_reply(Status::IoError("disk")) == "-IOERR io error: disk\r\n");
  CHECK(RespSession::error_reply(Status::TooLarge("key is 70000 bytes")) ==
        "-ERR too large: key is 70000 bytes\r\n");
  CHECK(RespSession::error_reply(Status::InvalidArgument("W=4 is out of range\r\n")) ==
        "-ERR invalid argument: W=4 is out of range  \r\n");

  Fixture f;
  f.backend.failing["k"] = Status::Unavailable("node n1 is shutting down");
  CHECK(f.cmd({"GET", "k"}) == "-UNAVAILABLE unavailable: node n1 is shutting down\r\n");
  CHECK_FALSE(f.conn.closed);
}

TEST_CASE("unknown commands get Redis' error and the connection stays open", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"FOO", "a", "b"}) ==
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
  CHECK(f.cmd({"INCR"}) == "-ERR unknown command 'INCR', with args beginning with: \r\n");
  // Long arguments are cut, as Redis cuts them.
  std::string reply = f.cmd({"FOO", std::string(300, 'x')});
  CHECK(reply == "-ERR unknown command 'FOO', with args beginning with: '" + std::string(128, 'x') +
                     "' \r\n");
  CHECK_FALSE(f.conn.closed);
  CHECK(f.cmd({"PING"}) == "+PONG\r\n");
}

TEST_CASE("the start-up commands of redis-cli, redis-benchmark and client libraries succeed",
          "[resp_session]") {
  Fixture f(options(16));
  CHECK(f.cmd({"COMMAND", "DOCS"}) == "*0\r\n");
  CHECK(f.cmd({"COMMAND"}) == "*0\r\n");
  CHECK(f.cmd({"COMMAND", "COUNT"}) == ":28\r\n");
  CHECK(f.cmd({"CONFIG", "GET", "save"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  CHECK(f.cmd({"CONFIG", "GET", "appendonly"}) == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  CHECK(f.cmd({"CONFIG", "GET", "maxmemory"}) == "*0\r\n");
  CHECK(
      f.cmd({"CONFIG", "SET", "save", ""}) ==
      "-ERR CONFIG SET is not supported: a tally node reads its settings from its config file\r\n");
  CHECK(f.cmd({"SELECT", "0"}) == "+OK\r\n");
  CHECK(f.cmd({"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
  CHECK(f.cmd({"SELECT", "x"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(f.cmd({"CLIENT", "SETNAME", "bench"}) == "+OK\r\n");
  CHECK(f.cmd({"CLIENT", "GETNAME"}) == "$5\r\nbench\r\n");
  CHECK(f.cmd({"CLIENT", "SETNAME", "two words"}) ==
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  CHECK(f.cmd({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}) == "+OK\r\n");
  CHECK(f.cmd({"CLIENT", "ID"}) == ":7\r\n");
  CHECK(f.cmd({"CLIENT", "KILL", "x"}) == "-ERR unknown subcommand 'KILL'. Try CLIENT HELP.\r\n");
  CHECK(f.cmd({"HELLO", "3"}) == "-NOPROTO unsupported protocol version\r\n");
  std::string hello = f.cmd({"HELLO", "2"});
  CHECK_THAT(hello, Catch::StartsWith(
                        "*14\r\n$6\r\nserver\r\n$5\r\ntally\r\n$7\r\nversion\r\n$5\r\n9.9.9\r\n"));
  CHECK_THAT(f.cmd({"AUTH", "pw"}),
             Catch::StartsWith("-ERR AUTH <password> called without any password"));
  CHECK(f.backend.requests.empty());
  CHECK_FALSE(f.conn.closed);
}

TEST_CASE("INFO shows the node's status fields and the session's settings", "[resp_session]") {
  Fixture f;
  std::string want_server = "# Server\r\nnode:n1\r\nring_epoch:3\r\n";
  std::string want_session = "# Session\r\nkeyspace:default\r\nr:default\r\nw:default\r\n";
  std::string all = want_server + "\r\n" + want_session;
  CHECK(f.cmd({"INFO"}) == "$" + std::to_string(all.size()) + "\r\n" + all + "\r\n");
  CHECK(f.cmd({"INFO", "server"}) ==
        "$" + std::to_string(want_server.size()) + "\r\n" + want_server + "\r\n");
  CHECK(f.cmd({"INFO", "keyspace"}) == "$0\r\n\r\n");
  f.backend.failing[""] = Status::Unavailable("stopping");
  CHECK(f.cmd({"INFO"}) == "-UNAVAILABLE unavailable: stopping\r\n");
}

TEST_CASE("TALLY.QUORUM sets this connection's R and W, and shows them", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"TALLY.QUORUM"}) == "*2\r\n$7\r\ndefault\r\n$7\r\ndefault\r\n");
  CHECK(f.cmd({"tally.quorum", "1", "3"}) == "+OK\r\n");
  CHECK(f.session.r() == 1);
  CHECK(f.session.w() == 3);
  CHECK(f.cmd({"TALLY.QUORUM"}) == "*2\r\n$1\r\n1\r\n$1\r\n3\r\n");
  CHECK(f.cmd({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(f.cmd({"DEL", "k"}) == ":1\r\n");
  CHECK(f.backend.made<wire::GetRequest>()[0].options.r == 1);
  CHECK(f.backend.made<wire::PutRequest>()[0].options.w == 3);
  CHECK(f.backend.made<wire::DeleteRequest>()[0].options.w == 3);

  CHECK(f.cmd({"TALLY.QUORUM", "DEFAULT", "0"}) == "+OK\r\n");
  CHECK(f.session.r() == 0);
  CHECK(f.session.w() == 0);
  CHECK(f.cmd({"TALLY.QUORUM", "two", "1"}) ==
        "-ERR R must be a number from 1 to 255, or 0 or DEFAULT for the keyspace's default\r\n");
  CHECK(f.cmd({"TALLY.QUORUM", "1", "256"}) ==
        "-ERR W must be a number from 1 to 255, or 0 or DEFAULT for the keyspace's default\r\n");
  CHECK(f.cmd({"TALLY.QUORUM", "1"}) ==
        "-ERR wrong number of arguments for 'tally.quorum' command\r\n");
  CHECK(f.session.r() == 0);
}

TEST_CASE("TALLY.KEYSPACE sets the keyspace of this connection's requests", "[resp_session]") {
  Fixture f;
  CHECK(f.cmd({"TALLY.KEYSPACE"}) == "$7\r\ndefault\r\n");
  CHECK(f.cmd({"TALLY.KEYSPACE", "users"}) == "+OK\r\n");
  CHECK(f.cmd({"GET", "k"}) == "$-1\r\n");
  CHECK(f.backend.made<wire::GetRequest>()[0].keyspace == "users");
  CHECK(f.cmd({"TALLY.KEYSPACE", ""}) == "-ERR keyspace name must not be empty\r\n");
  CHECK(f.session.keyspace() == "users");
}

TEST_CASE("settings apply to commands that arrive after them, not to those already running",
          "[resp_session]") {
  Fixture f;
  f.backend.deferred = true;
  // SET's write is made only after its read returns, which is after the
  // TALLY.QUORUM behind it has run: it must still use the settings of its turn.
  f.session.on_data(request({"SET", "k", "v"}) + request({"TALLY.QUORUM", "1", "1"}) +
                    request({"TALLY.KEYSPACE", "other"}));
  f.backend.resolve_all();
  f.backend.resolve_all();
  auto puts = f.backend.made<wire::PutRequest>();
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].options.w == 0);
  CHECK(puts[0].keyspace == "default");
  CHECK(f.conn.take() == "+OK\r\n+OK\r\n+OK\r\n");
}

TEST_CASE("QUIT answers OK after every earlier reply, then closes", "[resp_session]") {
  Fixture f;
  f.backend.deferred = true;
  f.session.on_data(request({"GET", "k"}) + "QUIT\r\n" + "PING\r\n");
  CHECK(f.conn.out.empty());
  CHECK_FALSE(f.conn.closed);
  f.backend.resolve_all();
  CHECK(f.conn.take() == "$-1\r\n+OK\r\n");  // nothing after QUIT runs
  CHECK(f.conn.closed);
  CHECK(f.conn.why.ok());
  f.session.on_data("PING\r\n");
  CHECK(f.conn.out.empty());
}

TEST_CASE("a protocol error is answered after the replies before it, then closes",
          "[resp_session]") {
  Fixture f;
  f.backend.deferred = true;
  f.session.on_data(request({"GET", "k"}) + "*1\r\n$x\r\n");
  CHECK(f.conn.out.empty());
  f.backend.resolve_all();
  CHECK(f.conn.take() == "$-1\r\n-ERR Protocol error: invalid bulk length\r\n");
  REQUIRE(f.conn.closed);
  CHECK(f.conn.why.code() == Code::kProtocolError);
  CHECK(f.conn.why.message() == "invalid bulk length");
}

TEST_CASE("input over the buffer limit is refused and the connection closed",
          "[resp_session][limits]") {
  RespSessionOptions o;
  o.limits.max_buffered_bytes = 1000;
  o.limits.max_bulk_bytes = 100;
  Fixture f(o);
  CHECK(f.cmd({"SET", "k", std::string(100, 'v')}) == "+OK\r\n");
  f.session.on_data("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$101\r\n");
  CHECK(f.conn.take() ==
        "-ERR Protocol error: invalid bulk length: 101 bytes, the limit is 100\r\n");
  CHECK(f.conn.closed);

  Fixture g(o);
  g.session.on_data(std::string(600, 'x'));  // an inline line without end, within the buffer
  CHECK(g.conn.out.empty());
  g.session.on_data(std::string(600, 'x'));
  CHECK(g.conn.take() == "-ERR Protocol error: too big request: more than 1000 bytes unparsed\r\n");
  REQUIRE(g.conn.closed);
  CHECK(g.conn.why.code() == Code::kTooLarge);
}

TEST_CASE("pipelining is bounded: reading pauses at max_pipeline and resumes at half",
          "[resp_session]") {
  Fixture f(options(4));
  f.backend.deferred = true;
  std::string batch;
  std::string want;
  for (int i = 0; i < 10; ++i) {
    f.backend.data["k" + std::to_string(i)] = {std::to_string(i)};
    batch += request({"GET", "k" + std::to_string(i)});
    want += "$1\r\n" + std::to_string(i) + "\r\n";
  }
  f.session.on_data(batch);
  CHECK(f.backend.waiting() == 4);  // only max_pipeline run; the rest wait unparsed
  CHECK(f.conn.paused);
  CHECK(f.session.paused());

  f.backend.resolve(0);  // 3 in flight: above half, still paused
  CHECK(f.backend.waiting() == 3);
  CHECK(f.conn.paused);
  f.backend.resolve(0);  // 2 in flight: half; the held commands run, up to 4 again
  CHECK(f.backend.waiting() == 4);
  f.backend.resolve_all();
  CHECK(f.backend.waiting() == 0);
  CHECK(f.conn.take() == want);
  CHECK_FALSE(f.conn.paused);
  CHECK(f.conn.resumes >= 1);
  CHECK(f.session.in_flight() == 0);
}

TEST_CASE("answers that arrive after the session is gone are ignored", "[resp_session]") {
  FakeBackend backend;
  backend.deferred = true;
  FakeConnection conn;
  {
    RespSession session(backend, conn);
    session.on_data(request({"GET", "k"}) + request({"SET", "j", "v"}));
  }
  auto late = backend.take_waiting();
  REQUIRE(late.size() == 2);
  late[0].second(wire::GetReply{{"x"}, "v1"});
  late[1].second(wire::PutReply{"v1"});
  CHECK(conn.out.empty());
}

TEST_CASE("an unexpected reply type is an internal error, not a crash", "[resp_session]") {
  class WrongBackend final : public RespBackend {
   public:
    void request(wire::Body, std::function<void(wire::Body)> done) override {
      done(wire::DeleteReply{});
    }
  } backend;
  FakeConnection conn;
  RespSession session(backend, conn);
  session.on_data(request({"GET", "k"}));
  CHECK_THAT(conn.take(),
             Catch::StartsWith("-ERR internal error: unexpected reply of message type 9"));
}

}  // namespace
}  // namespace tally
