// tally: the command-line client. It links the public client library and
// nothing else (include/tally/), like any other program would.
#include <tally/client.hpp>
#include <tally/lock.hpp>
#include <tally/version.hpp>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <charconv>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace {

// Documented in `tally --help`; scripts may rely on them.
enum Exit : int {
  kOk = 0,
  kError = 1,        // any other failure (bad input rejected by the node, disk error, ...)
  kUsage = 2,        // bad command line
  kNotFound = 3,     // get: the key does not exist
  kNoQuorum = 4,     // quorum not reached, or timed out
  kUnreachable = 5,  // no node could be reached
  kNotApplied = 6,   // put --if-*: the condition did not hold, nothing was written
  kLocked = 7,       // lock: held by another holder, or the token no longer holds it
  kFenced = 8,       // put --fence: a later holder of the lock has written the key
};

int exit_code(const tally::Status& s) {
  switch (s.code()) {
    case tally::Code::kOk: return kOk;
    case tally::Code::kNotFound: return kNotFound;
    case tally::Code::kQuorumNotReached:
    case tally::Code::kTimeout: return kNoQuorum;
    case tally::Code::kUnavailable: return kUnreachable;
    case tally::Code::kFenced: return kFenced;
    default: return kError;
  }
}

int fail(const tally::Status& s) {
  std::fprintf(stderr, "tally: %s\n", s.to_string().c_str());
  return exit_code(s);
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// A duration: a whole number with a unit, ms, s, m, h or d ("30s", "1500ms",
// "2h"); a bare number is seconds. nullopt: not one, or over ten years.
std::optional<uint64_t> parse_duration_ms(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const uint64_t n = std::stoull(std::string(text.substr(0, digits)));
  const std::string_view unit = text.substr(digits);
  uint64_t scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s" || unit.empty()) scale = 1000;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (unit == "d") scale = 86'400'000;
  if (scale == 0 || n > 10ULL * 365 * 86'400'000 / scale) return std::nullopt;
  return n * scale;
}

// An option's duration above zero (parse_duration_ms), or nullopt after
// saying on stderr what is wrong with it: "tally: put: --ttl 'x' is not ...".
std::optional<uint64_t> duration_option(const char* command, const char* option, const std::string& text) {
  auto ms = parse_duration_ms(text);
  if (!ms || *ms == 0) {
    std::fprintf(stderr,
                 "tally: %s: %s '%s' is not a duration above zero (a whole number with ms, s, m, h or d, at most "
                 "ten years)\n",
                 command, option, text.c_str());
    return std::nullopt;
  }
  return ms;
}

// "12.3 s", "450 ms": a time left, for people.
std::string human_ms(uint64_t ms) {
  char buf[48];
  if (ms < 10'000) {
    std::snprintf(buf, sizeof buf, "%llu ms", static_cast<unsigned long long>(ms));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000);
  }
  return buf;
}

bool from_hex(const std::string& hex, std::string& out) {
  if (hex.size() % 2) return false;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

struct Globals {
  std::string endpoints = "127.0.0.1:7401";
  std::string keyspace = "default";
  std::string secret_file;  // administrators: the cluster secret (--secret-file, TALLY_SECRET_FILE)
  std::string password;     // nodes with requirepass (--password, TALLY_PASSWORD)
  uint32_t timeout_ms = 0;
  bool json = false;
};

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// What `tally ring` says when the nodes' shares of a keyspace differ from
// their mean by more than 10%, and why: with N replicas spread over zones, a
// zone with fewer nodes than the others gives each of them a larger share.
// Empty when the shares are even.
std::string balance_warning(const std::vector<tally::Client::Share>& shares, const tally::ClusterInfo& info,
                            const std::string& keyspace) {
  double sum = 0;
  size_t owners = 0;
  for (const auto& sh : shares) {
    if (sh.tokens == 0) continue;
    sum += sh.owns;
    ++owners;
  }
  if (owners < 2) return {};
  const double mean = sum / static_cast<double>(owners);
  const tally::Client::Share* worst = nullptr;
  for (const auto& sh : shares) {
    if (sh.tokens == 0 || std::abs(sh.owns - mean) <= 0.10 * mean) continue;
    if (!worst || std::abs(sh.owns - mean) > std::abs(worst->owns - mean)) worst = &sh;
  }
  if (!worst) return {};
  std::map<std::string, int> per_zone;
  for (const auto& sh : shares) {
    const tally::MemberInfo* m = info.member(sh.node);
    if (sh.tokens > 0 && m) ++per_zone[m->zone];
  }
  int n = 0;
  for (const auto& ks : info.keyspaces) {
    if (ks.name == keyspace) n = ks.n;
  }
  char head[256];
  std::snprintf(head, sizeof head,
                "warning: keyspace %s is not spread evenly: %s holds a replica of %.1f%% of its keys, the mean "
                "is %.1f%%.",
                keyspace.c_str(), worst->node.c_str(), worst->owns * 100, mean * 100);
  std::string zones;
  int least = INT32_MAX, most = 0;
  for (const auto& [zone, count] : per_zone) {
    zones += (zones.empty() ? "" : ", ") + zone + ": " + std::to_string(count);
    least = std::min(least, count);
    most = std::max(most, count);
  }
  if (per_zone.size() > 1 && least != most) {
    return std::string(head) + " Its N=" + std::to_string(n) + " replicas of a key go to distinct zones first, and " +
           "the zones hold unequal numbers of nodes (" + zones + "): the nodes of a smaller zone share that " +
           "zone's replicas among fewer. Give every zone the same number of nodes (set `zone` in the nodes' " +
           "config, or join nodes with --zone), or put all nodes in one zone.";
  }
  return std::string(head) + " The zones hold equal numbers of nodes (" + zones + "): the difference comes from " +
         "the nodes' tokens (TOKENS above); a node that joins takes tokens from the most loaded.";
}

// "ring movement: n6 joining, 40 of 96 ranges streamed (12,000 keys, 3.1 MiB,
// 2.0 MiB/s, ETA 3 s)", or that the ring is settled.
std::string movement_line(const tally::ClusterInfo& info) {
  if (!info.movement) return "ring settled: no ranges moving";
  const auto& mv = *info.movement;
  std::string out = "ring movement: " + mv.node + (mv.kind == "join" ? " joining" : " leaving") + ", " +
                    std::to_string(mv.ranges_done) + " of " + std::to_string(mv.ranges) + " ranges streamed";
  if (mv.ranges_streaming) out += ", " + std::to_string(mv.ranges_streaming) + " streaming";
  out += " (" + std::to_string(mv.keys) + " keys, " + mib(mv.bytes);
  if (double rate = mv.rate(); rate > 0) {
    out += ", " + mib(static_cast<uint64_t>(rate)) + "/s";
    // By the share of ranges done so far: a rough guide, ranges differ in size.
    if (mv.ranges_done > 0 && mv.ranges_done < mv.ranges) {
      double elapsed_s = static_cast<double>(mv.updated_ms - mv.started_ms) / 1000.0;
      double eta = elapsed_s * static_cast<double>(mv.ranges - mv.ranges_done) / static_cast<double>(mv.ranges_done);
      out += ", ETA ~" + std::to_string(static_cast<uint64_t>(eta + 0.5)) + " s";
    }
  }
  return out + ")";
}

void print_cluster(const tally::ClusterInfo& info, bool json) {
  if (json) {
    std::string out = "{\"answered_by\":" + json_string(info.answered_by) + ",\"leader\":" +
                      json_string(info.leader) + ",\"term\":" + std::to_string(info.term) +
                      ",\"commit\":" + std::to_string(info.commit) + ",\"applied\":" +
                      std::to_string(info.applied) + ",\"epoch\":" + std::to_string(info.epoch) + ",\"nodes\":[";
    for (size_t i = 0; i < info.members.size(); ++i) {
      const auto& m = info.members[i];
      out += std::string(i ? "," : "") + "{\"id\":" + std::to_string(m.id) + ",\"name\":" + json_string(m.name) +
             ",\"address\":" + json_string(m.address) + ",\"zone\":" + json_string(m.zone) +
             ",\"state\":" + json_string(m.state) + ",\"raft\":" + json_string(m.raft) +
             ",\"up\":" + (m.up ? "true" : "false") + ",\"tokens\":" + std::to_string(m.tokens.size()) + "}";
    }
    out += "],\"keyspaces\":[";
    for (size_t i = 0; i < info.keyspaces.size(); ++i) {
      const auto& k = info.keyspaces[i];
      out += std::string(i ? "," : "") + "{\"name\":" + json_string(k.name) + ",\"n\":" + std::to_string(k.n) +
             ",\"r\":" + std::to_string(k.r) + ",\"w\":" + std::to_string(k.w) + ",\"mode\":" +
             json_string(k.mode) + "}";
    }
    out += "]";
    if (const auto& mv = info.movement) {
      out += ",\"movement\":{\"kind\":" + json_string(mv->kind) + ",\"node\":" + json_string(mv->node) +
             ",\"epoch\":" + std::to_string(mv->epoch) + ",\"ranges\":" + std::to_string(mv->ranges) +
             ",\"ranges_done\":" + std::to_string(mv->ranges_done) + ",\"ranges_streaming\":" +
             std::to_string(mv->ranges_streaming) + ",\"keys\":" + std::to_string(mv->keys) +
             ",\"bytes\":" + std::to_string(mv->bytes) + ",\"bytes_per_s\":" +
             std::to_string(static_cast<uint64_t>(mv->rate())) + "}";
    }
    std::printf("%s}\n", out.c_str());
    return;
  }
  std::printf("epoch %llu; metadata leader %s, term %llu; commit %llu, applied %llu (as seen by %s)\n\n",
              static_cast<unsigned long long>(info.epoch), info.leader.empty() ? "(none)" : info.leader.c_str(),
              static_cast<unsigned long long>(info.term), static_cast<unsigned long long>(info.commit),
              static_cast<unsigned long long>(info.applied), info.answered_by.c_str());
  std::printf("%-4s %-12s %-22s %-10s %-8s %-8s %-5s %s\n", "ID", "NAME", "ADDRESS", "ZONE", "STATE", "RAFT", "LIVE",
              "TOKENS");
  for (const auto& m : info.members) {
    std::printf("%-4llu %-12s %-22s %-10s %-8s %-8s %-5s %zu\n", static_cast<unsigned long long>(m.id),
                m.name.c_str(), m.address.c_str(), m.zone.c_str(), m.state.c_str(), m.raft.c_str(),
                m.state == "removed" || m.state == "left" ? "-" : (m.up ? "up" : "down"), m.tokens.size());
  }
  std::printf("\n%s\n", movement_line(info).c_str());
}

// `tally repair`: starts a repair on each node (or the one named), then
// follows them all with one progress line until every one is done.
int run_repair(tally::Client& c, const std::string& keyspace, const std::string& only_node, bool json) {
  auto info = c.cluster_info(false);
  if (!info.ok()) return fail(info.status());
  std::vector<std::pair<std::string, std::string>> targets;  // name, address
  for (const auto& m : info->members) {
    if (m.state == "removed" || (!only_node.empty() && m.name != only_node)) continue;
    targets.emplace_back(m.name, m.address);
  }
  if (targets.empty()) {
    std::string names;
    for (const auto& m : info->members) names += (names.empty() ? "" : ", ") + m.name;
    return fail(tally::Status::InvalidArgument("repair: no node named '" + only_node + "' (the members are: " +
                                               names + ")"));
  }
  std::vector<tally::RepairProgress> progress(targets.size());
  std::vector<std::string> errors(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    auto p = c.repair(targets[i].second, keyspace, true);
    if (!p.ok()) {
      if (p.status().code() == tally::Code::kUnknownKeyspace) return fail(p.status());
      errors[i] = p.status().to_string();
      continue;
    }
    progress[i] = *p;
  }
  const bool tty = isatty(fileno(stderr));
  for (;;) {
    uint64_t total = 0, done = 0, skipped = 0, keys = 0, elapsed = 0;
    bool running = false;
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!errors[i].empty()) continue;
      const auto& p = progress[i];
      total += p.ranges_total, done += p.ranges_done, skipped += p.ranges_skipped, keys += p.keys_repaired;
      elapsed = std::max(elapsed, p.elapsed_ms);
      running = running || p.running;
    }
    if (!json) {
      std::fprintf(stderr, "%srepair: %llu/%llu range comparisons on %zu nodes, %llu keys repaired, %llu skipped, "
                           "%.1f s%s",
                   tty ? "\r" : "", static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                   targets.size(), static_cast<unsigned long long>(keys), static_cast<unsigned long long>(skipped),
                   elapsed / 1000.0, tty && running ? "" : "\n");
    }
    if (!running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!errors[i].empty() || !progress[i].running) continue;
      auto p = c.repair(targets[i].second, keyspace, false);
      if (p.ok()) {
        progress[i] = *p;
      } else {
        errors[i] = p.status().to_string();
      }
    }
  }
  int failed = 0;
  std::string out = "[";
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& p = progress[i];
    out += std::string(i ? "," : "") + "{\"node\":" + json_string(targets[i].first);
    if (!errors[i].empty()) {
      ++failed;
      out += ",\"error\":" + json_string(errors[i]) + "}";
      if (!json) std::fprintf(stderr, "tally: repair on %s: %s\n", targets[i].first.c_str(), errors[i].c_str());
      continue;
    }
    out += ",\"ranges_total\":" + std::to_string(p.ranges_total) + ",\"ranges_done\":" +
           std::to_string(p.ranges_done) + ",\"ranges_skipped\":" + std::to_string(p.ranges_skipped) +
           ",\"keys_repaired\":" + std::to_string(p.keys_repaired) + ",\"elapsed_ms\":" +
           std::to_string(p.elapsed_ms) + "}";
  }
  if (json) std::printf("%s]\n", out.c_str());
  if (failed == static_cast<int>(targets.size())) return kUnreachable;
  return failed ? kError : kOk;
}

void print_keyspaces(const tally::ClusterInfo& info, bool json) {
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < info.keyspaces.size(); ++i) {
      const auto& k = info.keyspaces[i];
      out += std::string(i ? "," : "") + "{\"name\":" + json_string(k.name) + ",\"n\":" + std::to_string(k.n) +
             ",\"r\":" + std::to_string(k.r) + ",\"w\":" + std::to_string(k.w) + ",\"mode\":" +
             json_string(k.mode) + "}";
    }
    std::printf("%s]\n", out.c_str());
    return;
  }
  std::printf("%-24s %-3s %-3s %-3s %s\n", "KEYSPACE", "N", "R", "W", "MODE");
  for (const auto& k : info.keyspaces) {
    std::printf("%-24s %-3d %-3d %-3d %s\n", k.name.c_str(), k.n, k.r, k.w, k.mode.c_str());
  }
}

int print_change(const tally::Result<tally::ChangeResult>& r, const char* what, bool json) {
  if (!r.ok()) return fail(r.status());
  if (json) {
    std::printf("{\"ok\":true,\"epoch\":%llu,\"index\":%llu,\"node_id\":%llu}\n",
                static_cast<unsigned long long>(r->epoch), static_cast<unsigned long long>(r->index),
                static_cast<unsigned long long>(r->node_id));
  } else {
    std::printf("%s (epoch %llu)\n", what, static_cast<unsigned long long>(r->epoch));
  }
  return kOk;
}

std::string joined(const std::vector<std::string>& names, const char* sep) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : sep) + n;
  return out;
}

// A dot's minter as `get --replica` prints it: "n2/e5" (its mint epoch), or
// "n2" for writes from before mint epochs.
std::string actor_name(const std::string& node, uint32_t mint_epoch) {
  return mint_epoch == 0 ? node : node + "/e" + std::to_string(mint_epoch);
}

// `get KEY --replica NODE`: one node's own copy, as it stores it.
int print_replica_copy(const std::string& key, const std::string& keyspace, const tally::ReplicaCopy& copy,
                       bool json) {
  if (json) {
    std::string replicas, siblings, clock;
    for (const auto& n : copy.replicas) replicas += (replicas.empty() ? "" : ",") + json_string(n);
    for (const auto& v : copy.siblings) {
      siblings += std::string(siblings.empty() ? "" : ",") + "{\"value\":" +
                  (v.tombstone ? std::string("null") : json_string(v.value)) +
                  ",\"tombstone\":" + (v.tombstone ? "true" : "false") + ",\"dot\":{\"node\":" +
                  json_string(v.minted_by) + ",\"mint_epoch\":" + std::to_string(v.mint_epoch) +
                  ",\"counter\":" + std::to_string(v.counter) +
                  "},\"hlc\":{\"wall_ms\":" + std::to_string(v.wall_ms) + ",\"logical\":" +
                  std::to_string(v.logical) + "}" +
                  (v.expires_ms ? ",\"expires_ms\":" + std::to_string(v.expires_ms) : std::string()) + "}";
    }
    for (const auto& e : copy.clock) {
      clock += std::string(clock.empty() ? "" : ",") + "{\"node\":" + json_string(e.node) +
               ",\"mint_epoch\":" + std::to_string(e.mint_epoch) + ",\"counter\":" + std::to_string(e.counter) +
               "}";
    }
    std::printf(
        "{\"key\":%s,\"keyspace\":%s,\"node\":%s,\"epoch\":%llu,\"found\":%s,\"is_replica\":%s,"
        "\"replicas\":[%s],\"siblings\":[%s],\"clock\":[%s]}\n",
        json_string(key).c_str(), json_string(keyspace).c_str(), json_string(copy.node).c_str(),
        static_cast<unsigned long long>(copy.epoch), copy.found ? "true" : "false",
        copy.is_replica() ? "true" : "false", replicas.c_str(), siblings.c_str(), clock.c_str());
    return copy.found ? kOk : kNotFound;
  }
  if (!copy.found) {
    std::printf("not found on %s\n", copy.node.c_str());
  } else {
    std::printf("%s's copy of %s (keyspace %s, epoch %llu), %zu version%s:\n", copy.node.c_str(), key.c_str(),
                keyspace.c_str(), static_cast<unsigned long long>(copy.epoch), copy.siblings.size(),
                copy.siblings.size() == 1 ? "" : "s");
    for (const auto& v : copy.siblings) {
      std::string dot = actor_name(v.minted_by, v.mint_epoch) + ":" + std::to_string(v.counter);
      std::printf("  %-10s ", dot.c_str());
      if (v.tombstone) {
        std::printf("<tombstone>");
      } else {
        std::fwrite(v.value.data(), 1, v.value.size(), stdout);
      }
      if (v.expires_ms != 0) {
        // By this machine's clock: the node judges by its own (within the cluster's skew).
        const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count());
        if (v.expires_ms > now) {
          std::printf("  (expires in %s)", human_ms(v.expires_ms - now).c_str());
        } else {
          std::printf("  (expired %s ago)", human_ms(now - v.expires_ms).c_str());
        }
      }
      std::printf("\n");
    }
    std::string clock;
    for (const auto& e : copy.clock) {
      clock += (clock.empty() ? "" : " ") + actor_name(e.node, e.mint_epoch) + ":" + std::to_string(e.counter);
    }
    std::printf("clock: %s\n", clock.empty() ? "(empty)" : clock.c_str());
  }
  std::fflush(stdout);
  if (!copy.is_replica()) {
    std::fprintf(stderr, "note: %s is not a replica of this key (replicas: %s)\n", copy.node.c_str(),
                 joined(copy.replicas, ", ").c_str());
  }
  return copy.found ? kOk : kNotFound;
}

tally::Result<std::unique_ptr<tally::Client>> make_client(const Globals& g) {
  tally::ClientOptions o;
  o.endpoints = {g.endpoints};
  o.keyspace = g.keyspace;
  o.secret_file = g.secret_file;
  o.password = g.password;
  return tally::Client::connect(o);
}

// tally elect: campaign until elected, hold the lease (a tally::Lock renews
// it), and campaign again if it is lost. Runs until killed.
int campaign(tally::Client& c, const std::string& name, std::string id, tally::LockOptions lo) {
  lo.holder = id.empty() ? tally::default_lock_holder() : std::move(id);
  for (;;) {
    std::mutex mu;
    std::condition_variable cv;
    bool lost = false;
    tally::Status why;
    auto lock = tally::Lock::acquire(c, name, lo, std::chrono::hours(24 * 365), [&](const tally::Status& s) {
      std::lock_guard lk(mu);
      lost = true;
      why = s;
      cv.notify_all();
    });
    if (!lock.ok()) {
      const auto code = lock.status().code();
      if (code == tally::Code::kInvalidArgument || code == tally::Code::kUnknownKeyspace) return fail(lock.status());
      // The cluster is unreachable or busy: say so, and campaign again.
      std::fprintf(stderr, "tally: elect: %s; retrying\n", lock.status().to_string().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    std::printf("elected %s term %llu\n", lo.holder.c_str(), static_cast<unsigned long long>((*lock)->token()));
    std::fflush(stdout);
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return lost; });
    std::printf("lost %s term %llu (%s)\n", lo.holder.c_str(), static_cast<unsigned long long>((*lock)->token()),
                why.to_string().c_str());
    std::fflush(stdout);
  }
}

// tally elect --observe: the leader at each change. Runs until killed.
int observe_election(tally::Client& c, const std::string& name, const std::string& keyspace, uint64_t ttl_ms) {
  const auto every = std::chrono::milliseconds(std::clamp<uint64_t>(ttl_ms / 4, 20, 250));
  std::string last = "-";
  for (;;) {
    auto st = tally::lock_status(c, name, keyspace);
    std::string now;
    if (!st.ok()) {
      if (st.status().code() == tally::Code::kInvalidArgument || st.status().code() == tally::Code::kUnknownKeyspace) {
        return fail(st.status());
      }
      std::fprintf(stderr, "tally: elect: %s\n", st.status().to_string().c_str());
    } else {
      now = st->held ? "leader " + st->holder + " term " + std::to_string(st->token) : "no leader";
      if (now != last) {
        std::printf("%s\n", now.c_str());
        std::fflush(stdout);
        last = now;
      }
    }
    std::this_thread::sleep_for(every);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tally: read and write a tally cluster from the shell"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may come after the command too (inherited by every subcommand)
  app.set_version_flag("--version", "tally " + std::string(tally::kVersion));
  Globals g;
  app.add_option("-e,--endpoints", g.endpoints, "comma-separated host:port of nodes to talk to")
      ->envname("TALLY_ENDPOINTS")
      ->capture_default_str();
  app.add_option("-k,--keyspace", g.keyspace, "keyspace of the key")->capture_default_str();
  app.add_option("--secret-file", g.secret_file,
                 "the cluster secret's file ([cluster] secret_file): administrators' commands (node, keyspace, "
                 "repair) need it")
      ->envname("TALLY_SECRET_FILE");
  app.add_option("--password", g.password, "the nodes' requirepass, when they have one")->envname("TALLY_PASSWORD");
  app.add_option("--timeout", g.timeout_ms, "the node's quorum timeout in ms (0: the node's default)");
  app.add_flag("--json", g.json, "print results as JSON");
  app.footer(
      "Exit codes: 0 ok; 1 error; 2 bad command line; 3 key not found (get);\n"
      "            4 quorum not reached or timed out; 5 no node reachable;\n"
      "            6 a conditional put's condition did not hold (nothing written);\n"
      "            7 a lock is held by another holder (lock acquire, renew, release);\n"
      "            8 a fenced put was refused: a later holder of the lock wrote the key.\n"
      "Run `tally COMMAND --help` for a command's options.");

  // put
  auto* put = app.add_subcommand("put", "write a value (from the argument, -f FILE, or stdin)");
  std::string put_key, put_value, put_file, put_context;
  int put_w = 0;
  bool put_sloppy = false;
  put->add_option("key", put_key, "the key")->required();
  put->add_option("value", put_value, "the value; leave out to read it from -f FILE or stdin");
  put->add_option("-f,--file", put_file, "read the value from FILE ('-' for stdin)");
  put->add_option("-w", put_w, "replicas that must acknowledge (1..N; default: the keyspace's W)")
      ->check(CLI::Range(1, 255));
  put->add_option("--context", put_context, "context from `tally get`: supersede what it saw");
  put->add_flag("--sloppy", put_sloppy, "let fallback nodes holding hints count towards W");
  std::string put_ttl, put_fence;
  put->add_option("--fence", put_fence,
                  "a fenced write: only if TOKEN is at least the highest token the key was written with for\n"
                  "lock NAME (exit 8 if a later holder has written it); `tally lock acquire` printed TOKEN")
      ->type_name("NAME:TOKEN");
  put->add_option("--ttl", put_ttl,
                  "expire the value after this long (30s, 1500ms, 5m, 2h, 1d; a bare number is seconds);\n"
                  "then it reads as absent. Counted by the coordinating node's clock")
      ->type_name("DURATION");
  // Conditional writes (linearizable keyspaces).
  bool put_if_absent = false, put_if_present = false;
  std::string put_if_value, put_if_version;
  auto* if_absent = put->add_flag("--if-absent", put_if_absent,
                                  "linearizable keyspaces: write only if the key does not exist (exit 6 if it does)");
  auto* if_present = put->add_flag("--if-present", put_if_present, "linearizable keyspaces: write only if the key exists");
  auto* if_value = put->add_option("--if-value", put_if_value,
                                   "linearizable keyspaces: write only if the key holds this value (compare-and-set)");
  auto* if_version = put->add_option("--if-version", put_if_version,
                                     "linearizable keyspaces: write only if the key is still at this version (the "
                                     "context `tally get` printed)");
  if_absent->excludes(if_present)->excludes(if_value)->excludes(if_version);
  if_present->excludes(if_value)->excludes(if_version);
  if_value->excludes(if_version);

  // get
  auto* get = app.add_subcommand("get", "read a key: every sibling, and the context (--replica: one node's copy)");
  std::string get_key, get_replica;
  int get_r = 0;
  get->add_option("key", get_key, "the key")->required();
  get->add_option("-r", get_r, "replicas that must answer (1..N; default: the keyspace's R)")
      ->check(CLI::Range(1, 255));
  bool get_blocking = false;
  get->add_flag("--blocking-repair", get_blocking,
                "repair stale replicas before answering (monotonic reads)");
  get->add_option("--replica", get_replica,
                  "show what node NODE itself stores for the key, without quorum or repair: each version\n"
                  "(value or <tombstone>) with its dot, and the clock; exit code 3 when it holds nothing.\n"
                  "`tally ring KEY` names the key's replicas; any other node may be named too")
      ->type_name("NODE");
  get->footer(
      "Examples:\n"
      "  tally get user:42              a quorum read (R of the keyspace)\n"
      "  tally ring user:42             the nodes that hold user:42, in preference order\n"
      "  tally get user:42 --replica n3 what n3 stores for user:42: versions, tombstones, clock\n"
      "Global options: --endpoints, --keyspace, --timeout, --json, --secret-file, --password (see `tally --help`).");

  // del
  auto* del = app.add_subcommand("del", "delete a key (writes a tombstone)");
  std::string del_key, del_context;
  int del_w = 0;
  del->add_option("key", del_key, "the key")->required();
  del->add_option("-w", del_w, "replicas that must acknowledge")->check(CLI::Range(1, 255));
  del->add_option("--context", del_context, "context from `tally get`: delete what it saw");

  // status
  auto* status = app.add_subcommand("status", "show the status of every endpoint's node");

  // ring
  auto* ring = app.add_subcommand("ring", "who owns what: each node's share of the ring, or the replicas of KEY");
  std::string ring_key;
  ring->add_option("key", ring_key, "a key: print the nodes that hold it, in preference order");

  // cluster
  auto* cluster = app.add_subcommand("cluster", "the metadata group: status, promote, demote");
  cluster->require_subcommand(1);
  auto* cl_status = cluster->add_subcommand(
      "status", "voters, leader, term, commit index, epoch, and each node's state and liveness");
  bool cl_local = false;
  cl_status->add_flag("--local", cl_local,
                      "the answering node's own copy, without confirming with the leader (works without one)");
  bool cl_wait = false;
  uint32_t cl_wait_s = 0;
  cl_status->add_flag("--wait", cl_wait,
                      "wait until the ring is settled (no join or leave still moving ranges), printing progress");
  cl_status->add_option("--wait-timeout", cl_wait_s, "with --wait: give up after this many seconds (0: never)");
  auto* cl_promote = cluster->add_subcommand("promote", "make a learner of the metadata group a voter");
  auto* cl_demote = cluster->add_subcommand("demote", "make a voter of the metadata group a learner");
  std::string cl_node;
  for (auto* sub : {cl_promote, cl_demote}) sub->add_option("node", cl_node, "the node's name")->required();

  // node
  auto* node = app.add_subcommand("node", "cluster membership: join, leave, remove");
  node->require_subcommand(1);
  auto* nd_join = node->add_subcommand(
      "join", "register a node that will start with `tallyd --join` (tallyd does this itself)");
  auto* nd_leave = node->add_subcommand(
      "leave", "start streaming a node's ranges to the nodes that take them over (from the surviving replicas if "
               "it is down); when done it has left the ring (tally cluster status --wait)");
  auto* nd_remove = node->add_subcommand(
      "remove", "take a node that has left (or a joining one, calling its join off) out of the cluster and the "
                "metadata group");
  std::string nd_name, nd_address, nd_zone = "default";
  for (auto* sub : {nd_join, nd_leave, nd_remove}) sub->add_option("node", nd_name, "the node's name")->required();
  nd_join->add_option("address", nd_address, "where the node listens, host:port")->required();
  nd_join->add_option("--zone", nd_zone, "the node's zone (replicas spread across zones)")->capture_default_str();

  // keyspace
  auto* keyspace = app.add_subcommand("keyspace", "keyspaces: create, list, alter, drop");
  keyspace->require_subcommand(1);
  auto* ks_create = keyspace->add_subcommand("create", "create a keyspace");
  auto* ks_list = keyspace->add_subcommand("list", "list the keyspaces");
  auto* ks_alter = keyspace->add_subcommand("alter", "change a keyspace's default R, W or conflict mode");
  auto* ks_drop = keyspace->add_subcommand("drop", "drop a keyspace (its keys can no longer be read)");
  tally::KeyspaceSpec spec;
  for (auto* sub : {ks_create, ks_alter, ks_drop}) sub->add_option("name", spec.name, "the keyspace")->required();
  for (auto* sub : {ks_create, ks_alter}) {
    sub->add_option("-r", spec.r, "default read quorum (1..N)")->check(CLI::Range(1, 255));
    sub->add_option("-w", spec.w, "default write quorum (1..N)")->check(CLI::Range(1, 255));
    sub->add_option("--mode", spec.mode,
                    "siblings (keep concurrent writes), lww (last writer wins) or linearizable (Paxos per key: "
                    "compare-and-set, linearizable reads and writes; R and W do not apply)")
        ->check(CLI::IsMember({"siblings", "lww", "linearizable"}));
  }
  ks_create->add_option("-n", spec.n, "replicas of each key (default 3)")->check(CLI::Range(1, 255));

  // repair
  auto* repair = app.add_subcommand(
      "repair", "anti-entropy now: each node compares its ranges with the other replicas and merges what differs");
  std::string repair_node;
  repair->add_option("--node", repair_node, "only this node (by name); default: every member");
  repair->footer("With --keyspace, only that keyspace; without, every keyspace. Prints a progress line until "
                 "every node is done.\nGlobal options: --endpoints, --keyspace, --timeout, --json, --secret-file, --password (see `tally --help`).");

  // lock
  auto* lock = app.add_subcommand("lock", "locks with leases and fencing tokens (on a linearizable keyspace)");
  lock->require_subcommand(1);
  auto* lock_acquire = lock->add_subcommand("acquire", "take the lock and print its fencing token");
  auto* lock_renew = lock->add_subcommand("renew", "extend the lease of the holding TOKEN");
  auto* lock_release = lock->add_subcommand("release", "free the holding TOKEN");
  auto* lock_status = lock->add_subcommand("status", "who holds the lock, its token and the lease's time left");
  std::string lock_name, lock_ttl = "10s", lock_wait, lock_holder;
  uint64_t lock_token = 0;
  for (auto* sub : {lock_acquire, lock_renew, lock_release, lock_status}) {
    sub->add_option("name", lock_name, "the lock (a key of the keyspace)")->required();
  }
  for (auto* sub : {lock_acquire, lock_renew}) {
    sub->add_option("--ttl", lock_ttl, "the lease (10s, 500ms, 1m...)")->type_name("DURATION")->capture_default_str();
  }
  for (auto* sub : {lock_renew, lock_release}) {
    sub->add_option("--token", lock_token, "the holding's fencing token, as acquire printed it")->required();
  }
  lock_acquire->add_option("--wait", lock_wait, "if held, keep trying this long (default: fail at once, exit 7)")
      ->type_name("DURATION");
  lock_acquire->add_option("--holder", lock_holder, "who holds it, as status shows (default: host:pid:random)");
  lock->footer(
      "The lock is the key NAME of keyspace `locks` (or --keyspace), which must be linearizable:\n"
      "  tally keyspace create locks --mode linearizable\n"
      "Exit codes: 0 ok; 7 held by another holder, or the token no longer holds it. docs/locks.md has the recipe.");

  // elect
  auto* elect = app.add_subcommand("elect", "leader election: campaign for NAME and hold it, or --observe it");
  std::string elect_name, elect_id, elect_ttl = "5s";
  bool elect_observe = false;
  elect->add_option("name", elect_name, "the election (a lock of keyspace `locks`, or --keyspace)")->required();
  elect->add_option("--id", elect_id, "this candidate's name (default: host:pid:random)");
  elect->add_option("--ttl", elect_ttl, "the leader's lease (renewed every third of it)")
      ->type_name("DURATION")
      ->capture_default_str();
  elect->add_flag("--observe", elect_observe, "print each new leader and term instead of campaigning");
  elect->footer(
      "Campaigning prints `elected ID term T` when it wins (T: the fencing token, higher for every new leader),\n"
      "keeps the lease until killed, and prints `lost ID term T` and campaigns again if the lease is lost.\n"
      "--observe prints `leader ID term T` at each change (`no leader` when there is none).");

  for (auto* sub : {put, del, status, ring, cluster, node, keyspace}) {
    sub->footer("Global options: --endpoints, --keyspace, --timeout, --json, --secret-file, --password (see `tally --help`).");
  }

  // An unknown command is named, rather than reported as a missing one.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-e" || a == "--endpoints" || a == "-k" || a == "--keyspace" || a == "--timeout" ||
        a == "--secret-file" || a == "--password") {
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->get_name() == a;
    }
    if (!known) {
      std::fprintf(stderr, "tally: unknown command '%s' (the commands are: %s)\n", a.c_str(), names.c_str());
      return kUsage;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }

  auto client = make_client(g);
  if (!client.ok()) {
    std::fprintf(stderr, "tally: %s\n", client.status().to_string().c_str());
    return kUsage;
  }
  tally::Client& c = **client;

  if (*put) {
    std::string value = put_value;
    if (!put_file.empty() && put->count("value")) {
      std::fprintf(stderr, "tally: put: give the value as an argument or with -f, not both\n");
      return kUsage;
    }
    if (!put->count("value")) {
      std::ostringstream buf;
      if (put_file.empty() || put_file == "-") {
        buf << std::cin.rdbuf();
      } else {
        std::error_code ec;
        if (std::filesystem::is_directory(put_file, ec)) {
          std::fprintf(stderr, "tally: put: %s is a directory, not a file\n", put_file.c_str());
          return kUsage;
        }
        std::ifstream in(put_file, std::ios::binary);
        if (!in) {
          std::fprintf(stderr, "tally: put: cannot read %s\n", put_file.c_str());
          return kUsage;
        }
        buf << in.rdbuf();
        if (in.bad()) {
          std::fprintf(stderr, "tally: put: reading %s failed\n", put_file.c_str());
          return kUsage;
        }
      }
      value = buf.str();
    }
    tally::WriteOptions o;
    if (put_w) o.w = put_w;
    o.timeout_ms = g.timeout_ms;
    o.sloppy = put_sloppy;
    if (put->count("--fence")) {
      const size_t colon = put_fence.rfind(':');
      uint64_t token = 0;
      if (colon == std::string::npos || colon == 0 ||
          std::from_chars(put_fence.data() + colon + 1, put_fence.data() + put_fence.size(), token).ptr !=
              put_fence.data() + put_fence.size() ||
          token == 0) {
        std::fprintf(stderr, "tally: put: --fence '%s' is not NAME:TOKEN (a lock's name and its token above zero)\n",
                     put_fence.c_str());
        return kUsage;
      }
      o.fence_lock = put_fence.substr(0, colon);
      o.fence_token = token;
    }
    if (put->count("--ttl")) {
      auto ttl = duration_option("put", "--ttl", put_ttl);
      if (!ttl) return kUsage;
      o.ttl_ms = *ttl;
    }
    if (!put_context.empty() && !from_hex(put_context, o.context)) {
      std::fprintf(stderr, "tally: put: --context must be the hex string `tally get` printed\n");
      return kUsage;
    }
    o.if_absent = put_if_absent;
    o.if_present = put_if_present;
    if (put->count("--if-value")) o.if_value = put_if_value;
    if (put->count("--if-version") && !from_hex(put_if_version, o.if_version)) {
      std::fprintf(stderr, "tally: put: --if-version must be the hex context `tally get` printed\n");
      return kUsage;
    }
    if (o.conditional()) {
      auto r = c.put_if(put_key, value, o);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        std::printf("{\"ok\":true,\"applied\":%s,\"found\":%s,\"current\":%s,\"context\":%s}\n",
                    r->applied ? "true" : "false", r->current ? "true" : "false",
                    r->current ? json_string(*r->current).c_str() : "null", json_string(to_hex(r->context)).c_str());
      } else if (r->applied) {
        std::printf("ok\n");
      } else if (r->current) {
        std::printf("not applied: the key holds %s\n", json_string(*r->current).c_str());
      } else {
        std::printf("not applied: the key does not exist\n");
      }
      return r->applied ? kOk : kNotApplied;
    }
    auto r = c.put(put_key, value, o);
    if (!r.ok()) return fail(r.status());
    if (g.json) {
      std::printf("{\"ok\":true,\"context\":%s}\n", json_string(to_hex(*r)).c_str());
    } else {
      std::printf("ok\n");
    }
    return kOk;
  }

  if (*get && get->count("--replica")) {
    if (get_r || get_blocking) {
      std::fprintf(stderr, "tally: get: --replica reads one node's copy: -r and --blocking-repair do not apply\n");
      return kUsage;
    }
    tally::ReplicaReadOptions o;
    o.keyspace = g.keyspace;
    o.timeout_ms = g.timeout_ms;
    auto r = c.get_replica(get_key, get_replica, o);
    if (!r.ok()) return fail(r.status());
    return print_replica_copy(get_key, g.keyspace, *r, g.json);
  }

  if (*get) {
    tally::ReadOptions o;
    if (get_r) o.r = get_r;
    o.blocking_repair = get_blocking;
    o.timeout_ms = g.timeout_ms;
    auto r = c.get(get_key, o);
    if (!r.ok()) return fail(r.status());
    if (g.json) {
      std::string vals;
      for (const auto& v : r->values) vals += (vals.empty() ? "" : ",") + json_string(v);
      std::string ttls;
      for (uint64_t t : r->ttl_ms) ttls += (ttls.empty() ? "" : ",") + std::to_string(t);
      std::printf("{\"key\":%s,\"found\":%s,\"values\":[%s],\"context\":%s%s}\n",
                  json_string(get_key).c_str(), r->found() ? "true" : "false", vals.c_str(),
                  json_string(to_hex(r->context)).c_str(),
                  r->ttl_ms.empty() ? "" : (",\"ttl_ms\":[" + ttls + "]").c_str());
      return r->found() ? kOk : kNotFound;
    }
    if (!r->found()) {
      std::fprintf(stderr, "tally: not found: %s\n", get_key.c_str());
      return kNotFound;
    }
    auto expiry = [&](size_t i) {
      if (i < r->ttl_ms.size() && r->ttl_ms[i] != 0) std::printf("expires in: %s\n", human_ms(r->ttl_ms[i]).c_str());
    };
    if (r->values.size() == 1) {
      std::fwrite(r->values[0].data(), 1, r->values[0].size(), stdout);
      std::printf("\n");
      expiry(0);
    } else {
      std::printf("%zu siblings (concurrent writes; put with --context to resolve them):\n",
                  r->values.size());
      for (size_t i = 0; i < r->values.size(); ++i) {
        std::printf("[%zu] ", i + 1);
        std::fwrite(r->values[i].data(), 1, r->values[i].size(), stdout);
        std::printf("\n");
        expiry(i);
      }
    }
    std::printf("context: %s\n", to_hex(r->context).c_str());
    return kOk;
  }

  if (*del) {
    tally::WriteOptions o;
    if (del_w) o.w = del_w;
    o.timeout_ms = g.timeout_ms;
    if (!del_context.empty() && !from_hex(del_context, o.context)) {
      std::fprintf(stderr, "tally: del: --context must be the hex string `tally get` printed\n");
      return kUsage;
    }
    tally::Status s = c.del(del_key, o);
    if (!s.ok()) return fail(s);
    std::printf(g.json ? "{\"ok\":true}\n" : "ok\n");
    return kOk;
  }

  if (*ring) {
    if (!ring_key.empty()) {
      auto r = c.replicas(ring_key, g.keyspace);
      if (!r.ok()) return fail(r.status());
      if (g.json) {
        std::string names;
        for (const auto& n : *r) names += (names.empty() ? "" : ",") + json_string(n);
        std::printf("{\"key\":%s,\"keyspace\":%s,\"replicas\":[%s]}\n", json_string(ring_key).c_str(),
                    json_string(g.keyspace).c_str(), names.c_str());
      } else {
        for (size_t i = 0; i < r->size(); ++i) std::printf("%s%s", i ? " " : "", (*r)[i].c_str());
        std::printf("\n");
      }
      return kOk;
    }
    auto shares = c.ownership(g.keyspace);
    if (!shares.ok()) return fail(shares.status());
    if (g.json) {
      std::string out;
      for (const auto& sh : *shares) {
        out += std::string(out.empty() ? "" : ",") + "{\"node\":" + json_string(sh.node) +
               ",\"tokens\":" + std::to_string(sh.tokens) + ",\"owns\":" + std::to_string(sh.owns) + "}";
      }
      auto info = c.cluster_info(false);
      const std::string warning = info.ok() ? balance_warning(*shares, *info, g.keyspace) : std::string();
      std::printf("{\"keyspace\":%s,\"nodes\":[%s]%s}\n", json_string(g.keyspace).c_str(), out.c_str(),
                  warning.empty() ? "" : (",\"warning\":" + json_string(warning)).c_str());
      return kOk;
    }
    std::printf("keyspace %s: the share of its keys each node holds a replica of\n", g.keyspace.c_str());
    std::printf("%-12s %-7s %s\n", "NODE", "TOKENS", "OWNS");
    for (const auto& sh : *shares) {
      std::printf("%-12s %-7zu %6.2f%%\n", sh.node.c_str(), sh.tokens, sh.owns * 100);
    }
    auto info = c.cluster_info(false);
    if (info.ok()) {
      const std::string warning = balance_warning(*shares, *info, g.keyspace);
      if (!warning.empty()) std::printf("\n%s\n", warning.c_str());
    }
    return kOk;
  }

  if (*cluster) {
    if (*cl_status) {
      auto info = c.cluster_info(!cl_local);
      if (!info.ok()) return fail(info.status());
      if (cl_wait) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(cl_wait_s);
        std::string last;
        while (!info.ok() || info->movement) {
          if (info.ok()) {
            std::string line = movement_line(*info);
            if (line != last && !g.json) std::fprintf(stderr, "%s\n", line.c_str());
            last = line;
          }
          if (cl_wait_s && std::chrono::steady_clock::now() >= until) {
            return fail(tally::Status::Timeout("the ring did not settle within " + std::to_string(cl_wait_s) +
                                               " s: " + (info.ok() ? movement_line(*info) : info.status().message())));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          info = c.cluster_info(!cl_local);  // an election may fail one: ask again
        }
      }
      print_cluster(*info, g.json);
      if (!g.json) {
        std::printf("\n");
        print_keyspaces(*info, false);
      }
      return kOk;
    }
    if (*cl_promote) return print_change(c.promote_node(cl_node), ("promoted " + cl_node).c_str(), g.json);
    return print_change(c.demote_node(cl_node), ("demoted " + cl_node).c_str(), g.json);
  }

  if (*node) {
    if (*nd_join) {
      auto r = c.join_node(nd_name, nd_address, nd_zone);
      if (r.ok() && !g.json) std::printf("node %s has id %llu; ", nd_name.c_str(), static_cast<unsigned long long>(r->node_id));
      return print_change(r, "joining", g.json);
    }
    if (*nd_leave) {
      return print_change(c.leave_node(nd_name),
                          (nd_name + " is leaving: its ranges are streaming to the nodes that take them over; "
                                     "`tally cluster status --wait` waits for it, then `tally node remove " +
                           nd_name + "`")
                              .c_str(),
                          g.json);
    }
    return print_change(c.remove_node(nd_name), (nd_name + " removed").c_str(), g.json);
  }

  if (*keyspace) {
    if (*ks_list) {
      auto info = c.cluster_info(true);
      if (!info.ok()) return fail(info.status());
      print_keyspaces(*info, g.json);
      return kOk;
    }
    if (*ks_create) return print_change(c.create_keyspace(spec), ("created " + spec.name).c_str(), g.json);
    if (*ks_alter) {
      if (spec.r == 0 && spec.w == 0 && spec.mode.empty()) {
        std::fprintf(stderr, "tally: keyspace alter: nothing to change: give -r, -w or --mode\n");
        return kUsage;
      }
      return print_change(c.alter_keyspace(spec), ("altered " + spec.name).c_str(), g.json);
    }
    return print_change(c.drop_keyspace(spec.name), ("dropped " + spec.name).c_str(), g.json);
  }

  if (*lock || *elect) {
    const std::string ks = app.count("--keyspace") ? g.keyspace : "locks";
    const char* command = *elect ? "elect" : "lock";
    auto locked_or_fail = [](const tally::Status& st) {
      if (st.code() != tally::Code::kLocked) return fail(st);
      std::fprintf(stderr, "tally: %s\n", st.to_string().c_str());
      return static_cast<int>(kLocked);
    };
    tally::LockOptions lo;
    lo.keyspace = ks;
    if (*lock_status) {
      auto st = tally::lock_status(c, lock_name, ks);
      if (!st.ok()) return fail(st.status());
      if (g.json) {
        std::printf("{\"name\":%s,\"held\":%s,\"holder\":%s,\"token\":%llu,\"ttl_ms\":%llu}\n",
                    json_string(lock_name).c_str(), st->held ? "true" : "false", json_string(st->holder).c_str(),
                    static_cast<unsigned long long>(st->token), static_cast<unsigned long long>(st->ttl_ms));
      } else if (st->held) {
        std::printf("held by %s, token %llu, lease left %s\n", st->holder.c_str(),
                    static_cast<unsigned long long>(st->token), human_ms(st->ttl_ms).c_str());
      } else {
        std::printf("free (last token %llu)\n", static_cast<unsigned long long>(st->token));
      }
      return kOk;
    }
    if (*lock_release) {
      tally::Status st = tally::lock_release(c, lock_name, lock_token, lo);
      if (!st.ok()) return locked_or_fail(st);
      std::printf(g.json ? "{\"ok\":true}\n" : "released\n");
      return kOk;
    }
    auto ttl = duration_option(command, "--ttl", *elect ? elect_ttl : lock_ttl);
    if (!ttl) return kUsage;
    lo.ttl_ms = *ttl;
    if (*lock_renew) {
      tally::Status st = tally::lock_renew(c, lock_name, lock_token, lo);
      if (!st.ok()) return locked_or_fail(st);
      std::printf(g.json ? "{\"ok\":true}\n" : "renewed\n");
      return kOk;
    }
    if (*lock_acquire) {
      uint64_t wait_ms = 0;
      if (lock_acquire->count("--wait")) {
        auto w = duration_option(command, "--wait", lock_wait);
        if (!w) return kUsage;
        wait_ms = *w;
      }
      lo.holder = lock_holder;
      auto token = tally::lock_acquire(c, lock_name, lo, std::chrono::milliseconds(wait_ms));
      if (!token.ok()) return locked_or_fail(token.status());
      if (g.json) {
        std::printf("{\"token\":%llu}\n", static_cast<unsigned long long>(*token));
      } else {
        std::printf("%llu\n", static_cast<unsigned long long>(*token));
      }
      return kOk;
    }
    return elect_observe ? observe_election(c, elect_name, ks, *ttl) : campaign(c, elect_name, elect_id, lo);
  }

  if (*repair) {
    const std::string ks = app.get_option("--keyspace")->count() ? g.keyspace : std::string();
    return run_repair(c, ks, repair_node, g.json);
  }

  if (*status) {
    int rc = kOk, reachable = 0;
    std::stringstream eps(g.endpoints);
    std::string ep;
    std::string json = "[";
    while (std::getline(eps, ep, ',')) {
      auto st = c.status(ep);
      if (!st.ok()) {
        if (g.json) {
          json += std::string(json.size() > 1 ? "," : "") + "{\"endpoint\":" + json_string(ep) +
                  ",\"error\":" + json_string(st.status().to_string()) + "}";
        } else {
          std::printf("%s\n  error: %s\n", ep.c_str(), st.status().to_string().c_str());
        }
        continue;
      }
      ++reachable;
      if (g.json) {
        json += std::string(json.size() > 1 ? "," : "") + "{\"endpoint\":" + json_string(ep);
        for (const auto& [k, v] : st->fields) json += "," + json_string(k) + ":" + json_string(v);
        json += "}";
      } else {
        std::printf("%s\n", ep.c_str());
        for (const auto& [k, v] : st->fields) std::printf("  %-16s %s\n", (k + ":").c_str(), v.c_str());
      }
    }
    if (g.json) std::printf("%s]\n", json.c_str());
    if (reachable == 0) rc = kUnreachable;
    return rc;
  }
  return kUsage;
}
