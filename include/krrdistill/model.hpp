// The original model fitted on a whole dataset: preprocessing, feature map
// and KRR weights, with the statistics streamed chunk by chunk straight from
// the uint8 pixels (docs/design.md §2), so no float64 copy of the data is held. The
// data may be in memory or read from its files (stream.hpp), and shared by
// several processes (distributed.hpp).
#pragma once

#include <armadillo>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/sample_chunks.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

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

// The seeded validation split of n samples: a partial Fisher–Yates shuffle
// (held sparsely, O(n_val) memory), sorted. A function of (n, fraction, seed)
// only, so the same whatever the number of processes.
arma::uvec validation_indices(arma::uword n, double fraction, std::uint64_t seed);
// How many: max(1, round(fraction · n)).
arma::uword validation_count(arma::uword n, double fraction);

// One pass over the training set for G and B (over all samples and over the
// validation split); the λ sweep of docs/design.md §2 on one tridiagonal reduction,
// scored on the validation features; refit on all data.
// When train_features is given and the map is nonlinear, the training
// features (p×n, single precision as computed: docs/design.md §12) are kept
// there so that certification need not recompute them; for a linear map it
// is left empty.
Model fit_model(const Dataset& data, Preprocessor pre, FeatureMap map, const FitOptions& options,
                const Progress& progress, arma::fmat* train_features = nullptr);

// The same on a dataset in memory or in files, shared by the processes of
// comm (all call it): each passes over its shard of the training samples,
// shard_range(n, comm, options.chunk), so that every chunk is the same
// whatever the number of processes; G, B and the validation counts are
// summed across them (compensated: the same bits for any number of
// processes, docs/design.md §2); rank 0 decomposes and solves and broadcasts what the
// others need, so every process returns the same Model. Without
// train_features the sweep forms the validation features again in the
// pass's own chunks; with it, train_features receives this shard's features
// (p×shard size) and the sweep reads them from there.
Model fit_model(const StreamDataset& data, Preprocessor pre, FeatureMap map,
                const FitOptions& options, const Communicator& comm, const Progress& progress,
                arma::fmat* train_features = nullptr);

// A linear model with its preprocessing, from one pass over the training
// pixels (every process of comm calls it, as fit_model): the exact pixel
// moments give the standardisation, ZCA's second moment and G and B
// (pixel_moments.hpp), so no preprocessing pass comes first; the sweep and
// the refit are fit_model's. The same model, to the bit, as
// fit_preprocessor followed by fit_model with a LinearMap. With real targets
// (regression) it is that: B = Y Xᵀ is then no integer moment.
Model fit_linear_model(const StreamDataset& data, bool zca, double zca_reg_fraction,
                       const FitOptions& options, const Communicator& comm,
                       const Progress& progress);

// G and B of a whole split in one pass, accumulated as fit_model accumulates
// them (exact pixel moments for a linear map; otherwise compensated, each
// process over its shard, then across comm), so a fit on them gives
// fit_model's weights bit for bit.
Statistics split_statistics(const Preprocessor& pre, const FeatureMap& map,
                            const SplitSource& split, arma::uword num_classes, arma::uword chunk,
                            const Communicator& comm, const Progress& progress,
                            const std::string& phase);

// The sums a fit starts from, before any solve (docs/design.md §2, §9): for a
// linear map the exact pixel moments of the training samples and of the
// validation split, from which the preprocessing follows; for any other map
// G and B of the features under a preprocessing fixed beforehand, and their
// validation part, as compensated sums. Both add exactly: across processes,
// and across datasets (saved_statistics.hpp).
struct FitSums {
  arma::uword n = 0, n_validation = 0;
  PixelMoments moments, validation_moments;         // linear map
  CompensatedSum G, B, validation_G, validation_B;  // any other map
};

// One pass over the training split (every process of comm calls it); the
// validation split is options' (fraction, seed) over this dataset's n.
// pre is used for a nonlinear map only; also sees every chunk's raw pixels
// (this process's shard), so that the caller needs no pass of its own.
FitSums fit_sums(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                 const FitOptions& options, const Communicator& comm, const Progress& progress,
                 const PixelVisitor& also = {});

// The model from sums (added over several datasets): a linear map's
// preprocessing from the moments (zca, zca_reg_fraction), any other map's
// is pre. λ is options.lambda, or, without it, chosen on the validation
// sums alone by the smallest validation squared error, ties to the larger λ
// (the validation features, and so the accuracy, are not at hand). With a
// fixed λ the weights are fit_model's (fit_linear_model's for a linear
// map) on the same samples: to the bit when the sums hold the same chunks.
Model fit_from_sums(const FitSums& sums, const ImageShape& shape, Preprocessor pre, FeatureMap map,
                    bool zca, double zca_reg_fraction, const FitOptions& options);

}  // namespace krrdistill
