// Exact moments of raw uint8 pixels, and a linear model's statistics from
// them (docs/design.md §2, "Integer moments"). Σ q qᵀ, Σ q and the per-class
// sums of pixel values q ∈ {0…255} are integers: formed in single precision
// from q − 128 on blocks of at most 1024 images no partial sum passes 2^24,
// so nothing is rounded, and their sums in double stay below 2^53; where the
// CPU has VNNI, oneDNN's 8-bit integer product forms them in 32-bit integers
// instead, about 2.7 times as fast. The result is the same bits for either
// product, any chunk, thread or process count and any order of the blocks.
// A linear model's inputs are an affine function of q (standardisation,
// then ZCA), so its G and B follow exactly from these sums with one p×p
// transform.
#pragma once
#include <armadillo>

#include "krrdistill/distributed.hpp"
#include "krrdistill/image.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

// Samples whose moments stay exact: Σ q² ≤ 65025 n below 2^53 (about 1.4e11).
constexpr double kMaxMomentSamples = 9007199254740992.0 / 65025.0;

struct PixelMoments {
  arma::mat gram;          // d×d, Σ q qᵀ (the lower triangle; the upper is not kept)
  arma::mat class_sums;    // d×k, column c = Σ q over the samples of class c
  arma::vec class_counts;  // k
  arma::uword count = 0;
};

PixelMoments zero_pixel_moments(arma::uword d, arma::uword k);

// The product that forms the sums (docs/design.md §2, "Integer moments");
// both are exact, so they give the same bits.
enum class MomentsProduct {
  float32,  // SSYRK of q − 128 on blocks of at most 1024 images, one a thread
  int8,     // oneDNN's u8×s8 GEMM with 32-bit sums: exact only on VNNI CPUs
};
// Whether oneDNN runs its u8×s8 GEMM with 32-bit sums on VNNI instructions
// (AVX-512 VNNI or AVX-VNNI), whose sums never saturate, so that every entry
// is exact; without VNNI the 8-bit products are summed in pairs in 16 bits,
// which saturate. The pixel features (pixel_features.hpp) use it too.
bool integer_product_is_exact();
// int8 where the integer product is exact, float32 elsewhere.
MomentsProduct fastest_moments_product();
// oneDNN builds its integer product's kernels at their first use, about
// 12 ms on the benchmarks' machine, for the moments and the pixel features
// (pixel_features.hpp) alike. For a caller with a thread to spare before
// its first pass (while the data loads): builds them now. Nothing where the
// integer product is not exact, and so not used.
void prepare_integer_product();
// The bytes the product's buffers take while the sums are formed.
double pixel_moments_buffer_bytes(arma::uword d, arma::uword k, MomentsProduct product);

// Adds pixel columns [column, column + count) with their labels (count
// entries, each < k); on every OpenMP thread. Asking for int8 where it is not
// exact is an error.
void add_pixel_moments(PixelMoments& moments, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, const arma::uvec& labels,
                       MomentsProduct product = fastest_moments_product());
// Adds the listed pixel columns with their labels.
void add_pixel_moments(PixelMoments& moments, const PixelMatrix& pixels, const arma::uvec& columns,
                       const arma::uvec& labels,
                       MomentsProduct product = fastest_moments_product());

// Sums over the processes of comm (exact: the entries are integers).
void allreduce_sum(const Communicator& comm, PixelMoments& moments);

// The moments of the samples in all but not in part (exact).
PixelMoments minus(const PixelMoments& all, const PixelMoments& part);
// The moments of the samples of a and of b together (exact).
PixelMoments plus(const PixelMoments& a, const PixelMoments& b);

// G = Σ x xᵀ and B = Σ y xᵀ (one-hot y) of the model inputs x = pre(q): with
// x = a∘q + b per channel (a = 1/(255σ), b = −μ/σ), G = D R D + D s bᵀ +
// b sᵀ D + n b bᵀ (D = diag a, s = Σ q) in extended precision, then
// Z G Z and B Z when pre whitens.
Statistics linear_statistics(const Preprocessor& pre, const PixelMoments& moments);

// The preprocessing fitted from the training pixels' moments, the same bits
// as fit_preprocessor's (stream.hpp): each channel's mean and std from its
// exact sums (Σ q from the class sums, Σ q² from the diagonal of Σ q qᵀ),
// and for ZCA the eigendecomposition of the standardised second moment
// G/n on rank 0, broadcast.
Preprocessor preprocessor_from_moments(const ImageShape& shape, const PixelMoments& moments,
                                       bool zca, double zca_reg_fraction, const Communicator& comm);

}  // namespace krrdistill
