#include "krrdistill/image_grid.hpp"

#include <cairo.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cairo_text.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/png.hpp"

namespace krrdistill {

namespace {

// Mid grey, so that black and white image borders both stand out from it.
constexpr unsigned char kBackground = 128;

// Target display height of one image in pixels (a 28-pixel image -> 4×).
constexpr arma::uword kTargetHeight = 112;

// Longest row label and block title, in characters.
constexpr std::size_t kMaxLabelChars = 24, kMaxTitleChars = 80;

// Text height in pixels for images shown cell_h pixels high: a seventh of
// it (16 px for the default 112), never below 11 px so it stays legible.
double font_size(arma::uword cell_h) {
  return std::clamp(std::round(cell_h / 7.0), 11.0, 28.0);
}
int line_height(double size) {
  return static_cast<int>(std::ceil(1.25 * size));
}

int width_of(cairo_t* cr, const std::string& text) {
  return static_cast<int>(std::ceil(detail::text_width(cr, text)));
}

// Darkens canvas (width pixels a row, comp bytes a pixel) with the coverage
// of text whose top of capitals is at (x, y): dark text on any background.
// Drawn into a small alpha surface, with room for ascenders, accents and
// descenders around the line, so the grid's size is not bounded by cairo's.
void draw_text(std::vector<unsigned char>& canvas, arma::uword width, arma::uword comp,
               const std::string& text, double size, arma::uword x, arma::uword y,
               const std::string& where) {
  const int pad = static_cast<int>(std::ceil(0.3 * size));
  detail::Drawing measure = detail::make_drawing(CAIRO_FORMAT_A8, 1, 1, where);
  detail::use_font(measure.cr.get(), size);
  const int w = width_of(measure.cr.get(), text) + 2 * pad;
  const int h = static_cast<int>(std::ceil(size)) + 2 * pad;
  detail::Drawing strip = detail::make_drawing(CAIRO_FORMAT_A8, w, h, where);
  cairo_t* cr = strip.cr.get();
  detail::use_font(cr, size);
  cairo_set_source_rgba(cr, 0, 0, 0, 1);
  cairo_move_to(cr, pad, pad + detail::cap_height(size));
  cairo_show_text(cr, text.c_str());
  detail::check(cr, where);
  cairo_surface_flush(strip.surface.get());
  const unsigned char* alpha = cairo_image_surface_get_data(strip.surface.get());
  const int stride = cairo_image_surface_get_stride(strip.surface.get());
  const long long height = static_cast<long long>(canvas.size() / (width * comp));
  for (int r = 0; r < h; ++r) {
    const long long cy = static_cast<long long>(y) + r - pad;
    if (cy < 0 || cy >= height) continue;
    for (int c = 0; c < w; ++c) {
      const long long cx = static_cast<long long>(x) + c - pad;
      if (cx < 0 || cx >= static_cast<long long>(width)) continue;
      const unsigned a = alpha[r * stride + c];
      unsigned char* px = canvas.data() + (cy * width + cx) * comp;
      for (arma::uword ch = 0; ch < comp; ++ch) px[ch] = (px[ch] * (255 - a) + 127) / 255;
    }
  }
}

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
    if (!block.row_labels.empty() && block.row_labels.size() != block.rows) {
      throw Error(where + "block " + std::to_string(b) + " has " +
                  std::to_string(block.row_labels.size()) + " row labels for " +
                  std::to_string(block.rows) + " rows");
    }
  }

  // Layout: an outer margin and a gap between images of one source pixel
  // (upscale), and a wider gap of 4·upscale between blocks; the row labels
  // in a strip at the left, block titles in a band above their block.
  // Computed in long double first so that absurd sizes are rejected instead
  // of wrapping.
  const arma::uword cell_h = shape.height * upscale;
  const arma::uword cell_w = shape.width * upscale;
  const arma::uword gap = upscale;
  const arma::uword block_gap = 4 * upscale;
  const long double u = static_cast<long double>(upscale);
  const long double cell_h_ld = shape.height * u;
  const double text_size = font_size(cell_h_ld > 1e6L ? 1000000 : cell_h);
  std::vector<std::vector<std::string>> labels(blocks.size());
  std::vector<std::string> titles(blocks.size());
  int label_w = 0, title_w = 0;
  {
    detail::Drawing measure = detail::make_drawing(CAIRO_FORMAT_A8, 1, 1, where);
    detail::use_font(measure.cr.get(), text_size);
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      for (const std::string& label : blocks[b].row_labels) {
        labels[b].push_back(detail::clean_text(label, kMaxLabelChars));
        label_w = std::max(label_w, width_of(measure.cr.get(), labels[b].back()));
      }
      titles[b] = detail::clean_text(blocks[b].title, kMaxTitleChars);
      if (!titles[b].empty()) title_w = std::max(title_w, width_of(measure.cr.get(), titles[b]));
    }
  }
  // Half a line of space between a label and its row's first image.
  const arma::uword strip_w =
      label_w > 0 ? static_cast<arma::uword>(label_w + line_height(text_size) / 2) : 0;
  const arma::uword title_h = static_cast<arma::uword>(line_height(text_size)) + gap;
  long double total_w = title_w;
  long double total_h = 2.0L * u + (blocks.size() - 1.0L) * 4.0L * u;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const GridBlock& block = blocks[b];
    const long double w = block.cols * (shape.width * u) + (block.cols - 1.0L) * u;
    total_w = std::max(total_w, w);
    total_h += block.rows * cell_h_ld + (block.rows - 1.0L) * u + (titles[b].empty() ? 0 : title_h);
  }
  total_w += 2.0L * gap + strip_w;
  const arma::uword comp = shape.channels;
  // stb takes int sizes and an int row stride, and sizes its filtered rows,
  // a byte a row more than the pixels, in an int; keep the buffer modest too.
  if (total_w * comp > INT_MAX || total_h > INT_MAX ||
      (total_w * comp + 1.0L) * total_h > INT_MAX - 64.0L) {
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
  const arma::uword images_left = gap + strip_w;
  arma::uword top = gap;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const GridBlock& block = blocks[b];
    if (!titles[b].empty()) {
      draw_text(canvas, width, comp, titles[b], text_size, images_left, top, where);
      top += title_h;
    }
    for (arma::uword r = 0; r < block.rows; ++r) {
      const arma::uword y0 = top + r * (cell_h + gap);
      if (!labels[b].empty()) {
        // Centred on the row.
        const double y = y0 + cell_h / 2.0 - detail::cap_height(text_size) / 2.0;
        draw_text(canvas, width, comp, labels[b][r], text_size, gap,
                  static_cast<arma::uword>(std::lround(y)), where);
      }
      for (arma::uword c = 0; c < block.cols; ++c) {
        const double* src = block.images.colptr(r * block.cols + c);
        for (arma::uword i = 0; i < d; ++i) pixels[i] = to_byte(src[i]);
        const arma::uword x0 = images_left + c * (cell_w + gap);
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
