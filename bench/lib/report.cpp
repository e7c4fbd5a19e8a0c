#include "bench/lib/report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace tally::bench {

namespace {

constexpr int kReportedK = 3;  // k-staleness is reported for k = 1..3

// ---- number formatting ----------------------------------------------------------

// The shortest text that reads back as the same double; "" if not finite.
std::string shortest(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string();
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string percent(double fraction) { return fixed(100 * fraction, 2) + "%"; }

double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }
std::string ms(uint64_t ns) { return fixed(static_cast<double>(ns) / 1e6, 3); }

// PBS's prediction at exactly t_us, if it made one.
std::optional<double> pbs_at(const ConfigResult& res, uint64_t t_us) {
  if (!res.pbs) return std::nullopt;
  for (const StalePrediction& p : res.pbs->points) {
    if (p.t_us == static_cast<double>(t_us)) return p.p_stale;
  }
  return std::nullopt;
}

std::optional<double> pbs_within(const ConfigResult& res, int k) {
  if (res.linearizable) return std::nullopt;  // no R and W to model
  Result<double> c = consistent_within_k(res.n, res.r, res.w, k);
  return c.ok() ? std::optional<double>(*c) : std::nullopt;
}

std::string errors_by_kind(const ConfigResult& res) {
  std::string out;
  for (const auto& [kind, count] : res.errors) {
    if (!out.empty()) out += ';';
    out += kind + "=" + std::to_string(count);
  }
  return out;
}

// ---- text tables --------------------------------------------------------------------

// Columns as wide as their widest cell, two spaces apart; the first `text_columns`
// are left-aligned (names), the rest right-aligned (numbers).
void write_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, size_t text_columns) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      std::string pad(width[c] - cell.size(), ' ');
      if (c > 0) text += "  ";
      text += c < text_columns ? cell + pad : pad + cell;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
}

// ---- CSV ----------------------------------------------------------------------------

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

void csv_row(std::ostream& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out << ',';
    out << csv_field(fields[i]);
  }
  out << '\n';
}

std::string optional_number(std::optional<double> v) { return v ? shortest(*v) : ""; }

// ---- JSON ---------------------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;  // UTF-8 multibyte sequences pass through
        }
    }
  }
  out += '"';
  return out;
}

std::string json_number(double v) {
  std::string s = shortest(v);
  return s.empty() ? "null" : s;
}

std::string json_op(const Histogram& h, double ops_per_s) {
  std::string s = "{\"ops\": " + std::to_string(h.count()) +
                  ", \"ops_per_s\": " + json_number(ops_per_s) + ", \"latency_us\": {";
  s += "\"min\": " + json_number(us(h.min()));
  s += ", \"mean\": " + json_number(h.mean() / 1e3);
  s += ", \"p50\": " + json_number(us(h.percentile(50)));
  s += ", \"p90\": " + json_number(us(h.percentile(90)));
  s += ", \"p99\": " + json_number(us(h.percentile(99)));
  s += ", \"p999\": " + json_number(us(h.percentile(99.9)));
  s += ", \"max\": " + json_number(us(h.max()));
  return s + "}}";
}

std::string json_cas(const ConfigResult& res) {
  std::string s = json_op(res.cas_latency_ns, res.throughput(Op::kCas));
  s.pop_back();  // the closing brace
  return s + ", \"applied\": " + std::to_string(res.cas_applied) +
         ", \"not_applied\": " + std::to_string(res.cas_not_applied) + "}";
}

// R or W as a table shows it: "-" on a linearizable keyspace.
std::string quorum_cell(const ConfigResult& res, int q) {
  return res.linearizable ? "-" : std::to_string(q);
}

std::string json_staleness(const StalenessTable& t) {
  std::string s = "{\"reads_judged\": " + std::to_string(t.reads_judged) +
                  ", \"reads_unjudged\": " + std::to_string(t.reads_unjudged) +
                  ", \"stale_reads\": " + std::to_string(t.stale_reads) +
                  ", \"stale_fraction\": " + json_number(t.stale_fraction()) + ", \"buckets\": [";
  for (size_t i = 0; i < t.buckets.size(); ++i) {
    const StalenessBucket& b = t.buckets[i];
    bool open = b.to_us == std::numeric_limits<uint64_t>::max();
    s += i > 0 ? ", " : "";
    s += "{\"t_from_us\": " + std::to_string(b.from_us) +
         ", \"t_to_us\": " + (open ? std::string("null") : std::to_string(b.to_us)) +
         ", \"reads\": " + std::to_string(b.reads) + ", \"stale\": " + std::to_string(b.stale) +
         ", \"stale_fraction\": " + json_number(b.stale_fraction()) + "}";
  }
  s += "], \"versions_behind\": {";
  bool first = true;
  for (const auto& [k, reads] : t.versions_behind) {
    s += first ? "" : ", ";
    first = false;
    s += json_string(std::to_string(k)) + ": " + std::to_string(reads);
  }
  return s + "}}";
}

std::string json_pbs(const std::optional<PbsPrediction>& pbs) {
  if (!pbs) return "null";
  std::string s = "{\"trials\": " + std::to_string(pbs->trials) + ", \"points\": [";
  for (size_t i = 0; i < pbs->points.size(); ++i) {
    s += i > 0 ? ", " : "";
    s += "{\"t_us\": " + json_number(pbs->points[i].t_us) +
         ", \"p_stale\": " + json_number(pbs->points[i].p_stale) + "}";
  }
  return s + "]}";
}

}  // namespace

// ---- ConfigResult -----------------------------------------------------------------

uint64_t ConfigResult::successful_ops() const {
  return get_latency_ns.count() + put_latency_ns.count() + cas_latency_ns.count();
}

uint64_t ConfigResult::contention_errors() const {
  uint64_t total = 0;
  const std::string suffix = ": " + std::string(code_name(Code::kContention));
  for (const auto& [kind, count] : errors) {
    if (kind.size() >= suffix.size() && kind.compare(kind.size() - suffix.size(), suffix.size(), suffix) == 0) {
      total += count;
    }
  }
  return total;
}

Histogram ConfigResult::all_latency_ns() const {
  Histogram all = get_latency_ns;
  all.merge(put_latency_ns);
  all.merge(cas_latency_ns);
  return all;
}

uint64_t ConfigResult::error_count() const {
  uint64_t total = 0;
  for (const auto& [kind, count] : errors) total += count;
  return total;
}

double ConfigResult::throughput() const {
  return duration_s > 0 ? static_cast<double>(successful_ops()) / duration_s : 0;
}

double ConfigResult::throughput(Op op) const {
  const Histogram& h = op == Op::kGet ? get_latency_ns : op == Op::kPut ? put_latency_ns : cas_latency_ns;
  return duration_s > 0 ? static_cast<double>(h.count()) / duration_s : 0;
}

std::string quorum_label(int r, int w) {
  return "R=" + std::to_string(r) + " W=" + std::to_string(w);
}

// ---- writers ----------------------------------------------------------------------

void write_text_report(std::ostream& out, std::span<const ConfigResult> results) {
  std::vector<std::vector<std::string>> rows;
  for (const ConfigResult& res : results) {
    rows.push_back(
        {res.label, res.fault.empty() ? "none" : res.fault, std::to_string(res.n),
         quorum_cell(res, res.r), quorum_cell(res, res.w), std::to_string(res.ops()),
         fixed(res.throughput(), 1), std::to_string(res.error_count()),
         ms(res.get_latency_ns.percentile(50)), ms(res.get_latency_ns.percentile(90)),
         ms(res.get_latency_ns.percentile(99)), ms(res.get_latency_ns.percentile(99.9)),
         ms(res.get_latency_ns.max()), ms(res.put_latency_ns.percentile(50)),
         ms(res.put_latency_ns.percentile(90)), ms(res.put_latency_ns.percentile(99)),
         ms(res.put_latency_ns.percentile(99.9)), ms(res.put_latency_ns.max()),
         res.staleness.reads_judged > 0 ? percent(res.staleness.stale_fraction()) : "-"});
  }
  out << "Throughput and latency (ms; successful operations)\n";
  write_table(
      out,
      {"config", "fault", "N", "R", "W", "ops", "ops/s", "errors", "get p50", "get p90", "get p99",
       "get p99.9", "get max", "put p50", "put p90", "put p99", "put p99.9", "put max", "stale"},
      rows, 2);

  rows.clear();
  for (const ConfigResult& res : results) {
    bool first = true;
    for (const StalenessBucket& b : res.staleness.buckets) {
      bool open = b.to_us == std::numeric_limits<uint64_t>::max();
      std::string from = shortest(static_cast<double>(b.from_us) / 1e3);
      std::string range =
          open ? ">=" + from : from + "-" + shortest(static_cast<double>(b.to_us) / 1e3);
      std::optional<double> predicted = pbs_at(res, b.from_us);
      rows.push_back({first ? res.label : "", range, std::to_string(b.reads),
                      std::to_string(b.stale), b.reads > 0 ? percent(b.stale_fraction()) : "-",
                      predicted ? percent(*predicted) : "-"});
      first = false;
    }
  }
  out << "\nt-visibility: P(stale) by time t since the latest acknowledged write\n";
  write_table(out, {"config", "t (ms)", "reads", "stale", "measured", "PBS at t"}, rows, 2);

  rows.clear();
  for (const ConfigResult& res : results) {
    std::vector<std::string> row{res.label, std::to_string(res.staleness.reads_judged)};
    for (int k = 1; k <= kReportedK; ++k) {
      row.push_back(res.staleness.reads_judged > 0
                        ? percent(res.staleness.fraction_within(static_cast<uint64_t>(k)))
                        : "-");
    }
    for (int k = 1; k <= kReportedK; ++k) {
      std::optional<double> c = pbs_within(res, k);
      row.push_back(c ? percent(*c) : "-");
    }
    rows.push_back(std::move(row));
  }
  out << "\nk-staleness: share of reads returning one of the latest k versions\n";
  write_table(out, {"config", "reads", "k=1", "k=2", "k=3", "PBS k=1", "PBS k=2", "PBS k=3"}, rows,
              1);

  rows.clear();
  for (const ConfigResult& res : results) {
    bool first = true;
    for (const auto& [kind, count] : res.errors) {
      rows.push_back({first ? res.label : "", kind, std::to_string(count)});
      first = false;
    }
  }
  if (!rows.empty()) {
    out << "\nErrors by kind\n";
    write_table(out, {"config", "error", "count"}, rows, 2);
    for (const ConfigResult& res : results) {
      for (const auto& [kind, message] : res.error_examples) {
        out << res.label << ", first " << kind << ": " << message << '\n';
      }
    }
  }

  bool linearizable = false;
  for (const ConfigResult& res : results) {
    linearizable = linearizable || res.linearizable || res.cas_latency_ns.count() > 0;
  }
  if (!linearizable) return;
  rows.clear();
  for (const ConfigResult& res : results) {
    const Histogram all = res.all_latency_ns();
    const Histogram& cas = res.cas_latency_ns;
    const bool did_cas = cas.count() + res.cas_not_applied > 0;
    rows.push_back({res.label, fixed(res.throughput(), 1), ms(all.percentile(50)), ms(all.percentile(99)),
                    std::to_string(cas.count()), std::to_string(res.cas_applied),
                    std::to_string(res.cas_not_applied), did_cas ? ms(cas.percentile(50)) : "-",
                    did_cas ? ms(cas.percentile(99)) : "-", did_cas ? ms(cas.percentile(99.9)) : "-",
                    std::to_string(res.contention_errors()),
                    res.paxos_retries ? std::to_string(*res.paxos_retries) : "-",
                    res.staleness.reads_judged > 0 ? percent(res.staleness.stale_fraction()) : "-"});
  }
  out << "\nTrade-off: every operation's latency, compare-and-set and contention (ms)\n";
  write_table(out,
              {"config", "ops/s", "p50", "p99", "cas", "applied", "not applied", "cas p50", "cas p99",
               "cas p99.9", "contention", "paxos retries", "stale"},
              rows, 1);
}

void write_csv(std::ostream& out, std::span<const ConfigResult> results) {
  // The header report.hpp documents: append only.
  out << "label,n,r,w,workload,fault,duration_s,ops,successful_ops,errors,ops_per_s,"
         "get_ops,get_ops_per_s,get_mean_us,get_p50_us,get_p90_us,get_p99_us,get_p999_us,"
         "get_max_us,"
         "put_ops,put_ops_per_s,put_mean_us,put_p50_us,put_p90_us,put_p99_us,put_p999_us,"
         "put_max_us,"
         "reads_judged,reads_unjudged,stale_reads,stale_fraction,"
         "within_1,within_2,within_3,pbs_within_1,pbs_within_2,pbs_within_3,"
         "pbs_stale_t0,errors_by_kind,"
         "linearizable,all_p50_us,all_p99_us,cas_ops,cas_applied,cas_not_applied,"
         "cas_p50_us,cas_p99_us,cas_p999_us,contention_errors,paxos_retries\n";
  for (const ConfigResult& res : results) {
    std::vector<std::string> row{res.label,
                                 std::to_string(res.n),
                                 std::to_string(res.r),
                                 std::to_string(res.w),
                                 res.workload,
                                 res.fault,
                                 shortest(res.duration_s),
                                 std::to_string(res.ops()),
                                 std::to_string(res.successful_ops()),
                                 std::to_string(res.error_count()),
                                 shortest(res.throughput())};
    for (Op op : {Op::kGet, Op::kPut}) {
      const Histogram& h = op == Op::kGet ? res.get_latency_ns : res.put_latency_ns;
      row.push_back(std::to_string(h.count()));
      row.push_back(shortest(res.throughput(op)));
      row.push_back(shortest(h.mean() / 1e3));
      for (double p : {50.0, 90.0, 99.0, 99.9}) row.push_back(shortest(us(h.percentile(p))));
      row.push_back(shortest(us(h.max())));
    }
    const StalenessTable& st = res.staleness;
    row.push_back(std::to_string(st.reads_judged));
    row.push_back(std::to_string(st.reads_unjudged));
    row.push_back(std::to_string(st.stale_reads));
    row.push_back(shortest(st.stale_fraction()));
    for (int k = 1; k <= kReportedK; ++k) {
      row.push_back(shortest(st.fraction_within(static_cast<uint64_t>(k))));
    }
    for (int k = 1; k <= kReportedK; ++k) row.push_back(optional_number(pbs_within(res, k)));
    row.push_back(optional_number(pbs_at(res, 0)));
    row.push_back(errors_by_kind(res));
    const Histogram all = res.all_latency_ns();
    row.push_back(res.linearizable ? "1" : "0");
    row.push_back(shortest(us(all.percentile(50))));
    row.push_back(shortest(us(all.percentile(99))));
    row.push_back(std::to_string(res.cas_latency_ns.count()));
    row.push_back(std::to_string(res.cas_applied));
    row.push_back(std::to_string(res.cas_not_applied));
    for (double p : {50.0, 99.0, 99.9}) row.push_back(shortest(us(res.cas_latency_ns.percentile(p))));
    row.push_back(std::to_string(res.contention_errors()));
    row.push_back(res.paxos_retries ? std::to_string(*res.paxos_retries) : "");
    csv_row(out, row);
  }
}

void write_staleness_csv(std::ostream& out, std::span<const ConfigResult> results) {
  csv_row(out, {"label", "t_from_us", "t_to_us", "reads", "stale", "stale_fraction",
                "pbs_stale_fraction"});
  for (const ConfigResult& res : results) {
    for (const StalenessBucket& b : res.staleness.buckets) {
      bool open = b.to_us == std::numeric_limits<uint64_t>::max();
      csv_row(out, {res.label, std::to_string(b.from_us), open ? "" : std::to_string(b.to_us),
                    std::to_string(b.reads), std::to_string(b.stale), shortest(b.stale_fraction()),
                    optional_number(pbs_at(res, b.from_us))});
    }
  }
}

void write_timeline_csv(std::ostream& out, std::span<const ConfigResult> results) {
  csv_row(out, {"label", "from_s", "window_s", "ops", "ops_per_s", "errors", "p50_us", "p99_us", "max_us"});
  for (const ConfigResult& res : results) {
    for (const TimelinePoint& p : res.timeline) {
      const double per_s = res.timeline_window_s > 0 ? static_cast<double>(p.ops) / res.timeline_window_s : 0;
      csv_row(out, {res.label, shortest(p.from_s), shortest(res.timeline_window_s), std::to_string(p.ops),
                    shortest(per_s), std::to_string(p.errors), shortest(us(p.p50_ns)), shortest(us(p.p99_ns)),
                    shortest(us(p.max_ns))});
    }
  }
}

void write_json(std::ostream& out, std::span<const ConfigResult> results) {
  out << "[";
  for (size_t i = 0; i < results.size(); ++i) {
    const ConfigResult& res = results[i];
    out << (i > 0 ? ",\n " : "\n ") << "{";
    out << "\"label\": " << json_string(res.label) << ", \"n\": " << res.n << ", \"r\": " << res.r
        << ", \"w\": " << res.w << ", \"workload\": " << json_string(res.workload)
        << ", \"fault\": " << json_string(res.fault)
        << ", \"duration_s\": " << json_number(res.duration_s) << ", \"ops\": " << res.ops();
    out << ",\n  \"errors\": {";
    bool first = true;
    for (const auto& [kind, count] : res.errors) {
      out << (first ? "" : ", ") << json_string(kind) << ": " << count;
      first = false;
    }
    out << "}, \"ops_per_s\": " << json_number(res.throughput());
    out << ",\n  \"get\": " << json_op(res.get_latency_ns, res.throughput(Op::kGet));
    out << ",\n  \"put\": " << json_op(res.put_latency_ns, res.throughput(Op::kPut));
    out << ",\n  \"cas\": " << json_cas(res);
    out << ",\n  \"linearizable\": " << (res.linearizable ? "true" : "false")
        << ", \"contention_errors\": " << res.contention_errors() << ", \"paxos_retries\": "
        << (res.paxos_retries ? std::to_string(*res.paxos_retries) : "null");
    out << ",\n  \"staleness\": " << json_staleness(res.staleness);
    out << ",\n  \"pbs\": " << json_pbs(res.pbs);
    out << ",\n  \"pbs_k_staleness\": [";
    for (int k = 1; k <= kReportedK; ++k) {
      std::optional<double> c = pbs_within(res, k);
      out << (k > 1 ? ", " : "") << "{\"k\": " << k
          << ", \"consistent\": " << (c ? json_number(*c) : "null") << "}";
    }
    out << "]}";
  }
  out << (results.empty() ? "]\n" : "\n]\n");
}

}  // namespace tally::bench
