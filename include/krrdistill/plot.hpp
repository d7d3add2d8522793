// PNG line and scatter plots (e.g. accuracy against time for `compare`),
// drawn with cairo: anti-aliased lines, markers and text (DejaVu Sans).
#pragma once

#include <string>
#include <vector>

namespace krrdistill {

struct PlotSeries {
  std::string name;          // legend entry; an empty name is left out of the legend
  std::vector<double> x, y;  // same length; non-finite points are skipped (breaking the line)
  bool points_only = false;  // true: large markers only; false: polyline with small markers
  // Text beside each point: empty, or one per point ("" for none). Labels of
  // points that lie close together are stacked in a column (downwards in the
  // upper half of the plot area, upwards in the lower half), each joined to
  // its point by a thin leader, so that coinciding points are told apart on
  // the plot itself.
  std::vector<std::string> point_labels = {};
  bool cloud = false;  // (not points_only) tiny markers and no line: many points at once
};

struct PlotSpec {
  std::string title, x_label, y_label;  // UTF-8; invalid bytes are shown as '?'
  bool log_x = false;                   // log10 x axis; points with x <= 0 are skipped
  // Colours (8-colour palette) and marker shapes (circle, square, diamond,
  // triangles) follow the series order. Points-only markers shrink from one
  // such series to the next, so that coinciding points stay visible.
  std::vector<PlotSeries> series;
  int width = 960, height = 600;  // pixels, 320×240 up to 4096×4096
};

// A position on the canvas in pixels: x to the right, y downwards, pixel
// (i, j) covering [i - 0.5, i + 0.5) × [j - 0.5, j + 0.5).
struct PixelPoint {
  double x = 0, y = 0;
};

// Where write_plot_png puts the data for a spec (cairo draws; the axes,
// their ticks and this mapping are ours).
struct PlotFrame {
  int left = 0, top = 0, right = 0, bottom = 0;  // plot area, inclusive pixel edges
  bool log_x = false;
  double x_min = 1, x_max = 10, y_min = 0, y_max = 1;  // axis limits in data units

  // Canvas position p of data point (x, y); the point is drawn centred on
  // pixel (lround(p.x), lround(p.y)). NaN coordinates when x <= 0 on a log
  // axis.
  PixelPoint to_pixel(double x, double y) const;
};

// The layout write_plot_png uses: axis ranges from the valid data with a 5 %
// margin (at least half a decade on a log axis; equal values get a range
// around them; no valid data gives x 1..10 (log) or 0..1, y 0..1), plot area
// from the labels. Throws Error on an empty series list, x/y (or
// point_labels, when given) of different lengths, a size out of range, or values spanning more than
// a double holds.
PlotFrame plot_frame(const PlotSpec& spec);

// Renders spec and writes it to path atomically as an RGB PNG. Same spec,
// same bytes. Throws Error on bad input (as plot_frame) or a failed write.
void write_plot_png(const std::string& path, const PlotSpec& spec);

}  // namespace krrdistill
