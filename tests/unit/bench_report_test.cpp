// tally-bench's writers (bench/lib/report.hpp): aligned text tables, CSV with a
// stable header, and well-formed, correctly escaped JSON.
#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "bench/lib/report.hpp"
#include "testing/json_check.hpp"

using namespace tally::bench;
using tally::testing::JsonChecker;

namespace {

// A run of R=1 W=1 on N=3: 100 gets of 1..100 us, 50 puts of 2 ms, two
// timeouts, a small staleness history and a PBS prediction at 0 and 1 ms.
ConfigResult sample_result(std::string label = quorum_label(1, 1)) {
  ConfigResult res;
  res.label = std::move(label);
  res.n = 3;
  res.r = 1;
  res.w = 1;
  res.workload = "a";
  res.duration_s = 2;
  for (uint64_t i = 1; i <= 100; ++i) res.get_latency_ns.record(i * 1'000);
  res.put_latency_ns.record(2'000'000, 50);
  res.errors["get: timeout"] = 2;
  StalenessTracker t;
  t.record_write(1, 1, 100);
  t.record_read(1, 200, 0);    // stale, t = 0.1 ms
  t.record_read(1, 300, 1);    // fresh
  t.record_read(1, 1'500, 1);  // fresh, t = 1.4 ms
  res.staleness = *t.analyze(std::vector<uint64_t>{0, 1'000, 2'000});
  res.pbs = PbsPrediction{3, 1, 1, 1000, {{0, 0.25}, {1'000, 0.125}}};
  return res;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Splits one CSV record (RFC 4180 quoting) into fields.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("report: a result counts its operations and throughput", "[bench][report]") {
  ConfigResult res = sample_result();
  CHECK(res.successful_ops() == 150);
  CHECK(res.error_count() == 2);
  CHECK(res.ops() == 152);
  CHECK(res.throughput() == 75.0);
  CHECK(res.throughput(Op::kGet) == 50.0);
  CHECK(res.throughput(Op::kPut) == 25.0);
  res.duration_s = 0;
  CHECK(res.throughput() == 0.0);
  CHECK(quorum_label(2, 3) == "R=2 W=3");
}

TEST_CASE("report: the text tables are aligned and show the figures", "[bench][report]") {
  std::vector<ConfigResult> results = {sample_result(), sample_result("R=2 W=2 with a long label")};
  results[1].r = 2;
  results[1].w = 2;
  results[1].fault = "n3 stopped";
  results[1].pbs.reset();
  std::ostringstream out;
  write_text_report(out, results);
  std::string text = out.str();
  INFO(text);
  std::vector<std::string> all = lines(text);
  // Four tables (the last, errors by kind, because the samples have some),
  // each a title, a header and rows; the last column is right-aligned, so
  // every line of a table has one length.
  std::vector<std::vector<std::string>> tables(1);
  for (const std::string& line : all) {
    if (line.empty()) {
      tables.emplace_back();
    } else {
      tables.back().push_back(line);
    }
  }
  REQUIRE(tables.size() == 4);
  CHECK(tables[0].size() == 4);      // title, header, 2 rows
  CHECK(tables[1].size() == 2 + 6);  // 3 buckets per result
  CHECK(tables[2].size() == 4);
  CHECK(tables[3][0] == "Errors by kind");
  CHECK(tables[3].size() > 2);
  for (const auto& table : tables) {
    for (size_t i = 2; i < table.size(); ++i) CHECK(table[i].size() == table[1].size());
  }
  CHECK(tables[0][1].rfind("config", 0) == 0);
  CHECK(tables[0][1].find("get p90") != std::string::npos);
  CHECK(tables[0][1].find("put p90") != std::string::npos);
  // Without failures there is no fourth table.
  for (auto& r : results) r.errors.clear();
  std::ostringstream clean;
  write_text_report(clean, results);
  CHECK(clean.str().find("Errors by kind") == std::string::npos);
  CHECK(text.find("none") != std::string::npos);  // no fault
  CHECK(text.find("n3 stopped") != std::string::npos);
  CHECK(text.find("0.050") != std::string::npos);   // get p50: 50 us
  CHECK(text.find("2.000") != std::string::npos);   // put p50: 2 ms
  CHECK(text.find("33.33%") != std::string::npos);  // 1 stale read of 3
  CHECK(text.find("25.00%") != std::string::npos);  // PBS at t = 0
  CHECK(text.find("12.50%") != std::string::npos);  // PBS at t = 1 ms
  CHECK(text.find(" 1-2 ") != std::string::npos);
  CHECK(text.find(" >=2 ") != std::string::npos);            // the open-ended bucket
  CHECK(tables[2][2].find("33.33%") != std::string::npos);   // PBS k=1 for N=3, R=W=1
  CHECK(tables[2][3].find("100.00%") != std::string::npos);  // R+W>N
}

TEST_CASE("report: CSV has the documented header and one well-quoted row per result",
          "[bench][report]") {
  std::vector<ConfigResult> results = {sample_result(), sample_result("odd, \"label\"")};
  results[1].errors["put: quorum not reached"] = 1;
  std::ostringstream out;
  write_csv(out, results);
  std::vector<std::string> rows = lines(out.str());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] ==
        "label,n,r,w,workload,fault,duration_s,ops,successful_ops,errors,ops_per_s,"
        "get_ops,get_ops_per_s,get_mean_us,get_p50_us,get_p90_us,get_p99_us,get_p999_us,get_max_us,"
        "put_ops,put_ops_per_s,put_mean_us,put_p50_us,put_p90_us,put_p99_us,put_p999_us,put_max_us,"
        "reads_judged,reads_unjudged,stale_reads,stale_fraction,"
        "within_1,within_2,within_3,pbs_within_1,pbs_within_2,pbs_within_3,"
        "pbs_stale_t0,errors_by_kind,"
        "linearizable,all_p50_us,all_p99_us,cas_ops,cas_applied,cas_not_applied,"
        "cas_p50_us,cas_p99_us,cas_p999_us,contention_errors,paxos_retries");
  std::vector<std::string> header = csv_fields(rows[0]);
  auto column = [&](const std::vector<std::string>& fields, const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return fields.at(i);
    }
    FAIL("no column " << name);
    return std::string();
  };
  std::vector<std::string> first = csv_fields(rows[1]);
  std::vector<std::string> second = csv_fields(rows[2]);
  CHECK(first.size() == header.size());
  CHECK(second.size() == header.size());
  CHECK(column(first, "label") == "R=1 W=1");
  CHECK(column(first, "ops") == "152");
  // 50 us to the histogram's resolution: its bucket's top, 50.015 us.
  CHECK(std::stod(column(first, "get_p50_us")) >= 50.0);
  CHECK(std::stod(column(first, "get_p50_us")) < 50.0 * (1 + Histogram::kMaxRelativeError));
  CHECK(column(first, "get_max_us") == "100");
  CHECK(column(first, "put_p99_us") == "2000");
  CHECK(column(first, "stale_reads") == "1");
  CHECK(std::stod(column(first, "pbs_within_1")) == Approx(1.0 / 3));
  CHECK(column(first, "pbs_stale_t0") == "0.25");
  CHECK(column(first, "errors_by_kind") == "get: timeout=2");
  CHECK(rows[2].rfind("\"odd, \"\"label\"\"\",", 0) == 0);
  CHECK(column(second, "label") == "odd, \"label\"");
  CHECK(column(second, "errors_by_kind") == "get: timeout=2;put: quorum not reached=1");
  CHECK(column(first, "linearizable") == "0");
  CHECK(column(first, "cas_ops") == "0");
  CHECK(column(first, "paxos_retries") == "");  // not read
  CHECK(column(first, "all_p99_us") == "2000");  // 50 of 150 operations are 2 ms puts
}

// A linearizable run of workload cas: no R and W, 40 cas of 3 ms (30 applied,
// 10 not), 2 given up to contention, 7 Paxos retries, no stale read.
ConfigResult linearizable_result() {
  ConfigResult res;
  res.label = std::string(kLinearizableLabel);
  res.n = 3;
  res.r = res.w = 0;
  res.linearizable = true;
  res.workload = "cas";
  res.duration_s = 2;
  res.cas_latency_ns.record(3'000'000, 40);
  res.cas_applied = 30;
  res.cas_not_applied = 10;
  res.errors["cas: contention"] = 2;
  res.errors["cas: timeout"] = 1;
  res.paxos_retries = 7;
  StalenessTracker t;
  t.record_write(1, 1, 100);
  t.record_read(1, 200, 1);
  res.staleness = *t.analyze(std::vector<uint64_t>{0, 1'000});
  return res;
}

TEST_CASE("report: a linearizable configuration sits beside the (R, W) ones, with its cas and retries",
          "[bench][report]") {
  ConfigResult lin = linearizable_result();
  CHECK(lin.successful_ops() == 40);
  CHECK(lin.contention_errors() == 2);
  CHECK(lin.throughput(Op::kCas) == 20.0);
  CHECK(lin.all_latency_ns().count() == 40);
  std::vector<ConfigResult> results = {sample_result(), lin};
  std::ostringstream out;
  write_text_report(out, results);
  std::string text = out.str();
  INFO(text);
  std::vector<std::string> all = lines(text);
  // The main table's row: R and W are "-".
  auto row_of = [&](const std::string& title, const std::string& label) {
    bool in = false;
    for (const std::string& line : all) {
      if (line == title) in = true;
      if (in && line.rfind(label, 0) == 0) return line;
      if (in && line.empty()) break;
    }
    return std::string();
  };
  auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string cell; in >> cell;) out.push_back(cell);
    return out;
  };
  std::vector<std::string> main = cells(row_of("Throughput and latency (ms; successful operations)", "linearizable"));
  REQUIRE(main.size() >= 6);
  CHECK(main[0] == "linearizable");
  CHECK(main[1] == "none");
  CHECK(main[2] == "3");
  CHECK(main[3] == "-");
  CHECK(main[4] == "-");
  CHECK(main[5] == "43");  // 40 cas and 3 failures
  CHECK(main.back() == "0.00%");
  // The trade-off table: every configuration, cas figures and retries where known.
  const std::string title = "Trade-off: every operation's latency, compare-and-set and contention (ms)";
  std::vector<std::string> lr = cells(row_of(title, "linearizable"));
  REQUIRE(lr.size() == 13);
  CHECK(lr[1] == "20.0");   // ops/s
  CHECK(std::stod(lr[2]) >= 3.0);  // p50, to the histogram's resolution
  CHECK(std::stod(lr[2]) < 3.01);
  CHECK(lr[4] == "40");
  CHECK(lr[5] == "30");
  CHECK(lr[6] == "10");
  CHECK(lr[10] == "2");  // contention errors
  CHECK(lr[11] == "7");  // Paxos retries
  CHECK(lr[12] == "0.00%");
  std::vector<std::string> rw = cells(row_of(title, "R=1 W=1"));
  REQUIRE(rw.size() == 14);  // "R=1" "W=1" are two words
  CHECK(rw[5] == "0");       // no cas
  CHECK(rw[8] == "-");       // cas p50
  CHECK(rw[12] == "-");      // retries not read
  CHECK(rw[13] == "33.33%");
  // The first message of each kind of error, when one was kept, follows its table.
  results[1].error_examples["cas: contention"] = "other writers of the key kept winning";
  std::ostringstream with_messages;
  write_text_report(with_messages, results);
  CHECK(with_messages.str().find("\nlinearizable, first cas: contention: other writers of the key kept winning\n") !=
        std::string::npos);
  // Without a linearizable result or a cas there is no trade-off table.
  std::ostringstream plain;
  write_text_report(plain, std::vector<ConfigResult>{sample_result()});
  CHECK(plain.str().find("Trade-off") == std::string::npos);

  std::ostringstream csv;
  write_csv(csv, results);
  std::vector<std::string> rows = lines(csv.str());
  REQUIRE(rows.size() == 3);
  std::vector<std::string> header = csv_fields(rows[0]), fields = csv_fields(rows[2]);
  REQUIRE(fields.size() == header.size());
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return fields[i];
    }
    FAIL("no column " << name);
    return std::string();
  };
  CHECK(column("r") == "0");
  CHECK(column("linearizable") == "1");
  CHECK(column("cas_ops") == "40");
  CHECK(column("cas_applied") == "30");
  CHECK(column("cas_not_applied") == "10");
  CHECK(column("contention_errors") == "2");
  CHECK(column("paxos_retries") == "7");
  CHECK(column("pbs_within_1") == "");  // PBS does not model it

  std::ostringstream json;
  write_json(json, results);
  INFO(json.str());
  CHECK(JsonChecker(json.str()).valid());
  CHECK(json.str().find("\"applied\": 30, \"not_applied\": 10}") != std::string::npos);
  CHECK(json.str().find("\"linearizable\": true, \"contention_errors\": 2, \"paxos_retries\": 7") !=
        std::string::npos);
  CHECK(json.str().find("\"paxos_retries\": null") != std::string::npos);
}

TEST_CASE("report: the staleness CSV has a row per bucket with PBS where it predicted",
          "[bench][report]") {
  std::vector<ConfigResult> results = {sample_result()};
  std::ostringstream out;
  write_staleness_csv(out, results);
  CHECK(out.str() ==
        "label,t_from_us,t_to_us,reads,stale,stale_fraction,pbs_stale_fraction\n"
        "R=1 W=1,0,1000,2,1,0.5,0.25\n"
        "R=1 W=1,1000,2000,1,0,0,0.125\n"
        "R=1 W=1,2000,,0,0,0,\n");
}

TEST_CASE("report: the timeline CSV has a row per configuration and window", "[bench][report]") {
  ConfigResult a = sample_result();
  a.timeline_window_s = 0.1;
  a.timeline = {TimelinePoint{0.0, 30, 1, 1'500'000, 4'250'000, 9'000'000},
                TimelinePoint{0.1, 0, 0, 0, 0, 0}};
  ConfigResult b = sample_result(quorum_label(2, 2));
  b.timeline_window_s = 0.1;
  b.timeline = {TimelinePoint{0.0, 10, 0, 800'000, 1'000'000, 1'200'000}};
  std::vector<ConfigResult> results = {a, b};
  std::ostringstream out;
  write_timeline_csv(out, results);
  CHECK(out.str() ==
        "label,from_s,window_s,ops,ops_per_s,errors,p50_us,p99_us,max_us\n"
        "R=1 W=1,0,0.1,30,300,1,1500,4250,9000\n"
        "R=1 W=1,0.1,0.1,0,0,0,0,0,0\n"
        "R=2 W=2,0,0.1,10,100,0,800,1000,1200\n");
}

TEST_CASE("report: JSON is well-formed, escapes strings and writes null for missing figures",
          "[bench][report]") {
  std::vector<ConfigResult> results = {sample_result("a\"b\\c\nd\x01\t\xc3\xa9"), sample_result()};
  results[1].pbs.reset();
  results[1].duration_s = std::nan("");
  std::ostringstream out;
  write_json(out, results);
  std::string json = out.str();
  INFO(json);
  CHECK(JsonChecker(json).valid());
  CHECK(json.find("\"label\": \"a\\\"b\\\\c\\nd\\u0001\\t\xc3\xa9\"") != std::string::npos);
  CHECK(json.find("\"pbs\": null") != std::string::npos);
  CHECK(json.find("\"duration_s\": null") != std::string::npos);
  CHECK(json.find("\"errors\": {\"get: timeout\": 2}") != std::string::npos);
  CHECK(json.find("\"versions_behind\": {\"0\": 2, \"1\": 1}") != std::string::npos);
  CHECK(json.find("\"t_to_us\": null") != std::string::npos);
  CHECK(json.find("{\"t_us\": 1000, \"p_stale\": 0.125}") != std::string::npos);
  CHECK(json.find("\"p50\": 50.015,") != std::string::npos);  // 50 us, to 2^-10
  CHECK(json.find("\"max\": 100}") != std::string::npos);     // exact
  std::ostringstream empty;
  write_json(empty, {});
  CHECK(empty.str() == "[]\n");
  CHECK(JsonChecker(empty.str()).valid());
  CHECK_FALSE(JsonChecker("{\"a\": [1, 2}").valid());  // the checker can fail
  CHECK_FALSE(JsonChecker("\"a\nb\"").valid());
}
