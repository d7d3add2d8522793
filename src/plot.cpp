#include "krrdistill/plot.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/png.hpp"

// stb_easy_font draws the text; the PNG itself is encoded by write_png.
#include <stb_easy_font.h>

namespace krrdistill {

namespace {

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

constexpr int kMinWidth = 320, kMinHeight = 240, kMaxSize = 4096;
constexpr int kFont = 2;            // stb_easy_font units to pixels (its 1-pixel strokes are tiny)
constexpr int kCap = 7 * kFont;     // height of digits and capitals
constexpr int kLine = 9 * kFont;    // height including descenders
constexpr int kTick = 5;            // tick mark length
constexpr int kTickGap = 6;         // tick mark to its label
constexpr int kEdge = 12;           // canvas edge to the outermost text
constexpr int kMaxTextChars = 400;  // wider than the widest canvas; bounds the stb buffer
constexpr double kMargin = 0.05;    // data range padding on each side, as a fraction of the range

// Inclusive pixel bounds.
struct Rect {
  int x0, y0, x1, y1;
};

// RGB canvas with a clip rectangle and an occupancy mask: while recording,
// every pixel drawn is marked, so the legend can go where the data is not.
class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width),
        height_(height),
        clip_(full()),
        rgb_(static_cast<std::size_t>(width) * height * 3, 255),
        mask_(static_cast<std::size_t>(width) * height, 0) {}

  int width() const { return width_; }
  const std::vector<unsigned char>& rgb() const { return rgb_; }

  void clip_to(const Rect& r) {
    clip_ = Rect{std::max(r.x0, 0), std::max(r.y0, 0), std::min(r.x1, width_ - 1),
                 std::min(r.y1, height_ - 1)};
  }
  void unclip() { clip_ = full(); }
  void record(bool on) { recording_ = on; }

  void pixel(int x, int y, Rgb c) {
    if (x < clip_.x0 || x > clip_.x1 || y < clip_.y0 || y > clip_.y1) return;
    const std::size_t i = static_cast<std::size_t>(y) * width_ + x;
    rgb_[3 * i] = c.r;
    rgb_[3 * i + 1] = c.g;
    rgb_[3 * i + 2] = c.b;
    if (recording_) mask_[i] = 1;
  }

  void fill(const Rect& r, Rgb c) {
    for (int y = std::max(r.y0, clip_.y0); y <= std::min(r.y1, clip_.y1); ++y) {
      for (int x = std::max(r.x0, clip_.x0); x <= std::min(r.x1, clip_.x1); ++x) pixel(x, y, c);
    }
  }

  long recorded_in(const Rect& r) const {
    long n = 0;
    for (int y = std::max(r.y0, 0); y <= std::min(r.y1, height_ - 1); ++y) {
      for (int x = std::max(r.x0, 0); x <= std::min(r.x1, width_ - 1); ++x) {
        n += mask_[static_cast<std::size_t>(y) * width_ + x];
      }
    }
    return n;
  }

 private:
  Rect full() const { return Rect{0, 0, width_ - 1, height_ - 1}; }

  int width_, height_;
  Rect clip_;
  bool recording_ = false;
  std::vector<unsigned char> rgb_;
  std::vector<unsigned char> mask_;
};

// ---- text ------------------------------------------------------------------

// stb_easy_font indexes its tables with (c - 32) and knows only 32..126, so
// anything else must be replaced before it gets there. One '?' per UTF-8
// character (continuation bytes dropped), whitespace controls as spaces.
std::string printable(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    if (static_cast<int>(out.size()) >= kMaxTextChars) break;
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 32 && c <= 126) {
      out += static_cast<char>(c);
    } else if (c == '\t' || c == '\n' || c == '\r') {
      out += ' ';
    } else if ((c & 0xC0) != 0x80) {
      out += '?';
    }
  }
  return out;
}

// Width in pixels of printable(text) (the last glyph's trailing gap excluded).
int text_width(const std::string& text) {
  std::string s = printable(text);
  if (s.empty()) return 0;
  return (stb_easy_font_width(s.data()) - 1) * kFont;
}

// Glyph quads in font units (x right, y down from the top of the capitals).
std::vector<Rect> glyph_quads(const std::string& text) {
  std::string s = printable(text);
  // No glyph has more than 11 segments (24 leaves slack); 64 bytes (16 floats) a segment.
  std::vector<float> vertices(s.size() * 24 * 16 + 16);
  const int quads = stb_easy_font_print(0.0f, 0.0f, s.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size() * sizeof(float)));
  std::vector<Rect> out;
  out.reserve(static_cast<std::size_t>(quads));
  for (int q = 0; q < quads; ++q) {
    // Vertices 0 and 2 are opposite corners; coordinates are whole units.
    const float* v = vertices.data() + static_cast<std::size_t>(q) * 16;
    out.push_back(Rect{static_cast<int>(std::lround(v[0])), static_cast<int>(std::lround(v[1])),
                       static_cast<int>(std::lround(v[8])), static_cast<int>(std::lround(v[9]))});
  }
  return out;
}

// Horizontal text with its top-left corner (top of the capitals) at (x, y).
void draw_text(Canvas& canvas, int x, int y, const std::string& text, Rgb colour) {
  for (const Rect& q : glyph_quads(text)) {
    canvas.fill(
        Rect{x + q.x0 * kFont, y + q.y0 * kFont, x + q.x1 * kFont - 1, y + q.y1 * kFont - 1},
        colour);
  }
}

// Text turned 90° anticlockwise (read bottom to top); (x, y) is where the top
// of the capitals at the start of the text lands: the bottom-left corner.
void draw_text_up(Canvas& canvas, int x, int y, const std::string& text, Rgb colour) {
  for (const Rect& q : glyph_quads(text)) {
    canvas.fill(
        Rect{x + q.y0 * kFont, y - q.x1 * kFont + 1, x + q.y1 * kFont - 1, y - q.x0 * kFont},
        colour);
  }
}

// ---- shapes ----------------------------------------------------------------

// Bresenham, thickened by one pixel across its main direction: 2 px wide.
void draw_line(Canvas& canvas, int x0, int y0, int x1, int y1, Rgb colour) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const bool steep = -dy > dx;
  int err = dx + dy;
  for (;;) {
    canvas.pixel(x0, y0, colour);
    if (steep) {
      canvas.pixel(x0 + 1, y0, colour);
    } else {
      canvas.pixel(x0, y0 + 1, colour);
    }
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

void draw_square(Canvas& canvas, int x, int y, int half, Rgb colour) {
  canvas.fill(Rect{x - half, y - half, x + half, y + half}, colour);
}

// r² + r rather than r² gives a rounder small disc (no single-pixel nubs).
void draw_disc(Canvas& canvas, int cx, int cy, int r, Rgb colour) {
  for (int dy = -r; dy <= r; ++dy) {
    for (int dx = -r; dx <= r; ++dx) {
      if (dx * dx + dy * dy <= r * r + r) canvas.pixel(cx + dx, cy + dy, colour);
    }
  }
}

// Analytic points often sit on or near a curve: a white rim keeps them apart.
constexpr int kDiscRadius = 5;
void draw_point_marker(Canvas& canvas, int x, int y, Rgb colour) {
  draw_disc(canvas, x, y, kDiscRadius + 1, kWhite);
  draw_disc(canvas, x, y, kDiscRadius, colour);
}

constexpr int kSquareHalf = 3;

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
Axis log_axis(double lo, double hi, int pixels) {
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
    for (const LogTick& t : major) widest = std::max(widest, text_width(log_label(t, plain)));
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
  }
}

// Pixel column of an axis position (axis units).
double x_pixel(const PlotFrame& f, const Axis& x, double u) {
  return f.left + (u - x.lo) / (x.hi - x.lo) * (f.right - f.left);
}

Layout make_layout(const PlotSpec& spec, const std::string& where) {
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
  f.top = spec.title.empty() ? 2 * kEdge : kEdge + kLine + 2 * kEdge;
  f.bottom = spec.height - 1 - kEdge - (kTick + kTickGap + kLine) -
             (spec.x_label.empty() ? 0 : kEdge + kLine);

  // y ticks about every 60 px; the widest label sets the left margin.
  const int y_target = std::max(2, (f.bottom - f.top) / 60);
  layout.y.lo = ylo;
  layout.y.hi = yhi;
  layout.y.major = linear_ticks(ylo, yhi, nice_step((yhi - ylo) / y_target));
  int y_label_width = 0;
  for (const Tick& t : layout.y.major) y_label_width = std::max(y_label_width, text_width(t.label));
  f.left = kEdge + (spec.y_label.empty() ? 0 : kLine + kEdge) + y_label_width + kTickGap + kTick;
  // Room for half of the last x label beyond the plot area.
  f.right = spec.width - 1 - 2 * kEdge - 4;
  if (f.right - f.left < 60 || f.bottom - f.top < 60) {
    throw Error(where + "size " + std::to_string(spec.width) + "×" + std::to_string(spec.height) +
                " leaves no room for the data next to the labels");
  }

  const int plot_w = f.right - f.left;
  if (spec.log_x) {
    layout.x = log_axis(xlo, xhi, plot_w);
  } else {
    // Ticks about every 110 px, coarser while neighbouring labels would touch.
    layout.x.lo = xlo;
    layout.x.hi = xhi;
    double step = nice_step((xhi - xlo) / std::max(2, plot_w / 110));
    for (int attempt = 0; attempt < 12; ++attempt) {
      layout.x.major = linear_ticks(xlo, xhi, step);
      int widest = 0;
      for (const Tick& t : layout.x.major) widest = std::max(widest, text_width(t.label));
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
    const int w = text_width(t.label);
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

int to_int(double v) {
  // Data pixels lie on the canvas; the clamp only guards the conversion.
  return static_cast<int>(std::lround(std::clamp(v, -1e6, 1e6)));
}

void draw_data(Canvas& canvas, const PlotSpec& spec, const PlotFrame& f) {
  canvas.clip_to(Rect{f.left, f.top, f.right, f.bottom});
  canvas.record(true);
  // Curves first, then points on top so that single runs stay visible.
  for (const bool points_pass : {false, true}) {
    for (std::size_t s = 0; s < spec.series.size(); ++s) {
      const PlotSeries& series = spec.series[s];
      if (series.points_only != points_pass) continue;
      const Rgb colour = kPalette[s % kPalette.size()];
      std::vector<std::array<int, 2>> markers;
      bool have_previous = false;
      int px = 0, py = 0;
      for (std::size_t i = 0; i < series.x.size(); ++i) {
        // A skipped point breaks the curve rather than bridging the gap.
        if (!valid_point(series.x[i], series.y[i], spec.log_x)) {
          have_previous = false;
          continue;
        }
        const PixelPoint p = f.to_pixel(series.x[i], series.y[i]);
        const int x = to_int(p.x), y = to_int(p.y);
        if (!points_pass && have_previous) draw_line(canvas, px, py, x, y, colour);
        markers.push_back({x, y});
        have_previous = true;
        px = x;
        py = y;
      }
      for (const auto& m : markers) {
        if (points_pass) {
          draw_point_marker(canvas, m[0], m[1], colour);
        } else {
          draw_square(canvas, m[0], m[1], kSquareHalf, colour);
        }
      }
    }
  }
  canvas.record(false);
  canvas.unclip();
}

// Gridlines, under the data.
void draw_grid(Canvas& canvas, const Layout& layout) {
  const PlotFrame& f = layout.frame;
  for (const double u : layout.x.minor) {
    const int x = to_int(x_pixel(f, layout.x, u));
    if (x > f.left && x < f.right) canvas.fill(Rect{x, f.top + 1, x, f.bottom - 1}, kMinorGrid);
  }
  for (const Tick& t : layout.x.major) {
    const int x = to_int(x_pixel(f, layout.x, t.at));
    if (x > f.left && x < f.right) canvas.fill(Rect{x, f.top + 1, x, f.bottom - 1}, kGrid);
  }
  for (const Tick& t : layout.y.major) {
    const int y = to_int(f.to_pixel(f.x_min, t.at).y);
    if (y > f.top && y < f.bottom) canvas.fill(Rect{f.left + 1, y, f.right - 1, y}, kGrid);
  }
}

void draw_frame_and_labels(Canvas& canvas, const PlotSpec& spec, const Layout& layout) {
  const PlotFrame& f = layout.frame;
  canvas.fill(Rect{f.left, f.top, f.right, f.top}, kAxis);
  canvas.fill(Rect{f.left, f.bottom, f.right, f.bottom}, kAxis);
  canvas.fill(Rect{f.left, f.top, f.left, f.bottom}, kAxis);
  canvas.fill(Rect{f.right, f.top, f.right, f.bottom}, kAxis);

  const int width = canvas.width();
  // Centred on x, kept on the canvas.
  const auto centred = [&](int x, int w) {
    return std::clamp(x - w / 2, 2, std::max(2, width - 2 - w));
  };

  const int x_label_top = f.bottom + kTick + kTickGap;
  for (const Tick& t : layout.x.major) {
    const int x = to_int(x_pixel(f, layout.x, t.at));
    if (x < f.left || x > f.right) continue;
    canvas.fill(Rect{x, f.bottom + 1, x, f.bottom + kTick}, kAxis);
    if (!t.label.empty()) {
      draw_text(canvas, centred(x, text_width(t.label)), x_label_top, t.label, kText);
    }
  }
  for (const Tick& t : layout.y.major) {
    const int y = to_int(f.to_pixel(f.x_min, t.at).y);
    if (y < f.top || y > f.bottom) continue;
    canvas.fill(Rect{f.left - kTick, y, f.left - 1, y}, kAxis);
    const int w = text_width(t.label);
    draw_text(canvas, f.left - kTick - kTickGap - w, y - kCap / 2, t.label, kText);
  }

  const int plot_centre_x = (f.left + f.right) / 2;
  if (!spec.x_label.empty()) {
    draw_text(canvas, centred(plot_centre_x, text_width(spec.x_label)), x_label_top + kLine + kEdge,
              spec.x_label, kText);
  }
  if (!spec.y_label.empty()) {
    const int w = text_width(spec.y_label);
    const int y = std::max((f.top + f.bottom) / 2 + w / 2, std::min(w + 2, spec.height - 3));
    draw_text_up(canvas, kEdge, y, spec.y_label, kText);
  }
  if (!spec.title.empty()) {
    // Drawn twice, one pixel apart, for a bold title.
    const int x = centred(plot_centre_x, text_width(spec.title) + 1);
    draw_text(canvas, x, kEdge, spec.title, kText);
    draw_text(canvas, x + 1, kEdge, spec.title, kText);
  }
}

// The legend goes into the corner of the plot area that covers the fewest
// drawn data pixels (ties: top-left, bottom-right, top-right, bottom-left).
void draw_legend(Canvas& canvas, const PlotSpec& spec, const PlotFrame& f) {
  constexpr int kPad = 8, kRow = 22, kSample = 32, kInset = 10;
  std::vector<std::size_t> entries;
  int text_w = 0;
  for (std::size_t s = 0; s < spec.series.size(); ++s) {
    if (spec.series[s].name.empty()) continue;
    entries.push_back(s);
    text_w = std::max(text_w, text_width(spec.series[s].name));
  }
  if (entries.empty()) return;
  const int w = kPad + kSample + kPad + text_w + kPad;
  const int h = kPad + (static_cast<int>(entries.size()) - 1) * kRow + kLine + kPad;
  const std::array<std::array<int, 2>, 4> corners{{{f.left + kInset, f.top + kInset},
                                                   {f.right - kInset - w, f.bottom - kInset - h},
                                                   {f.right - kInset - w, f.top + kInset},
                                                   {f.left + kInset, f.bottom - kInset - h}}};
  int x0 = corners[0][0], y0 = corners[0][1];
  long best = std::numeric_limits<long>::max();
  for (const auto& c : corners) {
    const long covered = canvas.recorded_in(Rect{c[0] - 4, c[1] - 4, c[0] + w + 3, c[1] + h + 3});
    if (covered < best) {
      best = covered;
      x0 = c[0];
      y0 = c[1];
    }
  }

  canvas.fill(Rect{x0, y0, x0 + w - 1, y0 + h - 1}, kWhite);
  canvas.fill(Rect{x0, y0, x0 + w - 1, y0}, kLegendBorder);
  canvas.fill(Rect{x0, y0 + h - 1, x0 + w - 1, y0 + h - 1}, kLegendBorder);
  canvas.fill(Rect{x0, y0, x0, y0 + h - 1}, kLegendBorder);
  canvas.fill(Rect{x0 + w - 1, y0, x0 + w - 1, y0 + h - 1}, kLegendBorder);
  for (std::size_t e = 0; e < entries.size(); ++e) {
    const PlotSeries& series = spec.series[entries[e]];
    const Rgb colour = kPalette[entries[e] % kPalette.size()];
    const int top = y0 + kPad + static_cast<int>(e) * kRow;
    const int cy = top + kCap / 2;
    const int sx = x0 + kPad;
    if (series.points_only) {
      draw_point_marker(canvas, sx + kSample / 2, cy, colour);
    } else {
      draw_line(canvas, sx, cy, sx + kSample, cy, colour);
      draw_square(canvas, sx + kSample / 2, cy, kSquareHalf, colour);
    }
    draw_text(canvas, sx + kSample + kPad, top, series.name, kText);
  }
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
  return make_layout(spec, "plot: ").frame;
}

void write_plot_png(const std::string& path, const PlotSpec& spec) {
  const std::string where = "plot " + path + ": ";
  const Layout layout = make_layout(spec, where);
  Canvas canvas(spec.width, spec.height);
  draw_grid(canvas, layout);
  draw_data(canvas, spec, layout.frame);
  draw_frame_and_labels(canvas, spec, layout);
  draw_legend(canvas, spec, layout.frame);

  write_png(path, canvas.rgb(), spec.width, spec.height, 3, where);
}

}  // namespace krrdistill
