#define BOOST_TEST_MODULE plot
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#define FIXTURES_READ_PNG
#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/plot.hpp"

namespace fs = std::filesystem;
using fixtures::Bytes;
using fixtures::read_bytes;
using fixtures::TempDir;
using krrdistill::PixelPoint;
using krrdistill::PlotFrame;
using krrdistill::PlotSeries;
using krrdistill::PlotSpec;

namespace {

using Rgb = std::array<int, 3>;

// The first palette colours (Okabe–Ito blue and vermillion): series 0 and 1.
constexpr Rgb kFirst{0, 114, 178};
constexpr Rgb kSecond{213, 94, 0};
constexpr Rgb kWhite{255, 255, 255};

struct Png : fixtures::PngPixels {
  Rgb at(int x, int y) const {
    BOOST_REQUIRE(x >= 0 && x < width && y >= 0 && y < height);
    const std::size_t i = (static_cast<std::size_t>(y) * width + x) * comp;
    return {data[i], data[i + 1], data[i + 2]};
  }
  Rgb at(const PixelPoint& p) const {
    return at(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
  }
  // Whether colour c occurs within radius pixels (Chebyshev) of p.
  bool near(const PixelPoint& p, int radius, const Rgb& c) const {
    const int cx = static_cast<int>(std::lround(p.x)), cy = static_cast<int>(std::lround(p.y));
    for (int y = cy - radius; y <= cy + radius; ++y) {
      for (int x = cx - radius; x <= cx + radius; ++x) {
        if (at(x, y) == c) return true;
      }
    }
    return false;
  }
  long count(const Rgb& c, int x0, int y0, int x1, int y1) const {
    long n = 0;
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) n += at(x, y) == c;
    }
    return n;
  }
  // Pixels darker than mid grey in every channel: text (anti-aliased, so
  // its exact colour is only reached inside the stems).
  long dark(int x0, int y0, int x1, int y1) const {
    long n = 0;
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const Rgb c = at(x, y);
        n += c[0] < 128 && c[1] < 128 && c[2] < 128;
      }
    }
    return n;
  }
};

// The PNG file at path, decoded, with this suite's pixel accessors.
Png read_png(const std::string& path) {
  return {fixtures::decode_png(path)};
}

// The shape of the `compare` plot: two KIP curves (0.5 s to 200 s, accuracy
// 0.70 to 0.80) and two analytic points near 1 s at 0.81.
PlotSpec compare_like() {
  PlotSpec spec;
  spec.title = "Test accuracy against time";
  spec.x_label = "wall-clock seconds";
  spec.y_label = "test accuracy";
  spec.log_x = true;
  for (int ipc : {1, 10}) {
    PlotSeries kip;
    kip.name = "KIP ipc " + std::to_string(ipc);
    for (int i = 0; i < 10; ++i) {
      const double t = 0.5 * std::pow(400.0, i / 9.0) * (ipc == 10 ? 1.3 : 1.0);
      kip.x.push_back(t);
      kip.y.push_back(0.70 + 0.10 * (1 - std::exp(-0.45 * i)) - (ipc == 1 ? 0.02 : 0.0));
    }
    spec.series.push_back(kip);
  }
  for (int ipc : {1, 10}) {
    PlotSeries analytic;
    analytic.name = "analytic ipc " + std::to_string(ipc);
    analytic.points_only = true;
    analytic.x = {ipc == 1 ? 0.9 : 1.4};
    analytic.y = {ipc == 1 ? 0.805 : 0.815};
    spec.series.push_back(analytic);
  }
  return spec;
}

}  // namespace

BOOST_AUTO_TEST_CASE(writes_an_rgb_png_of_the_requested_size) {
  TempDir tmp("plot");
  PlotSpec spec = compare_like();
  spec.width = 800;
  spec.height = 500;
  const std::string path = tmp.file("plot.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  BOOST_TEST(png.width == 800);
  BOOST_TEST(png.height == 500);
  BOOST_TEST(png.comp == 3);
  // No temporary files left next to it.
  BOOST_TEST(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()) == 1);
}

BOOST_AUTO_TEST_CASE(points_only_series_are_drawn_at_their_data_coordinates) {
  TempDir tmp("plot");
  PlotSpec spec;
  spec.series.push_back(PlotSeries{"curve", {0, 1, 2, 3}, {0, 1, 0, 1}, false});
  spec.series.push_back(PlotSeries{"points", {0.5, 2.5}, {0.9, 0.1}, true});
  const std::string path = tmp.file("points.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const PlotFrame frame = krrdistill::plot_frame(spec);
  for (std::size_t i = 0; i < 2; ++i) {
    const PixelPoint p = frame.to_pixel(spec.series[1].x[i], spec.series[1].y[i]);
    BOOST_TEST(png.at(p) == kSecond);
    // A filled marker (a square for the second series) around it, 5 to 6 px
    // across each way from its centre.
    BOOST_TEST(png.at(PixelPoint{p.x + 3, p.y}) == kSecond);
    BOOST_TEST(png.at(PixelPoint{p.x, p.y - 3}) == kSecond);
    BOOST_TEST(png.at(PixelPoint{p.x + 3, p.y + 3}) == kSecond);
    BOOST_TEST(png.at(PixelPoint{p.x + 12, p.y + 12}) != kSecond);
  }
  // The curve's own vertices carry its colour.
  BOOST_TEST(png.at(frame.to_pixel(1, 1)) == kFirst);
  BOOST_TEST(png.at(frame.to_pixel(2, 0)) == kFirst);
}

BOOST_AUTO_TEST_CASE(polyline_passes_through_segment_midpoints) {
  TempDir tmp("plot");
  PlotSpec spec;
  spec.series.push_back(PlotSeries{"curve", {0, 4, 10}, {0, 3, 1}, false});
  const std::string path = tmp.file("line.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const PlotFrame frame = krrdistill::plot_frame(spec);
  for (std::size_t i = 0; i + 1 < spec.series[0].x.size(); ++i) {
    const PixelPoint a = frame.to_pixel(spec.series[0].x[i], spec.series[0].y[i]);
    const PixelPoint b = frame.to_pixel(spec.series[0].x[i + 1], spec.series[0].y[i + 1]);
    const PixelPoint mid{(a.x + b.x) / 2, (a.y + b.y) / 2};
    BOOST_TEST(png.near(mid, 1, kFirst), "segment " << i << " misses its midpoint");
    // Well away from the line: background (or a gridline), not the curve.
    BOOST_TEST(!png.near(PixelPoint{mid.x, mid.y - 25}, 2, kFirst));
    BOOST_TEST(!png.near(PixelPoint{mid.x, mid.y + 25}, 2, kFirst));
  }
}

BOOST_AUTO_TEST_CASE(log_x_spaces_decades_evenly) {
  PlotSpec spec;
  spec.log_x = true;
  spec.series.push_back(PlotSeries{"p", {1, 10, 100}, {0.1, 0.2, 0.3}, true});
  const PlotFrame frame = krrdistill::plot_frame(spec);
  const double x1 = frame.to_pixel(1, 0).x;
  const double x10 = frame.to_pixel(10, 0).x;
  const double x100 = frame.to_pixel(100, 0).x;
  BOOST_TEST(x1 < x10);
  BOOST_TEST(x10 < x100);
  BOOST_TEST(std::abs(x10 - (x1 + x100) / 2) < 1e-6);
  // The data fills most of the width, inside the plot area.
  BOOST_TEST(x1 > frame.left);
  BOOST_TEST(x100 < frame.right);
  BOOST_TEST(x100 - x1 > 0.8 * (frame.right - frame.left));
  BOOST_TEST(std::isnan(frame.to_pixel(0, 0.5).x));
  BOOST_TEST(std::isnan(frame.to_pixel(-1, 0.5).y));

  // Drawn where the frame says.
  TempDir tmp("plot");
  const std::string path = tmp.file("log.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST(png.at(frame.to_pixel(spec.series[0].x[i], spec.series[0].y[i])) == kFirst);
  }
}

BOOST_AUTO_TEST_CASE(identical_specs_give_identical_bytes) {
  TempDir tmp("plot");
  const PlotSpec spec = compare_like();
  krrdistill::write_plot_png(tmp.file("a.png"), spec);
  krrdistill::write_plot_png(tmp.file("b.png"), compare_like());
  const Bytes a = read_bytes(tmp.file("a.png"));
  BOOST_TEST(!a.empty());
  BOOST_TEST((a == read_bytes(tmp.file("b.png"))));
  // And the bytes do depend on the data.
  PlotSpec other = spec;
  other.series[2].y[0] = 0.75;
  krrdistill::write_plot_png(tmp.file("c.png"), other);
  BOOST_TEST((a != read_bytes(tmp.file("c.png"))));
}

BOOST_AUTO_TEST_CASE(invalid_points_are_skipped) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  PlotSpec spec;
  spec.log_x = true;
  spec.series.push_back(
      PlotSeries{"curve", {0, -3, 1, nan, 10, 100, inf, 50}, {5, 5, 0.2, 0.5, inf, 0.4, 0.3, nan}});
  const PlotFrame frame = krrdistill::plot_frame(spec);
  // Valid points: (1, 0.2) and (100, 0.4) only.
  BOOST_TEST(frame.x_min > 0.5);
  BOOST_TEST(frame.x_min < 1);
  BOOST_TEST(frame.x_max > 100);
  BOOST_TEST(frame.x_max < 200);
  BOOST_TEST(frame.y_min > 0.1);
  BOOST_TEST(frame.y_min < 0.2);
  BOOST_TEST(frame.y_max > 0.4);
  BOOST_TEST(frame.y_max < 0.5);

  TempDir tmp("plot");
  const std::string path = tmp.file("skip.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  BOOST_TEST(png.at(frame.to_pixel(1, 0.2)) == kFirst);
  BOOST_TEST(png.at(frame.to_pixel(100, 0.4)) == kFirst);
  // The two valid points are not neighbours in the series, so no line joins them.
  const PixelPoint mid = frame.to_pixel(10, 0.3);
  BOOST_TEST(!png.near(mid, 3, kFirst));
}

BOOST_AUTO_TEST_CASE(degenerate_ranges_get_a_sensible_frame) {
  for (const bool log_x : {false, true}) {
    for (const double y : {0.81, 0.0, -4.0, 1e6}) {
      PlotSpec spec;
      spec.log_x = log_x;
      spec.series.push_back(PlotSeries{"one", {3}, {y}, true});
      spec.series.push_back(PlotSeries{"same", {3, 3}, {y, y}, false});
      const PlotFrame frame = krrdistill::plot_frame(spec);
      BOOST_TEST(std::isfinite(frame.x_min));
      BOOST_TEST(std::isfinite(frame.y_max));
      BOOST_TEST(frame.x_min < 3);
      BOOST_TEST(frame.x_max > 3);
      BOOST_TEST(frame.y_min < y);
      BOOST_TEST(frame.y_max > y);
      const PixelPoint p = frame.to_pixel(3, y);
      // Centred both ways.
      BOOST_TEST(std::abs(p.x - (frame.left + frame.right) / 2.0) < 1.0);
      BOOST_TEST(std::abs(p.y - (frame.top + frame.bottom) / 2.0) < 1.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(no_valid_points_still_draws_a_frame) {
  TempDir tmp("plot");
  PlotSpec spec;
  spec.title = "empty";
  spec.log_x = true;
  spec.series.push_back(PlotSeries{"nothing", {}, {}, false});
  spec.series.push_back(PlotSeries{"negative", {-1, 0}, {0.5, 0.6}, true});
  const std::string path = tmp.file("empty.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  BOOST_TEST(png.width == spec.width);
  const PlotFrame frame = krrdistill::plot_frame(spec);
  BOOST_TEST(frame.x_min == 1.0);
  BOOST_TEST(frame.x_max == 10.0);
}

BOOST_AUTO_TEST_CASE(title_labels_and_legend_are_drawn) {
  TempDir tmp("plot");
  PlotSpec spec = compare_like();
  krrdistill::write_plot_png(tmp.file("labelled.png"), spec);
  const Png labelled = read_png(tmp.file("labelled.png"));
  spec.title.clear();
  spec.x_label.clear();
  spec.y_label.clear();
  for (PlotSeries& s : spec.series) s.name.clear();
  krrdistill::write_plot_png(tmp.file("bare.png"), spec);
  const Png bare = read_png(tmp.file("bare.png"));
  const Rgb legend_border{160, 160, 160};
  const PlotFrame with = krrdistill::plot_frame(compare_like());
  const PlotFrame without = krrdistill::plot_frame(spec);
  // Title band above the plot area, x label band at the bottom, y label band at the left.
  BOOST_TEST(labelled.dark(0, 0, labelled.width - 1, with.top - 8) > 50);
  BOOST_TEST(labelled.dark(0, labelled.height - 24, labelled.width - 1, labelled.height - 1) > 50);
  BOOST_TEST(labelled.dark(0, 0, 30, labelled.height - 1) > 50);
  BOOST_TEST(bare.dark(0, 0, bare.width - 1, without.top - 8) == 0);
  BOOST_TEST(bare.dark(0, bare.height - 12, bare.width - 1, bare.height - 1) == 0);
  // Labels take room from the plot area.
  BOOST_TEST(with.top > without.top);
  BOOST_TEST(with.bottom < without.bottom);
  BOOST_TEST(with.left > without.left);
  // The legend's border (a few anti-aliased edge pixels elsewhere can share its grey).
  BOOST_TEST(labelled.count(legend_border, 0, 0, labelled.width - 1, labelled.height - 1) > 300);
  BOOST_TEST(bare.count(legend_border, 0, 0, bare.width - 1, bare.height - 1) < 30);
}

BOOST_AUTO_TEST_CASE(legend_avoids_the_data) {
  // Points packed into the top-left and bottom-right corners: the legend must
  // go to one of the other two and leave every point visible.
  PlotSpec spec;
  PlotSeries points{"a rather long legend entry", {}, {}, true};
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 4; ++j) {
      points.x.push_back(i);
      points.y.push_back(10 - j);
      points.x.push_back(20 - i);
      points.y.push_back(j);
    }
  }
  spec.series.push_back(points);
  spec.series.push_back(PlotSeries{"second entry", {}, {}, false});
  TempDir tmp("plot");
  const std::string path = tmp.file("legend.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const PlotFrame frame = krrdistill::plot_frame(spec);
  for (std::size_t i = 0; i < points.x.size(); ++i) {
    BOOST_TEST(png.at(frame.to_pixel(points.x[i], points.y[i])) == kFirst);
  }
  const Rgb legend_border{160, 160, 160};
  BOOST_TEST(png.count(legend_border, 0, 0, png.width - 1, png.height - 1) > 100);
}

BOOST_AUTO_TEST_CASE(legend_shows_each_named_series) {
  // On a log axis points at x <= 0 are not drawn, so a series' colour can
  // only come from its legend entry.
  TempDir tmp("plot");
  PlotSpec spec;
  spec.log_x = true;
  spec.series.push_back(PlotSeries{"drawn", {1, 10}, {0.5, 0.6}, false});
  spec.series.push_back(PlotSeries{"not on a log axis", {0, -1}, {0.5, 0.6}, true});
  spec.series.push_back(PlotSeries{"", {0}, {0.55}, true});  // unnamed: no entry
  const std::string path = tmp.file("legend.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const Rgb third{0, 158, 115};
  BOOST_TEST(png.count(kSecond, 0, 0, png.width - 1, png.height - 1) > 20);
  BOOST_TEST(png.count(third, 0, 0, png.width - 1, png.height - 1) == 0);
  // The entry sits inside the plot area, next to the legend's sample of the curve.
  const PlotFrame frame = krrdistill::plot_frame(spec);
  BOOST_TEST(png.count(kSecond, frame.left, frame.top, frame.right, frame.bottom) > 20);

  spec.series[1].name.clear();
  krrdistill::write_plot_png(path, spec);
  BOOST_TEST(read_png(path).count(kSecond, 0, 0, png.width - 1, png.height - 1) == 0);
}

BOOST_AUTO_TEST_CASE(coinciding_points_stay_visible) {
  // Two points-only series at the same position (like the analytic points of
  // two ipc values): the later one is drawn on top, smaller, so the earlier
  // one still shows around it.
  TempDir tmp("plot");
  PlotSpec spec;
  spec.series.push_back(PlotSeries{"curve", {0, 10}, {0, 1}, false});
  spec.series.push_back(PlotSeries{"first", {5}, {0.8}, true});
  spec.series.push_back(PlotSeries{"second", {5}, {0.8}, true});
  const std::string path = tmp.file("overlap.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const PixelPoint p = krrdistill::plot_frame(spec).to_pixel(5, 0.8);
  const Rgb third{0, 158, 115};
  BOOST_TEST(png.at(p) == third);
  BOOST_TEST(png.count(kSecond, static_cast<int>(p.x) - 12, static_cast<int>(p.y) - 12,
                       static_cast<int>(p.x) + 12, static_cast<int>(p.y) + 12) > 20);
}

BOOST_AUTO_TEST_CASE(odd_text_and_extreme_values_are_handled) {
  TempDir tmp("plot");
  PlotSpec spec;
  spec.title = "accuracy \xC3\x97 time\tτ\n\x01\x7F";  // UTF-8, controls, DEL
  spec.x_label = std::string(5000, 'x');
  spec.y_label = "y";
  spec.series.push_back(PlotSeries{"tiny", {1e-300, 2e-300}, {1e-12, 3e-12}, false});
  spec.series.push_back(PlotSeries{"huge", {3e-300}, {5e-12}, true});
  krrdistill::write_plot_png(tmp.file("odd.png"), spec);
  BOOST_TEST(read_png(tmp.file("odd.png")).comp == 3);

  spec.log_x = true;
  spec.series[0].x = {1e-200, 1e200};
  krrdistill::write_plot_png(tmp.file("odd_log.png"), spec);
  BOOST_TEST(read_png(tmp.file("odd_log.png")).width == spec.width);

  // Subnormal spans still get a frame.
  spec.log_x = false;
  spec.series.resize(1);
  spec.series[0].x = {0, 1e-320};
  spec.series[0].y = {0, 4e-320};
  krrdistill::write_plot_png(tmp.file("subnormal.png"), spec);

  // Padding stops at the ends of the double range instead of overflowing.
  spec.series[0].x = {1.7e308, 1.79e308};
  spec.series[0].y = {-1.7e308, -1.7e308};
  PlotFrame frame = krrdistill::plot_frame(spec);
  BOOST_TEST(frame.x_max >= 1.79e308);
  BOOST_TEST(frame.y_min <= -1.7e308);
  BOOST_TEST(std::isfinite(frame.x_max));
  BOOST_TEST(std::isfinite(frame.y_min));
  spec.log_x = true;
  spec.series[0].x = {1e300, 1.7e308};
  frame = krrdistill::plot_frame(spec);
  // At the data's end, up to the rounding of 10^log10(x).
  BOOST_TEST(frame.x_max >= 1.7e308 * (1 - 1e-12));
  BOOST_TEST(std::isfinite(frame.x_max));
  spec.series[0].x = {1e-310, 1e-300};
  frame = krrdistill::plot_frame(spec);
  BOOST_TEST(frame.x_min > 0);
  BOOST_TEST(frame.x_min <= 1e-310 * (1 + 1e-6));  // subnormal: fewer digits
  krrdistill::write_plot_png(tmp.file("extreme_log.png"), spec);

  // A linear range wider than the largest double cannot be laid out: an
  // Error, not a broken image.
  spec.log_x = false;
  spec.series[0].x = {-1.5e308, 1.5e308};
  BOOST_CHECK_THROW(krrdistill::write_plot_png(tmp.file("overflow.png"), spec), krrdistill::Error);
  BOOST_TEST(!fs::exists(tmp.file("overflow.png")));
}

BOOST_AUTO_TEST_CASE(bad_input_throws_and_writes_nothing) {
  TempDir tmp("plot");
  const std::string path = tmp.file("bad.png");

  PlotSpec empty;
  BOOST_CHECK_THROW(krrdistill::write_plot_png(path, empty), krrdistill::Error);
  BOOST_CHECK_THROW(krrdistill::plot_frame(empty), krrdistill::Error);

  PlotSpec mismatched;
  mismatched.series.push_back(PlotSeries{"ok", {1, 2}, {1, 2}, false});
  mismatched.series.push_back(PlotSeries{"bad", {1, 2, 3}, {1, 2}, false});
  BOOST_CHECK_THROW(krrdistill::write_plot_png(path, mismatched), krrdistill::Error);
  try {
    krrdistill::plot_frame(mismatched);
    BOOST_FAIL("mismatched lengths accepted");
  } catch (const krrdistill::Error& e) {
    BOOST_TEST(std::string(e.what()).find("\"bad\"") != std::string::npos);
  }

  for (const std::array<int, 2>& size :
       {std::array<int, 2>{100, 600}, {960, 0}, {-5, 600}, {100000, 600}, {960, 5000}}) {
    PlotSpec spec = compare_like();
    spec.width = size[0];
    spec.height = size[1];
    BOOST_CHECK_THROW(krrdistill::write_plot_png(path, spec), krrdistill::Error);
  }
  BOOST_TEST(!fs::exists(path));
  BOOST_TEST(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()) == 0);

  // An unwritable destination is an Error too.
  BOOST_CHECK_THROW(krrdistill::write_plot_png(tmp.file("missing/dir/plot.png"), compare_like()),
                    krrdistill::Error);
}

BOOST_AUTO_TEST_CASE(labels_of_coinciding_points_stack_apart) {
  // Two labelled points at one position (compare's analytic rows): the second
  // label goes below the first, both right of the point, in their colours.
  TempDir tmp("plot");
  PlotSpec spec;
  spec.series.push_back(PlotSeries{"curve", {0, 10}, {0, 1}, false});
  spec.series.push_back(PlotSeries{"first", {5}, {0.7}, true, {"ipc 1"}});
  spec.series.push_back(PlotSeries{"second", {5}, {0.7}, true, {"ipc 10"}});
  const std::string path = tmp.file("labels.png");
  krrdistill::write_plot_png(path, spec);
  const Png png = read_png(path);
  const PixelPoint p = krrdistill::plot_frame(spec).to_pixel(5, 0.7);
  // Mean row of the pixels near a colour, right of the markers.
  const auto mean_row = [&](const Rgb& c, long& n) {
    double sum = 0;
    n = 0;
    for (int y = static_cast<int>(p.y) - 40; y <= static_cast<int>(p.y) + 40; ++y)
      for (int x = static_cast<int>(p.x) + 16; x <= static_cast<int>(p.x) + 80; ++x) {
        const Rgb a = png.at(x, y);
        const int d = std::abs(a[0] - c[0]) + std::abs(a[1] - c[1]) + std::abs(a[2] - c[2]);
        if (d < 60) {
          sum += y;
          ++n;
        }
      }
    return n > 0 ? sum / double(n) : 0.0;
  };
  const Rgb first{213, 94, 0}, second{0, 158, 115};
  long n1 = 0, n2 = 0;
  const double y1 = mean_row(first, n1), y2 = mean_row(second, n2);
  BOOST_TEST(n1 > 10);
  BOOST_TEST(n2 > 10);
  BOOST_TEST(std::abs(y1 - p.y) < 8);  // beside its point
  BOOST_TEST(y2 > y1 + 10);            // a line below, not over it

  // In the lower half of the plot the column grows upwards, inside the frame.
  spec.series[1].y = {0.3};
  spec.series[2].y = {0.3};
  krrdistill::write_plot_png(path, spec);
  const Png low = read_png(path);
  const PixelPoint q = krrdistill::plot_frame(spec).to_pixel(5, 0.3);
  long m1 = 0, m2 = 0;
  double row1 = 0, row2 = 0;
  for (int y = static_cast<int>(q.y) - 40; y <= static_cast<int>(q.y) + 40; ++y)
    for (int x = static_cast<int>(q.x) + 16; x <= static_cast<int>(q.x) + 80; ++x) {
      const Rgb a = low.at(x, y);
      const auto near = [&](const Rgb& c) {
        return std::abs(a[0] - c[0]) + std::abs(a[1] - c[1]) + std::abs(a[2] - c[2]) < 60;
      };
      if (near(first)) row1 += y, ++m1;
      if (near(second)) row2 += y, ++m2;
    }
  BOOST_TEST_REQUIRE(m1 > 10);
  BOOST_TEST_REQUIRE(m2 > 10);
  BOOST_TEST(row2 / double(m2) < row1 / double(m1) - 10);  // a line above

  // Without labels nothing of those colours lies right of the markers.
  spec.series[1].point_labels.clear();
  spec.series[2].point_labels.clear();
  krrdistill::write_plot_png(path, spec);
  const Png bare = read_png(path);
  long n = 0;
  for (int y = static_cast<int>(p.y) - 40; y <= static_cast<int>(p.y) + 40; ++y)
    for (int x = static_cast<int>(p.x) + 16; x <= static_cast<int>(p.x) + 80; ++x)
      n += bare.at(x, y) == first || bare.at(x, y) == second;
  BOOST_TEST(n == 0);

  spec.series[1].point_labels = {"a", "b"};  // one point, two labels
  BOOST_CHECK_THROW(krrdistill::write_plot_png(path, spec), krrdistill::Error);
}
