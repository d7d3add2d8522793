// PNG grids of images (stb_image_write), their rows and blocks labelled
// with text drawn by cairo.
#pragma once

#include <armadillo>
#include <string>
#include <vector>

#include "krrdistill/image.hpp"

namespace krrdistill {

// A grid of images in pixel space [0,1] (values outside are clipped).
// images: d×(rows·cols), image (r, c) at column r·cols + c. Each image is
// upscaled by an integer factor (nearest neighbour), with a 1-pixel scaled gap.
// Grey for 1 channel, RGB for 3.
struct GridBlock {
  arma::mat images;
  arma::uword rows = 0;
  arma::uword cols = 0;
  // None, or one per row (e.g. its class name), written in a strip at the
  // left of the grid; long labels are cut to 24 characters.
  std::vector<std::string> row_labels;
  // If not empty, a header line above the block (e.g. "start images").
  std::string title;
};

// Blocks are stacked vertically with a wider gap between them (e.g. the
// distilled images above the real images they started from). The text is
// dark DejaVu Sans, about a seventh of an image's display height (at least
// 11 px). Same input, same bytes. Written atomically.
void write_image_grid(const std::string& path, const std::vector<GridBlock>& blocks,
                      const ImageShape& shape, arma::uword upscale);

// The default upscale so that a 28×28 image is readable (about 112 px).
arma::uword default_upscale(const ImageShape& shape);

}  // namespace krrdistill
