// A nonlinear map's first layer on the pixels themselves, through an exact
// integer product (docs/design.md §12, "Integer features").
#pragma once

#include <armadillo>
#include <cstdint>
#include <vector>

#include "krrdistill/features.hpp"
#include "krrdistill/image.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

// The first layer's pre-activations M z (+ b for RFF) of the model inputs
// z = T q + t are Ã q + c in the pixel values q ∈ {0…255}, Ã = M T,
// c = M t (+ b) (compose_with_inputs). Each row of Ã is rounded to a
// multiple of its largest entry / 2139062143 (31 bits) and written in four
// signed bytes; oneDNN's u8×s8 product gives each byte's sums over the
// pixels exactly in 32 bits, and they are put back together exactly (in
// double, each step an integer below 2^53).
// A row is then one multiplication and one addition in double away from
// its value, then rounded to float once: within half a float ulp and the
// row's rounding (half a step times Σ q) of M z + b, against the d
// roundings of the float product of rounded inputs; and the same bits for
// any chunking or thread count.
class PixelFeatures {
 public:
  // Whether the pixel path can be taken for a map on images of d values:
  // a nonlinear map, a CPU whose integer product is exact
  // (integer_product_is_exact), and d small enough that every sum is exact
  // (at most 16,448 values).
  static bool available(const FeatureMap& map, arma::uword d);

  // The bytes the pixel path holds for a first layer of `width` outputs on
  // images of d values (the composed layer while it is built, the digits,
  // each thread's sums): 0 where it is not taken.
  static double buffer_bytes(arma::uword d, arma::uword width);

  // map is kept by reference and must outlive this; pre is not kept.
  PixelFeatures(const FeatureMap& map, const Preprocessor& pre);

  // Features (p×count, single precision) of pixel columns [column,
  // column + count) into Phi, already p×count. Not to be called from two
  // threads at once (each call runs on every OpenMP thread).
  void features_into(const PixelMatrix& pixels, arma::uword column, arma::uword count,
                     arma::fmat& Phi) const;

 private:
  const FeatureMap* map_;
  arma::uword d_ = 0, width_ = 0;  // pixels, first layer's outputs
  // d × 4·width, row-major: byte t of output r at column t·width + r.
  std::vector<std::int8_t> digits_;
  arma::vec scale_, offset_;  // per output: Ã_r ≈ scale_r × its integer row
  // Each thread's 32-bit sums, kept for the object's life (one pass).
  mutable std::vector<std::vector<std::int32_t>> thread_sums_;

  // Pre-activations of pixel columns [column, column + count) into H
  // (width×count).
  void first_layer_into(const PixelMatrix& pixels, arma::uword column, arma::uword count,
                        arma::fmat& H) const;
};

namespace detail {

// One image's 4·width byte sums (byte t of output r at t·width + r) put
// back together, Σ_t s_t 256^t, times scale_r plus offset_r, rounded to
// float into out[r]. In double, every step exact for images of at most
// 16,448 values (docs/design.md §12). Public for its test.
void join_digit_sums(const std::int32_t* sums, arma::uword width, const double* scale,
                     const double* offset, float* out);

}  // namespace detail

}  // namespace krrdistill
