#include "krrdistill/certify.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/nearest_distances.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/sample_chunks.hpp"

namespace krrdistill {

namespace {

// Distilled inputs whose cross terms a linear map's scores product carries.
// Measured on Fashion-MNIST, the nearest distances' own float product cost
// 11 ms a pass more than the double rows at 10 distilled inputs and 35 ms
// less at 100: they cross near 32.
constexpr arma::uword kSharedCross = 32;

}  // namespace

PredictionDigest prediction_digest(const arma::uvec& classes) {
  std::vector<unsigned char> bytes;
  bytes.reserve(classes.n_elem * 4);
  for (const arma::uword c : classes)
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back((c >> shift) & 0xff);
  // zlib takes at most 4 GiB a call; feed it in slices.
  uLong crc = crc32(0L, Z_NULL, 0);
  const std::size_t slice = std::size_t(1) << 30;
  for (std::size_t at = 0; at < bytes.size(); at += slice)
    crc = crc32(crc, bytes.data() + at, uInt(std::min(slice, bytes.size() - at)));
  return {classes.n_elem, std::uint32_t(crc)};
}

double certificate_tolerance(const std::string& kind) {
  if (kind == "linear") return 1e-8;
  if (kind == "rff" || kind == "fcnn") return 1e-6;
  throw Error("no certificate tolerance for model kind '" + kind + "'");
}

std::string certificate_problem(const std::string& kind, double weight_rel_error,
                                arma::uword test_disagreements, arma::uword n_test) {
  const double tolerance = certificate_tolerance(kind);
  const bool weights_ok = weight_rel_error <= tolerance;  // false for NaN
  if (weights_ok && test_disagreements == 0) return "";
  char figures[256];
  std::snprintf(figures, sizeof figures, "|Ws-W|/|W| = %.3g %s %.3g (%s)", weight_rel_error,
                weights_ok ? "<=" : ">", tolerance, kind.c_str());
  std::string text = std::string("the distilled set does not reproduce the model: ") + figures;
  const std::string count = std::to_string(test_disagreements) + " of " + std::to_string(n_test);
  if (test_disagreements > 0)
    text += (weights_ok ? " but " : " and ") + count + " test predictions differ";
  else if (n_test > 0)
    text += " (all " + std::to_string(n_test) + " test predictions agree)";
  if (kind == "fcnn")
    text +=
        "; a deeper or flatter FCNN amplifies rounding when inverted (try fewer --layers or a "
        "larger --slope)";
  else if (kind == "rff")
    text +=
        "; an extreme --rff-sigma leaves the phases A x too large or too small against rounding "
        "(try one nearer the default sqrt(d))";
  else
    text += "; the model's weights are ill-conditioned (try a larger --lambda or --lambda-s)";
  return text;
}

std::string certificate_problem(const std::string& kind, const Certificate& cert) {
  // Real targets have no classes that could change: the weights alone judge.
  return certificate_problem(kind, cert.weight_rel_error, cert.test_disagreements,
                             cert.regression ? 0 : cert.n_test);
}

std::string rff_sigma_problem(const FeatureMap& map) {
  const auto* rff = std::get_if<RandomFourierMap>(&map);
  if (rff == nullptr) return "";
  // The data's features are formed in single precision (docs/design.md §12).
  const double eps = std::numeric_limits<float>::epsilon();
  // |a·x| for a ~ N(0, I/sigma²) and ‖x‖ ≈ sqrt(d): about sqrt(d)/sigma.
  const double phase = std::sqrt(double(rff->A.n_cols)) / rff->sigma;
  char text[320];
  if (!std::isfinite(phase) || !rff->A.is_finite()) {
    std::snprintf(text, sizeof text,
                  "--rff-sigma %.3g makes the projection A (entries N(0, 1/sigma^2)) overflow; "
                  "use a sigma nearer the default sqrt(d)",
                  rff->sigma);
    return text;
  }
  if (eps * phase > 2 * arma::datum::pi) {
    std::snprintf(text, sizeof text,
                  "--rff-sigma %.3g is too small: one rounding unit of A x (about %.3g) exceeds "
                  "the period 2 pi, so the features are rounding noise; use a sigma nearer the "
                  "default sqrt(d)",
                  rff->sigma, eps * phase);
    return text;
  }
  if (phase < eps * arma::datum::pi) {
    std::snprintf(text, sizeof text,
                  "--rff-sigma %.3g is too large: A x (about %.3g) is below rounding against the "
                  "offset b in [0, 2 pi), so the features do not depend on the image; use a sigma "
                  "nearer the default sqrt(d)",
                  rff->sigma, phase);
    return text;
  }
  return "";
}

arma::mat refit_distilled(const FeatureMap& map, const arma::mat& Xs, const arma::mat& Ys,
                          double lambda_s) {
  return fit_krr(map_features(map, Xs), Ys, lambda_s);
}

namespace {

// Two models' squared errors on real targets, per output: rows W's k, then
// Ws's k, summed one sample at a time (order-independent, as the sweep's),
// and their largest prediction difference.
class PairErrors {
 public:
  explicit PairErrors(arma::uword k) : k_(k), sq_(compensated_zeros(2 * k, 1)) {}
  // scores: 2k×n (both models' predictions), truth: k×n.
  void add(const arma::mat& scores, const arma::mat& truth) {
    arma::mat errors = scores;
    errors.rows(0, k_ - 1) -= truth;
    errors.rows(k_, 2 * k_ - 1) -= truth;
    errors = arma::square(errors);
    arma::mat sample(2 * k_, 1);
    for (arma::uword j = 0; j < errors.n_cols; ++j) {
      sample.col(0) = errors.col(j);
      krrdistill::add(sq_, sample);
    }
    n_ += scores.n_cols;
    if (scores.n_cols > 0)
      negated_difference_(0, 0) =
          std::min(negated_difference_(0, 0),
                   -arma::abs(scores.rows(0, k_ - 1) - scores.rows(k_, 2 * k_ - 1)).max());
  }
  void allreduce(const Communicator& comm) {
    allreduce_sum(comm, sq_);
    arma::uvec n(1);
    n[0] = n_;
    allreduce_sum(comm, n);
    n_ = n[0];
    allreduce_min(comm, negated_difference_);
  }
  // Model 0 (W) or 1 (Ws): MSE and mean R² (variation: target_variation of the split).
  RegressionScores scores(arma::uword model, const arma::vec& variation) const {
    const arma::vec total = value(sq_);
    const arma::vec mine = total.subvec(model * k_, model * k_ + k_ - 1);
    RegressionScores out;
    out.test_mse = arma::accu(mine) / (double(n_) * double(k_));
    out.test_r2 = mean_r2(mine, variation);
    return out;
  }
  double largest_difference() const { return -negated_difference_(0, 0); }

 private:
  arma::uword k_, n_ = 0;
  CompensatedSum sq_;
  arma::mat negated_difference_ = arma::mat(1, 1, arma::fill::zeros);  // for allreduce_min
};

}  // namespace

Certificate certify(const Dataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Progress& progress,
                    arma::fmat* train_features) {
  return certify(view_dataset(data), model, distilled, X0, chunk, Communicator{}, progress,
                 train_features);
}

Certificate certify(const StreamDataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Communicator& comm,
                    const Progress& progress, arma::fmat* train_features) {
  Certificate cert;
  arma::mat Xs;
  if (comm.root()) {
    Xs = distilled.Xs;
    const arma::mat Phis_actual = map_features(model.map, Xs);
    cert.Ws = fit_krr(Phis_actual, distilled.Ys, distilled.lambda_s);
    const double w_norm = arma::norm(model.W, "fro");
    cert.weight_rel_error = arma::norm(cert.Ws - model.W, "fro") / w_norm;
    cert.cosine = arma::accu(cert.Ws % model.W) / (arma::norm(cert.Ws, "fro") * w_norm);
    cert.feature_rel_error =
        arma::norm(Phis_actual - distilled.Phis, "fro") / arma::norm(distilled.Phis, "fro");
    if (!X0.is_empty()) {
      cert.init_distance = arma::sqrt(arma::sum(arma::square(Xs - X0), 0)).t();
      cert.init_relative_distance =
          cert.init_distance / arma::sqrt(arma::sum(arma::square(X0), 0)).t();
    }
  }
  // Every process passes over its shards with both models and the distilled images.
  broadcast(comm, Xs);
  broadcast(comm, cert.Ws);

  const arma::uword k = model.W.n_rows;
  const arma::mat both = arma::join_cols(model.W, cert.Ws);  // one product for both models
  NearestDistances nearest(Xs);
  // Correct classes of the original and distilled models on train, then on
  // test, then test agreement: counts, summed over processes.
  arma::uvec counts(5, arma::fill::zeros);
  // With classes given, the test classes of both models are written there
  // (the original's from first, the distilled's n_test further on).
  const arma::uword n_test_images = data.test.size();
  const bool regression = data.regression();
  if (data.test.regression() != regression ||
      (regression && (data.train.targets.n_rows != k || data.test.targets.n_rows != k)))
    throw Error("the training and test splits do not hold the same kind of targets as the model");
  PairErrors train_errors(k), test_errors(k);
  auto classify = [&](const arma::mat& scores, const arma::uvec& truth, arma::uword at,
                      arma::uvec* classes = nullptr, arma::uword first = 0) {
    const arma::urowvec orig = arma::index_max(scores.rows(0, k - 1), 0);
    const arma::urowvec dist = arma::index_max(scores.rows(k, 2 * k - 1), 0);
    counts[at] += arma::accu(orig.t() == truth);
    counts[at + 1] += arma::accu(dist.t() == truth);
    if (classes != nullptr) {
      classes->subvec(first, first + scores.n_cols - 1) = orig.t();
      classes->subvec(n_test_images + first, n_test_images + first + scores.n_cols - 1) = dist.t();
    }
    return arma::uword(arma::accu(orig == dist));
  };

  // A linear map's scores are a product of the inputs: up to kSharedCross
  // distilled inputs, their cross terms ride in it, in double; more go to
  // the nearest distances' own float product, which beyond that size
  // costs less than the double rows (docs/design.md §6).
  const arma::uword m = Xs.n_cols;
  const bool shared = std::holds_alternative<LinearMap>(model.map) && m <= kSharedCross;
  const arma::mat scores_and_cross = shared ? arma::join_cols(both, -2.0 * Xs.t()) : arma::mat();
  const Range train_shard = shard_range(data.train.size(), comm, chunk);
  // A nonlinear map's scores in a fixed order: the same bits from the fit's
  // cached floats as from features formed again (--stream).
  const auto add_training_chunk = [&](arma::uword first, const arma::mat& X, const auto& Phi) {
    arma::mat scores;
    if (shared) {
      const arma::mat product = multiply(scores_and_cross, X);
      scores = product.rows(0, 2 * k - 1);
      nearest.add(X, product.rows(2 * k, 2 * k + m - 1));
    } else {
      scores = multiply_fixed_order(both, Phi);
      nearest.add(X);
    }
    if (regression)
      train_errors.add(scores, targets_of(data.train, first, X.n_cols));
    else
      classify(scores, labels_of(data.train, first, X.n_cols), 0);
  };
  if (train_features != nullptr && !std::holds_alternative<LinearMap>(model.map))
    for_each_cached_chunk(model.pre, data.train, train_shard, chunk, *train_features,
                          add_training_chunk, progress, "certify: training set");
  else
    for_each_chunk(model.pre, model.map, data.train, train_shard, chunk, add_training_chunk,
                   progress, "certify: training set");
  if (train_features != nullptr) train_features->reset();  // the test pass needs none

  // Each process fills its shards of both models' test classes; the sum completes them.
  arma::uvec test_classes(2 * n_test_images, arma::fill::zeros);
  const Range test_shard = shard_range(n_test_images, comm, chunk);
  // The test scores need the features alone: no double inputs beside them.
  for_each_feature_chunk(
      model.pre, model.map, data.test, test_shard, chunk,
      [&](arma::uword first, const arma::mat& Phi) {
        if (regression)
          test_errors.add(multiply_fixed_order(both, Phi),
                          targets_of(data.test, first, Phi.n_cols));
        else
          counts[4] += classify(multiply_fixed_order(both, Phi),
                                labels_of(data.test, first, Phi.n_cols), 2, &test_classes, first);
      },
      progress, "certify: test set");
  allreduce_sum(comm, counts);
  allreduce_min(comm, nearest.squared());
  allreduce_sum(comm, test_classes);
  if (regression) {
    train_errors.allreduce(comm);
    test_errors.allreduce(comm);
  }

  const double n_train = double(data.train.size()), n_test = double(data.test.size());
  cert.original.train = counts[0] / n_train;
  cert.distilled.train = counts[1] / n_train;
  cert.original.test = counts[2] / n_test;
  cert.distilled.test = counts[3] / n_test;
  cert.test_agreement = counts[4] / n_test;
  cert.n_test = n_test_images;
  cert.test_disagreements = n_test_images - counts[4];
  cert.original_weight_norm = arma::norm(model.W, "fro");
  if (n_test_images > 0) {
    cert.original_test_predictions = prediction_digest(test_classes.head(n_test_images));
    cert.distilled_test_predictions = prediction_digest(test_classes.tail(n_test_images));
  }
  cert.nearest_train_distance = arma::sqrt(nearest.squared());
  if (regression) {
    cert.regression = true;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    cert.original = cert.distilled = Accuracy{nan, nan};
    cert.test_agreement = nan;
    cert.test_disagreements = 0;
    cert.test_max_prediction_difference = test_errors.largest_difference();
    const arma::vec variation = target_variation(data.test.targets);
    for (arma::uword model = 0; model < 2; ++model) {
      RegressionScores& scores = model == 0 ? cert.original_errors : cert.distilled_errors;
      scores = test_errors.scores(model, variation);
      scores.train_mse = train_errors.scores(model, variation).test_mse;
    }
  }
  progress.finish();
  return cert;
}

arma::vec target_variation(const arma::mat& targets) {
  arma::vec total(targets.n_rows);
  for (arma::uword j = 0; j < targets.n_rows; ++j) {
    const arma::rowvec y = targets.row(j);
    // A constant output has no variation; its computed mean may miss by ulps.
    total[j] =
        y.is_empty() || y.min() == y.max() ? 0.0 : arma::accu(arma::square(y - arma::mean(y)));
  }
  return total;
}

double mean_r2(const arma::vec& sq_error, const arma::vec& variation) {
  if (sq_error.is_empty() || sq_error.n_elem != variation.n_elem)
    return std::numeric_limits<double>::quiet_NaN();
  double total = 0.0;
  for (arma::uword j = 0; j < sq_error.n_elem; ++j)
    total += variation[j] > 0 ? 1.0 - sq_error[j] / variation[j] : (sq_error[j] == 0 ? 1.0 : 0.0);
  return total / double(sq_error.n_elem);
}

arma::umat test_predictions(const StreamDataset& data, const Preprocessor& pre,
                            const FeatureMap& map, const arma::mat& W, const arma::mat& Ws,
                            arma::uword chunk, const Communicator& comm) {
  const arma::uword k = W.n_rows, n = data.test.size();
  const arma::mat both = arma::join_cols(W, Ws);
  arma::uvec classes(2 * n, arma::fill::zeros);  // W's, then Ws's
  for_each_chunk(
      pre, map, data.test, shard_range(n, comm, chunk), chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        const arma::mat scores = multiply_fixed_order(both, Phi);  // as certify's
        classes.subvec(first, first + X.n_cols - 1) = arma::index_max(scores.rows(0, k - 1), 0).t();
        classes.subvec(n + first, n + first + X.n_cols - 1) =
            arma::index_max(scores.rows(k, 2 * k - 1), 0).t();
      },
      Progress::silent(), "");
  allreduce_sum(comm, classes);
  return arma::reshape(classes, n, 2).t();
}

std::pair<RegressionScores, RegressionScores> test_regression_scores(
    const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map, const arma::mat& W,
    const arma::mat& Ws, arma::uword chunk, const Communicator& comm) {
  if (!data.test.regression() || data.test.targets.n_rows != W.n_rows)
    throw Error("the test split does not hold the model's real targets");
  const arma::mat both = arma::join_cols(W, Ws);
  PairErrors errors(W.n_rows);
  for_each_chunk(
      pre, map, data.test, shard_range(data.test.size(), comm, chunk), chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        errors.add(multiply_fixed_order(both, Phi), targets_of(data.test, first, X.n_cols));
      },
      Progress::silent(), "");
  errors.allreduce(comm);
  const arma::vec variation = target_variation(data.test.targets);
  return {errors.scores(0, variation), errors.scores(1, variation)};
}

double test_accuracy(const Dataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk) {
  return test_accuracy(view_dataset(data), pre, map, W, chunk, Communicator{});
}

double test_accuracy(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk, const Communicator& comm) {
  arma::uvec correct(1, arma::fill::zeros);
  for_each_chunk(
      pre, map, data.test, shard_range(data.test.size(), comm, chunk), chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        const arma::uvec truth = labels_of(data.test, first, X.n_cols);
        correct[0] += arma::accu(predict_classes(W, Phi) == truth);
      },
      Progress::silent(), "");
  allreduce_sum(comm, correct);
  return double(correct[0]) / double(data.test.size());
}

}  // namespace krrdistill
