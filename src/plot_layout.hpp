// Private to the plot: where write_plot_png puts things (the axes, their
// ticks and labels, the plot area) apart from how cairo draws them
// (plot.cpp). Text is measured with cairo, so the layout takes a context.
#pragma once

#include <cairo.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "krrdistill/plot.hpp"

namespace krrdistill::detail {

// Font sizes in pixels.
constexpr double kTitleFont = 17, kLabelFont = 15, kTickFont = 13, kLegendFont = 14,
                 kPointLabelFont = 13;
constexpr int kTick = 5;                    // tick mark length
constexpr int kTickGap = 6;                 // tick mark to its label
constexpr int kEdge = 12;                   // canvas edge to the outermost text
constexpr std::size_t kMaxTextChars = 400;  // wider than the widest canvas

// Height of a line of text, descenders included.
inline int line_height(double size) {
  return static_cast<int>(std::ceil(1.2 * size));
}

// Width in whole pixels of text in the given font (sets that font on cr).
int label_width(cairo_t* cr, double size, const std::string& text, bool bold = false);

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

struct PlotLayout {
  PlotFrame frame;
  Axis x, y;
};

// A point that is drawn: finite, and x > 0 on a log axis.
inline bool valid_point(double x, double y, bool log_x) {
  return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
}

// Throws Error (prefixed with where) on what plot_frame refuses before
// looking at the values: no series, lengths that differ, a size out of range.
void validate_spec(const PlotSpec& spec, const std::string& where);

// Pixel column of an axis position (axis units).
inline double x_pixel(const PlotFrame& f, const Axis& x, double u) {
  return f.left + (u - x.lo) / (x.hi - x.lo) * (f.right - f.left);
}

// The layout plot_frame describes (plot.hpp), with the ticks and labels of
// both axes; text measured with cr. Throws Error (prefixed with where).
PlotLayout make_layout(cairo_t* cr, const PlotSpec& spec, const std::string& where);

}  // namespace krrdistill::detail
