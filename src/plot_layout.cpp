#include "plot_layout.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "cairo_text.hpp"
#include "krrdistill/error.hpp"

namespace krrdistill {

namespace detail {

namespace {

constexpr int kMinWidth = 320, kMinHeight = 240, kMaxSize = 4096;
constexpr double kMargin = 0.05;  // data range padding on each side, as a fraction of the range

std::string to_text(double v, std::chars_format format, int precision) {
  char buffer[128];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v, format, precision);
  if (result.ec != std::errc()) return "?";
  return std::string(buffer, result.ptr);
}

// The 1, 2 or 5 × 10^k nearest to raw (thresholds near the geometric means).
double nice_step(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
}

// Multiples of step in [lo, hi] (with a little slack for rounding), labelled
// with as many decimals as the step needs, so all labels of an axis match.
std::vector<Tick> linear_ticks(double lo, double hi, double step) {
  std::vector<double> values;
  const double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
  // + 0.0 turns a -0.0 tick (k = ceil(-0.3)) into 0.0, so no "-0" label.
  for (double k = k0; k <= k1 && values.size() < 1000; ++k) values.push_back(k * step + 0.0);
  double largest = 0;
  for (const double v : values) largest = std::max(largest, std::abs(v));
  const int e = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  std::vector<Tick> ticks;
  for (const double v : values) {
    std::string label;
    if (e >= -6 && largest < 1e7) {
      label = to_text(v, std::chars_format::fixed, std::max(0, -e));
    } else {
      // Mantissa digits down to the step's exponent.
      const int digits = largest > 0 ? static_cast<int>(std::floor(std::log10(largest))) - e : 0;
      label = to_text(v, std::chars_format::scientific, std::clamp(digits, 0, 15));
    }
    ticks.push_back(Tick{v, label});
  }
  return ticks;
}

// m × 10^k as a plain decimal ("0.005", "20") when every label of the axis is
// between 0.001 and 99999, else all as "5e-4", "1e6" so that the axis reads
// consistently.
struct LogTick {
  int m, k;
};

std::string log_label(const LogTick& t, bool plain) {
  if (plain) {
    return to_text(t.m * std::pow(10.0, t.k), std::chars_format::fixed, std::max(0, -t.k));
  }
  return std::to_string(t.m) + "e" + std::to_string(t.k);
}

// Major ticks at powers of ten when the range holds at least three of them
// (light gridlines at 2..9 × 10^k where decades are wide enough); otherwise at
// 1, 2, 5 × 10^k, or at every 1..9 × 10^k on a range of under a decade.
Axis log_axis(cairo_t* cr, double lo, double hi, int pixels) {
  Axis axis;
  axis.lo = lo;
  axis.hi = hi;
  const auto position = [](int m, int k) { return k + std::log10(static_cast<double>(m)); };
  const auto ticks_with = [&](std::initializer_list<int> multipliers) {
    std::vector<LogTick> ticks;
    for (int k = static_cast<int>(std::floor(lo)) - 1; k <= static_cast<int>(std::ceil(hi)); ++k) {
      for (const int m : multipliers) {
        const double u = position(m, k);
        if (u >= lo - 1e-9 && u <= hi + 1e-9) ticks.push_back(LogTick{m, k});
      }
    }
    return ticks;
  };

  std::vector<LogTick> major = ticks_with({1});
  std::vector<LogTick> minor;
  const bool decades = major.size() >= 3;
  if (decades) {
    if (pixels / (hi - lo) >= 80) minor = ticks_with({2, 3, 4, 5, 6, 7, 8, 9});
  } else {
    major = ticks_with({1, 2, 5});
    minor = ticks_with({3, 4, 6, 7, 8, 9});
    if (major.size() < 3) {
      major = ticks_with({1, 2, 3, 4, 5, 6, 7, 8, 9});
      minor.clear();
    }
  }

  bool plain = true;
  for (const LogTick& t : major) plain = plain && t.k >= -3 && t.k <= 4;
  // On a log axis decades are evenly spaced, so label every n-th one with n
  // just large enough for a gap between neighbouring labels.
  int every = 1;
  if (decades) {
    int widest = 0;
    for (const LogTick& t : major)
      widest = std::max(widest, label_width(cr, kTickFont, log_label(t, plain)));
    const double px_per_decade = pixels / (hi - lo);
    while (every * px_per_decade < widest + 16 && every < 1000) ++every;
  }
  for (const LogTick& t : major) {
    const bool labelled = ((t.k % every) + every) % every == 0;
    axis.major.push_back(Tick{position(t.m, t.k), labelled ? log_label(t, plain) : ""});
  }
  for (const LogTick& t : minor) axis.minor.push_back(position(t.m, t.k));
  return axis;
}

// Pads [lo, hi] by kMargin on each side after widening a degenerate range:
// to half a decade around its centre (log axis), or by 10 % of the value (or
// ±1 around 0 and tiny values) when all values are equal up to rounding
// (linear axis). Neither goes beyond the double range (on a log axis: where
// 10^u stays a positive finite double), so data near its ends still gets a
// frame; only a linear range wider than the largest double is an Error.
void pad_range(double& lo, double& hi, bool log_axis, const std::string& where) {
  const double floor_at = log_axis ? std::min(lo, -307.0) : -std::numeric_limits<double>::max();
  const double ceil_at = log_axis ? std::max(hi, 308.0) : std::numeric_limits<double>::max();
  const double centre = lo / 2 + hi / 2;
  if (log_axis) {
    if (hi - lo < 0.5) {
      lo = centre - 0.25;
      hi = centre + 0.25;
    }
  } else if (hi - lo <= 1e-9 * std::max(std::abs(lo), std::abs(hi))) {
    const double half = std::abs(centre) >= 1e-300 ? 0.1 * std::abs(centre) : 1.0;
    lo = centre - half;
    hi = centre + half;
  }
  lo = std::max(lo, floor_at);
  hi = std::min(hi, ceil_at);
  const double span = hi - lo;
  if (!std::isfinite(span)) throw Error(where + "values span too wide a range to plot");
  lo = std::max(lo - kMargin * span, floor_at);
  hi = std::min(hi + kMargin * span, ceil_at);
}

}  // namespace

int label_width(cairo_t* cr, double size, const std::string& text, bool bold) {
  use_font(cr, size, bold);
  return static_cast<int>(std::ceil(text_width(cr, clean_text(text, kMaxTextChars))));
}

void validate_spec(const PlotSpec& spec, const std::string& where) {
  if (spec.series.empty()) throw Error(where + "no series to plot");
  if (spec.width < kMinWidth || spec.height < kMinHeight || spec.width > kMaxSize ||
      spec.height > kMaxSize) {
    throw Error(where + "size " + std::to_string(spec.width) + "×" + std::to_string(spec.height) +
                " out of range (" + std::to_string(kMinWidth) + "×" + std::to_string(kMinHeight) +
                " to " + std::to_string(kMaxSize) + "×" + std::to_string(kMaxSize) + ")");
  }
  for (std::size_t i = 0; i < spec.series.size(); ++i) {
    const PlotSeries& s = spec.series[i];
    if (s.x.size() != s.y.size()) {
      throw Error(where + "series " + std::to_string(i) + " (\"" + s.name + "\") has " +
                  std::to_string(s.x.size()) + " x values but " + std::to_string(s.y.size()) +
                  " y values");
    }
    if (!s.point_labels.empty() && s.point_labels.size() != s.x.size()) {
      throw Error(where + "series " + std::to_string(i) + " (\"" + s.name + "\") has " +
                  std::to_string(s.x.size()) + " points but " +
                  std::to_string(s.point_labels.size()) + " point labels");
    }
  }
}

PlotLayout make_layout(cairo_t* cr, const PlotSpec& spec, const std::string& where) {
  validate_spec(spec, where);
  PlotLayout layout;
  PlotFrame& f = layout.frame;
  f.log_x = spec.log_x;

  // Ranges in axis units from the valid points.
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const PlotSeries& s : spec.series) {
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!valid_point(s.x[i], s.y[i], spec.log_x)) continue;
      const double u = spec.log_x ? std::log10(s.x[i]) : s.x[i];
      xlo = std::min(xlo, u);
      xhi = std::max(xhi, u);
      ylo = std::min(ylo, s.y[i]);
      yhi = std::max(yhi, s.y[i]);
    }
  }
  if (xlo > xhi) {
    // Nothing to draw: an empty frame still shows the titles and legend.
    xlo = 0;
    xhi = 1;
    ylo = 0;
    yhi = 1;
  } else {
    pad_range(xlo, xhi, spec.log_x, where);
    pad_range(ylo, yhi, false, where);
  }

  // Vertical extent: title above, tick labels and x label below.
  f.top = spec.title.empty() ? 2 * kEdge : kEdge + line_height(kTitleFont) + kEdge;
  f.bottom = spec.height - 1 - kEdge - (kTick + kTickGap + line_height(kTickFont)) -
             (spec.x_label.empty() ? 0 : kEdge / 2 + line_height(kLabelFont));

  // y ticks about every 60 px; the widest label sets the left margin.
  const int y_target = std::max(2, (f.bottom - f.top) / 60);
  layout.y.lo = ylo;
  layout.y.hi = yhi;
  layout.y.major = linear_ticks(ylo, yhi, nice_step((yhi - ylo) / y_target));
  int y_label_width = 0;
  for (const Tick& t : layout.y.major)
    y_label_width = std::max(y_label_width, label_width(cr, kTickFont, t.label));
  f.left = kEdge + (spec.y_label.empty() ? 0 : line_height(kLabelFont) + kEdge / 2) +
           y_label_width + kTickGap + kTick;
  // Room for half of the last x label beyond the plot area.
  f.right = spec.width - 1 - 2 * kEdge - 4;
  if (f.right - f.left < 60 || f.bottom - f.top < 60) {
    throw Error(where + "size " + std::to_string(spec.width) + "×" + std::to_string(spec.height) +
                " leaves no room for the data next to the labels");
  }

  const int plot_w = f.right - f.left;
  if (spec.log_x) {
    layout.x = log_axis(cr, xlo, xhi, plot_w);
  } else {
    // Ticks about every 110 px, coarser while neighbouring labels would touch.
    layout.x.lo = xlo;
    layout.x.hi = xhi;
    double step = nice_step((xhi - xlo) / std::max(2, plot_w / 110));
    for (int attempt = 0; attempt < 12; ++attempt) {
      layout.x.major = linear_ticks(xlo, xhi, step);
      int widest = 0;
      for (const Tick& t : layout.x.major)
        widest = std::max(widest, label_width(cr, kTickFont, t.label));
      if (step / (xhi - xlo) * plot_w >= widest + 16) break;
      step = nice_step(step * 1.5);
    }
  }

  f.x_min = spec.log_x ? std::pow(10.0, layout.x.lo) : layout.x.lo;
  f.x_max = spec.log_x ? std::pow(10.0, layout.x.hi) : layout.x.hi;
  f.y_min = ylo;
  f.y_max = yhi;
  // Values near the ends of the double range can pad (or, on a log axis,
  // exponentiate) to infinity or zero, which no pixel mapping survives.
  const bool usable = std::isfinite(f.x_min) && std::isfinite(f.x_max) && f.x_min < f.x_max &&
                      (!spec.log_x || f.x_min > 0) && std::isfinite(f.y_min) &&
                      std::isfinite(f.y_max) && f.y_min < f.y_max;
  if (!usable) throw Error(where + "values too close to the limits of double precision to plot");

  // Safety net for crowded x labels (narrow canvases): drop any label that
  // would touch the previous one kept.
  int last_right = std::numeric_limits<int>::min() / 2;
  for (Tick& t : layout.x.major) {
    if (t.label.empty()) continue;
    const int w = label_width(cr, kTickFont, t.label);
    const int x0 = static_cast<int>(std::lround(x_pixel(f, layout.x, t.at))) - w / 2;
    if (x0 < last_right + 12) {
      t.label.clear();
    } else {
      last_right = x0 + w;
    }
  }
  return layout;
}

}  // namespace detail

PixelPoint PlotFrame::to_pixel(double x, double y) const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double u = x, u0 = x_min, u1 = x_max;
  if (log_x) {
    u = x > 0 ? std::log10(x) : nan;
    u0 = std::log10(x_min);
    u1 = std::log10(x_max);
  }
  const double px = left + (u - u0) / (u1 - u0) * (right - left);
  const double py = bottom - (y - y_min) / (y_max - y_min) * (bottom - top);
  if (std::isnan(px)) return PixelPoint{nan, nan};
  return PixelPoint{px, py};
}

PlotFrame plot_frame(const PlotSpec& spec) {
  const std::string where = "plot: ";
  // Text widths shape the layout; a 1×1 surface is enough to measure them.
  const detail::Drawing measure = detail::make_drawing(CAIRO_FORMAT_RGB24, 1, 1, where);
  return detail::make_layout(measure.cr.get(), spec, where).frame;
}

}  // namespace krrdistill
