#include "krrdistill/certify.hpp"

#include <algorithm>

#include "krrdistill/krr.hpp"

namespace krrdistill {

arma::mat refit_distilled(const FeatureMap& map, const arma::mat& Xs, const arma::mat& Ys,
                          double lambda_s) {
  return fit_krr(map_features(map, Xs), Ys, lambda_s);
}

Certificate certify(const Dataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Progress& progress,
                    const arma::mat* train_features) {
  Certificate cert;
  const arma::mat Phis_actual = map_features(model.map, distilled.Xs);
  cert.Ws = fit_krr(Phis_actual, distilled.Ys, distilled.lambda_s);
  const double w_norm = arma::norm(model.W, "fro");
  cert.weight_rel_error = arma::norm(cert.Ws - model.W, "fro") / w_norm;
  cert.cosine = arma::accu(cert.Ws % model.W) / (arma::norm(cert.Ws, "fro") * w_norm);
  cert.feature_rel_error =
      arma::norm(Phis_actual - distilled.Phis, "fro") / arma::norm(distilled.Phis, "fro");

  const arma::uword k = model.W.n_rows, m = distilled.Xs.n_cols;
  const arma::mat both = arma::join_cols(model.W, cert.Ws);  // one product for both models
  const arma::rowvec xs_sq = arma::sum(arma::square(distilled.Xs), 0);
  arma::vec nearest_sq(m);
  nearest_sq.fill(arma::datum::inf);

  arma::uword train_correct[2] = {0, 0};
  for_each_chunk(
      model.pre, model.map, data.train.pixels, chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        const arma::mat scores = both * Phi;
        const arma::uvec truth = data.train.labels.subvec(first, first + X.n_cols - 1);
        const arma::urowvec orig = arma::index_max(scores.rows(0, k - 1), 0);
        const arma::urowvec dist = arma::index_max(scores.rows(k, 2 * k - 1), 0);
        train_correct[0] += arma::accu(orig.t() == truth);
        train_correct[1] += arma::accu(dist.t() == truth);
        // ‖xs − x‖² = ‖xs‖² + ‖x‖² − 2 xsᵀx, the cross term as one GEMM.
        arma::mat d2 = -2.0 * (distilled.Xs.t() * X);
        d2.each_col() += xs_sq.t();
        d2.each_row() += arma::sum(arma::square(X), 0);
        nearest_sq = arma::min(nearest_sq, arma::min(d2, 1));
      },
      progress, "certify: training set", train_features);
  const double n_train = double(data.train.pixels.n_cols);
  cert.original.train = train_correct[0] / n_train;
  cert.distilled.train = train_correct[1] / n_train;
  cert.nearest_train_distance = arma::sqrt(arma::clamp(nearest_sq, 0.0, arma::datum::inf));

  arma::uword test_correct[2] = {0, 0}, agree = 0;
  for_each_chunk(
      model.pre, model.map, data.test.pixels, chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        const arma::mat scores = both * Phi;
        const arma::uvec truth = data.test.labels.subvec(first, first + X.n_cols - 1);
        const arma::urowvec orig = arma::index_max(scores.rows(0, k - 1), 0);
        const arma::urowvec dist = arma::index_max(scores.rows(k, 2 * k - 1), 0);
        test_correct[0] += arma::accu(orig.t() == truth);
        test_correct[1] += arma::accu(dist.t() == truth);
        agree += arma::accu(orig == dist);
      },
      progress, "certify: test set");
  const double n_test = double(data.test.pixels.n_cols);
  cert.original.test = test_correct[0] / n_test;
  cert.distilled.test = test_correct[1] / n_test;
  cert.test_agreement = agree / n_test;

  if (!X0.is_empty()) {
    cert.init_distance = arma::sqrt(arma::sum(arma::square(distilled.Xs - X0), 0)).t();
    cert.init_relative_distance =
        cert.init_distance / arma::sqrt(arma::sum(arma::square(X0), 0)).t();
  }
  progress.finish();
  return cert;
}

double test_accuracy(const Dataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk) {
  arma::uword correct = 0;
  for_each_chunk(
      pre, map, data.test.pixels, chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        const arma::uvec truth = data.test.labels.subvec(first, first + X.n_cols - 1);
        correct += arma::accu(predict_classes(W, Phi) == truth);
      },
      Progress::silent(), "");
  return double(correct) / double(data.test.pixels.n_cols);
}

}  // namespace krrdistill
