// Real targets (docs/design.md §10): the fit against a direct solve of the
// normal equations, the recovered linear function, the λ choice against a
// brute-force sweep, exact distillation for every map and init, and the
// certificate's MSE and R² against their definitions.
#define BOOST_TEST_MODULE regression
#include <boost/test/unit_test.hpp>
#include <random>

#include "fixtures.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/stream.hpp"

using namespace krrdistill;

namespace {

constexpr arma::uword kTrain = 600, kTest = 200, kTargets = 3;
const ImageShape kShape{1, 6, 6};

PixelMatrix random_pixels(arma::uword n, std::mt19937_64& rng) {
  PixelMatrix pixels(kShape.size(), n);
  for (auto& q : pixels) q = std::uint8_t(rng() % 256);
  return pixels;
}

// Targets A x + noise of the model inputs x (preprocessed as the fit will
// preprocess them), so that the model without intercept can express them.
struct Problem {
  Dataset data;
  arma::mat A;  // k×d, the true weights
  Preprocessor pre;
};

Problem make_problem(double noise, double signal = 1.0) {
  std::mt19937_64 rng(11);
  Problem problem;
  PixelMatrix train = random_pixels(kTrain, rng), test = random_pixels(kTest, rng);
  problem.pre = fit_preprocessor(train, kShape, false, 0.1);
  arma::arma_rng::set_seed(5);
  problem.A = signal * arma::randn<arma::mat>(kTargets, kShape.size());
  const auto targets = [&](const PixelMatrix& pixels) {
    const arma::mat X = to_model_input(problem.pre, pixels, 0, pixels.n_cols);
    return arma::mat(problem.A * X + noise * arma::randn<arma::mat>(kTargets, X.n_cols));
  };
  arma::mat train_y = targets(train), test_y = targets(test);
  problem.data = make_regression_dataset(std::move(train), std::move(train_y), std::move(test),
                                         std::move(test_y), kShape);
  return problem;
}

DistillConfig config_for(const std::string& kind, Init init, arma::uword ipc, double lambda) {
  DistillConfig config;
  config.source.dataset = "memory";
  config.spec.kind = kind;
  config.fit.lambda = lambda;
  config.fit.chunk = 128;  // several chunks
  config.analytic.ipc = ipc;
  config.analytic.init = init;
  return config;
}

// W = Y Xᵀ (X Xᵀ + λI)⁻¹ by a dense solve of the normal equations.
arma::mat direct_ridge(const arma::mat& Phi, const arma::mat& Y, double lambda) {
  const arma::mat G = Phi * Phi.t() + lambda * arma::eye(Phi.n_rows, Phi.n_rows);
  return arma::solve(G, Phi * Y.t()).t();
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

}  // namespace

BOOST_AUTO_TEST_CASE(linear_fit_is_the_ridge_solution_and_recovers_the_function) {
  const Problem problem = make_problem(0.01);
  const Dataset& data = problem.data;
  const double lambda = 0.5;
  const DistillResult result =
      distill_dataset(data, config_for("linear", Init::noise, 1, lambda), Progress::silent());
  const arma::mat X = to_model_input(problem.pre, data.train.pixels, 0, kTrain);
  BOOST_TEST(
      arma::approx_equal(result.model.pre.channel_mean, problem.pre.channel_mean, "absdiff", 0.0));
  BOOST_TEST(rel(result.model.W, direct_ridge(X, data.train.targets, lambda)) < 1e-12);
  // Noise 0.01 on 600 samples of 36 inputs: the function itself, to about 1e-3.
  BOOST_TEST(rel(result.model.W, problem.A) < 5e-3);
  // One point per target dimension reproduces it.
  const DistilledSet& set = result.distilled;
  BOOST_TEST(set.Xs.n_cols == kTargets);
  BOOST_TEST(arma::rank(set.Ys) == kTargets);
  BOOST_TEST(result.certificate.regression);
  BOOST_TEST(result.certificate.weight_rel_error < 1e-12);
  BOOST_TEST(rel(refit_distilled(result.model.map, set.Xs, set.Ys, set.lambda_s), result.model.W) <
             1e-12);
  BOOST_TEST(result.certificate_problem.empty());
}

BOOST_AUTO_TEST_CASE(certificate_scores_are_mse_and_mean_r2) {
  const Problem problem = make_problem(0.3);
  const Dataset& data = problem.data;
  const DistillResult result =
      distill_dataset(data, config_for("linear", Init::real, 2, 2.0), Progress::silent());
  const Certificate& cert = result.certificate;
  const arma::mat& W = result.model.W;
  const arma::mat X_test = to_model_input(result.model.pre, data.test.pixels, 0, kTest);
  const arma::mat X_train = to_model_input(result.model.pre, data.train.pixels, 0, kTrain);
  const arma::mat residual = W * X_test - data.test.targets;
  const double mse = arma::accu(arma::square(residual)) / double(kTest * kTargets);
  BOOST_TEST(std::abs(cert.original_errors.test_mse - mse) <= 1e-12 * mse);
  const double train_mse =
      arma::accu(arma::square(W * X_train - data.train.targets)) / double(kTrain * kTargets);
  BOOST_TEST(std::abs(cert.original_errors.train_mse - train_mse) <= 1e-12 * train_mse);
  double r2 = 0;
  for (arma::uword j = 0; j < kTargets; ++j) {
    const arma::rowvec y = data.test.targets.row(j);
    r2 += 1.0 -
          arma::accu(arma::square(residual.row(j))) / arma::accu(arma::square(y - arma::mean(y)));
  }
  r2 /= double(kTargets);
  BOOST_TEST(std::abs(cert.original_errors.test_r2 - r2) < 1e-12);
  BOOST_TEST(r2 > 0.5);  // a real fit, not a constant
  // The distilled model predicts what the original does.
  BOOST_TEST(std::abs(cert.distilled_errors.test_mse - mse) <= 1e-10 * mse);
  BOOST_TEST(std::abs(cert.distilled_errors.test_r2 - r2) < 1e-10);
  const arma::mat Ws_scores = cert.Ws * X_test;
  BOOST_TEST(std::abs(cert.test_max_prediction_difference -
                      arma::abs(W * X_test - Ws_scores).max()) < 1e-14);
  BOOST_TEST(cert.test_max_prediction_difference < 1e-10);
  BOOST_TEST(std::isnan(cert.original.test));
  // Real start: m distinct training samples, drawn by the seed.
  const arma::uvec& start = result.start_index;
  BOOST_TEST(start.n_elem == 2 * kTargets);
  BOOST_TEST(arma::uvec(arma::unique(start)).n_elem == start.n_elem);
  BOOST_TEST(arma::all(start == choose_real_samples(kTrain, 2 * kTargets, 0)));
}

BOOST_AUTO_TEST_CASE(r2_conventions) {
  const arma::mat targets = {{1.0, 2.0, 3.0}, {4.0, 4.0, 4.0}};
  const arma::vec variation = target_variation(targets);
  BOOST_TEST(variation[0] == 2.0);
  BOOST_TEST(variation[1] == 0.0);
  // Output 0: error 0.5 of variation 2; a constant output scores 1 when
  // predicted exactly, else 0 (scikit-learn's force_finite).
  BOOST_TEST(mean_r2(arma::vec{0.5, 0.0}, variation) == (0.75 + 1.0) / 2);
  BOOST_TEST(mean_r2(arma::vec{0.5, 1e-3}, variation) == 0.75 / 2);
  // 0.1 is not a double: the computed mean of 61 of them misses by ulps, yet
  // the output is constant and has no variation.
  BOOST_TEST(target_variation(arma::mat(1, 61, arma::fill::value(0.1)))[0] == 0.0);
  BOOST_TEST(target_variation(arma::mat(1, 61, arma::fill::value(2.2)))[0] == 0.0);
}

BOOST_AUTO_TEST_CASE(lambda_is_chosen_by_validation_squared_error) {
  // A weak signal in noise: the sweep has an interior choice.
  const Problem problem = make_problem(1.0, 0.05);
  const Dataset& data = problem.data;
  DistillConfig config = config_for("linear", Init::noise, 1, arma::datum::nan);
  const DistillResult result = distill_dataset(data, config, Progress::silent());
  const Model& model = result.model;
  for (double acc : model.sweep.val_accuracy) BOOST_TEST(std::isnan(acc));
  // Brute force: fit on the samples outside the validation split, score on it.
  const arma::uvec val =
      validation_indices(kTrain, config.fit.validation_fraction, config.fit.seed);
  arma::uvec keep(kTrain, arma::fill::ones);
  keep.elem(val).zeros();
  const arma::mat X = to_model_input(model.pre, data.train.pixels, 0, kTrain);
  const arma::uvec fit_rows = arma::find(keep);
  std::size_t best = 0;
  std::vector<double> errors;
  for (std::size_t i = 0; i < model.sweep.lambdas.size(); ++i) {
    const arma::mat W =
        direct_ridge(X.cols(fit_rows), data.train.targets.cols(fit_rows), model.sweep.lambdas[i]);
    errors.push_back(arma::accu(arma::square(W * X.cols(val) - data.train.targets.cols(val))));
    BOOST_TEST(std::abs(errors[i] - model.sweep.val_sq_error[i]) <= 1e-8 * errors[i]);
    if (errors[i] < errors[best]) best = i;
  }
  BOOST_TEST(model.lambda == model.sweep.lambdas[best]);
  BOOST_TEST(best > 0);
  BOOST_TEST(best + 1 < model.sweep.lambdas.size());
  BOOST_TEST(rel(model.W, direct_ridge(X, data.train.targets, model.lambda)) < 1e-11);
}

BOOST_AUTO_TEST_CASE(squared_error_ties_go_to_the_larger_lambda) {
  LambdaSweep sweep;
  sweep.lambdas = {0.1, 1.0, 10.0, 100.0};
  sweep.val_sq_error = {3.0, 2.0, 2.0, 5.0};
  choose_lambda_by_sq_error(sweep);
  BOOST_TEST(sweep.best_lambda == 10.0);
}

BOOST_AUTO_TEST_CASE(nonlinear_maps_distil_exactly_from_either_start) {
  const Problem problem = make_problem(0.1);
  for (const std::string kind : {"rff", "fcnn"})
    for (const Init init : {Init::noise, Init::real}) {
      BOOST_TEST_CONTEXT(kind << " " << init_name(init)) {
        const DistillConfig config = config_for(kind, init, 3, 1.0);
        const DistillResult result = distill_dataset(problem.data, config, Progress::silent());
        BOOST_TEST(result.distilled.Xs.n_cols == 3 * kTargets);
        BOOST_TEST(result.certificate.weight_rel_error < 1e-9);
        BOOST_TEST(result.certificate_problem.empty());
        BOOST_TEST(std::abs(result.certificate.distilled_errors.test_mse -
                            result.certificate.original_errors.test_mse) <=
                   1e-8 * result.certificate.original_errors.test_mse);
        // Same inputs, same bits.
        const DistillResult again = distill_dataset(problem.data, config, Progress::silent());
        BOOST_TEST(arma::approx_equal(again.distilled.Xs, result.distilled.Xs, "absdiff", 0.0));
        BOOST_TEST(arma::approx_equal(again.model.W, result.model.W, "absdiff", 0.0));
      }
    }
}

BOOST_AUTO_TEST_CASE(refusals) {
  std::mt19937_64 rng(3);
  const PixelMatrix pixels = random_pixels(10, rng);
  arma::mat y(2, 10, arma::fill::zeros);
  BOOST_CHECK_THROW(make_regression_dataset(pixels, arma::mat(2, 9), pixels, y, kShape), Error);
  BOOST_CHECK_THROW(make_regression_dataset(pixels, y, pixels, arma::mat(3, 10), kShape), Error);
  BOOST_CHECK_THROW(make_regression_dataset(pixels, arma::mat(0, 10), pixels, y, kShape), Error);
  arma::mat bad = y;
  bad(1, 4) = arma::datum::inf;
  BOOST_CHECK_THROW(make_regression_dataset(pixels, bad, pixels, y, kShape), Error);
  // ipc points a dimension, at most the training samples in all.
  BOOST_CHECK_THROW(check_target_ipc(6, 2, 10), Error);
  BOOST_CHECK_NO_THROW(check_target_ipc(5, 2, 10));
  BOOST_CHECK_THROW(check_target_ipc(0, 2, 10), Error);
  BOOST_CHECK_THROW(choose_real_samples(10, 11, 0), Error);
  BOOST_TEST(fixtures::error_of([] { check_target_ipc(1, 5, 3); }) ==
             "real targets of 5 dimensions need at least 5 training samples, one a distilled "
             "point; there are 3");
  // Labels asked of real targets: an Error, not a read past the end.
  const Dataset data = make_regression_dataset(pixels, y, pixels, y, kShape);
  const StreamDataset view = view_dataset(data);
  BOOST_CHECK_THROW(labels_of(view.train, 0, 3), Error);
  BOOST_CHECK_THROW(labels_of(view.train, arma::uvec{1, 2}), Error);
  BOOST_CHECK_THROW(targets_of(view.train, 8, 3), Error);
}
