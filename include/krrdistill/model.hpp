// The original model fitted on a whole dataset: preprocessing, feature map
// and KRR weights, with the statistics streamed chunk by chunk straight from
// the uint8 pixels (DESIGN §2), so no float64 copy of the data is held.
#pragma once

#include <armadillo>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"

namespace krrdistill {

constexpr arma::uword kDefaultChunk = 4096;

struct FitOptions {
  double lambda = std::numeric_limits<double>::quiet_NaN();  // NaN: validation sweep
  std::vector<double> lambda_grid = default_lambda_grid();
  double validation_fraction = 0.05;
  std::uint64_t seed = 0;
  arma::uword chunk = kDefaultChunk;
};

struct Model {
  Preprocessor pre;
  FeatureMap map;
  arma::mat W;  // k×p
  double lambda = 0.0;
  LambdaSweep sweep;             // empty when λ was fixed
  arma::uword n_validation = 0;  // size of the validation split of the sweep
};

using ChunkVisitor = std::function<void(arma::uword, const arma::mat&, const arma::mat&)>;

// Calls visit(first, X, Phi) for consecutive chunks of a split's columns,
// X = model inputs (d×count), Phi = features (p×count). With cached features
// (p×n, from fit_model) Phi is read from them instead of recomputed.
void for_each_chunk(const Preprocessor& pre, const FeatureMap& map, const PixelMatrix& pixels,
                    arma::uword chunk, const ChunkVisitor& visit, const Progress& progress,
                    const std::string& phase, const arma::mat* cached_features = nullptr);

// One pass over the training set for G and B (and the validation features);
// the λ sweep of DESIGN §2 on one eigendecomposition; refit on all data.
// When train_features is given, the training features (p×n) are kept there
// so that certification need not recompute a nonlinear map.
Model fit_model(const Dataset& data, Preprocessor pre, FeatureMap map, const FitOptions& options,
                const Progress& progress, arma::mat* train_features = nullptr);

}  // namespace krrdistill
