#include "node/resp_session.hpp"

#include "common/auth.hpp"
#include "common/linear_version.hpp"
#include "common/lock_record.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace tally {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

// ---- replies ----

std::string ok() { return "+OK\r\n"; }

std::string error(std::string_view text) {
  std::string out;
  resp::put_error(out, text);
  return out;
}

std::string integer(int64_t n) {
  std::string out;
  resp::put_integer(out, n);
  return out;
}

std::string bulk(std::string_view bytes) {
  std::string out;
  resp::put_bulk(out, bytes);
  return out;
}

std::string null_bulk() { return "$-1\r\n"; }

std::string empty_array() { return "*0\r\n"; }

std::string wrong_arity(std::string_view command) {
  return error("ERR wrong number of arguments for '" + std::string(command) + "' command");
}

std::string unknown_subcommand(std::string_view command, std::string_view sub) {
  return error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try " +
               upper(command) + " HELP.");
}

// Redis 7's words, so that what people search for finds an answer.
std::string unknown_command(const resp::Command& a) {
  std::string args;
  for (size_t i = 1; i < a.size() && args.size() < 128; ++i) {
    args += "'" + a[i].substr(0, 128 - args.size()) + "' ";
  }
  return error("ERR unknown command '" + a[0].substr(0, 128) +
               "', with args beginning with: " + args);
}

// A reply of type T, or the error the node answered with.
template <class T>
Result<T> expect(wire::Body reply) {
  if (auto* e = std::get_if<wire::ErrorReply>(&reply)) {
    if (e->code == Code::kOk)
      return Status::Internal("error reply without an error code: " + e->message);
    return Status(e->code, std::move(e->message));
  }
  if (auto* r = std::get_if<T>(&reply)) return std::move(*r);
  return Status::Internal("unexpected reply of message type " +
                          std::to_string(static_cast<int>(wire::type_of(reply))));
}

// GET's one answer among siblings: the newest write by its HLC tag (the
// reply lists them oldest first), or none when the newest is a delete. It
// depends on the sibling set alone, not on which replicas answered or in
// what order; TALLY.SIBLINGS shows them all (docs/resp.md).
std::optional<std::string_view> pick(const wire::GetReply& got) {
  if (got.values.empty() || got.latest_deleted) return std::nullopt;
  return got.values.back();
}

// The first word of an error reply, which Redis clients branch on: the
// transient failures get their own, so that a client can retry them.
std::string_view error_word(Code code) {
  switch (code) {
    case Code::kQuorumNotReached:
      return "NOQUORUM";
    case Code::kTimeout:
      return "TIMEOUT";
    case Code::kUnavailable:
    case Code::kStaleEpoch:
      return "UNAVAILABLE";
    case Code::kIoError:
      return "IOERR";
    case Code::kNotLeader:
      return "NOTLEADER";
    case Code::kAborted:
      return "ABORTED";
    case Code::kContention:
      return "CONTENTION";
    case Code::kLocked:
      return "LOCKED";
    case Code::kFenced:
      return "FENCED";
    default:
      return "ERR";
  }
}

std::string quorum_text(uint8_t n) { return n == 0 ? "default" : std::to_string(n); }

// TALLY.QUORUM's arguments: 1..255, or 0 / DEFAULT for the keyspace's default.
bool parse_quorum(std::string_view text, uint8_t& out) {
  if (lower(text) == "default") {
    out = 0;
    return true;
  }
  int64_t n = 0;
  if (!resp::parse_integer(text, n) || n < 0 || n > 255) return false;
  out = static_cast<uint8_t>(n);
  return true;
}

// Redis allows client names of printable characters without blanks.
bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

const std::string kAuthRefused =
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?";

// Shared by the per-key requests of one multi-key command.
struct Gather {
  size_t left = 0;
  int64_t count = 0;
  Status error;  // the first
  std::vector<std::optional<std::string>> values;
  void failed(const Status& s) {
    if (error.ok()) error = s;
  }
};

// The time to live of the value GET would answer (0: none).
uint64_t picked_ttl(const wire::GetReply& got) {
  return got.ttl_ms.size() == got.values.size() && !got.ttl_ms.empty() ? got.ttl_ms.back() : 0;
}

// How often EXPIRE reads again when a linearizable key changed under it.
constexpr int kRewriteAttempts = 5;

}  // namespace

// ---- the command table --------------------------------------------------------------

struct RespSession::CommandSpec {
  std::string_view name;
  // Redis' convention: n > 0 is the exact number of words with the name, -n
  // the least number.
  int arity;
  // Where the keys are, as in Redis' command table: words first_key to
  // last_key (-1: the last word) every key_step-th; first_key 0: no keys.
  int first_key, last_key, key_step;
  bool write;  // changes its keys (waits for every earlier command on them)
  void (RespSession::*run)(SlotId slot, Args& a, const Settings& s);
};

std::span<const RespSession::CommandSpec> RespSession::commands() {
  using S = RespSession;
  static const CommandSpec kCommands[] = {
      {"ping", -1, 0, 0, 0, false, &S::cmd_ping},
      {"echo", 2, 0, 0, 0, false, &S::cmd_echo},
      {"quit", -1, 0, 0, 0, false, &S::cmd_quit},
      {"select", 2, 0, 0, 0, false, &S::cmd_select},
      {"auth", -2, 0, 0, 0, false, &S::cmd_auth},
      {"hello", -1, 0, 0, 0, false, &S::cmd_hello},
      {"client", -2, 0, 0, 0, false, &S::cmd_client},
      {"command", -1, 0, 0, 0, false, &S::cmd_command},
      {"config", -2, 0, 0, 0, false, &S::cmd_config},
      {"info", -1, 0, 0, 0, false, &S::cmd_info},
      {"get", 2, 1, 1, 1, false, &S::cmd_get},
      {"set", -3, 1, 1, 1, true, &S::cmd_set},
      {"del", -2, 1, -1, 1, true, &S::cmd_del},
      {"exists", -2, 1, -1, 1, false, &S::cmd_exists},
      {"mget", -2, 1, -1, 1, false, &S::cmd_mget},
      {"mset", -3, 1, -1, 2, true, &S::cmd_mset},
      {"tally.quorum", -1, 0, 0, 0, false, &S::cmd_quorum},
      {"tally.keyspace", -1, 0, 0, 0, false, &S::cmd_keyspace},
      {"tally.siblings", 2, 1, 1, 1, false, &S::cmd_siblings},
      {"tally.cas", 4, 1, 1, 1, true, &S::cmd_cas},
      {"expire", -3, 1, 1, 1, true, &S::cmd_expire},
      {"pexpire", -3, 1, 1, 1, true, &S::cmd_pexpire},
      {"persist", 2, 1, 1, 1, true, &S::cmd_persist},
      {"ttl", 2, 1, 1, 1, false, &S::cmd_ttl},
      {"tally.lock", 3, 1, 1, 1, true, &S::cmd_lock},
      {"tally.unlock", 3, 1, 1, 1, true, &S::cmd_unlock},
      {"tally.fenced", 5, 3, 3, 1, true, &S::cmd_fenced},
      {"pttl", 2, 1, 1, 1, false, &S::cmd_pttl},
  };
  return kCommands;
}

// ---- the session and its pipeline ----------------------------------------------------

RespSession::RespSession(RespBackend& backend, RespConnection& conn, RespSessionOptions options)
    : backend_(backend), conn_(conn), options_(std::move(options)), parser_(options_.limits) {
  settings_.keyspace = options_.keyspace;
  if (options_.max_pipeline == 0) options_.max_pipeline = 1;
  authenticated_ = options_.password.empty();
}

RespSession::~RespSession() { *alive_ = false; }

std::string RespSession::error_reply(const Status& status) {
  return error(std::string(error_word(status.code())) + " " + status.to_string());
}

void RespSession::on_data(std::string_view bytes) {
  if (closing_) return;
  Status s = parser_.feed(bytes);
  if (!s.ok()) {
    protocol_error(s);
    return;
  }
  pump();
}

void RespSession::pump() {
  if (pumping_ || closed_) return;
  pumping_ = true;
  for (;;) {
    while (!closing_ && slots_.size() < options_.max_pipeline) {
      Args args;
      Result<bool> got = parser_.next(args);
      if (!got.ok()) {
        protocol_error(got.status());
        break;
      }
      if (!*got) break;
      run(args);
    }
    // Commands that finished at once (ECHO, PING, errors) free their slots
    // here: the commands already read behind them run now, not on the next read.
    const size_t before = slots_.size();
    flush();
    if (closed_ || closing_ || slots_.size() == before) break;
  }
  pumping_ = false;
  // One send for every reply the batch completed at once.
  flush();
  if (closed_ || closing_) return;
  bool full = slots_.size() >= options_.max_pipeline;
  if (full && !paused_) {
    paused_ = true;
    conn_.pause_reading();
  } else if (!full && paused_) {
    paused_ = false;
    conn_.resume_reading();
  }
}

void RespSession::run(Args& a) {
  SlotId slot = open_slot();
  const std::string name = lower(a[0]);
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& c : commands()) {
    if (c.name == name) {
      spec = &c;
      break;
    }
  }
  if (!spec) return finish(slot, unknown_command(a));
  const auto n = static_cast<int64_t>(a.size());
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    return finish(slot, wrong_arity(spec->name));
  }
  if (!authenticated_ && name != "auth" && name != "hello" && name != "quit") {
    return finish(slot, error("NOAUTH Authentication required."));
  }
  if (spec->first_key == 0) return (this->*spec->run)(slot, a, settings_);

  // Claim the keys (each once), in arrival order, and start now or wait.
  std::vector<std::string> keys;
  const int64_t last = spec->last_key < 0 ? n - 1 : spec->last_key;
  for (int64_t i = spec->first_key; i <= last && i < n; i += spec->key_step) {
    keys.push_back(std::to_string(settings_.keyspace.size()) + ":" + settings_.keyspace + a[i]);
  }
  if (keys.size() > 1) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  }
  for (const std::string& k : keys) key_queues_[k].push_back(Claim{slot, spec->write});
  const bool now = may_start(slot, spec->write, keys);
  Slot& s = slots_[slot - first_slot_];
  s.write = spec->write;
  s.keys = std::move(keys);
  if (now) return (this->*spec->run)(slot, a, settings_);
  waiting_.push_back(Waiting{slot, spec, std::move(a), settings_});
}

bool RespSession::may_start(SlotId slot, bool write, const std::vector<std::string>& keys) const {
  for (const std::string& k : keys) {
    for (const Claim& c : key_queues_.at(k)) {
      if (c.slot == slot) break;
      if (write || c.write) return false;
    }
  }
  return true;
}

void RespSession::release(SlotId slot, const std::vector<std::string>& keys) {
  for (const std::string& k : keys) {
    auto it = key_queues_.find(k);
    auto& q = it->second;
    q.erase(std::find_if(q.begin(), q.end(), [slot](const Claim& c) { return c.slot == slot; }));
    if (q.empty()) key_queues_.erase(it);
  }
  if (!keys.empty()) start_waiting();
}

void RespSession::start_waiting() {
  // Commands started here may finish at once and release more: the outer
  // loop picks those up, so nested calls return.
  if (starting_) return;
  starting_ = true;
  for (;;) {
    auto it = std::find_if(waiting_.begin(), waiting_.end(), [this](const Waiting& w) {
      const Slot& s = slots_[w.slot - first_slot_];
      return may_start(w.slot, s.write, s.keys);
    });
    if (it == waiting_.end()) break;
    Waiting w = std::move(*it);
    waiting_.erase(it);
    (this->*w.spec->run)(w.slot, w.args, w.settings);
  }
  starting_ = false;
}

void RespSession::protocol_error(const Status& why) {
  // Answered in its turn, after every reply before it; then the connection
  // closes, as Redis does: the stream cannot be resynchronised.
  closing_ = true;
  close_why_ = why;
  finish(open_slot(), error("ERR Protocol error: " + why.message()));
}

RespSession::SlotId RespSession::open_slot() {
  slots_.emplace_back();
  return first_slot_ + slots_.size() - 1;
}

void RespSession::finish(SlotId slot, std::string reply) {
  Slot& s = slots_[slot - first_slot_];
  s.ready = true;
  s.reply = std::move(reply);
  release(slot, std::exchange(s.keys, {}));
  if (pumping_) return;  // pump flushes once at the end of its batch
  flush();
  if (paused_ && slots_.size() <= options_.max_pipeline / 2) pump();
}

void RespSession::flush() {
  while (!slots_.empty() && slots_.front().ready) {
    batch_ += slots_.front().reply;
    slots_.pop_front();
    ++first_slot_;
  }
  const bool close_now = closing_ && slots_.empty() && !closed_;
  // While pumping, replies gather: a batch answered at once leaves in one send.
  if (!batch_.empty() && (!pumping_ || close_now)) conn_.send(std::exchange(batch_, {}));
  if (close_now) {
    closed_ = true;
    conn_.close(close_why_);
  }
}

// ---- requests to the backend ---------------------------------------------------------

void RespSession::put_if(const Settings& s, std::string key, std::string value, quorum::Condition condition,
                         std::string expected, uint64_t ttl_ms, std::function<void(Result<wire::PutReply>)> done) {
  wire::PutRequest req;
  req.keyspace = s.keyspace;
  req.key = std::move(key);
  req.value = std::move(value);
  req.options.w = s.w;
  req.condition = static_cast<uint8_t>(condition);
  req.ttl_ms = ttl_ms;
  // The version to hold is the put's context; other conditions' operand is `expected`.
  if (condition == quorum::Condition::kIfVersion) {
    req.context = std::move(expected);
  } else {
    req.expected = std::move(expected);
  }
  put(std::move(req), std::move(done));
}

void RespSession::put(wire::PutRequest req, std::function<void(Result<wire::PutReply>)> done) {
  call(std::move(req), [done = std::move(done)](wire::Body reply) {
    done(expect<wire::PutReply>(std::move(reply)));
  });
}

void RespSession::call(wire::Body request, std::function<void(wire::Body)> done) {
  backend_.request(std::move(request), [alive = alive_, done = std::move(done)](wire::Body reply) {
    if (*alive) done(std::move(reply));
  });
}

void RespSession::get(const Settings& s, std::string key,
                      std::function<void(Result<wire::GetReply>)> done) {
  wire::GetRequest req;
  req.keyspace = s.keyspace;
  req.key = std::move(key);
  req.options.r = s.r;
  call(std::move(req), [done = std::move(done)](wire::Body reply) {
    done(expect<wire::GetReply>(std::move(reply)));
  });
}

void RespSession::del(const Settings& s, std::string key, std::string context,
                      std::function<void(Status)> done) {
  wire::DeleteRequest req;
  req.keyspace = s.keyspace;
  req.key = std::move(key);
  req.context = std::move(context);
  req.options.w = s.w;
  call(std::move(req), [done = std::move(done)](wire::Body reply) {
    done(expect<wire::DeleteReply>(std::move(reply)).status());
  });
}

void RespSession::overwrite(const Settings& s, std::string key, std::string value, uint64_t ttl_ms,
                            std::function<void(Status)> done) {
  wire::PutRequest req;
  req.keyspace = s.keyspace;
  req.key = std::move(key);
  req.value = std::move(value);
  req.options.w = s.w;
  req.options.overwrite = true;
  req.ttl_ms = ttl_ms;
  put(std::move(req), [done = std::move(done)](Result<wire::PutReply> r) { done(r.status()); });
}

// ---- connection commands -------------------------------------------------------------

void RespSession::cmd_ping(SlotId slot, Args& a, const Settings&) {
  if (a.size() > 2) return finish(slot, wrong_arity("ping"));
  finish(slot, a.size() == 2 ? bulk(a[1]) : "+PONG\r\n");
}

void RespSession::cmd_echo(SlotId slot, Args& a, const Settings&) { finish(slot, bulk(a[1])); }

void RespSession::cmd_quit(SlotId slot, Args&, const Settings&) {
  closing_ = true;
  close_why_ = Status::Ok();
  finish(slot, ok());
}

void RespSession::cmd_select(SlotId slot, Args& a, const Settings&) {
  int64_t db = 0;
  if (!resp::parse_integer(a[1], db))
    return finish(slot, error("ERR value is not an integer or out of range"));
  // tally has keyspaces (TALLY.KEYSPACE), not numbered databases.
  finish(slot, db == 0 ? ok() : error("ERR DB index is out of range"));
}

bool RespSession::check_password(std::string_view user, std::string_view password) {
  if (user == "default" && auth::password_matches(options_.password, password)) {
    authenticated_ = true;
    return true;
  }
  if (options_.wrong_password) options_.wrong_password();
  return false;
}

const std::string kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

void RespSession::cmd_auth(SlotId slot, Args& a, const Settings&) {
  if (options_.password.empty()) return finish(slot, error(kAuthRefused));
  if (a.size() > 3) return finish(slot, error("ERR syntax error"));
  // AUTH password, or AUTH username password (Redis 6); the only user is "default".
  bool ok = a.size() == 2 ? check_password("default", a[1]) : check_password(a[1], a[2]);
  finish(slot, ok ? std::string("+OK\r\n") : error(kWrongPass));
}

void RespSession::cmd_hello(SlotId slot, Args& a, const Settings&) {
  if (a.size() >= 2) {
    int64_t version = 0;
    if (!resp::parse_integer(a[1], version)) {
      return finish(slot, error("ERR Protocol version is not an integer or out of range"));
    }
    if (version != 2) return finish(slot, error("NOPROTO unsupported protocol version"));
    for (size_t i = 2; i < a.size(); ++i) {
      std::string opt = upper(a[i]);
      if (opt == "AUTH" && i + 2 < a.size()) {
        if (options_.password.empty()) return finish(slot, error(kAuthRefused));
        if (!check_password(a[i + 1], a[i + 2])) return finish(slot, error(kWrongPass));
        i += 2;
        continue;
      }
      if (opt == "SETNAME" && i + 1 < a.size() && valid_client_name(a[i + 1])) {
        client_name_ = a[++i];
        continue;
      }
      return finish(slot, error("ERR Syntax error in HELLO option '" + a[i] + "'"));
    }
  }
  if (!authenticated_) {
    return finish(slot, error("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                              "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                              "select the RESP protocol version at the same time"));
  }
  std::string out;
  resp::put_array_header(out, 14);
  resp::put_bulk(out, "server");
  resp::put_bulk(out, "tally");
  resp::put_bulk(out, "version");
  resp::put_bulk(out, options_.version);
  resp::put_bulk(out, "proto");
  resp::put_integer(out, 2);
  resp::put_bulk(out, "id");
  resp::put_integer(out, static_cast<int64_t>(options_.client_id));
  resp::put_bulk(out, "mode");
  resp::put_bulk(out, "standalone");
  resp::put_bulk(out, "role");
  resp::put_bulk(out, "master");
  resp::put_bulk(out, "modules");
  resp::put_array_header(out, 0);
  finish(slot, std::move(out));
}

void RespSession::cmd_client(SlotId slot, Args& a, const Settings&) {
  const std::string sub = lower(a[1]);
  if (sub == "setname") {
    if (a.size() != 3) return finish(slot, wrong_arity("client|setname"));
    if (!valid_client_name(a[2])) {
      return finish(
          slot, error("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    client_name_ = a[2];
    return finish(slot, ok());
  }
  if (sub == "getname")
    return finish(slot, client_name_.empty() ? null_bulk() : bulk(client_name_));
  if (sub == "id") return finish(slot, integer(static_cast<int64_t>(options_.client_id)));
  // What client libraries send on connect; none changes what tally does.
  if (sub == "setinfo" || sub == "no-evict" || sub == "no-touch") return finish(slot, ok());
  finish(slot, unknown_subcommand("client", a[1]));
}

void RespSession::cmd_command(SlotId slot, Args& a, const Settings&) {
  // redis-cli asks for COMMAND DOCS on start-up, for its hints: an empty
  // answer means "no hints", which is what it can use.
  if (a.size() == 1) return finish(slot, empty_array());
  const std::string sub = lower(a[1]);
  if (sub == "count") return finish(slot, integer(static_cast<int64_t>(commands().size())));
  if (sub == "docs" || sub == "info" || sub == "list") return finish(slot, empty_array());
  finish(slot, unknown_subcommand("command", a[1]));
}

void RespSession::cmd_config(SlotId slot, Args& a, const Settings&) {
  const std::string sub = lower(a[1]);
  if (sub == "get") {
    if (a.size() < 3) return finish(slot, wrong_arity("config|get"));
    // redis-benchmark reads these two at start-up. Both are true of tally:
    // no snapshot schedule, no append-only file (durability is the node's
    // `durability` setting).
    static const std::pair<std::string_view, std::string_view> kParams[] = {{"save", ""},
                                                                            {"appendonly", "no"}};
    std::vector<std::pair<std::string_view, std::string_view>> found;
    for (size_t i = 2; i < a.size(); ++i) {
      const std::string pattern = lower(a[i]);
      for (const auto& p : kParams) {
        if ((pattern == "*" || pattern == p.first) &&
            std::find(found.begin(), found.end(), p) == found.end()) {
          found.push_back(p);
        }
      }
    }
    std::string out;
    resp::put_array_header(out, found.size() * 2);
    for (const auto& [name, value] : found) {
      resp::put_bulk(out, name);
      resp::put_bulk(out, value);
    }
    return finish(slot, std::move(out));
  }
  if (sub == "set" || sub == "resetstat" || sub == "rewrite") {
    return finish(slot,
                  error("ERR CONFIG " + upper(sub) +
                        " is not supported: a tally node reads its settings from its config file"));
  }
  finish(slot, unknown_subcommand("config", a[1]));
}

void RespSession::cmd_info(SlotId slot, Args& a, const Settings& s) {
  // Sections as in Redis; one it does not know adds nothing.
  bool server = a.size() == 1, session = a.size() == 1;
  for (size_t i = 1; i < a.size(); ++i) {
    const std::string section = lower(a[i]);
    const bool all = section == "default" || section == "all" || section == "everything";
    server = server || all || section == "server";
    session = session || all || section == "session";
  }
  call(wire::StatusRequest{}, [this, slot, s, server, session](wire::Body reply) {
    auto status = expect<wire::StatusReply>(std::move(reply));
    if (!status.ok()) return finish(slot, error_reply(status.status()));
    std::string text;
    auto line = [&text](std::string_view name, std::string_view value) {
      text.append(name).append(":");
      for (char c : value) text.push_back(c == '\r' || c == '\n' ? ' ' : c);
      text.append("\r\n");
    };
    if (server) {
      text += "# Server\r\n";
      for (const auto& [name, value] : status->fields) line(name, value);
    }
    if (session) {
      if (!text.empty()) text += "\r\n";
      text += "# Session\r\n";
      line("keyspace", s.keyspace);
      line("r", quorum_text(s.r));
      line("w", quorum_text(s.w));
    }
    finish(slot, bulk(text));
  });
}

// ---- key commands ----------------------------------------------------------------

void RespSession::cmd_get(SlotId slot, Args& a, const Settings& s) {
  get(s, std::move(a[1]), [this, slot](Result<wire::GetReply> got) {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    const auto value = pick(*got);
    finish(slot, value ? bulk(*value) : null_bulk());
  });
}

void RespSession::cmd_set(SlotId slot, Args& a, const Settings& s) {
  auto condition = quorum::Condition::kNone;
  uint64_t ttl_ms = 0;
  bool keep_ttl = false, expiry = false;
  for (size_t i = 3; i < a.size(); ++i) {
    const std::string opt = upper(a[i]);
    if (opt == "KEEPTTL" || opt == "EX" || opt == "PX") {
      // As in Redis, at most one of EX, PX and KEEPTTL.
      if (expiry) return finish(slot, error("ERR syntax error"));
      expiry = true;
      if (opt == "KEEPTTL") {
        keep_ttl = true;
        continue;
      }
      if (i + 1 >= a.size()) return finish(slot, error("ERR syntax error"));
      int64_t n = 0;
      if (!resp::parse_integer(a[++i], n)) return finish(slot, error("ERR value is not an integer or out of range"));
      const uint64_t unit = opt == "EX" ? 1000 : 1;
      if (n <= 0 || static_cast<uint64_t>(n) > wire::kMaxTtlMs / unit) {
        return finish(slot, error("ERR invalid expire time in 'set' command"));
      }
      ttl_ms = static_cast<uint64_t>(n) * unit;
      continue;
    }
    if (opt == "EXAT" || opt == "PXAT") {
      return finish(slot, error("ERR SET option '" + opt +
                                "' is not supported: give the time to live with EX or PX (tally counts it by the "
                                "coordinating node's clock, not the client's)"));
    }
    if (opt == "NX" || opt == "XX") {
      // As in Redis, NX and XX together are a syntax error.
      if (condition != quorum::Condition::kNone) return finish(slot, error("ERR syntax error"));
      condition = opt == "NX" ? quorum::Condition::kIfAbsent : quorum::Condition::kIfPresent;
      continue;
    }
    if (opt == "GET") {
      return finish(slot, error("ERR SET option 'GET' is not supported"));
    }
    return finish(slot, error("ERR syntax error"));
  }
  if (keep_ttl && condition != quorum::Condition::kNone) {
    return finish(slot, error("ERR SET KEEPTTL with NX or XX is not supported"));
  }
  if (condition != quorum::Condition::kNone) {
    // Needs a linearizable keyspace (the node says so otherwise). As Redis:
    // OK when set, nil when the condition did not hold.
    return put_if(s, std::move(a[1]), std::move(a[2]), condition, {}, ttl_ms,
                  [this, slot](Result<wire::PutReply> r) {
                    if (!r.ok()) return finish(slot, error_reply(r.status()));
                    finish(slot, r->not_applied ? null_bulk() : ok());
                  });
  }
  if (keep_ttl) {
    // The time to live the key has now goes on with the new value.
    std::string key = a[1];
    return get(s, std::move(a[1]), [this, slot, s, key = std::move(key), value = std::move(a[2])](
                                       Result<wire::GetReply> got) mutable {
      if (!got.ok()) return finish(slot, error_reply(got.status()));
      const uint64_t left = pick(*got) ? picked_ttl(*got) : 0;
      overwrite(s, std::move(key), std::move(value), left,
                [this, slot](Status st) { finish(slot, st.ok() ? ok() : error_reply(st)); });
    });
  }
  overwrite(s, std::move(a[1]), std::move(a[2]), ttl_ms,
            [this, slot](Status s) { finish(slot, s.ok() ? ok() : error_reply(s)); });
}

// ---- expiry ----------------------------------------------------------------------

void RespSession::rewrite_ttl(SlotId slot, const Settings& s, std::string key, uint64_t ttl_ms,
                              std::function<bool(uint64_t)> wanted, int attempts_left) {
  get(s, key, [this, slot, s, key, ttl_ms, wanted = std::move(wanted), attempts_left](
                  Result<wire::GetReply> got) mutable {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    const auto value = pick(*got);
    if (!value || !wanted(picked_ttl(*got))) return finish(slot, integer(0));
    if (got->linearizable) {
      // Only over the version read: a change made since is not undone.
      return put_if(s, key, std::string(*value), quorum::Condition::kIfVersion, std::move(got->context), ttl_ms,
                    [this, slot, s, key, ttl_ms, wanted = std::move(wanted), attempts_left](
                        Result<wire::PutReply> r) mutable {
                      if (!r.ok()) return finish(slot, error_reply(r.status()));
                      if (!r->not_applied) return finish(slot, integer(1));
                      if (attempts_left <= 1) {
                        return finish(slot, error("CONTENTION the key kept changing while its expiry was set; "
                                                  "nothing was written"));
                      }
                      rewrite_ttl(slot, s, std::move(key), ttl_ms, std::move(wanted), attempts_left - 1);
                    });
    }
    // Over what the read saw: a write that raced it survives as a sibling.
    wire::PutRequest req;
    req.keyspace = s.keyspace;
    req.key = std::move(key);
    req.value = std::string(*value);
    req.context = std::move(got->context);
    req.options.w = s.w;
    req.ttl_ms = ttl_ms;
    put(std::move(req), [this, slot](Result<wire::PutReply> r) {
      finish(slot, r.ok() ? integer(1) : error_reply(r.status()));
    });
  });
}

void RespSession::expire(SlotId slot, Args& a, const Settings& s, uint64_t unit_ms, std::string_view name) {
  int64_t n = 0;
  if (!resp::parse_integer(a[2], n)) return finish(slot, error("ERR value is not an integer or out of range"));
  // Redis 7's options: NX no expiry yet, XX one already, GT/LT longer/shorter
  // than the one it has (no expiry counts as forever).
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < a.size(); ++i) {
    const std::string opt = upper(a[i]);
    if (opt == "NX") nx = true;
    else if (opt == "XX") xx = true;
    else if (opt == "GT") gt = true;
    else if (opt == "LT") lt = true;
    else return finish(slot, error("ERR Unsupported option " + a[i]));
  }
  if (nx && (xx || gt || lt)) {
    return finish(slot, error("ERR NX and XX, GT or LT options at the same time are not compatible"));
  }
  if (gt && lt) return finish(slot, error("ERR GT and LT options at the same time are not compatible"));
  if (n > 0 && static_cast<uint64_t>(n) > wire::kMaxTtlMs / unit_ms) {
    return finish(slot, error("ERR invalid expire time in '" + std::string(name) + "' command"));
  }
  if (n <= 0) {
    // As in Redis, a time to live at or below zero deletes the key.
    std::string key = a[1];
    return get(s, std::move(a[1]), [this, slot, s, key = std::move(key)](Result<wire::GetReply> got) mutable {
      if (!got.ok()) return finish(slot, error_reply(got.status()));
      if (!pick(*got)) return finish(slot, integer(0));
      del(s, std::move(key), std::move(got->context),
          [this, slot](Status st) { finish(slot, st.ok() ? integer(1) : error_reply(st)); });
    });
  }
  const uint64_t ttl_ms = static_cast<uint64_t>(n) * unit_ms;
  rewrite_ttl(slot, s, std::move(a[1]), ttl_ms,
              [nx, xx, gt, lt, ttl_ms](uint64_t current) {
                if (nx && current != 0) return false;
                if (xx && current == 0) return false;
                if (gt && (current == 0 || ttl_ms <= current)) return false;
                if (lt && current != 0 && ttl_ms >= current) return false;
                return true;
              },
              kRewriteAttempts);
}

// ---- locks -----------------------------------------------------------------------

namespace {
Status not_linearizable(const std::string& keyspace) {
  return Status::InvalidArgument("locks need a linearizable keyspace; this connection's keyspace '" + keyspace +
                                 "' is not (TALLY.KEYSPACE names one made with --mode linearizable)");
}
}  // namespace

void RespSession::cmd_lock(SlotId slot, Args& a, const Settings& s) {
  int64_t ttl = 0;
  if (!resp::parse_integer(a[2], ttl)) return finish(slot, error("ERR value is not an integer or out of range"));
  if (ttl <= 0 || static_cast<uint64_t>(ttl) > wire::kMaxTtlMs) {
    return finish(slot, error("ERR invalid lease in 'tally.lock' command (milliseconds, above zero)"));
  }
  lock_step(slot, s, std::move(a[1]), static_cast<uint64_t>(ttl), kRewriteAttempts);
}

// Read the lock; if it is free, write this connection's holding over exactly
// the version read: the new version is the token (common/lock_record.hpp).
void RespSession::lock_step(SlotId slot, const Settings& s, std::string name, uint64_t ttl_ms, int attempts_left) {
  std::string key = name;
  get(s, std::move(key), [this, slot, s, name = std::move(name), ttl_ms, attempts_left](
                             Result<wire::GetReply> got) mutable {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    const auto seq = version_seq(got->context);
    if (!got->linearizable || !seq) return finish(slot, error_reply(not_linearizable(s.keyspace)));
    lockrec::LockRead read{std::nullopt, *seq};
    if (!got->values.empty()) {
      read.record = lockrec::decode(got->values.front());
      if (!read.record) return finish(slot, error("ERR key '" + name + "' holds a value that is not a lock"));
    }
    const auto plan = lockrec::plan_acquire(
        read, client_name_.empty() ? "resp-client-" + std::to_string(options_.client_id) : client_name_);
    if (plan.verdict != lockrec::LockVerdict::kWrite) return finish(slot, null_bulk());
    const uint64_t token = plan.next.token;
    std::string key = name;
    put_if(s, std::move(key), lockrec::encode(plan.next), quorum::Condition::kIfVersion,
           std::move(got->context), ttl_ms,
           [this, slot, s, name = std::move(name), ttl_ms, attempts_left, token](Result<wire::PutReply> r) mutable {
             if (!r.ok()) return finish(slot, error_reply(r.status()));
             if (!r->not_applied) return finish(slot, integer(static_cast<int64_t>(token)));
             if (attempts_left <= 1) return finish(slot, null_bulk());
             lock_step(slot, s, std::move(name), ttl_ms, attempts_left - 1);  // changed since the read
           });
  });
}

// TALLY.FENCED lock token key value: SET key value, applied only if `token`
// is at least the highest token the key was written with for `lock` (a
// keyspace of any mode). OK, or -FENCED when a later holder has written it.
void RespSession::cmd_fenced(SlotId slot, Args& a, const Settings& s) {
  int64_t token = 0;
  if (!resp::parse_integer(a[2], token) || token <= 0) {
    return finish(slot, error("ERR value is not an integer or out of range"));
  }
  wire::PutRequest req;
  req.keyspace = s.keyspace;
  req.key = std::move(a[3]);
  req.value = std::move(a[4]);
  req.fence_lock = std::move(a[1]);
  req.fence_token = static_cast<uint64_t>(token);
  put(std::move(req), [this, slot](Result<wire::PutReply> r) { finish(slot, r.ok() ? ok() : error_reply(r.status())); });
}

void RespSession::cmd_unlock(SlotId slot, Args& a, const Settings& s) {
  int64_t token = 0;
  if (!resp::parse_integer(a[2], token) || token <= 0) {
    return finish(slot, error("ERR value is not an integer or out of range"));
  }
  unlock_step(slot, s, std::move(a[1]), static_cast<uint64_t>(token), kRewriteAttempts);
}

void RespSession::unlock_step(SlotId slot, const Settings& s, std::string name, uint64_t token, int attempts_left) {
  std::string key = name;
  get(s, std::move(key), [this, slot, s, name = std::move(name), token, attempts_left](
                             Result<wire::GetReply> got) mutable {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    if (!got->linearizable) return finish(slot, error_reply(not_linearizable(s.keyspace)));
    const lockrec::LockRead read{got->values.empty() ? std::nullopt : lockrec::decode(got->values.front())};
    const auto plan = lockrec::plan_release(read, token);
    if (plan.verdict != lockrec::LockVerdict::kWrite) return finish(slot, integer(0));
    std::string key = name;
    put_if(s, std::move(key), lockrec::encode(plan.next), quorum::Condition::kIfVersion, std::move(got->context),
           0, [this, slot, s, name = std::move(name), token, attempts_left](Result<wire::PutReply> r) mutable {
             if (!r.ok()) return finish(slot, error_reply(r.status()));
             if (!r->not_applied) return finish(slot, integer(1));
             if (attempts_left <= 1) return finish(slot, error("CONTENTION the lock kept changing; not released"));
             unlock_step(slot, s, std::move(name), token, attempts_left - 1);
           });
  });
}

void RespSession::cmd_expire(SlotId slot, Args& a, const Settings& s) { expire(slot, a, s, 1000, "expire"); }
void RespSession::cmd_pexpire(SlotId slot, Args& a, const Settings& s) { expire(slot, a, s, 1, "pexpire"); }

void RespSession::cmd_persist(SlotId slot, Args& a, const Settings& s) {
  rewrite_ttl(slot, s, std::move(a[1]), 0, [](uint64_t current) { return current != 0; }, kRewriteAttempts);
}

void RespSession::ttl(SlotId slot, Args& a, const Settings& s, bool millis) {
  get(s, std::move(a[1]), [this, slot, millis](Result<wire::GetReply> got) {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    // As in Redis: -2 no such key, -1 no expiry; TTL rounds to the nearest second.
    if (!pick(*got)) return finish(slot, integer(-2));
    const uint64_t left = picked_ttl(*got);
    if (left == 0) return finish(slot, integer(-1));
    finish(slot, integer(static_cast<int64_t>(millis ? left : (left + 500) / 1000)));
  });
}

void RespSession::cmd_ttl(SlotId slot, Args& a, const Settings& s) { ttl(slot, a, s, false); }
void RespSession::cmd_pttl(SlotId slot, Args& a, const Settings& s) { ttl(slot, a, s, true); }

// TALLY.CAS key expected new: set `new` only if the key holds `expected`
// (linearizable keyspaces). Answers [1, new] when it did, [0, current] when
// not (current nil: the key does not exist).
void RespSession::cmd_cas(SlotId slot, Args& a, const Settings& s) {
  std::string value = a[3];
  put_if(s, std::move(a[1]), std::move(a[3]), quorum::Condition::kIfValue, std::move(a[2]), 0,
         [this, slot, value = std::move(value)](Result<wire::PutReply> r) {
           if (!r.ok()) return finish(slot, error_reply(r.status()));
           std::string out;
           resp::put_array_header(out, 2);
           out += r->not_applied ? ":0\r\n" : ":1\r\n";
           if (!r->not_applied) {
             resp::put_bulk(out, value);
           } else if (r->current_found) {
             resp::put_bulk(out, r->current);
           } else {
             resp::put_null_bulk(out);
           }
           finish(slot, std::move(out));
         });
}

void RespSession::cmd_del(SlotId slot, Args& a, const Settings& s) {
  // DEL k k deletes k once and counts it once, as in Redis.
  std::set<std::string> keys(a.begin() + 1, a.end());
  auto g = std::make_shared<Gather>();
  g->left = keys.size();
  auto one_done = [this, slot, g](Status s) {
    if (!s.ok()) g->failed(s);
    if (--g->left == 0) finish(slot, g->error.ok() ? integer(g->count) : error_reply(g->error));
  };
  for (const std::string& key : keys) {
    get(s, key, [this, s, key, g, one_done](Result<wire::GetReply> got) {
      if (!got.ok()) return one_done(got.status());
      // A key the read does not find is left alone: the delete covers what
      // the read saw, and the read saw nothing.
      if (got->values.empty()) return one_done(Status::Ok());
      ++g->count;
      del(s, key, std::move(got->context), one_done);
    });
  }
}

void RespSession::cmd_exists(SlotId slot, Args& a, const Settings& s) {
  auto g = std::make_shared<Gather>();
  g->left = a.size() - 1;
  for (size_t i = 1; i < a.size(); ++i) {
    get(s, std::move(a[i]), [this, slot, g](Result<wire::GetReply> got) {
      if (!got.ok()) {
        g->failed(got.status());
      } else if (pick(*got)) {  // as GET would answer
        ++g->count;
      }
      if (--g->left == 0) finish(slot, g->error.ok() ? integer(g->count) : error_reply(g->error));
    });
  }
}

void RespSession::cmd_mget(SlotId slot, Args& a, const Settings& s) {
  auto g = std::make_shared<Gather>();
  g->left = a.size() - 1;
  g->values.resize(a.size() - 1);
  for (size_t i = 1; i < a.size(); ++i) {
    get(s, std::move(a[i]), [this, slot, g, i](Result<wire::GetReply> got) {
      if (!got.ok()) {
        g->failed(got.status());
      } else if (const auto value = pick(*got)) {
        g->values[i - 1] = std::string(*value);
      }
      if (--g->left > 0) return;
      if (!g->error.ok()) return finish(slot, error_reply(g->error));
      std::string out;
      resp::put_array_header(out, g->values.size());
      for (const auto& v : g->values) {
        if (v) {
          resp::put_bulk(out, *v);
        } else {
          resp::put_null_bulk(out);
        }
      }
      finish(slot, std::move(out));
    });
  }
}

void RespSession::cmd_mset(SlotId slot, Args& a, const Settings& s) {
  if (a.size() % 2 != 1) return finish(slot, wrong_arity("mset"));
  // MSET k 1 k 2 leaves k = 2, as in Redis: one write per key, the last value.
  std::map<std::string, std::string> pairs;
  for (size_t i = 1; i + 1 < a.size(); i += 2) pairs[std::move(a[i])] = std::move(a[i + 1]);
  auto g = std::make_shared<Gather>();
  g->left = pairs.size();
  for (auto& [key, value] : pairs) {
    overwrite(s, key, std::move(value), 0, [this, slot, g](Status st) {
      if (!st.ok()) g->failed(st);
      if (--g->left == 0) finish(slot, g->error.ok() ? ok() : error_reply(g->error));
    });
  }
}

// ---- tally's own commands ------------------------------------------------------------

void RespSession::cmd_quorum(SlotId slot, Args& a, const Settings&) {
  if (a.size() == 1) {
    std::string out;
    resp::put_array_header(out, 2);
    resp::put_bulk(out, quorum_text(settings_.r));
    resp::put_bulk(out, quorum_text(settings_.w));
    return finish(slot, std::move(out));
  }
  if (a.size() != 3) return finish(slot, wrong_arity("tally.quorum"));
  uint8_t r = 0, w = 0;
  if (!parse_quorum(a[1], r)) {
    return finish(
        slot,
        error("ERR R must be a number from 1 to 255, or 0 or DEFAULT for the keyspace's default"));
  }
  if (!parse_quorum(a[2], w)) {
    return finish(
        slot,
        error("ERR W must be a number from 1 to 255, or 0 or DEFAULT for the keyspace's default"));
  }
  // Whether they fit the keyspace's N is the node's to say, at each request.
  settings_.r = r;
  settings_.w = w;
  finish(slot, ok());
}

void RespSession::cmd_keyspace(SlotId slot, Args& a, const Settings&) {
  if (a.size() == 1) return finish(slot, bulk(settings_.keyspace));
  if (a.size() != 2) return finish(slot, wrong_arity("tally.keyspace"));
  if (a[1].empty()) return finish(slot, error("ERR keyspace name must not be empty"));
  // Whether it exists is the node's to say, at each request.
  settings_.keyspace = std::move(a[1]);
  finish(slot, ok());
}

void RespSession::cmd_siblings(SlotId slot, Args& a, const Settings& s) {
  get(s, std::move(a[1]), [this, slot](Result<wire::GetReply> got) {
    if (!got.ok()) return finish(slot, error_reply(got.status()));
    std::string out;
    resp::put_array_header(out, got->values.size());
    for (const auto& v : got->values) resp::put_bulk(out, v);
    finish(slot, std::move(out));
  });
}

}  // namespace tally
