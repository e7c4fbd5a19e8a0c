#include "common/config.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "common/auth.hpp"

namespace tally {

std::string_view durability_name(Durability d) {
  return d == Durability::kFsync ? "fsync" : "buffered";
}

Result<NodeEntry> ClusterConfig::node(std::string_view id) const {
  std::string known;
  for (const auto& n : nodes) {
    if (n.id == id) return n;
    known += (known.empty() ? "" : ", ") + n.id;
  }
  return Status::ConfigError(path + ": no node '" + std::string(id) + "' (the file has: " + known +
                             ")");
}

namespace {

// Thrown inside the parser only, turned into a Status at the boundary.
struct ConfigProblem {
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::value& v, const std::string& key, const std::string& what) const {
    auto loc = v.location();
    std::ostringstream out;
    out << file_ << ":" << loc.line() << ": key '" << key << "': " << what;
    throw ConfigProblem{out.str()};
  }

  // Rejects keys of `table` that are not in `allowed`.
  void only(const toml::value& table, const std::string& prefix,
            std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : table.as_table()) {
      bool ok = false;
      for (auto a : allowed) ok = ok || a == k;
      if (!ok) fail(v, prefix + k, "unknown key");
    }
  }

  std::string str(const toml::value& v, const std::string& key) const {
    if (!v.is_string()) fail(v, key, "expected a string, got " + type_of(v));
    return v.as_string().str;
  }

  int64_t integer(const toml::value& v, const std::string& key, int64_t lo, int64_t hi) const {
    if (!v.is_integer()) fail(v, key, "expected an integer, got " + type_of(v));
    int64_t x = v.as_integer();
    if (x < lo || x > hi) {
      fail(v, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                       ", got " + std::to_string(x));
    }
    return x;
  }

  const toml::value& table(const toml::value& v, const std::string& key) const {
    if (!v.is_table()) fail(v, key, "expected a table, got " + type_of(v));
    return v;
  }

  static std::string type_of(const toml::value& v) {
    std::ostringstream out;
    out << v.type();
    return out.str();
  }

 private:
  std::string file_;
};

// The line of the first byte that is not part of well-formed UTF-8 (Unicode
// 15, table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF),
// or 0 when the text is all UTF-8. A TOML file must be UTF-8, and toml11
// (3.7.1, Debian bookworm's) reads out of bounds when it reports invalid
// UTF-8 inside a 'literal string', so such text never reaches it.
size_t first_non_utf8_line(std::string_view text) {
  size_t line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto b = [&](size_t at) { return at < text.size() ? static_cast<uint8_t>(text[at]) : uint8_t{0}; };
    const uint8_t c = b(i);
    auto cont = [&](size_t at, uint8_t lo = 0x80, uint8_t hi = 0xbf) { return b(at) >= lo && b(at) <= hi; };
    size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xe0 && c <= 0xef) {
      const uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
      len = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
      len = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (len == 0) return line;
    if (c == '\n') ++line;
    i += len;
  }
  return 0;
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ClusterConfig read(const toml::value& root, const std::string& name, const std::string& base_dir) {
  Reader r(name);
  ClusterConfig cfg;
  cfg.path = name;
  r.only(root, "", {"cluster", "storage", "limits", "log", "request", "hints", "streaming", "anti_entropy", "nodes",
                    "keyspaces"});

  if (root.contains("cluster")) {
    const auto& t = r.table(root.at("cluster"), "cluster");
    r.only(t, "cluster.", {"name", "voters", "secret_file", "requirepass"});
    if (t.contains("requirepass")) cfg.requirepass = r.str(t.at("requirepass"), "cluster.requirepass");
    if (t.contains("name")) cfg.name = r.str(t.at("name"), "cluster.name");
    if (t.contains("secret_file")) {
      cfg.secret_file = r.str(t.at("secret_file"), "cluster.secret_file");
      if (cfg.secret_file.empty()) r.fail(t.at("secret_file"), "cluster.secret_file", "must not be empty");
      if (std::filesystem::path(cfg.secret_file).is_relative()) {
        cfg.secret_file = (std::filesystem::path(base_dir) / cfg.secret_file).lexically_normal().string();
      }
    }
    if (t.contains("voters")) {
      const auto& v = t.at("voters");
      if (!v.is_array()) r.fail(v, "cluster.voters", "expected an array of node ids");
      for (const auto& id : v.as_array()) cfg.voters.push_back(r.str(id, "cluster.voters"));
    }
  }
  if (root.contains("storage")) {
    const auto& t = r.table(root.at("storage"), "storage");
    r.only(t, "storage.", {"durability", "record_cache_mb", "key_filter_mb"});
    if (t.contains("record_cache_mb"))
      cfg.record_cache_bytes =
          static_cast<uint64_t>(r.integer(t.at("record_cache_mb"), "storage.record_cache_mb", 0, 1 << 20)) << 20;
    if (t.contains("key_filter_mb"))
      cfg.key_filter_bytes =
          static_cast<uint64_t>(r.integer(t.at("key_filter_mb"), "storage.key_filter_mb", 0, 1 << 20)) << 20;
    if (t.contains("durability")) {
      const auto& v = t.at("durability");
      std::string d = r.str(v, "storage.durability");
      if (d == "fsync") {
        cfg.durability = Durability::kFsync;
      } else if (d == "buffered") {
        cfg.durability = Durability::kBuffered;
      } else {
        r.fail(v, "storage.durability", "expected \"fsync\" or \"buffered\", got \"" + d + "\"");
      }
    }
  }
  if (root.contains("limits")) {
    const auto& t = r.table(root.at("limits"), "limits");
    r.only(t, "limits.", {"max_key_bytes", "max_value_bytes", "max_frame_bytes", "max_connections", "idle_timeout_s",
                          "frame_timeout_s", "input_budget_mb", "output_pause_kb", "output_limit_mb"});
    auto u32 = [&](const char* key, uint32_t& out, int64_t lo, int64_t hi) {
      if (t.contains(key)) out = static_cast<uint32_t>(r.integer(t.at(key), std::string("limits.") + key, lo, hi));
    };
    u32("max_connections", cfg.limits.max_connections, 0, 1'000'000);
    u32("idle_timeout_s", cfg.limits.idle_timeout_s, 0, 86'400 * 7);
    u32("frame_timeout_s", cfg.limits.frame_timeout_s, 0, 3600);
    u32("input_budget_mb", cfg.limits.input_budget_mb, 1, 1 << 20);
    u32("output_pause_kb", cfg.limits.output_pause_kb, 64, 1 << 20);
    u32("output_limit_mb", cfg.limits.output_limit_mb, 1, 1 << 16);
    constexpr int64_t kMaxFrame = 256LL * 1024 * 1024;
    if (t.contains("max_key_bytes"))
      cfg.limits.max_key_bytes = r.integer(t.at("max_key_bytes"), "limits.max_key_bytes", 1, 1 << 20);
    if (t.contains("max_value_bytes"))
      cfg.limits.max_value_bytes =
          r.integer(t.at("max_value_bytes"), "limits.max_value_bytes", 0, kMaxFrame);
    if (t.contains("max_frame_bytes"))
      cfg.limits.max_frame_bytes =
          r.integer(t.at("max_frame_bytes"), "limits.max_frame_bytes", 1024, kMaxFrame);
    // A frame must be able to carry the largest key and value it allows.
    uint64_t need = uint64_t{cfg.limits.max_key_bytes} + cfg.limits.max_value_bytes + 1024;
    if (need > cfg.limits.max_frame_bytes) {
      const auto& at = t.contains("max_frame_bytes") ? t.at("max_frame_bytes") : t;
      r.fail(at, "limits.max_frame_bytes",
             "must be at least max_key_bytes + max_value_bytes + 1024 = " + std::to_string(need));
    }
  }
  if (root.contains("log")) {
    const auto& t = r.table(root.at("log"), "log");
    r.only(t, "log.", {"level"});
    if (t.contains("level")) {
      const auto& v = t.at("level");
      auto level = parse_log_level(r.str(v, "log.level"));
      if (!level) r.fail(v, "log.level", "expected one of debug, info, warn, error");
      cfg.log_level = *level;
    }
  }
  if (root.contains("request")) {
    const auto& t = r.table(root.at("request"), "request");
    r.only(t, "request.", {"timeout_ms"});
    if (t.contains("timeout_ms"))
      cfg.request_timeout_ms = r.integer(t.at("timeout_ms"), "request.timeout_ms", 1, 600000);
  }

  if (root.contains("hints")) {
    const auto& t = r.table(root.at("hints"), "hints");
    r.only(t, "hints.", {"max_hints"});
    if (t.contains("max_hints"))
      cfg.max_hints = r.integer(t.at("max_hints"), "hints.max_hints", 0, 100000000);
  }
  if (root.contains("streaming")) {
    const auto& t = r.table(root.at("streaming"), "streaming");
    r.only(t, "streaming.", {"rate_mb_per_s", "cleanup_grace_s"});
    if (t.contains("rate_mb_per_s"))
      cfg.stream_rate_mb = r.integer(t.at("rate_mb_per_s"), "streaming.rate_mb_per_s", 0, 100000);
    if (t.contains("cleanup_grace_s"))
      cfg.cleanup_grace_s = r.integer(t.at("cleanup_grace_s"), "streaming.cleanup_grace_s", 0, 86400 * 30);
  }

  if (root.contains("anti_entropy")) {
    const auto& t = r.table(root.at("anti_entropy"), "anti_entropy");
    r.only(t, "anti_entropy.", {"background", "interval_ms", "rate_kb_per_sec", "tombstone_grace_s"});
    auto& ae = cfg.anti_entropy;
    if (t.contains("background")) {
      const auto& v = t.at("background");
      if (!v.is_boolean()) r.fail(v, "anti_entropy.background", "expected true or false, got " + Reader::type_of(v));
      ae.background = v.as_boolean();
    }
    if (t.contains("interval_ms"))
      ae.interval_ms = r.integer(t.at("interval_ms"), "anti_entropy.interval_ms", 1, 3600000);
    if (t.contains("rate_kb_per_sec"))
      ae.rate_kb_per_sec = r.integer(t.at("rate_kb_per_sec"), "anti_entropy.rate_kb_per_sec", 0, 10000000);
    if (t.contains("tombstone_grace_s"))
      ae.tombstone_grace_s = r.integer(t.at("tombstone_grace_s"), "anti_entropy.tombstone_grace_s", 0, 315360000);
  }

  if (!root.contains("nodes")) r.fail(root, "nodes", "missing: the file must list at least one [[nodes]]");
  const auto& nodes = root.at("nodes");
  if (!nodes.is_array() || nodes.as_array().empty()) {
    r.fail(nodes, "nodes", "expected one or more [[nodes]] tables");
  }
  std::set<std::string> ids, listens;
  for (const auto& n : nodes.as_array()) {
    r.table(n, "nodes");
    r.only(n, "nodes.", {"id", "listen", "data_dir", "zone", "resp_listen", "metrics_listen"});
    NodeEntry e;
    if (!n.contains("id")) r.fail(n, "nodes.id", "missing");
    e.id = r.str(n.at("id"), "nodes.id");
    if (!valid_node_id(e.id))
      r.fail(n.at("id"), "nodes.id", "'" + e.id + "' must be 1-64 of A-Z a-z 0-9 _ -");
    if (!ids.insert(e.id).second) r.fail(n.at("id"), "nodes.id", "duplicate id '" + e.id + "'");
    if (!n.contains("listen")) r.fail(n, "nodes.listen", "missing for node '" + e.id + "'");
    auto hp = parse_host_port(r.str(n.at("listen"), "nodes.listen"));
    if (!hp.ok()) r.fail(n.at("listen"), "nodes.listen", hp.status().message());
    e.listen = *hp;
    if (!listens.insert(e.listen.to_string()).second)
      r.fail(n.at("listen"), "nodes.listen", "address " + e.listen.to_string() + " used twice");
    if (!n.contains("data_dir")) r.fail(n, "nodes.data_dir", "missing for node '" + e.id + "'");
    e.data_dir = r.str(n.at("data_dir"), "nodes.data_dir");
    if (e.data_dir.empty()) r.fail(n.at("data_dir"), "nodes.data_dir", "must not be empty");
    if (std::filesystem::path(e.data_dir).is_relative()) {
      e.data_dir = (std::filesystem::path(base_dir) / e.data_dir).lexically_normal().string();
    }
    if (n.contains("zone")) e.zone = r.str(n.at("zone"), "nodes.zone");
    if (n.contains("resp_listen")) {
      auto resp = parse_host_port(r.str(n.at("resp_listen"), "nodes.resp_listen"));
      if (!resp.ok()) r.fail(n.at("resp_listen"), "nodes.resp_listen", resp.status().message());
      e.resp_listen = *resp;
      if (!listens.insert(e.resp_listen->to_string()).second) {
        r.fail(n.at("resp_listen"), "nodes.resp_listen", "address " + e.resp_listen->to_string() + " used twice");
      }
    }
    if (n.contains("metrics_listen")) {
      auto m = parse_host_port(r.str(n.at("metrics_listen"), "nodes.metrics_listen"));
      if (!m.ok()) r.fail(n.at("metrics_listen"), "nodes.metrics_listen", m.status().message());
      e.metrics_listen = *m;
      if (!listens.insert(e.metrics_listen->to_string()).second) {
        r.fail(n.at("metrics_listen"), "nodes.metrics_listen",
               "address " + e.metrics_listen->to_string() + " used twice");
      }
    }
    cfg.nodes.push_back(std::move(e));
  }
  if (cfg.voters.empty()) {
    // Default: the first min(3, nodes) nodes vote.
    for (size_t i = 0; i < cfg.nodes.size() && i < 3; ++i) cfg.voters.push_back(cfg.nodes[i].id);
  }
  for (const auto& v : cfg.voters) {
    if (!ids.count(v)) r.fail(root.at("cluster").at("voters"), "cluster.voters", "unknown node '" + v + "'");
  }
  if (root.contains("keyspaces")) {
    const auto& list = root.at("keyspaces");
    if (!list.is_array()) r.fail(list, "keyspaces", "expected [[keyspaces]] tables");
    for (const auto& k : list.as_array()) {
      r.table(k, "keyspaces");
      r.only(k, "keyspaces.", {"name", "n", "r", "w", "mode"});
      meta::Keyspace ks;
      if (!k.contains("name")) r.fail(k, "keyspaces.name", "missing");
      ks.name = r.str(k.at("name"), "keyspaces.name");
      if (k.contains("n")) ks.n = r.integer(k.at("n"), "keyspaces.n", 1, 16);
      ks.r = ks.w = std::min(2, ks.n);
      if (k.contains("r")) ks.r = r.integer(k.at("r"), "keyspaces.r", 1, ks.n);
      if (k.contains("w")) ks.w = r.integer(k.at("w"), "keyspaces.w", 1, ks.n);
      if (k.contains("mode")) {
        std::string m = r.str(k.at("mode"), "keyspaces.mode");
        if (auto mode = meta::mode_from_name(m)) {
          ks.mode = *mode;
        } else {
          r.fail(k.at("mode"), "keyspaces.mode", "expected " + std::string(meta::kModeNames) + ", got \"" + m + "\"");
        }
      }
      Status valid = meta::validate(ks);
      if (!valid.ok()) r.fail(k.at("name"), "keyspaces.name", valid.message());
      if (ks.n > static_cast<int>(cfg.nodes.size())) {
        r.fail(k.contains("n") ? k.at("n") : k, "keyspaces.n",
               "n=" + std::to_string(ks.n) + " but the file lists " + std::to_string(cfg.nodes.size()) +
                   " node(s)");
      }
      for (const auto& other : cfg.keyspaces) {
        if (other.name == ks.name) r.fail(k.at("name"), "keyspaces.name", "duplicate keyspace '" + ks.name + "'");
      }
      cfg.keyspaces.push_back(std::move(ks));
    }
  }
  return cfg;
}

}  // namespace

Result<ClusterConfig> parse_config(std::string_view text, const std::string& name,
                                   const std::string& base_dir) {
  if (size_t line = first_non_utf8_line(text); line != 0) {
    return Status::ConfigError(name + ":" + std::to_string(line) +
                               ": not UTF-8 text (a TOML file must be UTF-8)");
  }
  try {
    std::istringstream in{std::string(text)};
    toml::value root = toml::parse(in, name);
    return read(root, name, base_dir);
  } catch (const ConfigProblem& p) {
    return Status::ConfigError(p.message);
  } catch (const toml::syntax_error& e) {
    // toml11 explains over several lines; keep the first, prefixed with file:line.
    std::string what = e.what();
    auto nl = what.find('\n');
    std::string first = what.substr(0, nl);
    if (first.rfind("[error] ", 0) == 0) first = first.substr(8);
    return Status::ConfigError(name + ":" + std::to_string(e.location().line()) +
                               ": syntax error: " + first);
  } catch (const std::exception& e) {
    return Status::ConfigError(name + ": " + e.what());
  }
}

Result<ClusterConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ConfigError(path + ": cannot open config file");
  std::ostringstream text;
  text << in.rdbuf();
  auto base = std::filesystem::absolute(path).parent_path().string();
  auto cfg = parse_config(text.str(), path, base);
  if (!cfg.ok() || cfg->secret_file.empty()) return cfg;
  auto secret = auth::read_secret_file(cfg->secret_file);
  if (!secret.ok()) return Status::ConfigError(path + ": cluster.secret_file: " + secret.status().message());
  cfg->secret = std::move(*secret);
  return cfg;
}

}  // namespace tally
