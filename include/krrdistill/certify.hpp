// The certificate (DESIGN §3 step 4): refit KRR on the distilled set exactly
// as a user would, and compare it with the original model.
#pragma once

#include <armadillo>

#include "krrdistill/analytic.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

struct Accuracy {
  double train = 0.0;
  double test = 0.0;
};

struct Certificate {
  arma::mat Ws;                    // refit from (Xs, Ys, λs)
  double weight_rel_error = 0.0;   // ‖Ws − W‖F / ‖W‖F
  double cosine = 0.0;             // <Ws, W> / (‖Ws‖ ‖W‖)
  double feature_rel_error = 0.0;  // ‖phi(Xs) − Phis‖ / ‖Phis‖
  Accuracy original;
  Accuracy distilled;
  double test_agreement = 0.0;       // fraction of test images given the same class
  arma::vec init_distance;           // real init: ‖Xs_j − X0_j‖ (model input space)
  arma::vec init_relative_distance;  // ‖Xs_j − X0_j‖ / ‖X0_j‖
  arma::vec nearest_train_distance;  // min_i ‖Xs_j − x_i‖ over training images
};

// The KRR weights a user gets from the written (Xs, Ys) at λs.
arma::mat refit_distilled(const FeatureMap& map, const arma::mat& Xs, const arma::mat& Ys,
                          double lambda_s);

// X0 may be empty (noise init). One pass over the training set (accuracies
// of both models, nearest training image) and one over the test set;
// train_features, when given, are the cached training features of fit_model.
Certificate certify(const Dataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Progress& progress,
                    const arma::mat* train_features = nullptr);

// The same on a dataset in memory or in files, shared by the processes of
// comm (all call it): each passes over its shards (shard_range(n, comm,
// chunk)) of the training and test samples; the counts are summed and the
// nearest distances reduced with a minimum across processes. distilled and
// X0 are read on rank 0 only (Xs and Ws are broadcast); the result is
// complete on rank 0. train_features: this process's shard of the training
// features, from fit_model with the same chunk.
Certificate certify(const StreamDataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Communicator& comm,
                    const Progress& progress, const arma::mat* train_features = nullptr);

// Test accuracy of W on a dataset's test split, in chunks.
double test_accuracy(const Dataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk);
double test_accuracy(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk, const Communicator& comm);

}  // namespace krrdistill
