#include "krrdistill/model.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unordered_map>

#include "krrdistill/error.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

namespace {

// Model inputs of the listed samples (ascending): one reader for all the
// calls of a pass, so that a gzip file is inflated once.
arma::mat inputs_of(const Preprocessor& pre, const SplitSource& split, PixelReader& reader,
                    const arma::uvec& indices) {
  return split.feature_matrix ? feature_inputs(pre, gather_features(split, indices))
                              : to_model_input(pre, reader.gather(indices), 0, indices.n_elem);
}

// The statistics of a fit's one pass: over all training samples, and over
// those outside the validation split (for the λ sweep; empty without one).
struct StatisticsPass {
  Statistics full;
  Statistics without_validation;
};

// Validation samples of my_val inside [first, last), from next on (advanced).
arma::uvec validation_rows(const arma::uvec& my_val, arma::uword last, arma::uword& next) {
  const arma::uword begin = next;
  while (next < my_val.n_elem && my_val[next] < last) ++next;
  return next > begin ? arma::uvec(my_val.subvec(begin, next - 1)) : arma::uvec();
}

// What a fit needs before its pass: whether λ is swept, the split sizes,
// this process's shard and the validation samples (all and in the shard).
struct FitPlan {
  bool sweep = false;
  arma::uword n = 0, k = 0;
  Range shard;
  arma::uvec val_index, my_val;
};

FitPlan plan_fit(const StreamDataset& data, const FitOptions& options, const Communicator& comm) {
  FitPlan plan;
  plan.sweep = std::isnan(options.lambda);
  if (!plan.sweep && (!(options.lambda >= 0) || !std::isfinite(options.lambda)))
    throw Error("--lambda must be a finite number >= 0");
  if (plan.sweep && options.lambda_grid.empty()) throw Error("empty lambda grid");
  if (plan.sweep)
    for (double lambda : options.lambda_grid)
      if (!(lambda > 0) || !std::isfinite(lambda))
        throw Error("the lambda grid must hold finite positive values");
  if (!(options.validation_fraction > 0 && options.validation_fraction < 1))
    throw Error("the validation fraction must lie in (0, 1)");
  plan.n = data.train.size();
  plan.k = data.num_classes;
  // Whole chunks per process: each chunk's contribution is then the same for
  // any number of processes, and the compensated sums make their total so.
  plan.shard = shard_range(plan.n, comm, options.chunk);
  // The validation split is a function of the global index, the same for any
  // number of processes; each process handles the part inside its shard.
  if (plan.sweep)
    plan.val_index = validation_indices(plan.n, options.validation_fraction, options.seed);
  plan.my_val = plan.val_index.elem(
      arma::find(plan.val_index >= plan.shard.first && plan.val_index < plan.shard.last));
  return plan;
}

// The exact integer moments of the raw pixels (pixel_moments.hpp) over all
// training samples and over the validation samples, summed over the
// processes; also(first, pixels, column, count) sees every chunk. The
// validation samples are added twice, with all and on their own: integer
// sums, so how they are grouped changes no bit.
struct MomentsPass {
  PixelMoments all, val;
};

MomentsPass moments_pass(const SplitSource& train, const FitPlan& plan, arma::uword chunk,
                         const Communicator& comm, const Progress& progress,
                         const std::string& phase, const PixelVisitor& also = {}) {
  const arma::uword d = train.dim;
  PixelMoments all = zero_pixel_moments(d, plan.k), val = zero_pixel_moments(d, plan.k);
  arma::uword next_val = 0;
  const double total = double(std::max<arma::uword>(1, plan.shard.size()));
  // The validation samples are copied aside and added in blocks of up to a
  // chunk: a small second product every chunk costs more than a few large.
  PixelMatrix val_pixels(d, std::min(plan.my_val.n_elem, chunk));
  arma::uvec val_labels(val_pixels.n_cols);
  arma::uword held = 0;
  const auto flush = [&] {
    if (held > 0) add_pixel_moments(val, val_pixels, 0, held, val_labels.head(held));
    held = 0;
  };
  for_each_pixel_chunk(
      train, plan.shard, chunk,
      [&](arma::uword first, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
        const arma::uvec labels = labels_of(train, first, count);
        add_pixel_moments(all, pixels, column, count, labels);
        const arma::uvec rows = validation_rows(plan.my_val, first + count, next_val);
        for (const arma::uword row : rows) {
          if (held == val_pixels.n_cols) flush();
          val_pixels.col(held) = pixels.col(column + row - first);
          val_labels[held++] = labels[row - first];
        }
        if (also) also(first, pixels, column, count);
        progress.update(phase, double(first + count - plan.shard.first) / total);
      });
  flush();
  MomentsPass pass{std::move(all), std::move(val)};
  allreduce_sum(comm, pass.all);
  if (plan.sweep) allreduce_sum(comm, pass.val);
  return pass;
}

// A linear map's statistics from the moments: G and B do not depend on the
// chunk, thread or process count, and the statistics without the validation
// samples are an exact difference.
StatisticsPass linear_statistics_pass(const Preprocessor& pre, const MomentsPass& moments,
                                      bool sweep) {
  StatisticsPass pass{linear_statistics(pre, moments.all), {}};
  if (sweep) pass.without_validation = linear_statistics(pre, minus(moments.all, moments.val));
  return pass;
}

// Any map: G and B of the features, chunk by chunk, compensated, summed over
// the processes (docs/design.md §2), with their validation part.
struct FeatureSums {
  CompensatedSum G, B, validation_G, validation_B;
};

// Adds the columns of Phi (all when none are listed) to G and B; the Gram is
// taken in the features' own precision (docs/design.md §12).
template <typename Features, typename Targets>
void add_columns(CompensatedSum& G, CompensatedSum& B, arma::mat& part_B, const Features& Phi,
                 const arma::uvec* columns, const Targets& targets) {
  if (columns == nullptr)
    accumulate_compensated(G, B, part_B, Phi, targets);
  else
    accumulate_compensated(G, B, part_B, Features(Phi.cols(*columns)), targets);
}

// Adds the validation samples among a chunk's (first, Phi), those of my_val
// from next on, to G and B.
template <typename Features>
void add_validation_columns(CompensatedSum& G, CompensatedSum& B, arma::mat& part_B,
                            const SplitSource& train, const arma::uvec& my_val, arma::uword& next,
                            arma::uword first, const Features& Phi) {
  const arma::uvec rows = validation_rows(my_val, first + Phi.n_cols, next);
  if (rows.is_empty()) return;
  const arma::uvec columns = rows - first;
  if (train.regression())
    add_columns(G, B, part_B, Phi, &columns, targets_of(train, rows));
  else
    add_columns(G, B, part_B, Phi, &columns, labels_of(train, rows));
}

// The pass. With train_features (a nonlinear map's cache, filled here) the
// validation part is left out, for statistics_pass to take from the cache.
FeatureSums feature_sums(const Preprocessor& pre, const FeatureMap& map, const SplitSource& train,
                         const FitPlan& plan, arma::uword chunk, const Communicator& comm,
                         const Progress& progress, const std::string& phase,
                         arma::fmat* train_features, const PixelVisitor& also = {}) {
  const Range& shard = plan.shard;
  const arma::uword k = plan.k;
  const arma::uword p = feature_dim(map);
  const bool validation = plan.sweep && train_features == nullptr;
  FeatureSums sums{compensated_zeros(p, p), compensated_zeros(k, p), {}, {}};
  if (validation) {
    sums.validation_G = compensated_zeros(p, p);
    sums.validation_B = compensated_zeros(k, p);
  }
  arma::mat part_B;  // one chunk's B, reused
  // Its pages are populated by the pass, which fills all of it.
  if (train_features != nullptr) train_features->set_size(p, shard.size());
  const double total = double(std::max<arma::uword>(1, shard.size()));
  arma::uword next_val = 0;
  // Samples [first, first + Phi.n_cols) with their features: a linear map's
  // are the inputs, a nonlinear map's floats (cached when asked).
  const auto add_chunk = [&](arma::uword first, const auto& Phi) {
    if (train.regression())
      add_columns(sums.G, sums.B, part_B, Phi, nullptr, targets_of(train, first, Phi.n_cols));
    else
      add_columns(sums.G, sums.B, part_B, Phi, nullptr, labels_of(train, first, Phi.n_cols));
    if (validation)
      add_validation_columns(sums.validation_G, sums.validation_B, part_B, train, plan.my_val,
                             next_val, first, Phi);
    progress.update(phase, double(first + Phi.n_cols - shard.first) / total);
  };
  if (std::holds_alternative<LinearMap>(map))
    for_each_input_chunk<double>(
        pre, train, shard, chunk,
        [&](arma::uword first, const arma::mat& X) { add_chunk(first, X); }, also);
  else  // formed in the cache's own columns (contiguous) when there is one
    for_each_sample_feature_chunk(
        pre, map, train, shard, chunk,
        [&](arma::uword first, const arma::fmat& Phi) { add_chunk(first, Phi); }, train_features,
        also);
  mirror_lower(sums.G);  // the chunks filled the lower triangles only
  allreduce_sum(comm, sums.G);
  allreduce_sum(comm, sums.B);
  if (validation) {
    mirror_lower(sums.validation_G);
    allreduce_sum(comm, sums.validation_G);
    allreduce_sum(comm, sums.validation_B);
  }
  return sums;
}

// The statistics without the validation samples, G − G_val and B − B_val:
// no second pass, and no p×p temporary.
Statistics without_validation(const Statistics& full, const CompensatedSum& validation_G,
                              const CompensatedSum& validation_B) {
  Statistics part{full.G, full.B, 0};
  subtract_value(part.G, validation_G);
  subtract_value(part.B, validation_B);
  return part;
}

// The statistics of the sums. G's pairs are freed once its value is taken.
StatisticsPass feature_statistics(FeatureSums&& sums, arma::uword n, bool sweep) {
  StatisticsPass pass{Statistics{value(sums.G), value(sums.B), n}, {}};
  sums.G = {};
  if (sweep)
    pass.without_validation = without_validation(pass.full, sums.validation_G, sums.validation_B);
  return pass;
}

// The same from a pass that filled a feature cache: G's double-double pairs,
// their value taken, are zeroed and take the validation part from the cache,
// in the pass's own chunks (the same calls as in the pass, so the same bits).
// No second p×p double-double sum is held beside the cache.
StatisticsPass cached_feature_statistics(FeatureSums&& sums, arma::fmat& cache,
                                         const SplitSource& train, const FitPlan& plan,
                                         arma::uword chunk, const Communicator& comm) {
  StatisticsPass pass{Statistics{value(sums.G), value(sums.B), plan.n}, {}};
  if (!plan.sweep) return pass;
  sums.G.pairs.zeros();
  sums.B.pairs.zeros();
  arma::mat part_B;
  arma::uword next_val = 0;
  const Range& shard = plan.shard;
  for (arma::uword first = shard.first; first < shard.last; first += chunk) {
    const arma::fmat Phi(cache.colptr(first - shard.first), cache.n_rows,
                         std::min(chunk, shard.last - first), false, true);
    add_validation_columns(sums.G, sums.B, part_B, train, plan.my_val, next_val, first, Phi);
  }
  mirror_lower(sums.G);
  allreduce_sum(comm, sums.G);
  allreduce_sum(comm, sums.B);
  pass.without_validation = without_validation(pass.full, sums.G, sums.B);
  return pass;
}

// One pass over a split for G and B (and their validation part): the exact
// pixel moments for a linear map on images with class labels, the features'
// compensated sums for any other map, real targets (whose B = Y Xᵀ is not
// an integer sum) or a feature matrix (no integers at all), so that every
// caller accumulates them the same way.
// train_features, when given, receives a nonlinear map's shard of features.
StatisticsPass statistics_pass(const Preprocessor& pre, const FeatureMap& map,
                               const SplitSource& split, const FitPlan& plan, arma::uword chunk,
                               const Communicator& comm, const Progress& progress,
                               const std::string& phase, arma::fmat* train_features) {
  const bool linear = std::holds_alternative<LinearMap>(map);
  if (!linear && train_features != nullptr)
    return cached_feature_statistics(
        feature_sums(pre, map, split, plan, chunk, comm, progress, phase, train_features),
        *train_features, split, plan, chunk, comm);
  if (!linear || split.regression() || split.feature_matrix)
    return feature_statistics(
        feature_sums(pre, map, split, plan, chunk, comm, progress, phase, nullptr), split.size(),
        plan.sweep);
  return linear_statistics_pass(pre, moments_pass(split, plan, chunk, comm, progress, phase),
                                plan.sweep);
}

// After the pass: the λ sweep of docs/design.md §2 on one tridiagonal reduction,
// scored on the validation features, then the refit on all data.
Model finish_fit(const StreamDataset& data, Model model, const StatisticsPass& pass,
                 const FitPlan& plan, const FitOptions& options, const Communicator& comm,
                 const Progress& progress, const arma::fmat* train_features) {
  const SplitSource& train = data.train;
  if (plan.sweep) {
    // One tridiagonal reduction on rank 0 gives the whole grid's weights
    // (docs/design.md §2).
    progress.update("fit: lambda sweep", 0.0);
    arma::mat stacked_weights;
    // The statistics as they are: ridge_path_weights makes the one working
    // copy of G beside the feature cache.
    if (comm.root())
      stacked_weights = ridge_path_weights(pass.without_validation, options.lambda_grid);
    broadcast(comm, stacked_weights);
    LambdaScores scores = start_lambda_scores(stacked_weights, options.lambda_grid.size());
    const arma::uvec& my_val = plan.my_val;
    const auto add_rows = [&](const arma::mat& Phi_val, const arma::uvec& rows) {
      if (train.regression())
        add_validation(scores, Phi_val, targets_of(train, rows));
      else
        add_validation(scores, Phi_val, labels_of(train, rows));
    };
    if (train_features != nullptr || std::holds_alternative<LinearMap>(model.map)) {
      // The validation samples alone (cached features, or a linear map's
      // inputs), in chunks below the pass's footprint, so that the peak
      // memory does not depend on how many there are. A linear map's in
      // halves of the pass's chunk: the scores of a chunk are one product of
      // the stacked weights, whose 512-column tiles (products.hpp) are what
      // the threads share, and a quarter of the default chunk made one tile,
      // on one thread (a linear fit 0.013 s longer). Cached features in
      // quarters: beside the cache, halves raised an FCNN run's peak by 6 MB.
      const arma::uword val_chunk =
          std::max<arma::uword>(1, options.chunk / (train_features != nullptr ? 4 : 2));
      PixelReader reader(train);
      for (arma::uword begin = 0; begin < my_val.n_elem; begin += val_chunk) {
        const arma::uvec rows =
            my_val.subvec(begin, std::min(begin + val_chunk, my_val.n_elem) - 1);
        add_rows(train_features != nullptr ? arma::conv_to<arma::mat>::from(arma::fmat(
                                                 train_features->cols(rows - plan.shard.first)))
                                           : inputs_of(model.pre, train, reader, rows),
                 rows);
      }
    } else {
      // A float feature's last bits depend on the sample's place in its
      // BLAS call (the kernels group columns): without a cache the
      // validation features are formed again in the pass's own chunks.
      arma::uword next_val = 0;
      for_each_chunk(
          model.pre, model.map, train, plan.shard, options.chunk,
          [&](arma::uword first, const arma::mat&, const arma::mat& Phi) {
            const arma::uvec rows = validation_rows(my_val, first + Phi.n_cols, next_val);
            if (!rows.is_empty()) add_rows(arma::mat(Phi.cols(rows - first)), rows);
          },
          progress, "fit: lambda sweep");
    }
    allreduce_sum(comm, scores.correct);
    allreduce_sum(comm, scores.sq_error);
    // docs/design.md §2: accuracy, then squared error, then the larger λ
    // (for real targets the squared error alone, §10).
    model.sweep =
        finish_lambda_sweep(scores, options.lambda_grid, plan.val_index.n_elem, train.regression());
    model.lambda = model.sweep.best_lambda;
  }
  if (comm.root()) model.W = fit_primal(pass.full, model.lambda);
  broadcast(comm, model.W);
  progress.finish();
  return model;
}

}  // namespace

arma::uword validation_count(arma::uword n, double fraction) {
  if (!(fraction > 0 && fraction < 1)) throw Error("the validation fraction must lie in (0, 1)");
  return std::max<arma::uword>(1, arma::uword(std::llround(fraction * double(n))));
}

arma::uvec validation_indices(arma::uword n, double fraction, std::uint64_t seed) {
  const arma::uword n_val = validation_count(n, fraction);
  if (n_val >= n) throw Error("too few training images for a validation split");
  // Partial Fisher–Yates on the identity permutation, storing only the
  // entries that moved: position i is final once step i is done.
  std::unordered_map<arma::uword, arma::uword> moved;
  auto at = [&moved](arma::uword i) {
    const auto it = moved.find(i);
    return it == moved.end() ? i : it->second;
  };
  std::mt19937_64 rng = make_rng(seed, RngStream::validation_split);
  arma::uvec chosen(n_val);
  for (arma::uword i = 0; i < n_val; ++i) {
    const arma::uword j = i + rng() % (n - i);
    const arma::uword here = at(i);
    chosen[i] = at(j);
    moved[j] = here;
  }
  return arma::sort(chosen);
}

Model fit_model(const Dataset& data, Preprocessor pre, FeatureMap map, const FitOptions& options,
                const Progress& progress, arma::fmat* train_features) {
  return fit_model(view_dataset(data), std::move(pre), std::move(map), options, Communicator{},
                   progress, train_features);
}

Model fit_model(const StreamDataset& data, Preprocessor pre, FeatureMap map,
                const FitOptions& options, const Communicator& comm, const Progress& progress,
                arma::fmat* train_features) {
  const FitPlan plan = plan_fit(data, options, comm);
  // A linear map's features are its inputs: nothing to keep.
  if (std::holds_alternative<LinearMap>(map) && train_features != nullptr) {
    train_features->reset();
    train_features = nullptr;
  }
  // One pass: G, B over all samples and over the validation samples.
  const StatisticsPass pass = statistics_pass(pre, map, data.train, plan, options.chunk, comm,
                                              progress, "fit: statistics", train_features);
  return finish_fit(
      data, Model{std::move(pre), std::move(map), {}, options.lambda, {}, plan.val_index.n_elem},
      pass, plan, options, comm, progress, train_features);
}

Model fit_linear_model(const StreamDataset& data, bool zca, double zca_reg_fraction,
                       const FitOptions& options, const Communicator& comm,
                       const Progress& progress) {
  if (zca && (!(zca_reg_fraction > 0) || !std::isfinite(zca_reg_fraction)))
    throw Error("--zca-reg must be a positive number");
  if (data.feature_matrix())
    throw Error("a feature matrix has no pixel moments: fit_input_preprocessor, then fit_model");
  if (data.regression()) {
    // B = Y Xᵀ of real targets is no integer moment: the preprocessing
    // first, then the features' compensated sums (docs/design.md §10).
    progress.status("preprocessing");
    Preprocessor pre = fit_preprocessor(data, zca, zca_reg_fraction, options.chunk, comm);
    return fit_model(data, std::move(pre), LinearMap{data.train.dim}, options, comm, progress);
  }
  const FitPlan plan = plan_fit(data, options, comm);
  Preprocessor pre;
  StatisticsPass pass;
  {  // the moments are freed before the sweep
    const MomentsPass moments =
        moments_pass(data.train, plan, options.chunk, comm, progress, "fit: statistics");
    pre = preprocessor_from_moments(data.shape, moments.all, zca, zca_reg_fraction, comm);
    pass = linear_statistics_pass(pre, moments, plan.sweep);
  }
  return finish_fit(
      data,
      Model{
          std::move(pre), LinearMap{data.train.dim}, {}, options.lambda, {}, plan.val_index.n_elem},
      pass, plan, options, comm, progress, nullptr);
}

Statistics split_statistics(const Preprocessor& pre, const FeatureMap& map,
                            const SplitSource& split, arma::uword num_classes, arma::uword chunk,
                            const Communicator& comm, const Progress& progress,
                            const std::string& phase) {
  FitPlan plan;  // the whole split, no validation part
  plan.n = split.size();
  plan.k = num_classes;
  plan.shard = shard_range(plan.n, comm, chunk);
  return statistics_pass(pre, map, split, plan, chunk, comm, progress, phase, nullptr).full;
}

FitSums fit_sums(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                 const FitOptions& options, const Communicator& comm, const Progress& progress,
                 const PixelVisitor& also) {
  if (data.regression() || data.feature_matrix())
    throw Error("statistics files hold sums over images with class labels");
  FitOptions swept = options;  // the validation part is always kept
  swept.lambda = std::numeric_limits<double>::quiet_NaN();
  const FitPlan plan = plan_fit(data, swept, comm);
  FitSums sums;
  sums.n = plan.n;
  sums.n_validation = plan.val_index.n_elem;
  if (std::holds_alternative<LinearMap>(map)) {
    MomentsPass pass =
        moments_pass(data.train, plan, options.chunk, comm, progress, "statistics", also);
    sums.moments = std::move(pass.all);
    sums.validation_moments = std::move(pass.val);
  } else {
    FeatureSums pass = feature_sums(pre, map, data.train, plan, options.chunk, comm, progress,
                                    "statistics", nullptr, also);
    sums.G = std::move(pass.G);
    sums.B = std::move(pass.B);
    sums.validation_G = std::move(pass.validation_G);
    sums.validation_B = std::move(pass.validation_B);
  }
  progress.finish();
  return sums;
}

Model fit_from_sums(const FitSums& sums, const ImageShape& shape, Preprocessor pre, FeatureMap map,
                    bool zca, double zca_reg_fraction, const FitOptions& options) {
  const bool linear = std::holds_alternative<LinearMap>(map);
  const bool sweep = std::isnan(options.lambda);
  if (!sweep && (!(options.lambda >= 0) || !std::isfinite(options.lambda)))
    throw Error("--lambda must be a finite number >= 0");
  if (sums.n_validation >= sums.n)
    throw Error("the statistics hold no training samples outside the validation split");
  StatisticsPass pass;
  Statistics validation;
  if (linear) {
    pre = preprocessor_from_moments(shape, sums.moments, zca, zca_reg_fraction, Communicator{});
    pass = linear_statistics_pass(pre, MomentsPass{sums.moments, sums.validation_moments}, sweep);
    if (sweep) validation = linear_statistics(pre, sums.validation_moments);
  } else {
    pass = feature_statistics(FeatureSums{sums.G, sums.B, sums.validation_G, sums.validation_B},
                              sums.n, sweep);
    if (sweep) validation = Statistics{value(sums.validation_G), value(sums.validation_B), 0};
  }
  Model model{std::move(pre), std::move(map), {}, options.lambda, {}, sums.n_validation};
  if (sweep) {
    validation.count = sums.n_validation;
    model.sweep = sweep_on_statistics(pass.without_validation, validation, options.lambda_grid);
    model.lambda = model.sweep.best_lambda;
  }
  model.W = fit_primal(pass.full, model.lambda);
  return model;
}

}  // namespace krrdistill
