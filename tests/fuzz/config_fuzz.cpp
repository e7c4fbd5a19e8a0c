// libFuzzer target for the config loader, parse_config (`make fuzz`; see
// README.md here): the input is the text of a TOML config file, as
// load_config hands it over once it has read the file.
//
// Besides "no crash, no sanitizer report, no exception out of the loader":
//  - an error is kConfigError and names the file;
//  - a config that loads keeps the promises config.hpp makes: nodes with
//    valid, unique ids and unique addresses, absolute data folders, voters
//    among the nodes, valid keyspaces (unique, n no more than the nodes),
//    frames large enough for the largest key and value;
//  - written back as TOML, it loads to the same config.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using tally::ClusterConfig;
using tally::Code;

const std::string kName = "fuzz.toml";
const std::string kBase = "/etc/tally";

// A TOML basic string: quotes, backslashes and control characters escaped,
// every other byte as it is.
std::string toml_string(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string to_toml(const ClusterConfig& c) {
  auto line = [](std::string& out, std::string_view key, const std::string& value) {
    out.append(key).append(" = ").append(value).append("\n");
  };
  std::string t = "[cluster]\n";
  line(t, "name", toml_string(c.name));
  std::string voters = "[";
  for (const auto& v : c.voters) voters += (voters.size() > 1 ? ", " : "") + toml_string(v);
  line(t, "voters", voters + "]");
  if (!c.secret_file.empty()) line(t, "secret_file", toml_string(c.secret_file));
  line(t, "requirepass", toml_string(c.requirepass));
  t += "[storage]\n";
  line(t, "durability", toml_string(tally::durability_name(c.durability)));
  line(t, "record_cache_mb", std::to_string(c.record_cache_bytes >> 20));
  line(t, "key_filter_mb", std::to_string(c.key_filter_bytes >> 20));
  t += "[limits]\n";
  const auto& l = c.limits;
  line(t, "max_key_bytes", std::to_string(l.max_key_bytes));
  line(t, "max_value_bytes", std::to_string(l.max_value_bytes));
  line(t, "max_frame_bytes", std::to_string(l.max_frame_bytes));
  line(t, "max_connections", std::to_string(l.max_connections));
  line(t, "idle_timeout_s", std::to_string(l.idle_timeout_s));
  line(t, "frame_timeout_s", std::to_string(l.frame_timeout_s));
  line(t, "input_budget_mb", std::to_string(l.input_budget_mb));
  line(t, "output_pause_kb", std::to_string(l.output_pause_kb));
  line(t, "output_limit_mb", std::to_string(l.output_limit_mb));
  t += "[log]\n";
  std::string level(tally::log_level_name(c.log_level));  // "INFO", as log lines print it
  for (char& ch : level) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  line(t, "level", toml_string(level));
  t += "[request]\n";
  line(t, "timeout_ms", std::to_string(c.request_timeout_ms));
  t += "[hints]\n";
  line(t, "max_hints", std::to_string(c.max_hints));
  t += "[streaming]\n";
  line(t, "rate_mb_per_s", std::to_string(c.stream_rate_mb));
  line(t, "cleanup_grace_s", std::to_string(c.cleanup_grace_s));
  t += "[anti_entropy]\n";
  const auto& ae = c.anti_entropy;
  line(t, "background", ae.background ? "true" : "false");
  line(t, "interval_ms", std::to_string(ae.interval_ms));
  line(t, "rate_kb_per_sec", std::to_string(ae.rate_kb_per_sec));
  line(t, "tombstone_grace_s", std::to_string(ae.tombstone_grace_s));
  for (const auto& n : c.nodes) {
    t += "[[nodes]]\n";
    line(t, "id", toml_string(n.id));
    line(t, "listen", toml_string(n.listen.to_string()));
    line(t, "data_dir", toml_string(n.data_dir));
    line(t, "zone", toml_string(n.zone));
    if (n.resp_listen) line(t, "resp_listen", toml_string(n.resp_listen->to_string()));
  }
  for (const auto& k : c.keyspaces) {
    t += "[[keyspaces]]\n";
    line(t, "name", toml_string(k.name));
    line(t, "n", std::to_string(k.n));
    line(t, "r", std::to_string(k.r));
    line(t, "w", std::to_string(k.w));
    line(t, "mode", toml_string(k.mode == tally::meta::ConflictMode::kLww ? "lww" : "siblings"));
  }
  return t;
}

bool same(const ClusterConfig& a, const ClusterConfig& b) {
  bool nodes_same = a.nodes.size() == b.nodes.size();
  for (size_t i = 0; nodes_same && i < a.nodes.size(); ++i) {
    const auto &x = a.nodes[i], &y = b.nodes[i];
    nodes_same = x.id == y.id && x.listen == y.listen && x.data_dir == y.data_dir &&
                 x.zone == y.zone && x.resp_listen == y.resp_listen;
  }
  const auto &l = a.limits, &m = b.limits;
  const bool limits_same =
      l.max_key_bytes == m.max_key_bytes && l.max_value_bytes == m.max_value_bytes &&
      l.max_frame_bytes == m.max_frame_bytes && l.max_connections == m.max_connections &&
      l.idle_timeout_s == m.idle_timeout_s && l.frame_timeout_s == m.frame_timeout_s &&
      l.input_budget_mb == m.input_budget_mb && l.output_pause_kb == m.output_pause_kb &&
      l.output_limit_mb == m.output_limit_mb;
  const auto &p = a.anti_entropy, &q = b.anti_entropy;
  const bool ae_same = p.background == q.background && p.interval_ms == q.interval_ms &&
                       p.rate_kb_per_sec == q.rate_kb_per_sec &&
                       p.tombstone_grace_s == q.tombstone_grace_s;
  return nodes_same && limits_same && ae_same && a.name == b.name && a.voters == b.voters &&
         a.secret_file == b.secret_file && a.requirepass == b.requirepass &&
         a.durability == b.durability && a.record_cache_bytes == b.record_cache_bytes &&
         a.key_filter_bytes == b.key_filter_bytes &&
         a.log_level == b.log_level && a.request_timeout_ms == b.request_timeout_ms &&
         a.max_hints == b.max_hints && a.stream_rate_mb == b.stream_rate_mb &&
         a.cleanup_grace_s == b.cleanup_grace_s && a.keyspaces == b.keyspaces;
}

void promises(const ClusterConfig& c) {
  FUZZ_CHECK(c.path == kName && !c.nodes.empty());
  std::set<std::string> ids, addresses;
  for (const auto& n : c.nodes) {
    FUZZ_CHECK(!n.id.empty() && n.id.size() <= 64 && ids.insert(n.id).second);
    FUZZ_CHECK(n.id.find_first_not_of(
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
               std::string::npos);
    FUZZ_CHECK(addresses.insert(n.listen.to_string()).second);
    if (n.resp_listen) FUZZ_CHECK(addresses.insert(n.resp_listen->to_string()).second);
    auto again = tally::parse_host_port(n.listen.to_string());
    FUZZ_CHECK(again.ok() && *again == n.listen);
    FUZZ_CHECK(std::filesystem::path(n.data_dir).is_absolute());
    auto found = c.node(n.id);
    FUZZ_CHECK(found.ok() && found->id == n.id);
  }
  FUZZ_CHECK(!c.voters.empty());
  for (const auto& v : c.voters) FUZZ_CHECK(ids.count(v) == 1);
  std::set<std::string> names;
  for (const auto& k : c.keyspaces) {
    FUZZ_CHECK(tally::meta::validate(k).ok() && names.insert(k.name).second);
    FUZZ_CHECK(k.n <= static_cast<int>(c.nodes.size()));
  }
  FUZZ_CHECK(uint64_t{c.limits.max_key_bytes} + c.limits.max_value_bytes + 1024 <=
             c.limits.max_frame_bytes);
  FUZZ_CHECK(c.secret.empty());
  if (!c.secret_file.empty()) FUZZ_CHECK(std::filesystem::path(c.secret_file).is_absolute());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = tally::parse_config(text, kName, kBase);
  if (!cfg.ok()) {
    FUZZ_CHECK(cfg.status().code() == Code::kConfigError);
    FUZZ_CHECK(cfg.status().message().rfind(kName + ":", 0) == 0);
    return 0;
  }
  promises(*cfg);
  const std::string written = to_toml(*cfg);
  auto again = tally::parse_config(written, kName, kBase);
  if (!again.ok() || !same(*cfg, *again)) {
    std::fprintf(stderr, "written back as:\n%s\nit loads as: %s\n", written.c_str(),
                 again.ok() ? "a different config" : again.status().message().c_str());
  }
  FUZZ_CHECK(again.ok() && same(*cfg, *again));
  return 0;
}
