// bench/lib/svg.hpp — line plots as standalone SVG, with no plotting library.
//
// Enough for tally-bench's figures: several series on one pair of axes,
// a title, axis labels, a legend to the right of the plot, a linear or log10
// x axis, and ticks on round numbers (1, 2 or 5 times a power of ten; decades
// on a log axis). Text is XML-escaped, so labels may hold any characters.
#pragma once

#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "bench/lib/keygen.hpp"
#include "bench/lib/report.hpp"

namespace tally::bench {

struct PlotPoint {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string name;               // shown in the legend
  std::vector<PlotPoint> points;  // drawn in the order given
  bool dashed = false;
  bool markers = false;  // a dot on every point as well as the line
  int color = -1;        // index into the palette (mod its size); -1: the series' position
  bool label_points = false;  // the name beside every point as well as in the legend
};

struct Plot {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;  // log10 x axis; points with x <= 0 are then left out
  // Fixed ends for the axes; by default the data's range widened to round
  // ticks (whole decades on a log axis). Lines are clipped to the plot area.
  std::optional<double> x_min;
  std::optional<double> x_max;
  std::optional<double> y_min;
  std::optional<double> y_max;
  int width = 860;  // pixels, legend included
  int height = 480;
  std::vector<Series> series;
};

// Writes `plot` as one <svg> element (no XML declaration), one <polyline> per
// series, even an empty one, and nothing else drawn with <polyline>. Points
// with a coordinate that is not finite are left out. With no points at all the
// axes span [0, 1] (or [1, 10] for a log axis).
void write_svg(std::ostream& out, const Plot& plot);

// The latency CDF of operation `op` across configurations: one series per
// result (named by its label, and fault if any), x = latency in ms on a log
// axis, y = the fraction of successful operations at most that slow.
Plot latency_cdf_plot(std::span<const ConfigResult> results, Op op);

// t-visibility across configurations: x = t in ms since the latest
// acknowledged write, y = P(stale). Per result, the measured staleness buckets
// (at their lower edges, buckets without reads left out) as a solid line with
// markers, and, if there is one, PBS's prediction dashed in the same color.
// The x axis stops at the first point after which every curve stays below 1%
// of the highest value plotted, so that the interesting first milliseconds are
// not squeezed by a long flat tail; reset x_max to see all of it.
Plot staleness_plot(std::span<const ConfigResult> results);

// The trade-off the store offers, every configuration one point: x = p99
// latency of all its successful operations (gets, puts and cas) in ms, y = its
// measured stale fraction. One series per result with a single labelled
// marker, the linearizable keyspace among them. A result with no judged reads
// (workload w), or no successful operation, has no point (its series stays,
// empty, so the legend still names it). Both axes start at 0.
Plot tradeoff_plot(std::span<const ConfigResult> results);

}  // namespace tally::bench
