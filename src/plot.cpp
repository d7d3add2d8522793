#include "krrdistill/plot.hpp"

#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cairo_text.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "plot_layout.hpp"

namespace krrdistill {

namespace {

// The layout (plot_layout.hpp) and the cairo helpers.
using namespace detail;

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
    double radius = spec.series[s].cloud ? 2.0 : 3.5;
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
      if (points_pass || series.cloud) {
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
// in series order; a label that would overlap one placed before it moves past
// that one, so that the labels of coinciding points form a column: downwards
// from a point in the upper half of the plot area, upwards from one in the
// lower half, so that the column stays inside it.
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
                       label_width(cr, kPointLabelFont, series.point_labels[i]),
                       line_height(kPointLabelFont)};
      const int reach = static_cast<int>(std::ceil(1.4 * label.radius)) + kGap;
      label.left = static_cast<int>(std::lround(p.x)) + reach;
      if (label.left + label.width > f.right)
        label.left = static_cast<int>(std::lround(p.x)) - reach - label.width;
      label.top = static_cast<int>(std::lround(p.y)) - label.height / 2;
      const bool upwards = 2 * p.y > f.top + f.bottom;
      for (bool moved = true; moved;) {
        moved = false;
        for (const PointLabel& other : placed) {
          const bool overlap =
              label.left < other.left + other.width && other.left < label.left + label.width &&
              label.top < other.top + other.height + 2 && other.top < label.top + label.height + 2;
          if (overlap) {
            label.top = upwards ? other.top - label.height - 2 : other.top + other.height + 2;
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
void draw_grid(cairo_t* cr, const PlotLayout& layout) {
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

void draw_frame_and_labels(cairo_t* cr, const PlotSpec& spec, const PlotLayout& layout) {
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
      draw_text(cr, centred(x + 0.5, label_width(cr, kTickFont, t.label)), x_label_top, kTickFont,
                t.label, kText);
    }
  }
  for (const Tick& t : layout.y.major) {
    const double y = std::round(f.to_pixel(f.x_min, t.at).y);
    if (y < f.top || y > f.bottom) continue;
    hairline(cr, f.left - kTick, y, f.left - 1, y, kAxis);
    const int w = label_width(cr, kTickFont, t.label);
    draw_text(cr, f.left - kTick - kTickGap - w, y + 0.5 - cap_height(kTickFont) / 2, kTickFont,
              t.label, kText);
  }

  const double plot_centre_x = (f.left + f.right + 1) / 2.0;
  if (!spec.x_label.empty()) {
    draw_text(cr, centred(plot_centre_x, label_width(cr, kLabelFont, spec.x_label)),
              x_label_top + line_height(kTickFont) + kEdge / 2, kLabelFont, spec.x_label, kText);
  }
  if (!spec.y_label.empty()) {
    // Turned 90° anticlockwise, read bottom to top, centred on the plot area.
    const int w = label_width(cr, kLabelFont, spec.y_label);
    const double y =
        std::max((f.top + f.bottom) / 2.0 + w / 2.0, std::min(w + 2.0, spec.height - 3.0));
    cairo_save(cr);
    cairo_translate(cr, kEdge, y);
    cairo_rotate(cr, -kPi / 2);
    draw_text(cr, 0, 0, kLabelFont, spec.y_label, kText);
    cairo_restore(cr);
  }
  if (!spec.title.empty()) {
    draw_text(cr, centred(plot_centre_x, label_width(cr, kTitleFont, spec.title, true)), kEdge,
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
    text_w = std::max(text_w, label_width(cr, kLegendFont, spec.series[s].name));
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
    if (!series.points_only && !series.cloud) {
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

void write_plot_png(const std::string& path, const PlotSpec& spec) {
  const std::string where = "plot " + path + ": ";
  validate_spec(spec, where);  // before allocating a canvas of the requested size
  const detail::Drawing canvas =
      detail::make_drawing(CAIRO_FORMAT_RGB24, spec.width, spec.height, where);
  cairo_t* cr = canvas.cr.get();
  const PlotLayout layout = make_layout(cr, spec, where);

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
