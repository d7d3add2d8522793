#include "krrdistill/preprocess.hpp"

#include <array>
#include <cmath>
#include <string>
#include <type_traits>

#include "krrdistill/compensated_sum.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/stream.hpp"  // the one fit, over a DatasetSource

namespace krrdistill {

namespace {

// Per-channel lookup table pixel value -> standardised value, in the
// precision of the model inputs (a float entry is the double one rounded).
template <typename T>
using ChannelTable = std::array<T, 256>;

template <typename T>
std::vector<ChannelTable<T>> standardise_tables(const Preprocessor& pre) {
  std::vector<ChannelTable<T>> tables(pre.shape.channels);
  for (arma::uword c = 0; c < pre.shape.channels; ++c)
    for (int v = 0; v < 256; ++v)
      tables[c][v] = T((v / 255.0 - pre.channel_mean[c]) / pre.channel_std[c]);
  return tables;
}

void check_shape(const Preprocessor& pre, const PixelMatrix& pixels) {
  if (pixels.n_rows != pre.shape.size())
    throw Error("images have " + std::to_string(pixels.n_rows) +
                " values but the preprocessor expects " + std::to_string(pre.shape.size()));
}

// Each listed pixel column standardised through its channel's table into
// out; column_at(j) is the pixel column of output column j.
template <typename T, typename ColumnAt>
void standardise(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword count,
                 ColumnAt column_at, arma::Mat<T>& out) {
  const std::vector<ChannelTable<T>> tables = standardise_tables<T>(pre);
  const arma::uword channel_size = pre.shape.channel_size();
  out.set_size(pixels.n_rows, count);
#pragma omp parallel for schedule(static)
  for (arma::uword j = 0; j < count; ++j) {
    const std::uint8_t* in = pixels.colptr(column_at(j));
    T* o = out.colptr(j);
    for (arma::uword c = 0; c < tables.size(); ++c)
      for (arma::uword i = 0; i < channel_size; ++i)
        o[c * channel_size + i] = tables[c][in[c * channel_size + i]];
  }
}

// The one transform: standardised, then whitened with one product in double
// (into scratch first when whitening follows); a float X is the double one
// rounded.
template <typename T, typename ColumnAt>
void transform(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword count,
               ColumnAt column_at, arma::Mat<T>& X, arma::mat& scratch) {
  if (!pre.zca) return standardise(pre, pixels, count, column_at, X);
  standardise(pre, pixels, count, column_at, scratch);
  if constexpr (std::is_same_v<T, double>)
    X = multiply(pre.zca_whiten, scratch);  // on every thread, the same bits
  else
    X = arma::conv_to<arma::Mat<T>>::from(multiply(pre.zca_whiten, scratch));
}

}  // namespace

arma::mat compose_with_inputs(const Preprocessor& pre, const arma::mat& M, arma::vec& offset) {
  const arma::uword d = pre.shape.size(), channel_size = pre.shape.channel_size();
  if (M.n_cols != d) throw Error("a matrix on the model inputs needs one column a pixel");
  // z = (q/255 − mean)/std, channel by channel, then whitened.
  arma::vec slope(d), intercept(d);
  for (arma::uword c = 0; c < pre.shape.channels && channel_size > 0; ++c) {
    slope.subvec(c * channel_size, (c + 1) * channel_size - 1)
        .fill(1.0 / (255.0 * pre.channel_std[c]));
    intercept.subvec(c * channel_size, (c + 1) * channel_size - 1)
        .fill(-pre.channel_mean[c] / pre.channel_std[c]);
  }
  // (M W)ᵀ = Wᵀ Mᵀ: one d×rows matrix, scaled in place.
  arma::mat composed = pre.zca ? arma::mat(pre.zca_whiten.t() * M.t()) : arma::mat(M.t());
  offset = composed.t() * intercept;
  composed.each_col() %= slope;
  return composed;
}

void set_channel_moments(Preprocessor& pre, const std::vector<ChannelSums>& sums) {
  pre.channel_mean.set_size(sums.size());
  pre.channel_std.set_size(sums.size());
  for (std::size_t c = 0; c < sums.size(); ++c) {
    const ChannelSums& s = sums[c];
    // count·Σv² ≥ (Σv)² for any values (Cauchy–Schwarz); sums that break it
    // come from no data.
    if (s.count * s.square_sum < s.sum * s.sum)
      throw Error("channel " + std::to_string(c) + ": sums of pixel values that no images have");
    const unsigned __int128 numerator = s.count * s.square_sum - s.sum * s.sum;
    if (s.count == 0 || numerator == 0)
      throw Error("channel " + std::to_string(c) +
                  " of the training images is constant; cannot standardise");
    const long double n = (long double)s.count;
    pre.channel_mean[c] = double((long double)s.sum / (255.0L * n));
    pre.channel_std[c] = double(std::sqrt((long double)numerator / (65025.0L * n * n)));
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

  if (zca) {
    // ZCA needs the second moment of the standardised images: the exact
    // integer moments of the pixels (pixel_moments.hpp) give it, and the
    // channel sums too, the same integers as the sums below.
    PixelMoments moments = zero_pixel_moments(shape.size(), 1);
    for_each_pixel_chunk(
        train, shard, chunk,
        [&](arma::uword, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
          add_pixel_moments(moments, pixels, column, count, arma::uvec(count, arma::fill::zeros));
        });
    allreduce_sum(comm, moments);
    return preprocessor_from_moments(shape, moments, true, zca_reg_fraction, comm);
  }

  // Each channel's Σ q and Σ q², exact integers whatever the sharding or the
  // threads (each thread sums its columns apart; the sums are of integers);
  // then set_channel_moments as in fit_preprocessor, so the same bits.
  if (double(train.size()) * double(channel_size) * 65025.0 > 1.8e19)
    throw Error("too many pixels for exact channel sums");
  arma::uvec totals(2 * channels, arma::fill::zeros);  // Σ q, Σ q² of each channel
  for_each_pixel_chunk(
      train, shard, chunk,
      [&](arma::uword, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
#pragma omp parallel
        {
          arma::uvec mine(2 * channels, arma::fill::zeros);
#pragma omp for schedule(static)
          for (arma::uword j = column; j < column + count; ++j)
            for (arma::uword c = 0; c < channels; ++c) {
              const std::uint8_t* in = pixels.colptr(j) + c * channel_size;
              // 32-bit sums over at most 65536 pixels (65536 · 255² < 2^32), so that they
              // vectorise.
              for (arma::uword start = 0; start < channel_size; start += 65536) {
                std::uint32_t sum = 0, square_sum = 0;
                const arma::uword end = std::min<arma::uword>(channel_size, start + 65536);
                for (arma::uword i = start; i < end; ++i) {
                  const std::uint32_t q = in[i];
                  sum += q;
                  square_sum += q * q;
                }
                mine[2 * c] += sum;
                mine[2 * c + 1] += square_sum;
              }
            }
#pragma omp critical(krrdistill_channel_sums)
          totals += mine;
        }
      });
  allreduce_sum(comm, totals);
  std::vector<ChannelSums> sums(channels);
  for (arma::uword c = 0; c < channels; ++c) {
    sums[c].count = (unsigned __int128)train.size() * channel_size;
    sums[c].sum = totals[2 * c];
    sums[c].square_sum = totals[2 * c + 1];
  }
  Preprocessor pre;
  pre.shape = shape;
  set_channel_moments(pre, sums);
  return pre;
}

Preprocessor fit_feature_preprocessor(const DatasetSource& data, bool standardize,
                                      arma::uword chunk, const Communicator& comm) {
  const SplitSource& train = data.train;
  if (!train.feature_matrix) throw Error("the dataset holds images, not a feature matrix");
  const arma::uword p = train.dim, n = train.size();
  if (n == 0) throw Error("no training samples");
  Preprocessor pre;
  pre.shape = data.shape;
  pre.channel_mean.zeros(p);
  pre.channel_std.ones(p);
  if (!standardize) return pre;
  if (chunk == 0) throw Error("--chunk must be at least 1");
  const Range shard = shard_range(n, comm, chunk);
  // Σ over chunks of each chunk's sum of f(values), compensated.
  const auto sum_over_chunks = [&](const auto& f) {
    CompensatedSum total = compensated_zeros(p, 1);
    for (arma::uword first = shard.first; first < shard.last; first += chunk)
      add(total, arma::mat(arma::sum(
                     f(read_features(train, first, std::min(chunk, shard.last - first))), 1)));
    allreduce_sum(comm, total);
    return arma::vec(value(total));
  };
  // A constant feature is found exactly: its computed variance may miss 0 by ulps.
  arma::mat lowest(p, 1), negated_highest(p, 1);
  lowest.fill(arma::datum::inf);
  negated_highest.fill(arma::datum::inf);
  pre.channel_mean = sum_over_chunks([&](const arma::mat& v) {
                       lowest = arma::min(lowest, arma::mat(arma::min(v, 1)));
                       negated_highest = arma::min(negated_highest, arma::mat(-arma::max(v, 1)));
                       return v;
                     }) /
                     double(n);
  allreduce_min(comm, lowest);
  allreduce_min(comm, negated_highest);
  const arma::vec variance = sum_over_chunks([&](const arma::mat& v) {
                               arma::mat centred = v;
                               centred.each_col() -= pre.channel_mean;
                               return arma::mat(arma::square(centred));
                             }) /
                             double(n);
  for (arma::uword j = 0; j < p; ++j)
    if (!(variance[j] > 0) || lowest(j, 0) == -negated_highest(j, 0))
      throw Error("feature " + std::to_string(j) +
                  " is constant over the training samples: --standardize cannot scale it");
  pre.channel_std = arma::sqrt(variance);
  return pre;
}

Preprocessor fit_input_preprocessor(const DatasetSource& data, const DataSource& source,
                                    arma::uword chunk, const Communicator& comm) {
  if (!data.feature_matrix()) {
    if (source.standardize)
      throw Error(
          "--standardize is for feature matrices; images are always standardised per channel");
    return fit_preprocessor(data, source.zca, source.zca_reg_fraction, chunk, comm);
  }
  if (source.zca) throw Error("--zca whitens images; a feature matrix takes --standardize");
  return fit_feature_preprocessor(data, source.standardize, chunk, comm);
}

arma::mat feature_inputs(const Preprocessor& pre, const arma::mat& values) {
  if (values.n_rows != pre.channel_mean.n_elem || pre.zca)
    throw Error("the feature values do not match the preprocessing");
  arma::mat X = values;
  X.each_col() -= pre.channel_mean;
  X.each_col() /= pre.channel_std;
  return X;
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

namespace {
template <typename T>
void range_model_inputs(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                        arma::uword count, arma::Mat<T>& X, arma::mat& scratch) {
  check_shape(pre, pixels);
  if (column + count > pixels.n_cols) throw Error("image range out of bounds");
  transform(
      pre, pixels, count, [column](arma::uword j) { return column + j; }, X, scratch);
}
}  // namespace

void model_inputs_into(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, arma::mat& X, arma::mat& scratch) {
  range_model_inputs(pre, pixels, column, count, X, scratch);
}

void model_inputs_into(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword column,
                       arma::uword count, arma::fmat& X, arma::mat& scratch) {
  range_model_inputs(pre, pixels, column, count, X, scratch);
}

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels, arma::uword first,
                         arma::uword count) {
  arma::mat X, scratch;
  model_inputs_into(pre, pixels, first, count, X, scratch);
  return X;
}

namespace {
template <typename T>
arma::Mat<T> listed_model_inputs(const Preprocessor& pre, const PixelMatrix& pixels,
                                 const arma::uvec& columns) {
  check_shape(pre, pixels);
  if (arma::any(columns >= pixels.n_cols)) throw Error("image index out of bounds");
  arma::Mat<T> X;
  arma::mat scratch;
  transform(
      pre, pixels, columns.n_elem, [&columns](arma::uword j) { return columns[j]; }, X, scratch);
  return X;
}
}  // namespace

arma::mat to_model_input(const Preprocessor& pre, const PixelMatrix& pixels,
                         const arma::uvec& columns) {
  return listed_model_inputs<double>(pre, pixels, columns);
}

arma::fmat to_model_input_single(const Preprocessor& pre, const PixelMatrix& pixels,
                                 const arma::uvec& columns) {
  return listed_model_inputs<float>(pre, pixels, columns);
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
