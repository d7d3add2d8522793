#include "krrdistill/model.hpp"

#include <algorithm>
#include <cmath>

#include "krrdistill/error.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

void for_each_chunk(const Preprocessor& pre, const FeatureMap& map, const PixelMatrix& pixels,
                    arma::uword chunk, const ChunkVisitor& visit, const Progress& progress,
                    const std::string& phase, const arma::mat* cached_features) {
  if (chunk == 0) throw Error("--chunk must be at least 1");
  const arma::uword n = pixels.n_cols;
  const bool linear = std::holds_alternative<LinearMap>(map);
  for (arma::uword first = 0; first < n; first += chunk) {
    const arma::uword count = std::min(chunk, n - first);
    const arma::mat X = to_model_input(pre, pixels, first, count);
    if (linear) {
      visit(first, X, X);  // phi(x) = x: no copy
    } else if (cached_features != nullptr) {
      // A read-only view of the cached columns (no copy).
      const arma::mat Phi(const_cast<double*>(cached_features->colptr(first)),
                          cached_features->n_rows, count, false, true);
      visit(first, X, Phi);
    } else {
      visit(first, X, map_features(map, X));
    }
    progress.update(phase, double(first + count) / double(n));
  }
}

Model fit_model(const Dataset& data, Preprocessor pre, FeatureMap map, const FitOptions& options,
                const Progress& progress, arma::mat* train_features) {
  const bool sweep = std::isnan(options.lambda);
  if (!sweep && (!(options.lambda >= 0) || !std::isfinite(options.lambda)))
    throw Error("--lambda must be a finite number >= 0");
  if (sweep && options.lambda_grid.empty()) throw Error("empty lambda grid");
  if (!(options.validation_fraction > 0 && options.validation_fraction < 1))
    throw Error("the validation fraction must lie in (0, 1)");
  const arma::uword n = data.train.pixels.n_cols;
  const arma::uword p = feature_dim(map), k = data.num_classes;

  // Seeded validation split: a partial Fisher–Yates shuffle of the indices.
  arma::uvec val_index;
  if (sweep) {
    const arma::uword n_val = std::max<arma::uword>(
        1, arma::uword(std::llround(options.validation_fraction * double(n))));
    if (n_val >= n) throw Error("too few training images for a validation split");
    std::vector<arma::uword> order(n);
    for (arma::uword i = 0; i < n; ++i) order[i] = i;
    std::mt19937_64 rng = make_rng(options.seed, Stream::validation_split);
    for (arma::uword i = 0; i < n_val; ++i) std::swap(order[i], order[i + rng() % (n - i)]);
    val_index =
        arma::sort(arma::uvec(std::vector<arma::uword>(order.begin(), order.begin() + n_val)));
  }
  arma::mat Phi_val(p, val_index.n_elem);
  const arma::uvec val_labels = data.train.labels.elem(val_index);

  // One pass: G, B over all samples; validation features kept aside.
  Statistics full = zero_statistics(p, k);
  if (train_features != nullptr) train_features->set_size(p, n);
  arma::uword next_val = 0;
  for_each_chunk(
      pre, map, data.train.pixels, options.chunk,
      [&](arma::uword first, const arma::mat&, const arma::mat& Phi) {
        accumulate(full, Phi, data.train.labels.subvec(first, first + Phi.n_cols - 1));
        if (train_features != nullptr) train_features->cols(first, first + Phi.n_cols - 1) = Phi;
        while (next_val < val_index.n_elem && val_index[next_val] < first + Phi.n_cols) {
          Phi_val.col(next_val) = Phi.col(val_index[next_val] - first);
          ++next_val;
        }
      },
      progress, "fit: statistics");

  Model model{std::move(pre), std::move(map), {}, options.lambda, {}, val_index.n_elem};
  if (sweep) {
    // G_train = G_full − G_val: no second pass (DESIGN §2).
    Statistics val = zero_statistics(p, k);
    accumulate(val, Phi_val, val_labels);
    Statistics train{full.G - val.G, full.B - val.B, full.count - val.count};
    progress.update("fit: lambda sweep", 0.0);
    model.sweep = sweep_lambda(ridge_path(train), Phi_val, val_labels, options.lambda_grid);
    model.lambda = model.sweep.best_lambda;
  }
  model.W = fit_primal(full, model.lambda);
  progress.finish();
  return model;
}

}  // namespace krrdistill
