#include "krrdistill/preprocess.hpp"

#include <array>
#include <cmath>
#include <string>

#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/stream.hpp"  // the one fit, over a DatasetSource

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

void check_shape(const Preprocessor& pre, const PixelMatrix& pixels) {
  if (pixels.n_rows != pre.shape.size())
    throw Error("images have " + std::to_string(pixels.n_rows) +
                " values but the preprocessor expects " + std::to_string(pre.shape.size()));
}

// The one transform: each listed pixel column standardised through its
// channel's table (into scratch when whitening follows), then whitened with
// one product. column_at(j) is the pixel column of output column j.
template <typename ColumnAt>
void transform(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword count,
               ColumnAt column_at, arma::mat& X, arma::mat& scratch) {
  const std::vector<ChannelTable> tables = standardise_tables(pre);
  const arma::uword channel_size = pre.shape.channel_size();
  arma::mat& out = pre.zca ? scratch : X;
  out.set_size(pixels.n_rows, count);
#pragma omp parallel for schedule(static)
  for (arma::uword j = 0; j < count; ++j) {
    const std::uint8_t* in = pixels.colptr(column_at(j));
    double* o = out.colptr(j);
    for (arma::uword c = 0; c < tables.size(); ++c)
      for (arma::uword i = 0; i < channel_size; ++i)
        o[c * channel_size + i] = tables[c][in[c * channel_size + i]];
  }
  if (pre.zca) X = multiply(pre.zca_whiten, scratch);  // on every thread, the same bits
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

Preprocessor fit_preprocessor(const DatasetSource& data, bool zca, double zca_reg_fraction,
                              arma::uword chunk, const Communicator& comm) {
  const SplitSource& train = data.train;
  const ImageShape& shape = data.shape;
  if (train.size() == 0) throw Error("no training images");
  if (train.dim != shape.size()) throw Error("image shape does not match the data");
  if (zca && (!(zca_reg_fraction > 0) || !std::isfinite(zca_reg_fraction)))
    throw Error("--zca-reg must be a positive number");
  const Range shard = shard_range(train.size(), comm, chunk);
  const arma::uword channels = shape.channels, channel_size = shape.channel_size();

  // 256-bin histograms per channel, exact integers whatever the sharding
  // or the threads (each thread counts its columns apart; the sums are of
  // integers); then set_channel_moments as in fit_preprocessor, so the same bits.
  arma::uvec counts(256 * channels, arma::fill::zeros);
  for_each_pixel_chunk(
      train, shard, chunk,
      [&](arma::uword, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
#pragma omp parallel
        {
          arma::uvec mine(256 * channels, arma::fill::zeros);
#pragma omp for schedule(static)
          for (arma::uword j = column; j < column + count; ++j)
            for (arma::uword c = 0; c < channels; ++c) {
              arma::uword* hist = mine.memptr() + 256 * c;
              const std::uint8_t* in = pixels.colptr(j) + c * channel_size;
              for (arma::uword i = 0; i < channel_size; ++i) ++hist[in[i]];
            }
#pragma omp critical(krrdistill_histograms)
          counts += mine;
        }
      });
  allreduce_sum(comm, counts);
  Preprocessor pre;
  pre.shape = shape;
  set_channel_moments(pre, arma::umat(counts.memptr(), 256, channels, false, true));
  if (!zca) return pre;

  // ZCA: S = (1/n) Σ x xᵀ of the standardised images, from the exact
  // integer moments of the pixels (pixel_moments.hpp, docs/design.md §2).
  const arma::uword d = shape.size();
  PixelMoments moments = zero_pixel_moments(d, 1);
  for_each_pixel_chunk(
      train, shard, chunk,
      [&](arma::uword, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
        add_pixel_moments(moments, pixels, column, count, arma::uvec(count, arma::fill::zeros));
      });
  allreduce_sum(comm, moments);
  arma::mat second_moment = linear_statistics(pre, moments).G;
  if (comm.root()) {
    second_moment /= double(train.size());
    arma::vec e;
    arma::mat V;
    if (!arma::eig_sym(e, V, second_moment, "dc")) throw Error("ZCA eigendecomposition failed");
    e.clamp(0.0, arma::datum::inf);
    pre.zca_reg = zca_reg_fraction * arma::mean(e);
    const arma::vec root = arma::sqrt(e + pre.zca_reg);
    pre.zca_whiten = V * arma::diagmat(1.0 / root) * V.t();
    pre.zca_unwhiten = V * arma::diagmat(root) * V.t();
  }
  broadcast(comm, pre.zca_reg);
  broadcast(comm, pre.zca_whiten);
  broadcast(comm, pre.zca_unwhiten);
  pre.zca = true;
  return pre;
}

Preprocessor fit_preprocessor(const PixelMatrix& train, const ImageShape& shape, bool zca,
                              double zca_reg_fraction) {
  // The one fit, on a split held in memory: the same numbers as a streamed
  // or distributed run that reads the same pixels in chunks of this size.
  const arma::uword kChunk = 4096;
  DatasetSource data;
  data.shape = shape;
  data.train.dim = train.n_rows;
  data.train.labels.zeros(train.n_cols);  // the fit reads only the count
  data.train.memory = &train;
  return fit_preprocessor(data, zca, zca_reg_fraction, kChunk, Communicator{});
}

void model_inputs_into(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, arma::mat& X, arma::mat& scratch) {
  check_shape(pre, pixels);
  if (column + count > pixels.n_cols) throw Error("image range out of bounds");
  transform(
      pre, pixels, count, [column](arma::uword j) { return column + j; }, X, scratch);
}

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword first,
                         arma::uword count) {
  arma::mat X, scratch;
  model_inputs_into(pre, pixels, first, count, X, scratch);
  return X;
}

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels,
                         const arma::uvec& columns) {
  check_shape(pre, pixels);
  if (arma::any(columns >= pixels.n_cols)) throw Error("image index out of bounds");
  arma::mat X, scratch;
  transform(
      pre, pixels, columns.n_elem, [&columns](arma::uword j) { return columns[j]; }, X, scratch);
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
