// The grid.png of distill and kip: one row per class, named in a strip at the
// left, and for --init real a "distilled" and a "start images" block, each
// with its title.
#define BOOST_TEST_MODULE cli_grid
#include <boost/test/unit_test.hpp>

#define FIXTURES_READ_PNG
#include "fixtures.hpp"

using namespace fixtures;

namespace {

// 8×8 images shown at 14× (112 px) with 14 px margins and gaps.
constexpr int kCell = 112, kGap = 14, kClasses = 10;

// Pixels below 64: the dark label text (the background is 128).
long dark_pixels(const PngPixels& png, int x0, int y0, int x1, int y1) {
  long n = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) n += png.data[static_cast<std::size_t>(y) * png.width + x] < 64;
  }
  return n;
}

// Checks a one-column grid of kClasses rows in each of blocks blocks, with a
// title band above each block if titled.
void check_grid(const std::string& path, int blocks, bool titled) {
  const PngPixels png = decode_png(path);
  BOOST_TEST_REQUIRE(png.comp == 1);
  const int strip = png.width - (kGap + kCell + kGap);
  const int block_h = kClasses * kCell + (kClasses - 1) * kGap;
  const int title_h = (png.height - 2 * kGap - blocks * block_h - (blocks - 1) * 4 * kGap) / blocks;
  BOOST_TEST(png.height == 2 * kGap + blocks * (block_h + title_h) + (blocks - 1) * 4 * kGap);
  BOOST_TEST(strip > 12);  // at least a digit and a gap
  if (titled) {
    BOOST_TEST(title_h > 16);
  } else {
    BOOST_TEST(title_h == 0);
  }
  int top = kGap;
  for (int b = 0; b < blocks; ++b) {
    if (titled) {
      BOOST_TEST(dark_pixels(png, kGap + strip, top, png.width, top + title_h) > 30,
                 "block " << b << " title");
    }
    top += title_h;
    for (int r = 0; r < kClasses; ++r) {
      const int y0 = top + r * (kCell + kGap);
      BOOST_TEST(dark_pixels(png, 0, y0, kGap + strip, y0 + kCell) > 10,
                 "block " << b << " row " << r << " label");
      // Nothing above or below the label, in the gap to the next row.
      BOOST_TEST(dark_pixels(png, 0, y0 + kCell + 1, kGap + strip, y0 + kCell + kGap - 1) == 0);
    }
    top += block_h + 4 * kGap;
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(distill_grid_names_its_rows_and_blocks) {
  TempDir scratch("cli_grid");
  const std::string data = scratch.file("data");
  write_idx_folder(data, 200, 40, 8, kClasses);
  // Fashion-MNIST files of any size carry its class names.
  const RunResult real = run_cli("distill --dataset fashion-mnist --data " + data + " --out " +
                                     scratch.file("real") + " --quiet --ipc 1 --init real",
                                 scratch.path);
  BOOST_TEST_REQUIRE(real.exit_code == 0, real.err);
  check_grid(scratch.file("real") + "/grid.png", 2, true);
  // "T-shirt/top" and "Ankle boot" need a wider strip than "0".."9".
  const RunResult noise = run_cli("distill --dataset idx --data " + data + " --out " +
                                      scratch.file("noise") + " --quiet --init noise",
                                  scratch.path);
  BOOST_TEST_REQUIRE(noise.exit_code == 0, noise.err);
  check_grid(scratch.file("noise") + "/grid.png", 1, false);
  BOOST_TEST(decode_png(scratch.file("real") + "/grid.png").width >
             decode_png(scratch.file("noise") + "/grid.png").width + 40);
}

BOOST_AUTO_TEST_CASE(kip_grid_names_its_rows_and_blocks) {
  TempDir scratch("cli_grid");
  const std::string data = scratch.file("data");
  write_idx_folder(data, 200, 40, 8, kClasses);
  const RunResult r = run_cli("kip --dataset fashion-mnist --data " + data + " --out " +
                                  scratch.file("out") + " --quiet --ipc 1 --steps 2 --batch 40",
                              scratch.path);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  check_grid(scratch.file("out") + "/grid.png", 2, true);
}
