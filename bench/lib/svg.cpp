#include "bench/lib/svg.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace tally::bench {

namespace {

// Tableau 10: distinct, and readable by most colour-blind readers.
constexpr std::array<const char*, 10> kPalette = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                                  "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                                  "#9c755f", "#bab0ac"};

// Plot area margins, in pixels.
constexpr double kLeft = 72;
constexpr double kTop = 40;
constexpr double kBottom = 52;
constexpr double kLegendGap = 16;
constexpr double kCharWidth = 8.5;  // a generous width of a 12 px sans-serif character

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A tick value as text, with as many decimals as the tick spacing needs
// (10^exponent), so that 0.1 + 0.2 prints as 0.3.
std::string tick_text(double v, int exponent) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 1e7 || std::fabs(v) < 1e-4) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -exponent), v);
  return buf;
}

struct Tick {
  double value;
  std::string text;
};

// A linear axis: the range widened to whole steps of 1, 2 or 5 times a power
// of ten, about five of them.
struct LinearAxis {
  double lo, hi;
  std::vector<Tick> ticks;
};

LinearAxis linear_axis(double lo, double hi, bool fixed_lo, bool fixed_hi) {
  if (!(hi > lo)) {
    if (fixed_hi) {
      lo = hi - 1;
    } else {
      hi = lo + (lo == 0 ? 1 : std::fabs(lo) * 0.1);
    }
  }
  double raw = (hi - lo) / 5;
  int exponent = static_cast<int>(std::floor(std::log10(raw)));
  double unit = std::pow(10.0, exponent);
  double f = raw / unit;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * unit;
  if (step >= 10 * unit) ++exponent;
  LinearAxis axis{fixed_lo ? lo : std::floor(lo / step) * step,
                  fixed_hi ? hi : std::ceil(hi / step) * step,
                  {}};
  auto first = static_cast<int64_t>(std::ceil(axis.lo / step - 1e-9));
  auto last = static_cast<int64_t>(std::floor(axis.hi / step + 1e-9));
  for (int64_t k = first; k <= last; ++k) {
    double v = static_cast<double>(k) * step;
    if (std::fabs(v) < step * 1e-9) v = 0;
    axis.ticks.push_back({v, tick_text(v, exponent)});
  }
  return axis;
}

// A log10 axis over whole decades; over at most two decades the 2s and 5s
// are ticked too.
struct LogAxis {
  int lo_decade, hi_decade;
  std::vector<Tick> ticks;
};

LogAxis log_axis(double lo, double hi) {
  LogAxis axis{static_cast<int>(std::floor(std::log10(lo))),
               static_cast<int>(std::ceil(std::log10(hi))),
               {}};
  if (axis.hi_decade <= axis.lo_decade) axis.hi_decade = axis.lo_decade + 1;
  bool fine = axis.hi_decade - axis.lo_decade <= 2;
  for (int d = axis.lo_decade; d <= axis.hi_decade; ++d) {
    double unit = std::pow(10.0, d);
    axis.ticks.push_back({unit, tick_text(unit, d)});
    if (fine && d < axis.hi_decade) {
      axis.ticks.push_back({2 * unit, tick_text(2 * unit, d)});
      axis.ticks.push_back({5 * unit, tick_text(5 * unit, d)});
    }
  }
  return axis;
}

bool usable(const PlotPoint& p, bool log_x) {
  return std::isfinite(p.x) && std::isfinite(p.y) && (!log_x || p.x > 0);
}

std::string series_name(const ConfigResult& res) {
  return res.fault.empty() ? res.label : res.label + ", " + res.fault;
}

}  // namespace

void write_svg(std::ostream& out, const Plot& plot) {
  // The data's extent.
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  size_t longest_name = 0;
  for (const Series& s : plot.series) {
    longest_name = std::max(longest_name, s.name.size());
    for (const PlotPoint& p : s.points) {
      if (!usable(p, plot.log_x)) continue;
      x_lo = std::min(x_lo, p.x);
      x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y);
      y_hi = std::max(y_hi, p.y);
    }
  }
  if (!std::isfinite(x_lo)) {  // no points
    x_lo = plot.log_x ? 1 : 0;
    x_hi = plot.log_x ? 10 : 1;
    y_lo = 0;
    y_hi = 1;
  }
  if (plot.x_min) x_lo = *plot.x_min;
  if (plot.x_max) x_hi = *plot.x_max;
  if (plot.y_min) y_lo = *plot.y_min;
  if (plot.y_max) y_hi = *plot.y_max;
  if (plot.log_x && !(x_lo > 0)) x_lo = x_hi > 0 ? x_hi / 10 : 1;  // a bad fixed end
  if (plot.log_x && !(x_hi > x_lo)) x_hi = x_lo * 10;

  const double width = std::max(plot.width, 200);
  const double height = std::max(plot.height, 150);
  const double legend_width =
      plot.series.empty() ? 0 : 40 + kCharWidth * static_cast<double>(longest_name);
  const double right = width - legend_width - kLegendGap;  // the plot area's right edge
  const double bottom = height - kBottom;
  const double plot_w = std::max(right - kLeft, 50.0);
  const double plot_h = std::max(bottom - kTop, 50.0);

  LinearAxis y_axis = linear_axis(y_lo, y_hi, plot.y_min.has_value(), plot.y_max.has_value());
  std::vector<Tick> x_ticks;
  double x_from, x_to;  // in axis units: the value, or its log10
  if (plot.log_x) {
    LogAxis a = log_axis(x_lo, x_hi);
    x_ticks = a.ticks;
    x_from = plot.x_min ? std::log10(x_lo) : a.lo_decade;
    x_to = plot.x_max ? std::log10(x_hi) : a.hi_decade;
    std::erase_if(x_ticks, [&](const Tick& t) {
      double u = std::log10(t.value);
      return u < x_from - 1e-9 || u > x_to + 1e-9;
    });
  } else {
    LinearAxis a = linear_axis(x_lo, x_hi, plot.x_min.has_value(), plot.x_max.has_value());
    x_ticks = a.ticks;
    x_from = a.lo;
    x_to = a.hi;
  }
  auto sx = [&](double x) {
    double u = plot.log_x ? std::log10(x) : x;
    return kLeft + (u - x_from) / (x_to - x_from) * plot_w;
  };
  auto sy = [&](double y) {
    return kTop + plot_h - (y - y_axis.lo) / (y_axis.hi - y_axis.lo) * plot_h;
  };

  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<defs><clipPath id=\"plot-area\"><rect x=\"" << px(kLeft) << "\" y=\"" << px(kTop)
      << "\" width=\"" << px(plot_w) << "\" height=\"" << px(plot_h) << "\"/></clipPath></defs>\n";
  out << "<text x=\"" << px(kLeft + plot_w / 2) << "\" y=\"24\" text-anchor=\"middle\" "
      << "font-size=\"16\">" << xml_escape(plot.title) << "</text>\n";

  // Grid, ticks and their labels.
  out << "<g stroke=\"#e0e0e0\">\n";
  for (const Tick& t : x_ticks) {
    out << "<line x1=\"" << px(sx(t.value)) << "\" y1=\"" << px(kTop) << "\" x2=\""
        << px(sx(t.value)) << "\" y2=\"" << px(kTop + plot_h) << "\"/>\n";
  }
  for (const Tick& t : y_axis.ticks) {
    out << "<line x1=\"" << px(kLeft) << "\" y1=\"" << px(sy(t.value)) << "\" x2=\""
        << px(kLeft + plot_w) << "\" y2=\"" << px(sy(t.value)) << "\"/>\n";
  }
  out << "</g>\n";
  out << "<rect x=\"" << px(kLeft) << "\" y=\"" << px(kTop) << "\" width=\"" << px(plot_w)
      << "\" height=\"" << px(plot_h) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (const Tick& t : x_ticks) {
    out << "<text x=\"" << px(sx(t.value)) << "\" y=\"" << px(kTop + plot_h + 16)
        << "\" text-anchor=\"middle\">" << xml_escape(t.text) << "</text>\n";
  }
  for (const Tick& t : y_axis.ticks) {
    out << "<text x=\"" << px(kLeft - 6) << "\" y=\"" << px(sy(t.value) + 4)
        << "\" text-anchor=\"end\">" << xml_escape(t.text) << "</text>\n";
  }
  out << "<text x=\"" << px(kLeft + plot_w / 2) << "\" y=\"" << px(height - 12)
      << "\" text-anchor=\"middle\">" << xml_escape(plot.x_label) << "</text>\n";
  out << "<text x=\"16\" y=\"" << px(kTop + plot_h / 2) << "\" text-anchor=\"middle\" "
      << "transform=\"rotate(-90 16 " << px(kTop + plot_h / 2) << ")\">" << xml_escape(plot.y_label)
      << "</text>\n";

  // The series, then the legend beside the plot.
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Series& s = plot.series[i];
    size_t c = s.color >= 0 ? static_cast<size_t>(s.color) : i;
    const char* color = kPalette[c % kPalette.size()];
    out << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
        << " clip-path=\"url(#plot-area)\" points=\"";
    bool first = true;
    for (const PlotPoint& p : s.points) {
      if (!usable(p, plot.log_x)) continue;
      out << (first ? "" : " ") << px(sx(p.x)) << ',' << px(sy(p.y));
      first = false;
    }
    out << "\"/>\n";
    if (s.markers) {
      for (const PlotPoint& p : s.points) {
        if (!usable(p, plot.log_x)) continue;
        out << "<circle cx=\"" << px(sx(p.x)) << "\" cy=\"" << px(sy(p.y)) << "\" r=\"3\" fill=\""
            << color << "\" clip-path=\"url(#plot-area)\"/>\n";
      }
    }
    if (s.label_points) {
      // Raised by one of three heights in turn, so that the names of points
      // close together (several configurations with no stale read) stay apart.
      const double raise = 6 + 13 * static_cast<double>(i % 3);
      for (const PlotPoint& p : s.points) {
        if (!usable(p, plot.log_x)) continue;
        out << "<text x=\"" << px(sx(p.x) + 6) << "\" y=\"" << px(sy(p.y) - raise) << "\" fill=\"" << color
            << "\">" << xml_escape(s.name) << "</text>\n";
      }
    }
    double ly = kTop + 8 + 18 * static_cast<double>(i);
    double lx = right + kLegendGap;
    out << "<line x1=\"" << px(lx) << "\" y1=\"" << px(ly) << "\" x2=\"" << px(lx + 28)
        << "\" y2=\"" << px(ly) << "\" stroke=\"" << color << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
    out << "<text x=\"" << px(lx + 34) << "\" y=\"" << px(ly + 4) << "\">" << xml_escape(s.name)
        << "</text>\n";
  }
  out << "</svg>\n";
}

Plot latency_cdf_plot(std::span<const ConfigResult> results, Op op) {
  Plot plot;
  std::string name(op_name(op));
  plot.title = name + " latency CDF";
  plot.x_label = name + " latency (ms, log scale)";
  plot.y_label = "fraction of " + name + "s at most that slow";
  plot.log_x = true;
  plot.y_min = 0;
  plot.y_max = 1;
  for (const ConfigResult& res : results) {
    const Histogram& h = op == Op::kGet ? res.get_latency_ns : res.put_latency_ns;
    Series s{series_name(res), {}, false, false, -1};
    for (const CdfPoint& p : h.cdf(400)) {
      s.points.push_back({static_cast<double>(p.value) / 1e6, p.fraction});
    }
    plot.series.push_back(std::move(s));
  }
  return plot;
}

Plot staleness_plot(std::span<const ConfigResult> results) {
  Plot plot;
  plot.title = "Stale reads by time since the write (measured solid, PBS dashed)";
  plot.x_label = "t since the latest write was acknowledged (ms)";
  plot.y_label = "P(stale read)";
  plot.y_min = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const ConfigResult& res = results[i];
    int color = static_cast<int>(i);
    Series measured{series_name(res) + " measured", {}, false, true, color};
    for (const StalenessBucket& b : res.staleness.buckets) {
      if (b.reads == 0) continue;
      measured.points.push_back({static_cast<double>(b.from_us) / 1e3, b.stale_fraction()});
    }
    plot.series.push_back(std::move(measured));
    if (res.pbs) {
      Series predicted{series_name(res) + " PBS", {}, true, false, color};
      for (const StalePrediction& p : res.pbs->points) {
        predicted.points.push_back({p.t_us / 1e3, p.p_stale});
      }
      // Left to right, whatever order the t values were asked in.
      std::sort(predicted.points.begin(), predicted.points.end(),
                [](const PlotPoint& a, const PlotPoint& b) { return a.x < b.x; });
      plot.series.push_back(std::move(predicted));
    }
  }
  // Where the curves have flattened out: past the last point of any series
  // at or above 1% of the highest value, the next point of that series.
  double top = 0;
  for (const Series& s : plot.series) {
    for (const PlotPoint& p : s.points) top = std::max(top, p.y);
  }
  double end = 0;
  for (const Series& s : plot.series) {
    for (size_t i = 0; i < s.points.size(); ++i) {
      if (s.points[i].y < top / 100) continue;
      end = std::max(end, i + 1 < s.points.size() ? s.points[i + 1].x : s.points[i].x);
    }
  }
  if (top > 0 && end > 0) plot.x_max = end;
  return plot;
}

}  // namespace tally::bench

namespace tally::bench {

Plot tradeoff_plot(std::span<const ConfigResult> results) {
  Plot plot;
  plot.title = "What each configuration costs and buys: p99 latency against stale reads";
  plot.x_label = "p99 latency of every operation (ms)";
  plot.y_label = "fraction of reads that were stale";
  plot.x_min = 0;
  plot.y_min = 0;
  for (const ConfigResult& res : results) {
    Series s{series_name(res), {}, false, true, -1, true};
    const Histogram all = res.all_latency_ns();
    if (all.count() > 0 && res.staleness.reads_judged > 0) {
      s.points.push_back({static_cast<double>(all.percentile(99)) / 1e6, res.staleness.stale_fraction()});
    }
    plot.series.push_back(std::move(s));
  }
  return plot;
}

}  // namespace tally::bench
