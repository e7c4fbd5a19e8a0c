// One Redis-protocol (RESP2) client connection: commands in, replies out,
// independent of the Node. A session parses what its client sends, turns each
// command into the node's own client requests (wire::GetRequest and the rest,
// through a RespBackend) and writes the replies back in request order, however
// the requests' completions interleave. docs/resp.md is the user's guide.
//
// Commands, as in Redis unless said otherwise:
//   PING [msg]   ECHO msg   QUIT   SELECT 0   AUTH (refused: no passwords)
//   HELLO [2]    CLIENT SETNAME|GETNAME|ID|SETINFO|NO-EVICT|NO-TOUCH
//   COMMAND [...] (an empty array, COUNT the number of commands)
//   CONFIG GET p (only `save` = "" and `appendonly` = "no": redis-benchmark asks)
//   INFO [section]  the node's status fields under "# Server", the session's under "# Session"
//   GET k           one value; of several siblings, the newest by HLC tag (below)
//   SET k v [NX|XX] [EX s|PX ms|KEEPTTL]  an overwrite: supersedes what its
//                   coordinator held when it arrived (NX/XX: linearizable keyspaces)
//   EXPIRE k s [NX|XX|GT|LT]  PEXPIRE k ms [...]  PERSIST k  TTL k  PTTL k
//                   read the key, then write its value back with the new time
//                   to live (docs/resp.md, "Expiry")
//   DEL k [k ...]   reads each key and deletes what the read saw; counts keys found
//   EXISTS k [k ...]  MGET k [k ...]  MSET k v [k v ...]
//   TALLY.QUORUM [R W]  this connection's R and W (0 or DEFAULT: the keyspace's)
//   TALLY.KEYSPACE [name]  this connection's keyspace (starts as "default")
//   TALLY.SIBLINGS k  every sibling of k, as an array
//   TALLY.LOCK name ttl_ms   take a lock (linearizable keyspace): its fencing token, or nil if held
//   TALLY.UNLOCK name token  free the holding `token`: 1, or 0 if it no longer held the lock
//   TALLY.FENCED lock token k v  SET k v only if no later holder of `lock` wrote k (-FENCED)
//
// Siblings. A key written concurrently holds several values (docs/consistency.md);
// Redis' GET has room for one. GET answers the sibling whose write arrived
// last by its HLC tag (none when that write is a delete), so every node and
// every retry gives the same answer for the same sibling set, and a client's
// sequential SETs read back in order; TALLY.SIBLINGS shows them all. A SET
// supersedes every sibling its coordinator held when the SET arrived, so the
// next GET sees one value again (unless another write raced it).
//
// Order. Commands of one connection run concurrently (pipelining), except
// that a command waits for the earlier commands of the same connection on
// the same key that conflict with it: a read waits for earlier writes, a
// write for every earlier command on its keys. So `SET k v` then `GET k`,
// pipelined, reads v (given R + W > N), as in Redis, while commands on other
// keys overlap.
//
// Writes. A SET is one put with RequestOptions::overwrite: the coordinating
// replica (only replicas coordinate writes) takes every version it holds as
// the write's context, so the write replaces what the key held instead of
// adding a sibling next to it (in a `siblings` keyspace a write without a
// context is concurrent with every version). A version that replica has not
// seen yet survives as a sibling. Multi-key commands (DEL, EXISTS, MGET,
// MSET) run one request per key in parallel and are not atomic; if any key
// fails the command answers the first error.
//
// Errors. Redis clients branch on an error's first word; tally's codes map to:
//   kQuorumNotReached -> NOQUORUM, kTimeout -> TIMEOUT, kUnavailable ->
//   UNAVAILABLE, kIoError -> IOERR, kNotLeader -> NOTLEADER, kAborted ->
//   ABORTED, everything else -> ERR,
// followed by Status::to_string(): "-NOQUORUM quorum not reached: 1 of W=2 ...".
// An unknown command or a wrong argument count is answered with an error and
// the connection stays open; only a protocol error (bytes that are not RESP)
// or input over the buffer limit closes it, after answering what came before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/messages.hpp"
#include "node/resp.hpp"
#include "tally/status.hpp"

namespace tally {

// What a session asks of the node.
class RespBackend {
 public:
  virtual ~RespBackend() = default;
  // Runs `request`, a wire::PutRequest, GetRequest, DeleteRequest or
  // StatusRequest, exactly as the node runs one from a network client, and
  // calls `done` exactly once with its reply: the matching wire::PutReply,
  // GetReply, DeleteReply or StatusReply, or a wire::ErrorReply. `done` runs on
  // the loop thread, inside the call or later; a session that is gone by then
  // ignores it.
  virtual void request(wire::Body request, std::function<void(wire::Body reply)> done) = 0;
};

// What a session needs from its connection.
class RespConnection {
 public:
  virtual ~RespConnection() = default;
  // Bytes for the client: whole replies, in request order.
  virtual void send(std::string bytes) = 0;
  // Closes the connection after what was sent: ok for QUIT, else the reason
  // (a protocol error, input over the limit), worth a log line.
  virtual void close(const Status& why) = 0;
  // Flow control (Env::pause_reading): the session has max_pipeline commands
  // in flight and takes no more input until some are answered.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
};

struct RespSessionOptions {
  std::string keyspace = "default";  // until TALLY.KEYSPACE
  resp::Limits limits;
  // Commands a client may have in flight (pipelining depth) before the
  // session stops reading from it; it reads again once half are answered.
  // Small, because the node holds what a command in flight reads: 8 GETs
  // of a 4 MiB value hold about 65 MiB at their coordinator, 150 of them
  // held 1.2 GB (docs/security.md). Replies still pipeline: a client may
  // send as deep as it likes, TCP holds the rest back.
  size_t max_pipeline = 8;
  uint64_t client_id = 0;  // CLIENT ID, HELLO: the connection's id
  std::string version;     // HELLO's "version" field: tally's
  // requirepass: until AUTH (or HELLO ... AUTH) gives it, every command but
  // AUTH, HELLO and QUIT is answered NOAUTH. Empty: no password.
  std::string password;
  std::function<void()> wrong_password;  // counts a refused password
};

class RespSession {
 public:
  // `backend` and `conn` must outlive the session.
  RespSession(RespBackend& backend, RespConnection& conn, RespSessionOptions options = {});
  ~RespSession();
  RespSession(const RespSession&) = delete;
  RespSession& operator=(const RespSession&) = delete;

  // Bytes from the client, cut anywhere. Runs every complete command (up to
  // max_pipeline in flight); replies reach RespConnection::send in order.
  void on_data(std::string_view bytes);
  // Input received and not yet run as a whole command (the parser's buffer).
  size_t unparsed_bytes() const { return parser_.buffered(); }

  // Commands received and not yet answered.
  size_t in_flight() const { return slots_.size(); }
  // True once QUIT or a protocol error was seen: no more input is taken and
  // the connection is closed after the last reply.
  bool closing() const { return closing_; }
  bool paused() const { return paused_; }
  const std::string& keyspace() const { return settings_.keyspace; }
  uint8_t r() const { return settings_.r; }  // 0: the keyspace's default
  uint8_t w() const { return settings_.w; }

  // The RESP error for a tally error: its code's word, then to_string()
  // ("-TIMEOUT timeout: get of 'k' took longer than 1000 ms\r\n").
  static std::string error_reply(const Status& status);

 private:
  // What a request runs with, fixed when its command arrives: a later
  // TALLY.QUORUM or TALLY.KEYSPACE does not change commands already queued.
  struct Settings {
    std::string keyspace;
    uint8_t r = 0;
    uint8_t w = 0;
  };
  using SlotId = uint64_t;
  using Args = resp::Command;
  struct CommandSpec;
  // A command that arrived while an earlier one held one of its keys.
  struct Waiting {
    SlotId slot;
    const CommandSpec* spec;
    Args args;
    Settings settings;
  };
  // One command's place in a key's queue of this session's commands.
  struct Claim {
    SlotId slot;
    bool write;
  };
  // Every command, by lower-case name (the table in resp_session.cpp).
  static std::span<const CommandSpec> commands();

  // ---- the pipeline: one slot per command, answered in order ----
  SlotId open_slot();
  void finish(SlotId slot, std::string reply);
  // Sends the answered replies at the head, then closes if asked to.
  void flush();
  // Runs complete commands while fewer than max_pipeline are in flight, and
  // pauses or resumes reading to match.
  void pump();
  void run(Args& args);
  void protocol_error(const Status& why);
  // ---- per-key order (see "Order" above) ----
  // Whether the command in `slot` may start: nothing conflicting before it
  // in any of its keys' queues.
  bool may_start(SlotId slot, bool write, const std::vector<std::string>& keys) const;
  // Drops a finished command's claims and starts the waiting commands that
  // no longer conflict with anything before them.
  void release(SlotId slot, const std::vector<std::string>& keys);
  void start_waiting();

  // ---- requests to the backend; each calls back only while the session lives ----
  void get(const Settings& s, std::string key, std::function<void(Result<wire::GetReply>)> done);
  void del(const Settings& s, std::string key, std::string context,
           std::function<void(Status)> done);
  // SET's overwrite (see the top of this file); ttl_ms 0: no expiry.
  void overwrite(const Settings& s, std::string key, std::string value, uint64_t ttl_ms,
                 std::function<void(Status)> done);
  // Any put, answered with its reply.
  void put(wire::PutRequest req, std::function<void(Result<wire::PutReply>)> done);
  // A conditional put (linearizable keyspaces): SET NX/XX, TALLY.CAS, and
  // EXPIRE's write there (kIfVersion with `expected` the read's context).
  void put_if(const Settings& s, std::string key, std::string value, quorum::Condition condition,
              std::string expected, uint64_t ttl_ms, std::function<void(Result<wire::PutReply>)> done);
  // EXPIRE, PEXPIRE and PERSIST: read the key, and unless it is absent or
  // `wanted` says no (given the time to live it has, 0: none), write its
  // value back with `ttl_ms` (0: no expiry) over what the read saw. Answers
  // 1 when it wrote, 0 when not. On a linearizable keyspace the write is
  // made only if the key is still at the version read, and read again when
  // it is not.
  void rewrite_ttl(SlotId slot, const Settings& s, std::string key, uint64_t ttl_ms,
                   std::function<bool(uint64_t current_ttl_ms)> wanted, int attempts_left);
  void call(wire::Body request, std::function<void(wire::Body)> done);

  // ---- commands (resp_session.cpp's table) ----
  void cmd_ping(SlotId slot, Args& a, const Settings& s);
  void cmd_echo(SlotId slot, Args& a, const Settings& s);
  void cmd_quit(SlotId slot, Args& a, const Settings& s);
  void cmd_select(SlotId slot, Args& a, const Settings& s);
  void cmd_auth(SlotId slot, Args& a, const Settings& s);
  void cmd_hello(SlotId slot, Args& a, const Settings& s);
  void cmd_client(SlotId slot, Args& a, const Settings& s);
  void cmd_command(SlotId slot, Args& a, const Settings& s);
  void cmd_config(SlotId slot, Args& a, const Settings& s);
  void cmd_info(SlotId slot, Args& a, const Settings& s);
  void cmd_get(SlotId slot, Args& a, const Settings& s);
  void cmd_set(SlotId slot, Args& a, const Settings& s);
  void cmd_del(SlotId slot, Args& a, const Settings& s);
  void cmd_exists(SlotId slot, Args& a, const Settings& s);
  void cmd_mget(SlotId slot, Args& a, const Settings& s);
  void cmd_mset(SlotId slot, Args& a, const Settings& s);
  void cmd_quorum(SlotId slot, Args& a, const Settings& s);
  void cmd_keyspace(SlotId slot, Args& a, const Settings& s);
  void cmd_siblings(SlotId slot, Args& a, const Settings& s);
  void cmd_cas(SlotId slot, Args& a, const Settings& s);
  void cmd_lock(SlotId slot, Args& a, const Settings& s);
  void cmd_unlock(SlotId slot, Args& a, const Settings& s);
  void cmd_fenced(SlotId slot, Args& a, const Settings& s);
  // TALLY.LOCK's and TALLY.UNLOCK's read-then-write (common/lock_record.hpp).
  void lock_step(SlotId slot, const Settings& s, std::string name, uint64_t ttl_ms, int attempts_left);
  void unlock_step(SlotId slot, const Settings& s, std::string name, uint64_t token, int attempts_left);
  void cmd_expire(SlotId slot, Args& a, const Settings& s);
  void cmd_pexpire(SlotId slot, Args& a, const Settings& s);
  void cmd_persist(SlotId slot, Args& a, const Settings& s);
  void cmd_ttl(SlotId slot, Args& a, const Settings& s);
  void cmd_pttl(SlotId slot, Args& a, const Settings& s);
  void expire(SlotId slot, Args& a, const Settings& s, uint64_t unit_ms, std::string_view name);
  void ttl(SlotId slot, Args& a, const Settings& s, bool millis);

  struct Slot {
    bool ready = false;
    std::string reply;
    bool write = false;
    std::vector<std::string> keys;  // claimed in key_queues_ until answered
  };

  RespBackend& backend_;
  RespConnection& conn_;
  RespSessionOptions options_;
  resp::Parser parser_;
  bool authenticated_ = false;  // gave the password (or none is needed)
  // AUTH's check: true when `password` (for user `user`) is right; counts a wrong one.
  bool check_password(std::string_view user, std::string_view password);
  Settings settings_;
  std::string client_name_;
  std::deque<Slot> slots_;
  SlotId first_slot_ = 0;  // the id of slots_.front()
  // Per key (keyspace and key), the unanswered commands on it, in arrival order.
  std::unordered_map<std::string, std::vector<Claim>> key_queues_;
  std::deque<Waiting> waiting_;
  bool starting_ = false;
  bool pumping_ = false;
  std::string batch_;  // replies gathered while pumping, sent once at its end
  bool paused_ = false;
  bool closing_ = false;
  bool closed_ = false;
  Status close_why_;
  // Cleared when the session is destroyed: backend callbacks that arrive
  // later see it and do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tally
