#include "krrdistill/preprocess.hpp"

#include <array>
#include <cmath>
#include <string>

#include "krrdistill/error.hpp"

namespace krrdistill {

namespace {

// Per-channel lookup table pixel value -> standardised value.
using ChannelTable = std::array<double, 256>;

std::vector<ChannelTable> standardise_tables(const Preprocessor& pre) {
  std::vector<ChannelTable> tables(pre.shape.channels);
  for (arma::uword c = 0; c < pre.shape.channels; ++c)
    for (int v = 0; v < 256; ++v)
      tables[c][v] = (v / 255.0 - pre.channel_mean[c]) / pre.channel_std[c];
  return tables;
}

void standardise_column(const std::vector<ChannelTable>& tables, arma::uword channel_size,
                        const std::uint8_t* pixels, double* out) {
  for (arma::uword c = 0; c < tables.size(); ++c) {
    const ChannelTable& table = tables[c];
    const std::uint8_t* in = pixels + c * channel_size;
    double* o = out + c * channel_size;
    for (arma::uword i = 0; i < channel_size; ++i) o[i] = table[in[i]];
  }
}

void check_shape(const Preprocessor& pre, const PixelMatrix& pixels) {
  if (pixels.n_rows != pre.shape.size())
    throw Error("images have " + std::to_string(pixels.n_rows) +
                " values but the preprocessor expects " + std::to_string(pre.shape.size()));
}

}  // namespace

void set_channel_moments(Preprocessor& pre, const arma::umat& histograms) {
  pre.channel_mean.set_size(histograms.n_cols);
  pre.channel_std.set_size(histograms.n_cols);
  for (arma::uword c = 0; c < histograms.n_cols; ++c) {
    const arma::uword* hist = histograms.colptr(c);
    double total = 0, sum = 0;
    for (int v = 0; v < 256; ++v) {
      total += double(hist[v]);
      sum += double(hist[v]) * (v / 255.0);
    }
    const double mean = sum / total;
    double sq = 0;
    for (int v = 0; v < 256; ++v) sq += double(hist[v]) * std::pow(v / 255.0 - mean, 2);
    const double stddev = std::sqrt(sq / total);
    if (!(stddev > 0))
      throw Error("channel " + std::to_string(c) +
                  " of the training images is constant; cannot standardise");
    pre.channel_mean[c] = mean;
    pre.channel_std[c] = stddev;
  }
}

Preprocessor fit_preprocessor(const PixelMatrix& train, const ImageShape& shape, bool zca,
                              double zca_reg_fraction) {
  if (train.n_cols == 0) throw Error("no training images");
  if (train.n_rows != shape.size()) throw Error("image shape does not match the data");
  Preprocessor pre;
  pre.shape = shape;
  // Exact mean and variance from a 256-bin histogram per channel: one cheap
  // pass over the uint8 pixels, no rounding drift from summing 47M doubles.
  const arma::uword channel_size = shape.channel_size();
  arma::umat counts(256, shape.channels, arma::fill::zeros);
  for (arma::uword j = 0; j < train.n_cols; ++j) {
    const std::uint8_t* column = train.colptr(j);
    for (arma::uword c = 0; c < shape.channels; ++c) {
      arma::uword* hist = counts.colptr(c);
      const std::uint8_t* in = column + c * channel_size;
      for (arma::uword i = 0; i < channel_size; ++i) ++hist[in[i]];
    }
  }
  set_channel_moments(pre, counts);

  if (zca) {
    if (!(zca_reg_fraction > 0) || !std::isfinite(zca_reg_fraction))
      throw Error("--zca-reg must be a positive number");
    const arma::uword d = shape.size();
    arma::mat second_moment(d, d, arma::fill::zeros);
    const arma::uword chunk = 4096;
    for (arma::uword first = 0; first < train.n_cols; first += chunk) {
      arma::mat X = to_model_input(pre, train, first, std::min(chunk, train.n_cols - first));
      second_moment += X * X.t();  // SYRK
    }
    second_moment /= double(train.n_cols);
    arma::vec e;
    arma::mat V;
    if (!arma::eig_sym(e, V, second_moment, "dc")) throw Error("ZCA eigendecomposition failed");
    e.clamp(0.0, arma::datum::inf);
    pre.zca = true;
    pre.zca_reg = zca_reg_fraction * arma::mean(e);
    const arma::vec root = arma::sqrt(e + pre.zca_reg);
    pre.zca_whiten = V * arma::diagmat(1.0 / root) * V.t();
    pre.zca_unwhiten = V * arma::diagmat(root) * V.t();
  }
  return pre;
}

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword first,
                         arma::uword count) {
  check_shape(pre, pixels);
  if (first + count > pixels.n_cols) throw Error("image range out of bounds");
  const auto tables = standardise_tables(pre);
  arma::mat X(pixels.n_rows, count);
#pragma omp parallel for schedule(static)
  for (arma::uword j = 0; j < count; ++j)
    standardise_column(tables, pre.shape.channel_size(), pixels.colptr(first + j), X.colptr(j));
  if (pre.zca) return pre.zca_whiten * X;
  return X;
}

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels,
                         const arma::uvec& columns) {
  check_shape(pre, pixels);
  const auto tables = standardise_tables(pre);
  if (arma::any(columns >= pixels.n_cols)) throw Error("image index out of bounds");
  arma::mat X(pixels.n_rows, columns.n_elem);
  for (arma::uword j = 0; j < columns.n_elem; ++j) {
    standardise_column(tables, pre.shape.channel_size(), pixels.colptr(columns[j]), X.colptr(j));
  }
  if (pre.zca) return pre.zca_whiten * X;
  return X;
}

arma::mat to_pixel_space(const Preprocessor& pre, const arma::mat& X) {
  arma::mat P = pre.zca ? arma::mat(pre.zca_unwhiten * X) : X;
  const arma::uword channel_size = pre.shape.channel_size();
  for (arma::uword c = 0; c < pre.shape.channels; ++c) {
    auto rows = P.rows(c * channel_size, (c + 1) * channel_size - 1);
    rows = rows * pre.channel_std[c] + pre.channel_mean[c];
  }
  return P;
}

}  // namespace krrdistill
