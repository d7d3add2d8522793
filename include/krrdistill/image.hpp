// Images as krrdistill holds them: uint8 pixels, one image per column
// (docs/design.md §1), in channel-first order.
#pragma once

#include <armadillo>
#include <cstdint>

namespace krrdistill {

using PixelMatrix = arma::Mat<std::uint8_t>;  // d×n, column = one image

// Channel-first image shape: d = channels·height·width, and a column of X
// stores channel 0 row by row, then channel 1, ... (CIFAR's own order).
struct ImageShape {
  arma::uword channels = 1;
  arma::uword height = 0;
  arma::uword width = 0;
  arma::uword size() const { return channels * height * width; }
  arma::uword channel_size() const { return height * width; }
};

}  // namespace krrdistill
