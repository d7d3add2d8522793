#include "krrdistill/plot.hpp"

#include <cairo.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "cairo_text.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

namespace krrdistill {

namespace {

using detail::cap_height;
using detail::clean_text;
using detail::use_font;

struct Rgb {
  unsigned char r, g, b;
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kText{34, 34, 34};
constexpr Rgb kAxis{68, 68, 68};
constexpr Rgb kGrid{218, 218, 218};
constexpr Rgb kMinorGrid{238, 238, 238};
constexpr Rgb kLegendBorder{160, 160, 160};

// Okabe–Ito (colour-blind safe), reordered so that the strongest colours on
// white come first; black is late because the axes are nearly black, yellow
// last because it is faint on white.
constexpr std::array<Rgb, 8> kPalette{{{0, 114, 178},
                                       {213, 94, 0},
                                       {0, 158, 115},
                                       {230, 159, 0},
                                       {204, 121, 167},
                                       {86, 180, 233},
                                       {0, 0, 0},
                                       {240, 228, 66}}};

constexpr double kPi = 3.14159265358979323846;
constexpr int kMinWidth = 320, kMinHeight = 240, kMaxSize = 4096;
// Font sizes in pixels.
constexpr double kTitleFont = 17, kLabelFont = 15, kTickFont = 13, kLegendFont = 14,
                 kPointLabelFont = 13;
constexpr int kTick = 5;                    // tick mark length
constexpr int kTickGap = 6;                 // tick mark to its label
constexpr int kEdge = 12;                   // canvas edge to the outermost text
constexpr std::size_t kMaxTextChars = 400;  // wider than the widest canvas
constexpr double kMargin = 0.05;  // data range padding on each side, as a fraction of the range

// Height of a line of text, descenders included.
int line_height(double size) {
  return static_cast<int>(std::ceil(1.2 * size));
}

// Width in whole pixels of text in the given font.
int text_width(cairo_t* cr, double size, const std::string& text, bool bold = false) {
  use_font(cr, size, bold);
  return static_cast<int>(std::ceil(detail::text_width(cr, clean_text(text, kMaxTextChars))));
}

// ---- axes ------------------------------------------------------------------

// A tick at a position in axis units (log10 of the data on a log axis); an
// empty label still gets its gridline and tick mark.
struct Tick {
  double at;
  std::string label;
};

struct Axis {
  double lo = 0, hi = 1;      // axis units
  std::vector<Tick> major;    // gridline, tick mark, label
  std::vector<double> minor;  // light gridline only
};

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
      widest = std::max(widest, text_width(cr, kTickFont, log_label(t, plain)));
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

// ---- layout ----------------------------------------------------------------

struct Layout {
  PlotFrame frame;
  Axis x, y;
};

bool valid_point(double x, double y, bool log_x) {
  return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
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

void validate(const PlotSpec& spec, const std::string& where) {
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

// Pixel column of an axis position (axis units).
double x_pixel(const PlotFrame& f, const Axis& x, double u) {
  return f.left + (u - x.lo) / (x.hi - x.lo) * (f.right - f.left);
}

Layout make_layout(cairo_t* cr, const PlotSpec& spec, const std::string& where) {
  validate(spec, where);
  Layout layout;
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
    y_label_width = std::max(y_label_width, text_width(cr, kTickFont, t.label));
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
        widest = std::max(widest, text_width(cr, kTickFont, t.label));
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
    const int w = text_width(cr, kTickFont, t.label);
    const int x0 = static_cast<int>(std::lround(x_pixel(f, layout.x, t.at))) - w / 2;
    if (x0 < last_right + 12) {
      t.label.clear();
    } else {
      last_right = x0 + w;
    }
  }
  return layout;
}

// ---- drawing ---------------------------------------------------------------

void set_colour(cairo_t* cr, Rgb c) {
  cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

// cairo puts pixel (i, j) at [i, i + 1) × [j, j + 1); PlotFrame at [i - 0.5, i + 0.5).
double to_cairo(double pixel) {
  return std::clamp(pixel, -1e6, 1e6) + 0.5;
}

// A 1-pixel line along the centres of pixel columns or rows, so it stays crisp.
void hairline(cairo_t* cr, double x0, double y0, double x1, double y1, Rgb colour) {
  cairo_move_to(cr, x0 + 0.5, y0 + 0.5);
  cairo_line_to(cr, x1 + 0.5, y1 + 0.5);
  set_colour(cr, colour);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
}

// Text with the top of its capitals at y, starting at x.
void draw_text(cairo_t* cr, double x, double y, double size, const std::string& text, Rgb colour,
               bool bold = false) {
  use_font(cr, size, bold);
  set_colour(cr, colour);
  cairo_move_to(cr, x, y + cap_height(size));
  cairo_show_text(cr, clean_text(text, kMaxTextChars).c_str());
  cairo_new_path(cr);
}

// Marker shapes, one per series in turn, so that series sharing a colour
// family or a position still differ in shape.
enum class Marker { circle, square, diamond, triangle_up, triangle_down };
constexpr std::array<Marker, 5> kMarkers{Marker::circle, Marker::square, Marker::diamond,
                                         Marker::triangle_up, Marker::triangle_down};

// The outline of a marker of about radius r (similar areas for all shapes).
void marker_path(cairo_t* cr, Marker shape, double x, double y, double r) {
  switch (shape) {
    case Marker::circle:
      cairo_new_sub_path(cr);
      cairo_arc(cr, x, y, r, 0, 2 * kPi);
      break;
    case Marker::square:
      cairo_rectangle(cr, x - 0.9 * r, y - 0.9 * r, 1.8 * r, 1.8 * r);
      break;
    case Marker::diamond:
      cairo_move_to(cr, x, y - 1.25 * r);
      cairo_line_to(cr, x + 1.25 * r, y);
      cairo_line_to(cr, x, y + 1.25 * r);
      cairo_line_to(cr, x - 1.25 * r, y);
      cairo_close_path(cr);
      break;
    case Marker::triangle_up:
    case Marker::triangle_down: {
      const double s = shape == Marker::triangle_up ? 1 : -1;
      cairo_move_to(cr, x, y - s * 1.4 * r);
      cairo_line_to(cr, x + 1.3 * r, y + s * 0.85 * r);
      cairo_line_to(cr, x - 1.3 * r, y + s * 0.85 * r);
      cairo_close_path(cr);
      break;
    }
  }
}

struct Style {
  Rgb colour;
  Marker marker;
  double radius;
};

// Colour and marker shape follow the series order. Curve markers are small;
// point markers are large, and an earlier points-only series gets a larger
// marker than a later one, so that coinciding points (e.g. two analytic
// results at the same accuracy and time) show as a smaller marker inside a
// ring of the larger one instead of hiding each other.
std::vector<Style> series_styles(const PlotSpec& spec) {
  std::size_t later_points = 0;
  for (const PlotSeries& s : spec.series) later_points += s.points_only;
  std::vector<Style> styles;
  for (std::size_t s = 0; s < spec.series.size(); ++s) {
    double radius = 3.5;
    if (spec.series[s].points_only) {
      --later_points;
      radius = 5.5 + 3.0 * static_cast<double>(std::min<std::size_t>(later_points, 3));
    }
    styles.push_back(Style{kPalette[s % kPalette.size()], kMarkers[s % kMarkers.size()], radius});
  }
  return styles;
}

// Points-only markers get a white rim that keeps them apart from the curves
// and from each other.
void draw_marker(cairo_t* cr, const Style& style, bool rim, double x, double y) {
  marker_path(cr, style.marker, x, y, style.radius);
  if (rim) {
    set_colour(cr, kWhite);
    cairo_set_line_width(cr, 3);
    cairo_stroke_preserve(cr);
  }
  set_colour(cr, style.colour);
  cairo_fill(cr);
}

// The data, clipped to the plot area: curves first, then points on top so
// that single runs stay visible. With mask set, everything is drawn opaque
// black (onto an alpha-only surface, to find where the data is).
void draw_data(cairo_t* cr, const PlotSpec& spec, const PlotFrame& f, bool mask) {
  cairo_save(cr);
  cairo_rectangle(cr, f.left, f.top, f.right - f.left + 1, f.bottom - f.top + 1);
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  std::vector<Style> styles = series_styles(spec);
  if (mask) {
    for (Style& s : styles) s.colour = Rgb{0, 0, 0};
  }
  for (const bool points_pass : {false, true}) {
    for (std::size_t s = 0; s < spec.series.size(); ++s) {
      const PlotSeries& series = spec.series[s];
      if (series.points_only != points_pass) continue;
      std::vector<std::array<double, 2>> markers;
      bool have_previous = false;
      for (std::size_t i = 0; i < series.x.size(); ++i) {
        // A skipped point breaks the curve rather than bridging the gap.
        if (!valid_point(series.x[i], series.y[i], spec.log_x)) {
          have_previous = false;
          continue;
        }
        const PixelPoint p = f.to_pixel(series.x[i], series.y[i]);
        const double x = to_cairo(p.x), y = to_cairo(p.y);
        if (have_previous) {
          cairo_line_to(cr, x, y);
        } else {
          cairo_move_to(cr, x, y);
        }
        markers.push_back({x, y});
        have_previous = true;
      }
      if (points_pass) {
        cairo_new_path(cr);
      } else {
        set_colour(cr, styles[s].colour);
        cairo_set_line_width(cr, 2);
        cairo_stroke(cr);
      }
      for (const auto& m : markers) draw_marker(cr, styles[s], points_pass, m[0], m[1]);
    }
  }
  cairo_restore(cr);
}

// A point's label: its box on the canvas and the point it names.
struct PointLabel {
  std::string text;
  Rgb colour;
  double point_x, point_y, radius;
  int left, top, width, height;
};

// Labels to the right of their points (to the left where the plot area ends),
// in series order; a label that would overlap one placed before it moves down
// below that one, so that the labels of coinciding points form a column.
std::vector<PointLabel> place_point_labels(cairo_t* cr, const PlotSpec& spec, const PlotFrame& f) {
  constexpr int kGap = 6;
  const std::vector<Style> styles = series_styles(spec);
  std::vector<PointLabel> placed;
  for (std::size_t s = 0; s < spec.series.size(); ++s) {
    const PlotSeries& series = spec.series[s];
    for (std::size_t i = 0; i < series.point_labels.size(); ++i) {
      if (series.point_labels[i].empty() || !valid_point(series.x[i], series.y[i], spec.log_x))
        continue;
      const PixelPoint p = f.to_pixel(series.x[i], series.y[i]);
      PointLabel label{series.point_labels[i],
                       styles[s].colour,
                       to_cairo(p.x),
                       to_cairo(p.y),
                       styles[s].radius,
                       0,
                       0,
                       text_width(cr, kPointLabelFont, series.point_labels[i]),
                       line_height(kPointLabelFont)};
      const int reach = static_cast<int>(std::ceil(1.4 * label.radius)) + kGap;
      label.left = static_cast<int>(std::lround(p.x)) + reach;
      if (label.left + label.width > f.right)
        label.left = static_cast<int>(std::lround(p.x)) - reach - label.width;
      label.top = static_cast<int>(std::lround(p.y)) - label.height / 2;
      for (bool moved = true; moved;) {
        moved = false;
        for (const PointLabel& other : placed) {
          const bool overlap =
              label.left < other.left + other.width && other.left < label.left + label.width &&
              label.top < other.top + other.height + 2 && other.top < label.top + label.height + 2;
          if (overlap) {
            label.top = other.top + other.height + 2;
            moved = true;
          }
        }
      }
      placed.push_back(label);
    }
  }
  return placed;
}

// The labels on a white ground, with a leader from each label that had to
// move to its point. With mask set, only their boxes (for the legend).
void draw_point_labels(cairo_t* cr, const std::vector<PointLabel>& labels, bool mask) {
  for (const PointLabel& l : labels) {
    if (mask) {
      cairo_rectangle(cr, l.left, l.top, l.width, l.height);
      set_colour(cr, Rgb{0, 0, 0});
      cairo_fill(cr);
      continue;
    }
    const double mid_y = l.top + l.height / 2.0;
    if (std::abs(mid_y - l.point_y) > l.height / 2.0) {
      const double end_x = l.left > l.point_x ? l.left - 2.0 : l.left + l.width + 2.0;
      cairo_move_to(cr, l.point_x, l.point_y);
      cairo_line_to(cr, end_x, mid_y);
      set_colour(cr, l.colour);
      cairo_set_line_width(cr, 1);
      cairo_stroke(cr);
    }
    cairo_rectangle(cr, l.left - 1, l.top, l.width + 2, l.height);
    set_colour(cr, kWhite);
    cairo_fill(cr);
    draw_text(cr, l.left, l.top + (l.height - cap_height(kPointLabelFont)) / 2.0 - 1,
              kPointLabelFont, l.text, l.colour);
  }
}

// Gridlines, under the data.
void draw_grid(cairo_t* cr, const Layout& layout) {
  const PlotFrame& f = layout.frame;
  const auto column = [&](double u) { return std::round(x_pixel(f, layout.x, u)); };
  for (const double u : layout.x.minor) {
    const double x = column(u);
    if (x > f.left && x < f.right) hairline(cr, x, f.top + 1, x, f.bottom - 1, kMinorGrid);
  }
  for (const Tick& t : layout.x.major) {
    const double x = column(t.at);
    if (x > f.left && x < f.right) hairline(cr, x, f.top + 1, x, f.bottom - 1, kGrid);
  }
  for (const Tick& t : layout.y.major) {
    const double y = std::round(f.to_pixel(f.x_min, t.at).y);
    if (y > f.top && y < f.bottom) hairline(cr, f.left + 1, y, f.right - 1, y, kGrid);
  }
}

void draw_frame_and_labels(cairo_t* cr, const PlotSpec& spec, const Layout& layout) {
  const PlotFrame& f = layout.frame;
  cairo_rectangle(cr, f.left + 0.5, f.top + 0.5, f.right - f.left, f.bottom - f.top);
  set_colour(cr, kAxis);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);

  // Centred on x, kept on the canvas.
  const auto centred = [&](double x, int w) {
    return std::clamp(x - w / 2.0, 2.0, std::max(2.0, spec.width - 2.0 - w));
  };

  const int x_label_top = f.bottom + kTick + kTickGap;
  for (const Tick& t : layout.x.major) {
    const double x = std::round(x_pixel(f, layout.x, t.at));
    if (x < f.left || x > f.right) continue;
    hairline(cr, x, f.bottom + 1, x, f.bottom + kTick, kAxis);
    if (!t.label.empty()) {
      draw_text(cr, centred(x + 0.5, text_width(cr, kTickFont, t.label)), x_label_top, kTickFont,
                t.label, kText);
    }
  }
  for (const Tick& t : layout.y.major) {
    const double y = std::round(f.to_pixel(f.x_min, t.at).y);
    if (y < f.top || y > f.bottom) continue;
    hairline(cr, f.left - kTick, y, f.left - 1, y, kAxis);
    const int w = text_width(cr, kTickFont, t.label);
    draw_text(cr, f.left - kTick - kTickGap - w, y + 0.5 - cap_height(kTickFont) / 2, kTickFont,
              t.label, kText);
  }

  const double plot_centre_x = (f.left + f.right + 1) / 2.0;
  if (!spec.x_label.empty()) {
    draw_text(cr, centred(plot_centre_x, text_width(cr, kLabelFont, spec.x_label)),
              x_label_top + line_height(kTickFont) + kEdge / 2, kLabelFont, spec.x_label, kText);
  }
  if (!spec.y_label.empty()) {
    // Turned 90° anticlockwise, read bottom to top, centred on the plot area.
    const int w = text_width(cr, kLabelFont, spec.y_label);
    const double y =
        std::max((f.top + f.bottom) / 2.0 + w / 2.0, std::min(w + 2.0, spec.height - 3.0));
    cairo_save(cr);
    cairo_translate(cr, kEdge, y);
    cairo_rotate(cr, -kPi / 2);
    draw_text(cr, 0, 0, kLabelFont, spec.y_label, kText);
    cairo_restore(cr);
  }
  if (!spec.title.empty()) {
    draw_text(cr, centred(plot_centre_x, text_width(cr, kTitleFont, spec.title, true)), kEdge,
              kTitleFont, spec.title, kText, true);
  }
}

// Sum of the mask's coverage over a rectangle (clipped to the surface).
long covered(cairo_surface_t* mask, int x0, int y0, int x1, int y1) {
  cairo_surface_flush(mask);
  const unsigned char* data = cairo_image_surface_get_data(mask);
  const int stride = cairo_image_surface_get_stride(mask);
  const int width = cairo_image_surface_get_width(mask);
  const int height = cairo_image_surface_get_height(mask);
  long sum = 0;
  for (int y = std::max(y0, 0); y <= std::min(y1, height - 1); ++y) {
    for (int x = std::max(x0, 0); x <= std::min(x1, width - 1); ++x) {
      sum += data[static_cast<std::size_t>(y) * stride + x];
    }
  }
  return sum;
}

// The legend goes into the corner of the plot area that covers the least of
// the data (ties: top-left, bottom-right, top-right, bottom-left).
void draw_legend(cairo_t* cr, cairo_surface_t* data_mask, const PlotSpec& spec,
                 const PlotFrame& f) {
  constexpr int kPad = 8, kSample = 32, kInset = 10;
  const std::vector<Style> styles = series_styles(spec);
  std::vector<std::size_t> entries;
  int text_w = 0, row_h = line_height(kLegendFont) + 4;
  for (std::size_t s = 0; s < spec.series.size(); ++s) {
    if (spec.series[s].name.empty()) continue;
    entries.push_back(s);
    text_w = std::max(text_w, text_width(cr, kLegendFont, spec.series[s].name));
    row_h = std::max(row_h, static_cast<int>(std::ceil(2.9 * styles[s].radius)) + 2);
  }
  if (entries.empty()) return;
  const int w = kPad + kSample + kPad + text_w + kPad;
  const int h = kPad + static_cast<int>(entries.size()) * row_h + kPad;
  const std::array<std::array<int, 2>, 4> corners{{{f.left + kInset, f.top + kInset},
                                                   {f.right - kInset - w, f.bottom - kInset - h},
                                                   {f.right - kInset - w, f.top + kInset},
                                                   {f.left + kInset, f.bottom - kInset - h}}};
  int x0 = corners[0][0], y0 = corners[0][1];
  long best = std::numeric_limits<long>::max();
  for (const auto& c : corners) {
    const long cover = covered(data_mask, c[0] - 4, c[1] - 4, c[0] + w + 3, c[1] + h + 3);
    if (cover < best) {
      best = cover;
      x0 = c[0];
      y0 = c[1];
    }
  }

  cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, w - 1, h - 1);
  set_colour(cr, kWhite);
  cairo_fill_preserve(cr);
  set_colour(cr, kLegendBorder);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (std::size_t e = 0; e < entries.size(); ++e) {
    const PlotSeries& series = spec.series[entries[e]];
    const Style& style = styles[entries[e]];
    const double cy = y0 + kPad + (e + 0.5) * row_h;
    const double sx = x0 + kPad;
    if (!series.points_only) {
      cairo_move_to(cr, sx, cy);
      cairo_line_to(cr, sx + kSample, cy);
      set_colour(cr, style.colour);
      cairo_set_line_width(cr, 2);
      cairo_stroke(cr);
    }
    draw_marker(cr, style, series.points_only, sx + kSample / 2.0, cy);
    draw_text(cr, sx + kSample + kPad, cy - cap_height(kLegendFont) / 2, kLegendFont, series.name,
              kText);
  }
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

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
  return make_layout(measure.cr.get(), spec, where).frame;
}

void write_plot_png(const std::string& path, const PlotSpec& spec) {
  const std::string where = "plot " + path + ": ";
  validate(spec, where);  // before allocating a canvas of the requested size
  const detail::Drawing canvas =
      detail::make_drawing(CAIRO_FORMAT_RGB24, spec.width, spec.height, where);
  cairo_t* cr = canvas.cr.get();
  const Layout layout = make_layout(cr, spec, where);

  // Where the data lies, for the legend's placement.
  const detail::Drawing mask =
      detail::make_drawing(CAIRO_FORMAT_A8, spec.width, spec.height, where);
  draw_data(mask.cr.get(), spec, layout.frame, true);
  const std::vector<PointLabel> point_labels = place_point_labels(cr, spec, layout.frame);
  draw_point_labels(mask.cr.get(), point_labels, true);
  detail::check(mask.cr.get(), where);

  set_colour(cr, kWhite);
  cairo_paint(cr);
  draw_grid(cr, layout);
  draw_data(cr, spec, layout.frame, false);
  draw_point_labels(cr, point_labels, false);
  draw_frame_and_labels(cr, spec, layout);
  draw_legend(cr, mask.surface.get(), spec, layout.frame);
  detail::check(cr, where);

  cairo_surface_flush(canvas.surface.get());
  std::string png;
  const cairo_status_t status =
      cairo_surface_write_to_png_stream(canvas.surface.get(), append_bytes, &png);
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(where + "PNG encoding failed: " + cairo_status_to_string(status));
  write_file_atomic(path, png);
}

}  // namespace krrdistill
