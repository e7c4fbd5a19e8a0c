#include "bench/lib/staleness.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <tuple>

#include "raft/random.hpp"

namespace tally::bench {

namespace {

// Up to 16 bytes of `value`, printable ASCII as is and the rest as \xNN, for
// an error message.
std::string quote_prefix(std::string_view value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < 16; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += value.size() > 16 ? "\"..." : "\"";
  return out;
}

}  // namespace

// ---- versioned values -------------------------------------------------------------

std::string encode_value(uint64_t version, size_t value_size) {
  std::string out = "v" + std::to_string(version) + ":";
  if (out.size() >= value_size) return out;
  size_t at = out.size();
  out.resize(value_size);
  SplitMix64 rng(version);
  while (at < value_size) {
    uint64_t bits = rng.next();
    for (int i = 0; i < 8 && at < value_size; ++i, bits >>= 8) {
      out[at++] = static_cast<char>('a' + (bits & 0xff) % 26);
    }
  }
  return out;
}

Result<uint64_t> decode_version(std::string_view value) {
  auto foreign = [&](const std::string& why) {
    return Status::Corruption("value " + quote_prefix(value) +
                              " is not a tally-bench value (\"v<version>:...\"): " + why);
  };
  if (value.empty() || value[0] != 'v') return foreign("no leading 'v'");
  uint64_t version = 0;
  size_t i = 1;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    auto digit = static_cast<uint64_t>(value[i] - '0');
    if (version > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return foreign("the version overflows 64 bits");
    }
    version = version * 10 + digit;
  }
  if (i == 1) return foreign("no digits after 'v'");
  if (i == value.size() || value[i] != ':') return foreign("no ':' after the version");
  if (version == 0) return foreign("version 0 is reserved for 'not found'");
  return version;
}

// ---- the tracker --------------------------------------------------------------------

double StalenessBucket::stale_fraction() const {
  return reads == 0 ? 0 : static_cast<double>(stale) / static_cast<double>(reads);
}

double StalenessTable::stale_fraction() const {
  return reads_judged == 0 ? 0
                           : static_cast<double>(stale_reads) / static_cast<double>(reads_judged);
}

double StalenessTable::fraction_within(uint64_t k) const {
  if (reads_judged == 0) return 1;
  uint64_t within = 0;
  for (const auto& [behind, reads] : versions_behind) {
    if (behind < k) within += reads;
  }
  return static_cast<double>(within) / static_cast<double>(reads_judged);
}

void StalenessTracker::record_write(uint64_t key, uint64_t version, uint64_t ack_us) {
  writes_.push_back({key, version, ack_us});
}

void StalenessTracker::record_read(uint64_t key, uint64_t start_us, uint64_t version) {
  reads_.push_back({key, start_us, version});
}

void StalenessTracker::record_read_siblings(uint64_t key, uint64_t start_us,
                                            std::span<const uint64_t> versions) {
  uint64_t newest = versions.empty() ? 0 : *std::max_element(versions.begin(), versions.end());
  record_read(key, start_us, newest);
}

void StalenessTracker::merge(const StalenessTracker& other) {
  if (&other == this) {  // inserting a vector's own range into it is undefined
    StalenessTracker copy = other;
    merge(copy);
    return;
  }
  writes_.insert(writes_.end(), other.writes_.begin(), other.writes_.end());
  reads_.insert(reads_.end(), other.reads_.begin(), other.reads_.end());
}

// One sweep per key: reads in start order, and before each read, every write
// acknowledged strictly before it joins `acked`, kept sorted by version so that
// "versions newer than the one returned" is one binary search. Versions mostly
// arrive in increasing order, so the sorted insert is usually at the end.
Result<StalenessTable> StalenessTracker::analyze(std::span<const uint64_t> edges_us) const {
  if (edges_us.empty()) return Status::InvalidArgument("no staleness bucket edges");
  if (edges_us[0] != 0) {
    return Status::InvalidArgument("the first staleness bucket edge is " +
                                   std::to_string(edges_us[0]) + " us; it must be 0");
  }
  for (size_t i = 1; i < edges_us.size(); ++i) {
    if (edges_us[i] <= edges_us[i - 1]) {
      return Status::InvalidArgument("staleness bucket edges must strictly increase (" +
                                     std::to_string(edges_us[i - 1]) + " us then " +
                                     std::to_string(edges_us[i]) + " us)");
    }
  }

  StalenessTable table;
  for (size_t i = 0; i < edges_us.size(); ++i) {
    uint64_t to = i + 1 < edges_us.size() ? edges_us[i + 1] : std::numeric_limits<uint64_t>::max();
    table.buckets.push_back({edges_us[i], to, 0, 0});
  }

  std::vector<WriteEvent> writes = writes_;
  std::vector<ReadEvent> reads = reads_;
  std::sort(writes.begin(), writes.end(), [](const WriteEvent& a, const WriteEvent& b) {
    return std::tie(a.key, a.ack_us, a.version) < std::tie(b.key, b.ack_us, b.version);
  });
  std::sort(reads.begin(), reads.end(), [](const ReadEvent& a, const ReadEvent& b) {
    return std::tie(a.key, a.start_us, a.version) < std::tie(b.key, b.start_us, b.version);
  });

  struct Acked {
    uint64_t version;
    uint64_t ack_us;
  };
  std::vector<Acked> acked;  // this key's acked versions so far, sorted by version, unique
  size_t w = 0;
  uint64_t current_key = 0;
  for (size_t r = 0; r < reads.size(); ++r) {
    const ReadEvent& read = reads[r];
    if (r == 0 || read.key != current_key) {
      current_key = read.key;
      acked.clear();
      while (w < writes.size() && writes[w].key < read.key) ++w;
    }
    for (; w < writes.size() && writes[w].key == read.key && writes[w].ack_us < read.start_us;
         ++w) {
      auto at =
          std::lower_bound(acked.begin(), acked.end(), writes[w].version,
                           [](const Acked& a, uint64_t version) { return a.version < version; });
      // A version acked twice (a retried put) counts once, from its first ack.
      if (at == acked.end() || at->version != writes[w].version) {
        acked.insert(at, {writes[w].version, writes[w].ack_us});
      }
    }
    if (acked.empty()) {
      ++table.reads_unjudged;
      continue;
    }
    const Acked& latest = acked.back();
    uint64_t t = read.start_us - latest.ack_us;  // > 0: acked strictly before the start
    auto newer =
        std::upper_bound(acked.begin(), acked.end(), read.version,
                         [](uint64_t version, const Acked& a) { return version < a.version; });
    auto behind = static_cast<uint64_t>(acked.end() - newer);
    bool stale = behind > 0;

    auto bucket = std::upper_bound(edges_us.begin(), edges_us.end(), t) - edges_us.begin() - 1;
    StalenessBucket& b = table.buckets[static_cast<size_t>(bucket)];
    ++b.reads;
    ++table.reads_judged;
    ++table.versions_behind[behind];
    if (stale) {
      ++b.stale;
      ++table.stale_reads;
    }
  }
  return table;
}

}  // namespace tally::bench
