#include "krrdistill/sample_chunks.hpp"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <type_traits>
#include <variant>

#include "krrdistill/error.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/pixel_features.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

namespace {

// Samples at a time of a pass beside a feature cache: one product block
// (products.hpp); its double inputs are the pass's one large buffer.
constexpr arma::uword kCachedPiece = kProductBlock;

// Whether a pass over a split takes a nonlinear map's features from the
// pixels themselves (pixel_features.hpp).
bool from_pixels(const Preprocessor& pre, const FeatureMap& map, const SplitSource& split) {
  return !split.feature_matrix && PixelFeatures::available(map, pre.shape.size());
}

}  // namespace

template <typename T>
void for_each_input_chunk(const Preprocessor& pre, const SplitSource& split, const Range& range,
                          arma::uword chunk,
                          const std::function<void(arma::uword, const arma::Mat<T>&)>& visit,
                          const PixelVisitor& also, arma::uword piece) {
  if (chunk == 0) throw Error("--chunk must be at least 1");
  if (piece % kProductBlock != 0) throw Error("input pieces must be whole product blocks");
  // Pieces only where they are whole product blocks of the chunk: a product
  // over a piece then makes the tiles one over the chunk makes (the same bits).
  const auto step = [&](arma::uword count) {
    return piece > 0 && count % kProductBlock == 0 ? std::min(piece, count) : count;
  };
  if (split.feature_matrix) {  // float values: read and standardised chunk by chunk
    if (also) throw Error("a feature matrix has no pixels to visit");
    for (arma::uword first = range.first; first < range.last; first += chunk) {
      const arma::mat X =
          feature_inputs(pre, read_features(split, first, std::min(chunk, range.last - first)));
      for (arma::uword at = 0; at < X.n_cols; at += step(X.n_cols)) {
        const arma::uword count = std::min(step(X.n_cols), X.n_cols - at);
        if constexpr (std::is_same_v<T, double>) {
          if (count == X.n_cols)
            visit(first, X);
          else
            visit(first + at, arma::mat(X.cols(at, at + count - 1)));
        } else {
          visit(first + at, arma::conv_to<arma::Mat<T>>::from(X.cols(at, at + count - 1)));
        }
      }
    }
    return;
  }
  arma::Mat<T> X;  // reused from chunk to chunk
  arma::mat scratch;
  for_each_pixel_chunk(
      split, range, chunk,
      [&](arma::uword first, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
        if (also) also(first, pixels, column, count);
        for (arma::uword at = 0; at < count; at += step(count)) {
          model_inputs_into(pre, pixels, column + at, std::min(step(count), count - at), X,
                            scratch);
          visit(first + at, X);
        }
      });
}

template void for_each_input_chunk<double>(
    const Preprocessor&, const SplitSource&, const Range&, arma::uword,
    const std::function<void(arma::uword, const arma::mat&)>&, const PixelVisitor&, arma::uword);
template void for_each_input_chunk<float>(
    const Preprocessor&, const SplitSource&, const Range&, arma::uword,
    const std::function<void(arma::uword, const arma::fmat&)>&, const PixelVisitor&, arma::uword);

void for_each_sample_feature_chunk(const Preprocessor& pre, const FeatureMap& map,
                                   const SplitSource& split, const Range& range, arma::uword chunk,
                                   const std::function<void(arma::uword, const arma::fmat&)>& visit,
                                   arma::fmat* cache, const PixelVisitor& also) {
  const arma::uword p = feature_dim(map);
  if (std::holds_alternative<LinearMap>(map))
    throw Error("sample features: a linear map's features are its inputs");
  if (cache != nullptr && (cache->n_rows != p || cache->n_cols != range.size()))
    throw Error("the feature cache does not match the samples of the pass");
  arma::fmat buffer;  // reused from chunk to chunk without a cache
  const auto form = [&](arma::uword first, arma::uword count, const auto& fill) {
    if (cache != nullptr) {
      arma::fmat Phi(cache->colptr(first - range.first), p, count, false, true);
      fill(Phi);
      visit(first, Phi);
    } else {
      buffer.set_size(p, count);
      fill(buffer);
      visit(first, buffer);
    }
  };
  // All of the cache is written: its pages ahead, on every thread, not a
  // fault each; after the pixel path's set-up, whose transient matrices
  // then leave room the pass reuses instead of adding to the peak.
  const auto populate_cache = [&] {
    if (cache != nullptr)
      populate_pages(cache->memptr(), cache->n_elem * sizeof(float), omp_get_max_threads());
  };
  if (from_pixels(pre, map, split)) {
    const PixelFeatures features(map, pre);
    populate_cache();
    for_each_pixel_chunk(
        split, range, chunk,
        [&](arma::uword first, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
          if (also) also(first, pixels, column, count);
          form(first, count,
               [&](arma::fmat& Phi) { features.features_into(pixels, column, count, Phi); });
        });
    return;
  }
  populate_cache();
  for_each_input_chunk<float>(
      pre, split, range, chunk,
      [&](arma::uword first, const arma::fmat& X) {
        form(first, X.n_cols, [&](arma::fmat& Phi) { sample_features_into(map, X, Phi); });
      },
      also);
}

void for_each_chunk(const Preprocessor& pre, const FeatureMap& map, const SplitSource& split,
                    const Range& range, arma::uword chunk, const ChunkVisitor& visit,
                    const Progress& progress, const std::string& phase, const PixelVisitor& also) {
  const bool linear = std::holds_alternative<LinearMap>(map);
  const double total = double(std::max<arma::uword>(1, range.size()));
  // A nonlinear map's features are formed as the fit forms them: from the
  // chunk's pixels where the fit takes them from there.
  const bool pixel_features = !linear && from_pixels(pre, map, split);
  const std::unique_ptr<PixelFeatures> features =
      pixel_features ? std::make_unique<PixelFeatures>(map, pre) : nullptr;
  const PixelMatrix* chunk_pixels = nullptr;
  arma::uword chunk_first = 0, chunk_column = 0;
  const PixelVisitor see_pixels = [&](arma::uword first, const PixelMatrix& pixels,
                                      arma::uword column, arma::uword count) {
    if (also) also(first, pixels, column, count);
    chunk_pixels = &pixels;
    chunk_first = first;
    chunk_column = column;
  };
  arma::fmat Phi;
  const auto visit_inputs = [&](arma::uword first, const arma::mat& X) {
    if (linear) {
      visit(first, X, X);  // phi(x) = x: no copy
    } else {
      Phi.set_size(feature_dim(map), X.n_cols);
      if (features != nullptr)
        features->features_into(*chunk_pixels, chunk_column + (first - chunk_first), X.n_cols, Phi);
      else
        sample_features_into(map, arma::conv_to<arma::fmat>::from(X), Phi);
      visit(first, X, arma::conv_to<arma::mat>::from(Phi));
    }
    progress.update(phase, double(first + X.n_cols - range.first) / total);
  };
  for_each_input_chunk<double>(pre, split, range, chunk, visit_inputs,
                               pixel_features ? see_pixels : also);
}

void for_each_cached_chunk(const Preprocessor& pre, const SplitSource& split, const Range& range,
                           arma::uword chunk, const arma::fmat& cache,
                           const CachedChunkVisitor& visit, const Progress& progress,
                           const std::string& phase) {
  if (cache.n_cols != range.size())
    throw Error("the feature cache does not match the samples of the pass");
  const double total = double(std::max<arma::uword>(1, range.size()));
  // A chunk's double inputs go a piece at a time: small copies beside the
  // cache.
  for_each_input_chunk<double>(
      pre, split, range, chunk,
      [&](arma::uword first, const arma::mat& X) {
        const arma::fmat Phi(const_cast<float*>(cache.colptr(first - range.first)), cache.n_rows,
                             X.n_cols, false, true);
        visit(first, X, Phi);
        progress.update(phase, double(first + X.n_cols - range.first) / total);
      },
      {}, kCachedPiece);
}

void for_each_feature_chunk(const Preprocessor& pre, const FeatureMap& map,
                            const SplitSource& split, const Range& range, arma::uword chunk,
                            const std::function<void(arma::uword, const arma::mat&)>& visit,
                            const Progress& progress, const std::string& phase) {
  if (std::holds_alternative<LinearMap>(map)) {
    for_each_chunk(
        pre, map, split, range, chunk,
        [&](arma::uword first, const arma::mat&, const arma::mat& Phi) { visit(first, Phi); },
        progress, phase);
    return;
  }
  const double total = double(std::max<arma::uword>(1, range.size()));
  for_each_sample_feature_chunk(
      pre, map, split, range, chunk, [&](arma::uword first, const arma::fmat& Phi) {
        visit(first, arma::conv_to<arma::mat>::from(Phi));
        progress.update(phase, double(first + Phi.n_cols - range.first) / total);
      });
}

}  // namespace krrdistill
