// Pixels to model inputs: [0,1] scaling, per-channel standardisation with the
// training set's mean and std, optional ZCA whitening; each with an exact
// inverse so that model-space images can be shown as pixels.
#pragma once

#include <armadillo>
#include <vector>

#include "krrdistill/image.hpp"

namespace krrdistill {

struct Preprocessor {
  ImageShape shape;
  arma::vec channel_mean;  // of pixels/255, per channel
  arma::vec channel_std;
  bool zca = false;
  double zca_reg = 0.0;  // absolute regulariser added to the covariance eigenvalues
  // With S = (1/n) Σ x xᵀ of standardised images = V diag(e) Vᵀ:
  // whiten = V diag((e + reg)^-1/2) Vᵀ and its exact inverse V diag((e + reg)^1/2) Vᵀ.
  // Both kept because every chunk of every pass applies one of them.
  arma::mat zca_whiten;
  arma::mat zca_unwhiten;
};

// Statistics from the training pixels only. zca_reg_fraction scales the mean
// eigenvalue of the standardised covariance (0.1 in the KIP and Chen et al.
// CIFAR experiments). The streamed fit (stream.hpp) on these pixels, in
// chunks of 4096, one process: exact channel sums, exact ZCA moments.
Preprocessor fit_preprocessor(const PixelMatrix& train, const ImageShape& shape, bool zca,
                              double zca_reg_fraction);

// Exact integer sums over the values v ∈ {0…255} of one channel of the
// training images: how many, Σ v and Σ v².
struct ChannelSums {
  unsigned __int128 count = 0, sum = 0, square_sum = 0;
};
// Each channel's mean and std (of pixels/255) from its exact sums: the
// variance's numerator count·Σv² − (Σv)² is an exact integer, so the
// channel sums and the pixel moments (pixel_moments.hpp) give the same bits. Refuses a
// constant channel.
void set_channel_moments(Preprocessor& pre, const std::vector<ChannelSums>& sums);

// Model inputs (d×count) for pixel columns [first, first + count).
arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword first,
                         arma::uword count);

// Model inputs of pixel columns [column, column + count) written into X
// (resized to d×count, its memory reused when large enough; scratch likewise
// for ZCA): the same numbers as to_model_input, without a new d×chunk matrix
// per chunk, so that a pass holds the same memory from chunk to chunk.
void model_inputs_into(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, arma::mat& X, arma::mat& scratch);
// The same in single precision, each value the double one rounded once: the
// inputs of a pass whose features are floats (docs/design.md §12).
void model_inputs_into(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, arma::fmat& X, arma::mat& scratch);

// The model inputs are an affine map of the pixel values q ∈ {0…255},
// z = T q + t (T diagonal for standardisation, the whitening times it for
// ZCA). For a matrix M acting on the inputs (d columns): (M T)ᵀ, each row
// of M T as a column (d×rows, the layout its user reads it in, in one
// matrix of that size), with M t into offset. A pass that forms M z from
// the pixels themselves (pixel_features.hpp) needs nothing else of the
// preprocessing.
arma::mat compose_with_inputs(const Preprocessor& pre, const arma::mat& M, arma::vec& offset);

// Model inputs for the listed pixel columns.
arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels,
                         const arma::uvec& columns);

// The same in single precision, each value the double one rounded once: KIP's
// batch when its products are float (docs/design.md §4), in half the memory.
arma::fmat to_model_input_single(const Preprocessor& pre, const PixelMatrix& pixels,
                                 const arma::uvec& columns);

// Model inputs (v − mean_j)/std_j of a feature matrix's values (p×count,
// docs/design.md §11; shape {p, 1, 1}, one feature a channel); without
// standardisation mean 0 and std 1, so the inputs are the values.
arma::mat feature_inputs(const Preprocessor& pre, const arma::mat& values);
// Exact inverse of to_model_input, giving pixel values on [0,1] (not clipped).
arma::mat to_pixel_space(const Preprocessor& pre, const arma::mat& X);

}  // namespace krrdistill
