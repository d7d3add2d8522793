#include "krrdistill/image_grid.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/png.hpp"

namespace krrdistill {

namespace {

// Mid grey, so that black and white image borders both stand out from it.
constexpr unsigned char kBackground = 128;

// Target display height of one image in pixels (a 28-pixel image -> 4×).
constexpr arma::uword kTargetHeight = 112;

unsigned char to_byte(double v) {
  // NaN fails both comparisons below, so it is mapped to 0 explicitly first.
  if (std::isnan(v)) return 0;
  v = std::min(1.0, std::max(0.0, v));
  return static_cast<unsigned char>(std::lround(255.0 * v));
}

}  // namespace

arma::uword default_upscale(const ImageShape& shape) {
  if (shape.height == 0) return 1;
  return std::max<arma::uword>(1, (kTargetHeight + shape.height - 1) / shape.height);
}

void write_image_grid(const std::string& path, const std::vector<GridBlock>& blocks,
                      const ImageShape& shape, arma::uword upscale) {
  const std::string where = "image grid " + path + ": ";
  if (blocks.empty()) throw Error(where + "no blocks of images to draw");
  if (shape.channels != 1 && shape.channels != 3) {
    throw Error(where + "images must have 1 (grey) or 3 (RGB) channels, not " +
                std::to_string(shape.channels));
  }
  if (shape.height == 0 || shape.width == 0) throw Error(where + "empty image shape");
  if (upscale == 0) throw Error(where + "upscale must be at least 1");

  const arma::uword d = shape.size();
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const GridBlock& block = blocks[b];
    if (block.rows == 0 || block.cols == 0) {
      throw Error(where + "block " + std::to_string(b) + " has no rows or no columns");
    }
    if (block.images.n_rows != d || block.images.n_cols != block.rows * block.cols) {
      throw Error(where + "block " + std::to_string(b) + " has images of size " +
                  std::to_string(block.images.n_rows) + "×" + std::to_string(block.images.n_cols) +
                  ", expected " + std::to_string(d) + "×" +
                  std::to_string(block.rows * block.cols) + " (" + std::to_string(block.rows) +
                  " rows × " + std::to_string(block.cols) + " columns of " +
                  std::to_string(shape.channels) + "×" + std::to_string(shape.height) + "×" +
                  std::to_string(shape.width) + " images)");
    }
  }

  // Layout: an outer margin and a gap between images of one source pixel
  // (upscale), and a wider gap of 4·upscale between blocks. Computed in
  // long double first so that absurd sizes are rejected instead of wrapping.
  const arma::uword cell_h = shape.height * upscale;
  const arma::uword cell_w = shape.width * upscale;
  const arma::uword gap = upscale;
  const arma::uword block_gap = 4 * upscale;
  const long double u = static_cast<long double>(upscale);
  long double total_w = 0;
  long double total_h = 2.0L * u + (blocks.size() - 1.0L) * 4.0L * u;
  for (const GridBlock& block : blocks) {
    const long double w = block.cols * (shape.width * u) + (block.cols - 1.0L) * u;
    total_w = std::max(total_w, w);
    total_h += block.rows * (shape.height * u) + (block.rows - 1.0L) * u;
  }
  total_w += 2.0L * gap;
  const arma::uword comp = shape.channels;
  // stb takes int sizes and an int row stride; keep the buffer itself modest too.
  if (total_w * comp > INT_MAX || total_h > INT_MAX || total_w * total_h * comp > (1ULL << 31)) {
    throw Error(where + "grid too large (" +
                std::to_string(static_cast<unsigned long long>(total_w)) + "×" +
                std::to_string(static_cast<unsigned long long>(total_h)) +
                " pixels); use fewer images or a smaller upscale");
  }
  const arma::uword width = static_cast<arma::uword>(total_w);
  const arma::uword height = static_cast<arma::uword>(total_h);
  const arma::uword stride = width * comp;

  // Interleaved canvas (row-major, comp bytes a pixel), as stb expects.
  std::vector<unsigned char> canvas(stride * height, kBackground);
  const arma::uword plane = shape.channel_size();
  std::vector<unsigned char> pixels(d);
  arma::uword top = gap;
  for (const GridBlock& block : blocks) {
    for (arma::uword r = 0; r < block.rows; ++r) {
      for (arma::uword c = 0; c < block.cols; ++c) {
        const double* src = block.images.colptr(r * block.cols + c);
        for (arma::uword i = 0; i < d; ++i) pixels[i] = to_byte(src[i]);
        const arma::uword y0 = top + r * (cell_h + gap);
        const arma::uword x0 = gap + c * (cell_w + gap);
        for (arma::uword y = 0; y < cell_h; ++y) {
          const arma::uword sy = y / upscale;
          unsigned char* row = canvas.data() + (y0 + y) * stride + x0 * comp;
          for (arma::uword x = 0; x < cell_w; ++x) {
            const arma::uword sx = x / upscale;
            // Channel-first source to interleaved destination.
            for (arma::uword ch = 0; ch < comp; ++ch) {
              row[x * comp + ch] = pixels[ch * plane + sy * shape.width + sx];
            }
          }
        }
      }
    }
    top += block.rows * cell_h + (block.rows - 1) * gap + block_gap;
  }

  write_png(path, canvas, static_cast<int>(width), static_cast<int>(height), static_cast<int>(comp),
            where);
}

}  // namespace krrdistill
