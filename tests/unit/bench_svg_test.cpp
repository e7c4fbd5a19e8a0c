// The SVG line plots (bench/lib/svg.hpp): well-formed output, one polyline per
// series, escaped text, round ticks, and tally-bench's two figures.
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "bench/lib/svg.hpp"

using namespace tally::bench;

namespace {

std::string render(const Plot& plot) {
  std::ostringstream out;
  write_svg(out, plot);
  return out.str();
}

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// True iff every tag closes in order, attribute values are quoted, and every
// '&' starts one of XML's five entities: the well-formedness a browser needs.
bool well_formed(const std::string& xml) {
  std::vector<std::string> open;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      bool entity = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
        entity = entity || xml.compare(i, std::string(e).size(), e) == 0;
      }
      if (!entity) return false;
    }
    if (xml[i] == '>') return false;  // outside a tag it must have been escaped
    if (xml[i] != '<') continue;
    size_t end = i + 1;
    bool quoted = false;
    while (end < xml.size() && (quoted || xml[end] != '>')) {
      if (xml[end] == '"') quoted = !quoted;
      if (xml[end] == '<' && !quoted) return false;
      ++end;
    }
    if (end == xml.size()) return false;
    std::string tag = xml.substr(i + 1, end - i - 1);
    size_t name_end = tag.find_first_of(" />");
    if (tag.empty()) return false;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, name_end));
    }
    i = end;
  }
  return open.empty();
}

Series line(std::string name, std::vector<PlotPoint> points, bool dashed = false) {
  Series s;
  s.name = std::move(name);
  s.points = std::move(points);
  s.dashed = dashed;
  return s;
}

}  // namespace

TEST_CASE("svg: one well-formed <svg> element with one polyline per series", "[bench][svg]") {
  Plot plot;
  plot.title = "p99 <R=1> & friends";
  plot.x_label = "t (ms) < 100";
  plot.y_label = "P(stale) & more";
  plot.series.push_back(line("R=1 W=1 <a&b>", {{0, 0.4}, {1, 0.2}, {5, 0.05}}));
  plot.series.push_back(line("R=1 W=1 \"PBS\"", {{0, 0.37}, {2, 0.1}}, true));
  plot.series.push_back(line("empty", {}));
  std::string svg = render(plot);
  INFO(svg);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.size() >= 7);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  CHECK(well_formed(svg));
  CHECK(occurrences(svg, "<polyline") == 3);
  CHECK(occurrences(svg, "stroke-dasharray") == 2);  // the dashed line and its legend entry
  CHECK(svg.find("p99 &lt;R=1&gt; &amp; friends") != std::string::npos);
  CHECK(svg.find("t (ms) &lt; 100") != std::string::npos);
  CHECK(svg.find("P(stale) &amp; more") != std::string::npos);
  CHECK(svg.find("R=1 W=1 &lt;a&amp;b&gt;") != std::string::npos);
  CHECK(svg.find("&quot;PBS&quot;") != std::string::npos);
  CHECK(svg.find("<a&b>") == std::string::npos);
  CHECK_FALSE(well_formed("<svg><g></svg></g>"));  // the checker can fail
  CHECK_FALSE(well_formed("<svg>a & b</svg>"));
}

TEST_CASE("svg: linear ticks fall on round numbers", "[bench][svg]") {
  Plot plot;
  plot.y_min = 0;
  plot.series.push_back(line("s", {{0, 0.01}, {97, 0.37}}));
  std::string svg = render(plot);
  for (const char* tick : {">0<", ">0.1<", ">0.2<", ">0.3<", ">0.4<", ">20<", ">40<", ">100<"}) {
    INFO(tick);
    CHECK(svg.find(tick) != std::string::npos);
  }
  CHECK(svg.find("0.30000") == std::string::npos);
  CHECK(svg.find(">0.5<") == std::string::npos);  // the axis stops at the first tick past the data

  plot.x_max = 30;  // a fixed end: the ticks stop there, the line is clipped
  std::string zoomed = render(plot);
  CHECK(zoomed.find(">30<") != std::string::npos);
  CHECK(zoomed.find(">40<") == std::string::npos);
  CHECK(zoomed.find("clip-path=\"url(#plot-area)\"") != std::string::npos);
}

TEST_CASE("svg: a log x axis ticks decades and leaves out x <= 0 and non-finite points",
          "[bench][svg]") {
  Plot plot;
  plot.log_x = true;
  plot.series.push_back(line("s", {{0, 0.1}, {0.05, 0.2}, {NAN, 0.3}, {3, 0.5}, {30, 1}}));
  std::string svg = render(plot);
  for (const char* tick : {">0.01<", ">0.1<", ">1<", ">10<", ">100<"}) {
    INFO(tick);
    CHECK(svg.find(tick) != std::string::npos);
  }
  size_t at = svg.find("points=\"");
  REQUIRE(at != std::string::npos);
  std::string points = svg.substr(at + 8, svg.find('"', at + 8) - at - 8);
  CHECK(occurrences(points, ",") == 3);  // (0.05, 0.2), (3, 0.5), (30, 1)
  CHECK(points.find("nan") == std::string::npos);

  Plot narrow;  // under two decades: 2s and 5s are ticked as well
  narrow.log_x = true;
  narrow.series.push_back(line("s", {{1.5, 0}, {40, 1}}));
  std::string n = render(narrow);
  for (const char* tick : {">1<", ">2<", ">5<", ">10<", ">20<", ">50<", ">100<"}) {
    INFO(tick);
    CHECK(n.find(tick) != std::string::npos);
  }
}

TEST_CASE("svg: a plot with no series or no points still draws valid axes", "[bench][svg]") {
  Plot none;
  std::string a = render(none);
  CHECK(well_formed(a));
  CHECK(occurrences(a, "<polyline") == 0);
  Plot flat;
  flat.series.push_back(line("zeros", {{0, 0}, {10, 0}}));
  std::string b = render(flat);
  CHECK(well_formed(b));
  CHECK(b.find("nan") == std::string::npos);
  CHECK(b.find("inf") == std::string::npos);
}

TEST_CASE("svg: the latency CDF and staleness figures of a run", "[bench][svg]") {
  std::vector<ConfigResult> results(2);
  results[0].label = "R=1 W=1";
  results[1].label = "R=2 W=2";
  results[1].fault = "n3 stopped";
  for (uint64_t i = 1; i <= 1000; ++i) {
    results[0].get_latency_ns.record(i * 10'000);
    results[1].get_latency_ns.record(i * 20'000);
  }
  StalenessTracker t;
  t.record_write(1, 1, 100);
  t.record_read(1, 200, 0);
  t.record_read(1, 1'500, 1);
  results[0].staleness = *t.analyze();
  results[0].pbs = PbsPrediction{3, 1, 1, 1000, {{2'000, 0.1}, {0, 0.3}, {1'000, 0.2}}};

  Plot cdf = latency_cdf_plot(results, Op::kGet);
  REQUIRE(cdf.series.size() == 2);
  CHECK(cdf.log_x);
  CHECK(cdf.series[1].name == "R=2 W=2, n3 stopped");
  CHECK(cdf.series[0].points.back().x == Approx(10.0));  // 1000 * 10 us = 10 ms
  CHECK(cdf.series[0].points.back().y == 1.0);
  CHECK(cdf.series[0].points.size() <= 400);
  std::string cdf_svg = render(cdf);
  CHECK(well_formed(cdf_svg));
  CHECK(occurrences(cdf_svg, "<polyline") == 2);

  Plot stale = staleness_plot(results);
  REQUIRE(stale.series.size() == 3);  // measured for both, PBS for the first
  CHECK(stale.series[0].name == "R=1 W=1 measured");
  CHECK(stale.series[1].name == "R=1 W=1 PBS");
  CHECK(stale.series[1].dashed);
  CHECK_FALSE(stale.series[0].dashed);
  CHECK(stale.series[0].color == stale.series[1].color);
  CHECK(stale.series[2].color != stale.series[0].color);
  // Buckets with reads only, at their lower edges in ms.
  REQUIRE(stale.series[0].points.size() == 2);
  CHECK(stale.series[0].points[0].x == 0.0);
  CHECK(stale.series[0].points[0].y == 1.0);
  CHECK(stale.series[0].points[1].x == 1.0);
  CHECK(stale.series[0].points[1].y == 0.0);
  CHECK(stale.series[1].points.front().x == 0.0);  // sorted by t
  CHECK(stale.series[1].points.back().x == 2.0);
  CHECK(stale.series[2].points.empty());
  // The last point at or above 1% of the top (PBS's 0.1 at 2 ms) ends the axis.
  REQUIRE(stale.x_max.has_value());
  CHECK(*stale.x_max == 2.0);
  std::string stale_svg = render(stale);
  CHECK(well_formed(stale_svg));
  CHECK(occurrences(stale_svg, "<polyline") == 3);
}

TEST_CASE("svg: the trade-off plot puts each configuration at (p99, stale fraction), labelled",
          "[bench][svg]") {
  std::vector<ConfigResult> results(4);
  results[0].label = "R=1 W=1";
  results[1].label = "R=2 W=2";
  results[2].label = "linearizable";
  results[2].linearizable = true;
  results[3].label = "R=1 W=3";  // write only: no judged read, no point
  for (uint64_t i = 1; i <= 100; ++i) {
    results[0].get_latency_ns.record(i * 10'000);  // p99 0.99 ms
    results[1].put_latency_ns.record(i * 20'000);  // p99 1.98 ms
    results[2].cas_latency_ns.record(i * 50'000);  // p99 4.95 ms
    results[3].put_latency_ns.record(i * 10'000);
  }
  StalenessTracker stale, fresh;
  stale.record_write(1, 2, 100);
  stale.record_read(1, 200, 1);
  stale.record_read(1, 300, 2);
  stale.record_read(1, 400, 2);
  stale.record_read(1, 500, 2);
  fresh.record_write(1, 2, 100);
  fresh.record_read(1, 200, 2);
  results[0].staleness = *stale.analyze();
  results[1].staleness = *fresh.analyze();
  results[2].staleness = *fresh.analyze();

  Plot plot = tradeoff_plot(results);
  REQUIRE(plot.series.size() == 4);
  CHECK_FALSE(plot.log_x);
  CHECK(plot.x_min == 0.0);
  CHECK(plot.y_min == 0.0);
  for (size_t i = 0; i < 3; ++i) {
    INFO(i);
    CHECK(plot.series[i].name == results[i].label);
    CHECK(plot.series[i].markers);
    CHECK(plot.series[i].label_points);
    REQUIRE(plot.series[i].points.size() == 1);
  }
  CHECK(plot.series[0].points[0].x == Approx(0.99).epsilon(0.002));
  CHECK(plot.series[0].points[0].y == 0.25);
  CHECK(plot.series[1].points[0].x == Approx(1.98).epsilon(0.002));
  CHECK(plot.series[1].points[0].y == 0.0);
  CHECK(plot.series[2].points[0].x == Approx(4.95).epsilon(0.002));
  CHECK(plot.series[2].points[0].y == 0.0);
  CHECK(plot.series[3].points.empty());

  std::string svg = render(plot);
  INFO(svg);
  CHECK(well_formed(svg));
  CHECK(occurrences(svg, "<polyline") == 4);
  CHECK(occurrences(svg, "<circle") == 3);
  // Each point carries its name beside it, as well as in the legend.
  CHECK(occurrences(svg, ">linearizable</text>") == 2);
  CHECK(occurrences(svg, ">R=1 W=1</text>") == 2);
  CHECK(occurrences(svg, ">R=1 W=3</text>") == 1);  // the legend only
}
