#include "krrdistill/certify.hpp"

#include <algorithm>

#include "krrdistill/krr.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

arma::mat refit_distilled(const FeatureMap& map, const arma::mat& Xs, const arma::mat& Ys,
                          double lambda_s) {
  return fit_krr(map_features(map, Xs), Ys, lambda_s);
}

Certificate certify(const Dataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Progress& progress,
                    const arma::mat* train_features) {
  return certify(view_dataset(data), model, distilled, X0, chunk, Communicator{}, progress,
                 train_features);
}

Certificate certify(const StreamDataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Communicator& comm,
                    const Progress& progress, const arma::mat* train_features) {
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

  const arma::uword k = model.W.n_rows, m = Xs.n_cols;
  const arma::mat both = arma::join_cols(model.W, cert.Ws);  // one product for both models
  const arma::rowvec xs_sq = arma::sum(arma::square(Xs), 0);
  arma::vec nearest_sq(m);
  nearest_sq.fill(arma::datum::inf);
  // Correct classes of the original and distilled models on train, then on
  // test, then test agreement: counts, summed over processes.
  arma::uvec counts(5, arma::fill::zeros);
  auto classify = [&](const arma::mat& Phi, const arma::uvec& truth, arma::uword at) {
    const arma::mat scores = both * Phi;
    const arma::urowvec orig = arma::index_max(scores.rows(0, k - 1), 0);
    const arma::urowvec dist = arma::index_max(scores.rows(k, 2 * k - 1), 0);
    counts[at] += arma::accu(orig.t() == truth);
    counts[at + 1] += arma::accu(dist.t() == truth);
    return arma::uword(arma::accu(orig == dist));
  };

  const Range train_shard = shard_range(data.train.size(), comm, chunk);
  for_each_chunk(
      model.pre, model.map, data.train, train_shard, chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        classify(Phi, labels_of(data.train, first, X.n_cols), 0);
        // ‖xs − x‖² = ‖xs‖² + ‖x‖² − 2 xsᵀx, the cross term as one GEMM.
        arma::mat d2 = -2.0 * multiply_transposed(Xs, X);
        d2.each_col() += xs_sq.t();
        d2.each_row() += arma::sum(arma::square(X), 0);
        nearest_sq = arma::min(nearest_sq, arma::min(d2, 1));
      },
      progress, "certify: training set", train_features);

  const Range test_shard = shard_range(data.test.size(), comm, chunk);
  for_each_chunk(
      model.pre, model.map, data.test, test_shard, chunk,
      [&](arma::uword first, const arma::mat& X, const arma::mat& Phi) {
        counts[4] += classify(Phi, labels_of(data.test, first, X.n_cols), 2);
      },
      progress, "certify: test set");
  allreduce_sum(comm, counts);
  allreduce_min(comm, nearest_sq);

  const double n_train = double(data.train.size()), n_test = double(data.test.size());
  cert.original.train = counts[0] / n_train;
  cert.distilled.train = counts[1] / n_train;
  cert.original.test = counts[2] / n_test;
  cert.distilled.test = counts[3] / n_test;
  cert.test_agreement = counts[4] / n_test;
  cert.nearest_train_distance = arma::sqrt(arma::clamp(nearest_sq, 0.0, arma::datum::inf));
  progress.finish();
  return cert;
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
