#define BOOST_TEST_MODULE image_grid
#include <unistd.h>

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
#include "krrdistill/image_grid.hpp"

namespace fs = std::filesystem;
using fixtures::Bytes;
using fixtures::read_bytes;
using fixtures::TempDir;
using krrdistill::GridBlock;
using krrdistill::ImageShape;

namespace {

struct Png : fixtures::PngPixels {
  int at(int x, int y, int ch = 0) const {
    return data.at((static_cast<std::size_t>(y) * width + x) * comp + ch);
  }
};

// The PNG file at path, decoded, with this suite's pixel accessors.
Png read_png(const std::string& path) {
  return {fixtures::decode_png(path)};
}

// Grey 5 (high) × 4 (wide): image k pixel (y, x) = (20k + 4y + x)/255, all
// distinct and exactly representable as bytes.
const ImageShape kGrey{1, 5, 4};
int grey_value(int k, int y, int x) {
  return 20 * k + 4 * y + x;
}

GridBlock grey_block() {
  GridBlock block;
  block.rows = 2;
  block.cols = 3;
  block.images.set_size(kGrey.size(), 6);
  for (int k = 0; k < 6; ++k) {
    for (int y = 0; y < 5; ++y) {
      for (int x = 0; x < 4; ++x) block.images(y * 4 + x, k) = grey_value(k, y, x) / 255.0;
    }
  }
  return block;
}

// 1×2 block for clipping: image 0 all -0.5 with a NaN at (0, 0), image 1 all
// 1.7 with 0.25 at (4, 3).
GridBlock clip_block() {
  GridBlock block;
  block.rows = 1;
  block.cols = 2;
  block.images.set_size(kGrey.size(), 2);
  block.images.col(0).fill(-0.5);
  block.images(0, 0) = std::numeric_limits<double>::quiet_NaN();
  block.images.col(1).fill(1.7);
  block.images(4 * 4 + 3, 1) = 0.25;
  return block;
}

}  // namespace

BOOST_AUTO_TEST_CASE(default_upscale_targets_about_112_pixels) {
  BOOST_TEST(krrdistill::default_upscale(ImageShape{1, 28, 28}) == 4u);
  BOOST_TEST(krrdistill::default_upscale(ImageShape{3, 32, 32}) == 4u);
  BOOST_TEST(krrdistill::default_upscale(ImageShape{1, 8, 8}) == 14u);
  BOOST_TEST(krrdistill::default_upscale(ImageShape{1, 112, 112}) == 1u);
  BOOST_TEST(krrdistill::default_upscale(ImageShape{3, 224, 224}) == 1u);
}

BOOST_AUTO_TEST_CASE(grey_grid_layout_values_and_gaps) {
  TempDir tmp("grid");
  const std::string path = tmp.file("grey.png");
  const int u = 3;
  krrdistill::write_image_grid(path, {grey_block()}, kGrey, u);
  const Png png = read_png(path);

  // Width: margin 3 + 3 images of 12 + 2 gaps of 3 + margin 3 = 48.
  // Height: margin 3 + 2 images of 15 + 1 gap of 3 + margin 3 = 39.
  BOOST_TEST(png.comp == 1);
  BOOST_TEST(png.width == 48);
  BOOST_TEST(png.height == 39);

  // Every upscaled pixel of every image, read back at its place.
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) {
      const int k = r * 3 + c;
      const int x0 = u + c * (4 * u + u);
      const int y0 = u + r * (5 * u + u);
      for (int y = 0; y < 5 * u; ++y) {
        for (int x = 0; x < 4 * u; ++x) {
          BOOST_TEST_REQUIRE(png.at(x0 + x, y0 + y) == grey_value(k, y / u, x / u),
                             "image " << k << " pixel (" << y << ", " << x << ")");
        }
      }
    }
  }
  // A few by hand: image (1, 2) = k 5 starts at x 33, y 21; its last source
  // pixel (4, 3) covers x 42..44, y 33..35.
  BOOST_TEST(png.at(33, 21) == 100);
  BOOST_TEST(png.at(44, 35) == 119);
  BOOST_TEST(png.at(3, 3) == 0);

  // Margins and gaps are background grey.
  for (int x = 0; x < png.width; ++x) {
    for (int y : {0, 2, 18, 20, 36, 38}) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
  }
  for (int y = 0; y < png.height; ++y) {
    for (int x : {0, 2, 15, 17, 30, 32, 45, 47}) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
  }
}

BOOST_AUTO_TEST_CASE(second_block_placement_and_clipping) {
  TempDir tmp("grid");
  const std::string path = tmp.file("two_blocks.png");
  const int u = 3;
  krrdistill::write_image_grid(path, {grey_block(), clip_block()}, kGrey, u);
  const Png png = read_png(path);

  // Height: 39 - 3 (first block) + block gap 12 + 15 + margin 3 = 66; width
  // from the wider first block.
  BOOST_TEST(png.comp == 1);
  BOOST_TEST(png.width == 48);
  BOOST_TEST(png.height == 66);

  // The first block ends at y 36; the gap between blocks is y 36..47.
  for (int y = 36; y < 48; ++y) {
    for (int x = 0; x < png.width; ++x) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
  }
  // Second block: image 0 at x 3..14, image 1 at x 18..29, y 48..62.
  BOOST_TEST(png.at(3, 48) == 0);     // NaN -> 0
  BOOST_TEST(png.at(5, 50) == 0);     // still the NaN pixel (upscaled)
  BOOST_TEST(png.at(6, 48) == 0);     // -0.5 -> 0
  BOOST_TEST(png.at(14, 62) == 0);    // -0.5 -> 0
  BOOST_TEST(png.at(18, 48) == 255);  // 1.7 -> 255
  BOOST_TEST(png.at(26, 59) == 255);  // 1.7 -> 255
  BOOST_TEST(png.at(27, 60) == 64);   // 0.25 -> round(63.75)
  BOOST_TEST(png.at(29, 62) == 64);
  // Gap between the two images, and the empty area right of the narrower block.
  for (int y = 48; y < 63; ++y) {
    for (int x : {15, 17}) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
    for (int x = 30; x < png.width; ++x) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
  }
  for (int y = 63; y < 66; ++y) {
    for (int x = 0; x < png.width; ++x) BOOST_TEST_REQUIRE(png.at(x, y) == 128);
  }
}

BOOST_AUTO_TEST_CASE(rgb_grid_is_channel_first_to_rgb) {
  TempDir tmp("grid");
  const std::string path = tmp.file("rgb.png");
  const ImageShape shape{3, 8, 8};
  const arma::uword plane = 64;
  // Image 0: R = x/7, G = y/7, B = 0.5; image 1: pure red with B = 0.25.
  GridBlock block;
  block.rows = 1;
  block.cols = 2;
  block.images.zeros(shape.size(), 2);
  for (arma::uword y = 0; y < 8; ++y) {
    for (arma::uword x = 0; x < 8; ++x) {
      block.images(0 * plane + y * 8 + x, 0) = x / 7.0;
      block.images(1 * plane + y * 8 + x, 0) = y / 7.0;
      block.images(2 * plane + y * 8 + x, 0) = 0.5;
      block.images(0 * plane + y * 8 + x, 1) = 1.0;
      block.images(2 * plane + y * 8 + x, 1) = 0.25;
    }
  }
  const int u = 2;
  krrdistill::write_image_grid(path, {block}, shape, u);
  const Png png = read_png(path);

  // Width: 2 + 16 + 2 + 16 + 2 = 38; height: 2 + 16 + 2 = 20.
  BOOST_TEST(png.comp == 3);
  BOOST_TEST(png.width == 38);
  BOOST_TEST(png.height == 20);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) {
      const int px = 2 + x;
      const int py = 2 + y;
      BOOST_TEST_REQUIRE(png.at(px, py, 0) == std::lround(255.0 * (x / 2) / 7.0));
      BOOST_TEST_REQUIRE(png.at(px, py, 1) == std::lround(255.0 * (y / 2) / 7.0));
      BOOST_TEST_REQUIRE(png.at(px, py, 2) == 128);  // round(127.5) rounds up
      BOOST_TEST_REQUIRE(png.at(20 + x, py, 0) == 255);
      BOOST_TEST_REQUIRE(png.at(20 + x, py, 1) == 0);
      BOOST_TEST_REQUIRE(png.at(20 + x, py, 2) == 64);
    }
  }
  BOOST_TEST(png.at(17, 2, 0) == 255);  // R of image 0's last column (x = 7)
  BOOST_TEST(png.at(2, 17, 1) == 255);  // G of image 0's last row
  // Gaps are the same grey in all three channels.
  for (int ch = 0; ch < 3; ++ch) {
    BOOST_TEST(png.at(0, 0, ch) == 128);
    BOOST_TEST(png.at(18, 10, ch) == 128);
    BOOST_TEST(png.at(19, 10, ch) == 128);
    BOOST_TEST(png.at(37, 19, ch) == 128);
  }
}

// Text pixels: the labels are near-black on the grey background.
long dark_pixels(const Png& png, int x0, int y0, int x1, int y1) {
  long n = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      bool dark = true;
      for (int ch = 0; ch < png.comp; ++ch) dark = dark && png.at(x, y, ch) < 64;
      n += dark;
    }
  }
  return n;
}

BOOST_AUTO_TEST_CASE(row_labels_and_titles_shift_the_images) {
  TempDir tmp("grid");
  const int u = 3;  // images 15 px high: the smallest text, 11 px
  krrdistill::write_image_grid(tmp.file("bare.png"), {grey_block(), clip_block()}, kGrey, u);
  GridBlock labelled = grey_block();
  labelled.row_labels = {"T-shirt/top", "Trouser"};
  GridBlock titled = clip_block();
  titled.row_labels = {"Bag"};
  titled.title = "start";  // narrower than the blocks, so it does not widen the grid
  krrdistill::write_image_grid(tmp.file("labelled.png"), {labelled, titled}, kGrey, u);
  const Png bare = read_png(tmp.file("bare.png"));
  const Png png = read_png(tmp.file("labelled.png"));

  // A strip for the labels at the left, a band for the title above block 2.
  const int strip = png.width - bare.width;
  const int title_h = png.height - bare.height;
  BOOST_TEST(strip > 40);  // "T-shirt/top" at 11 px is about 60 px wide
  BOOST_TEST(strip < 120);
  BOOST_TEST(title_h >= 11);
  BOOST_TEST(title_h < 30);

  // Every image pixel, gap and margin right of the strip is where it was,
  // shifted right by the strip and, in block 2 (from y 48), down by the band.
  for (int y = 0; y < bare.height; ++y) {
    const int shifted_y = y < 48 ? y : y + title_h;
    for (int x = u; x < bare.width; ++x) {
      BOOST_TEST_REQUIRE(png.at(x + strip, shifted_y) == bare.at(x, y),
                         "pixel (" << x << ", " << y << ")");
    }
  }
  // Each row's label lies in the strip beside its row (rows at y 3..17,
  // 21..35 and, below the band, 48 + title_h .. + 14); the band holds the title.
  BOOST_TEST(dark_pixels(png, 0, 3, strip + u, 18) > 15);
  BOOST_TEST(dark_pixels(png, 0, 21, strip + u, 36) > 15);
  BOOST_TEST(dark_pixels(png, 0, 48 + title_h, strip + u, 63 + title_h) > 10);
  BOOST_TEST(dark_pixels(png, strip + u, 48, png.width, 48 + title_h) > 15);
  // No text over the images, nor between the blocks.
  BOOST_TEST(dark_pixels(png, 0, 38, png.width, 46) == 0);
  BOOST_TEST(dark_pixels(png, strip + u, 0, png.width, 36) ==
             dark_pixels(bare, u, 0, bare.width, 36));
}

BOOST_AUTO_TEST_CASE(a_wide_title_widens_the_grid) {
  TempDir tmp("grid");
  GridBlock block = grey_block();  // 48 px wide without a title
  block.title = "a title much wider than the images";
  krrdistill::write_image_grid(tmp.file("title.png"), {block}, kGrey, 3);
  const Png png = read_png(tmp.file("title.png"));
  BOOST_TEST(png.width > 150);
  // The text reaches into the right half, above the images (which start
  // below the band, at the same place as without labels plus its height).
  const int band = png.height - 39;
  BOOST_TEST(dark_pixels(png, png.width / 2, 0, png.width, 3 + band) > 15);
  BOOST_TEST(png.at(33, 21 + band) == 100);
}

BOOST_AUTO_TEST_CASE(labels_are_cut_and_cleaned) {
  TempDir tmp("grid");
  const auto grid = [&](const std::string& name, const std::string& label) {
    GridBlock block = clip_block();
    block.row_labels = {label};
    krrdistill::write_image_grid(tmp.file(name), {block}, kGrey, 3);
    return read_bytes(tmp.file(name));
  };
  // Past 24 characters a label ends in an ellipsis; invalid UTF-8 shows as
  // '?', control characters as spaces; UTF-8 letters are kept.
  BOOST_TEST((grid("long.png", std::string(1000, 'W')) ==
              grid("cut.png", std::string(24, 'W') + "\u2026")));
  BOOST_TEST((grid("invalid.png", "Bag\xFF\tx") == grid("shown.png", "Bag? x")));
  BOOST_TEST((grid("utf8.png", "Ankle b\xC3\xB6ot") != grid("ascii.png", "Ankle b?ot")));
  const Png cut = read_png(tmp.file("cut.png"));
  BOOST_TEST(cut.width < 24 * 12 + 40);
}

BOOST_AUTO_TEST_CASE(rgb_labels_are_dark_in_every_channel) {
  TempDir tmp("grid");
  const ImageShape shape{3, 8, 8};
  GridBlock block;
  block.rows = 2;
  block.cols = 1;
  block.images.ones(shape.size(), 2);
  block.row_labels = {"cat", "dog"};
  krrdistill::write_image_grid(tmp.file("rgb.png"), {block}, shape, 2);
  const Png png = read_png(tmp.file("rgb.png"));
  BOOST_TEST(png.comp == 3);
  // Width 2 + strip + 16 + 2: the white images fill the last 18 columns but two.
  const int strip = png.width - 20;
  BOOST_TEST(strip > 10);
  BOOST_TEST(dark_pixels(png, 0, 2, strip + 2, 18) > 5);
  BOOST_TEST(dark_pixels(png, 0, 20, strip + 2, 36) > 5);
  BOOST_TEST(png.at(strip + 2, 2, 0) == 255);
  BOOST_TEST(png.at(strip + 17, 35, 2) == 255);
}

BOOST_AUTO_TEST_CASE(same_input_gives_identical_bytes) {
  TempDir tmp("grid");
  const std::string a = tmp.file("a.png");
  const std::string b = tmp.file("b.png");
  const std::string other = tmp.file("other.png");
  std::vector<GridBlock> blocks{grey_block(), clip_block()};
  blocks[0].row_labels = {"Pullover", "Coat"};
  blocks[1].title = "start images";
  krrdistill::write_image_grid(a, blocks, kGrey, 3);
  krrdistill::write_image_grid(b, blocks, kGrey, 3);
  const Bytes bytes_a = read_bytes(a);
  BOOST_TEST(!bytes_a.empty());
  BOOST_TEST((bytes_a == read_bytes(b)));

  // Sanity check that the comparison can fail: one changed pixel changes the file.
  std::vector<GridBlock> changed = blocks;
  changed[0].images(0, 0) = 1.0;
  krrdistill::write_image_grid(other, changed, kGrey, 3);
  BOOST_TEST((bytes_a != read_bytes(other)));

  // Overwriting an existing file works (atomic replace).
  krrdistill::write_image_grid(a, changed, kGrey, 3);
  BOOST_TEST((read_bytes(a) == read_bytes(other)));
}

BOOST_AUTO_TEST_CASE(invalid_input_is_an_error) {
  TempDir tmp("grid");
  const std::string path = tmp.file("bad.png");

  // Channel counts other than 1 and 3.
  for (arma::uword channels : {0u, 2u, 4u}) {
    const ImageShape shape{channels, 4, 4};
    GridBlock block;
    block.rows = 1;
    block.cols = 1;
    block.images.zeros(shape.size(), 1);
    BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {block}, shape, 2), krrdistill::Error);
  }

  // Wrong number of pixels per image, and wrong number of images.
  GridBlock wrong_d = grey_block();
  wrong_d.images.resize(kGrey.size() + 1, 6);
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {wrong_d}, kGrey, 2), krrdistill::Error);
  GridBlock wrong_n = grey_block();
  wrong_n.cols = 4;
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {wrong_n}, kGrey, 2), krrdistill::Error);
  // A bad second block is caught too.
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {grey_block(), wrong_d}, kGrey, 2),
                    krrdistill::Error);

  // One label per row, or none.
  GridBlock mislabelled = grey_block();
  mislabelled.row_labels = {"only one"};
  BOOST_CHECK_EXCEPTION(krrdistill::write_image_grid(path, {mislabelled}, kGrey, 2),
                        krrdistill::Error, [](const krrdistill::Error& e) {
                          return std::string(e.what()).find("1 row labels for 2 rows") !=
                                 std::string::npos;
                        });

  // No blocks, an empty block, upscale 0.
  BOOST_CHECK_EXCEPTION(krrdistill::write_image_grid(path, {}, kGrey, 2), krrdistill::Error,
                        [](const krrdistill::Error& e) {
                          return std::string(e.what()).find("no blocks") != std::string::npos;
                        });
  GridBlock empty;
  empty.images.set_size(kGrey.size(), 0);
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {empty}, kGrey, 2), krrdistill::Error);
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {grey_block()}, kGrey, 0),
                    krrdistill::Error);

  // A canvas too large for stb's int sizes is refused, not wrapped around.
  BOOST_CHECK_THROW(krrdistill::write_image_grid(path, {grey_block()}, kGrey, arma::uword(1) << 40),
                    krrdistill::Error);

  // Nothing was written by any failed call.
  BOOST_TEST(!fs::exists(path));
}
