// The passes over a split's samples, chunk by chunk: the one reading and
// preprocessing of the pixels (or of a feature matrix's rows) that the fit,
// the certificate and the statistics files share, with the features of each
// chunk formed (or read from a fit's cache) as the fit forms them
// (docs/design.md §2, §12).
#pragma once

#include <armadillo>
#include <functional>
#include <string>

#include "krrdistill/distributed.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

// Samples per chunk of every pass over a dataset's samples: a multiple of
// the 512-wide product tiles and the 1024-sample Gram blocks, whose
// chunk-sized matrices beside RFF's and FCNN's feature cache stay small
// (docs/design.md §12).
constexpr arma::uword kDefaultChunk = 2048;

// Model inputs of samples [range.first, range.last), chunk by chunk, in
// double or (for a pass whose features are floats) each rounded once to
// float: the one reading and preprocessing of every pass over a split;
// also, when given, sees each chunk's raw pixels. A nonzero piece (whole
// product blocks, products.hpp) visits each chunk whose length is a multiple
// of kProductBlock in parts of at most that many samples, from the chunk's
// start: the same parts for any number of processes, and products over the
// parts make the tiles one over the whole chunk makes, so the same bits.
// Other chunks go whole.
template <typename T>
void for_each_input_chunk(const Preprocessor& pre, const SplitSource& split, const Range& range,
                          arma::uword chunk,
                          const std::function<void(arma::uword, const arma::Mat<T>&)>& visit,
                          const PixelVisitor& also = {}, arma::uword piece = 0);
extern template void for_each_input_chunk<double>(
    const Preprocessor&, const SplitSource&, const Range&, arma::uword,
    const std::function<void(arma::uword, const arma::mat&)>&, const PixelVisitor&, arma::uword);
extern template void for_each_input_chunk<float>(
    const Preprocessor&, const SplitSource&, const Range&, arma::uword,
    const std::function<void(arma::uword, const arma::fmat&)>&, const PixelVisitor&, arma::uword);

// A nonlinear map's features (p×count, single precision) of samples
// [range.first, range.last), chunk by chunk: from the pixels through the
// exact integer product where PixelFeatures is available and the split
// holds pixels, else from the float inputs (sample_features_into). The one
// way every pass forms them, so that the fit, the certificate and eval see
// the same bits. Into cache's columns when given (p×range.size()), else
// into a buffer reused from chunk to chunk; also, when given, sees each
// chunk's raw pixels.
void for_each_sample_feature_chunk(const Preprocessor& pre, const FeatureMap& map,
                                   const SplitSource& split, const Range& range, arma::uword chunk,
                                   const std::function<void(arma::uword, const arma::fmat&)>& visit,
                                   arma::fmat* cache = nullptr, const PixelVisitor& also = {});

using ChunkVisitor = std::function<void(arma::uword, const arma::mat&, const arma::mat&)>;

// Calls visit(first, X, Phi) for consecutive chunks of samples
// [range.first, range.last) of a split held in memory or in files (first =
// index in the split), X = model inputs (d×count), Phi = features
// (p×count, formed as for_each_sample_feature_chunk forms them; a linear
// map's Phi is X). also, when given, sees each chunk's raw pixels.
void for_each_chunk(const Preprocessor& pre, const FeatureMap& map, const SplitSource& split,
                    const Range& range, arma::uword chunk, const ChunkVisitor& visit,
                    const Progress& progress, const std::string& phase,
                    const PixelVisitor& also = {});

// The same beside a nonlinear map's feature cache (p×range.size(), the
// floats of fit_model): Phi is a view of the cache's own columns, and each
// chunk is visited 512 samples at a time where it is cut into whole product
// blocks (for_each_input_chunk's pieces): small double copies of the inputs.
using CachedChunkVisitor = std::function<void(arma::uword, const arma::mat&, const arma::fmat&)>;
void for_each_cached_chunk(const Preprocessor& pre, const SplitSource& split, const Range& range,
                           arma::uword chunk, const arma::fmat& cache,
                           const CachedChunkVisitor& visit, const Progress& progress,
                           const std::string& phase);

// The same for a pass that needs the features alone: visit(first, Phi), a
// nonlinear map's features formed as the fit forms them
// (for_each_sample_feature_chunk, the same bits as for_each_chunk's),
// without a double copy of the inputs.
void for_each_feature_chunk(const Preprocessor& pre, const FeatureMap& map,
                            const SplitSource& split, const Range& range, arma::uword chunk,
                            const std::function<void(arma::uword, const arma::mat&)>& visit,
                            const Progress& progress, const std::string& phase);

}  // namespace krrdistill
