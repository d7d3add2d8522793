// The certificate (docs/design.md §3 step 4): refit KRR on the distilled set exactly
// as a user would, and compare it with the original model.
#pragma once

#include <armadillo>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

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

// The predicted classes of a split, in sample order, as a fingerprint: zlib
// crc32 over the class indices as little-endian uint32, and their count.
// eval recomputes it from the written files to check every prediction
// without storing them.
struct PredictionDigest {
  arma::uword count = 0;
  std::uint32_t crc32 = 0;
  bool operator==(const PredictionDigest& other) const {
    return count == other.count && crc32 == other.crc32;
  }
  bool operator!=(const PredictionDigest& other) const { return !(*this == other); }
};
PredictionDigest prediction_digest(const arma::uvec& classes);

// Regression scores of a model (docs/design.md §10): the mean squared error
// over samples and outputs, and R² averaged over the outputs (an output
// whose test targets are constant scores 1 when predicted exactly, else 0).
struct RegressionScores {
  double train_mse = std::numeric_limits<double>::quiet_NaN();
  double test_mse = std::numeric_limits<double>::quiet_NaN();
  double test_r2 = std::numeric_limits<double>::quiet_NaN();
};

struct Certificate {
  arma::mat Ws;                    // refit from (Xs, Ys, λs)
  double weight_rel_error = 0.0;   // ‖Ws − W‖F / ‖W‖F
  double cosine = 0.0;             // <Ws, W> / (‖Ws‖ ‖W‖)
  double feature_rel_error = 0.0;  // ‖phi(Xs) − Phis‖ / ‖Phis‖
  Accuracy original;
  Accuracy distilled;
  double test_agreement = 0.0;         // fraction of test images given the same class
  arma::uword test_disagreements = 0;  // test images given different classes
  arma::uword n_test = 0;
  double original_weight_norm = 0.0;  // ‖W‖F
  PredictionDigest original_test_predictions;
  PredictionDigest distilled_test_predictions;
  arma::vec init_distance;           // real init: ‖Xs_j − X0_j‖ (model input space)
  arma::vec init_relative_distance;  // ‖Xs_j − X0_j‖ / ‖X0_j‖
  arma::vec nearest_train_distance;  // min_i ‖Xs_j − x_i‖ over training images
  // Real targets (regression) instead of classes: the accuracies are NaN,
  // the digests empty, and these score both models.
  bool regression = false;
  RegressionScores original_errors, distilled_errors;
  double test_max_prediction_difference = 0.0;  // max |W φ − Ws φ| over test samples, outputs
};

// The KRR weights a user gets from the written (Xs, Ys) at λs.
arma::mat refit_distilled(const FeatureMap& map, const arma::mat& Xs, const arma::mat& Ys,
                          double lambda_s);

// X0 may be empty (noise init). One pass over the training set (accuracies,
// or for real targets squared errors, of both models; nearest training
// image) and one over the test set;
// train_features, when given, are the cached training features of fit_model,
// released once the training pass is done: the test pass does not need
// them, and they are most of a nonlinear run's memory.
Certificate certify(const Dataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Progress& progress,
                    arma::fmat* train_features = nullptr);

// The same on a dataset in memory or in files, shared by the processes of
// comm (all call it): each passes over its shards (shard_range(n, comm,
// chunk)) of the training and test samples; the counts are summed and the
// nearest distances reduced with a minimum across processes. distilled and
// X0 are read on rank 0 only (Xs and Ws are broadcast); the result is
// complete on rank 0. train_features: this process's shard of the training
// features, from fit_model with the same chunk, released as above.
Certificate certify(const StreamDataset& data, const Model& model, const DistilledSet& distilled,
                    const arma::mat& X0, arma::uword chunk, const Communicator& comm,
                    const Progress& progress, arma::fmat* train_features = nullptr);

// Σ_i (y_ji − ȳ_j)² of each output j of real targets (k×n), two-pass.
arma::vec target_variation(const arma::mat& targets);
// R² averaged over outputs from each output's squared error and variation
// (RegressionScores' convention for a constant output).
double mean_r2(const arma::vec& sq_error, const arma::vec& variation);

// The largest ‖Ws − W‖F/‖W‖F a certificate accepts for a model kind
// ("linear", "rff", "fcnn"). Measured on Fashion-MNIST (ipc 1, real init)
// the refit is exact to 1e-14 for linear (no inversion: Xs = Phis) and to
// 2e-11 for rff and a one-layer fcnn (the inversion adds a few roundings):
// six and four to five orders of margin, still far below anything that
// could move a prediction on its own (every test prediction is checked
// separately). Deeper FCNNs lose two to three orders a layer (L = 2: 1e-8,
// L = 3: 8e-7, L = 4: 5e-5) and are refused from 4 layers at slope 0.1.
double certificate_tolerance(const std::string& kind);

// Empty when the distilled set reproduces the model (weight error within
// the kind's tolerance, NaN never is, and no test prediction changed; real
// targets have no classes to change: n_test 0 says so, as the overload
// taking the certificate does);
// otherwise one line naming the figures, why it can happen for this kind
// and what to try (the caller adds how to keep the set anyway).
std::string certificate_problem(const std::string& kind, double weight_rel_error,
                                arma::uword test_disagreements, arma::uword n_test);
std::string certificate_problem(const std::string& kind, const Certificate& cert);

// Refuses (Error) an RFF bandwidth that cannot certify whatever the data:
// one whose projection A (entries N(0, 1/sigma²)) overflows, whose phases
// A x are pure rounding noise (one rounding unit of A x exceeds a period
// 2π), or whose A x vanishes against the offset b in rounding (A x + b == b,
// so the features do not depend on x). Judged for standardised inputs,
// ‖x‖ ≈ sqrt(d). Returns the problem, empty when none.
std::string rff_sigma_problem(const FeatureMap& map);

// The predicted class of every test image under the original W and the
// refit Ws (both k×p), in sample order, as 2×n_test (row 0: W, row 1: Ws):
// scored exactly as certify scores them (one product of the stacked
// weights, the same chunks), so the classes match certify's bit for bit.
// Complete on every process of comm (each scores its shards).
arma::umat test_predictions(const StreamDataset& data, const Preprocessor& pre,
                            const FeatureMap& map, const arma::mat& W, const arma::mat& Ws,
                            arma::uword chunk, const Communicator& comm);

// Real targets: the test scores (MSE, R²; train_mse NaN) of W and of Ws,
// computed exactly as certify computes them (the same chunks and sums).
std::pair<RegressionScores, RegressionScores> test_regression_scores(
    const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map, const arma::mat& W,
    const arma::mat& Ws, arma::uword chunk, const Communicator& comm);
// Test accuracy of W on a dataset's test split, in chunks.
double test_accuracy(const Dataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk);
double test_accuracy(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                     const arma::mat& W, arma::uword chunk, const Communicator& comm);

}  // namespace krrdistill
