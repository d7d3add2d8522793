// Transfer of a distilled set to a finite network (docs/design.md §8): the
// same fully-connected ReLU network (mlp.hpp) with the same budget trained on
// the distilled set, on class-balanced random subsets of real training
// images of the same size, and optionally on the whole training set, each
// scored on the test set, for a set in memory (what compare calls;
// transfer_pipeline.hpp reads a written folder).
#pragma once

#include <armadillo>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/mlp.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"

namespace krrdistill {

struct TransferOptions {
  MlpTrainOptions net;            // width, depth, epochs, batch, lr, loss, seed
  arma::uword eval_every = 25;    // test accuracy every this many epochs, and at the last
  arma::uword subsets = 5;        // random real subsets, seeds seed+1 .. seed+subsets
  bool whole = false;             // also train on the whole training set
  arma::uword whole_epochs = 5;   // its epochs (each costs n/m times a set's epoch)
  arma::uword eval_chunk = 1000;  // test images per forward pass
};

// Refuses every option outside its range (limits.hpp), naming it as
// "--" + option_prefix + name (compare's are "--transfer-width", ...).
void check_transfer_options(const TransferOptions& options, const std::string& option_prefix = "");

// One epoch of one training run (a row of transfer_history.csv).
struct TransferEpoch {
  arma::uword epoch = 0;
  double train_loss = 0;
  std::optional<double> test_acc;  // only on evaluated epochs
};

struct TransferCurve {
  std::string set;         // "distilled", "random_subset_seed_N" or "whole"
  std::uint64_t seed = 0;  // of the network's weights and batches (and the subset)
  arma::uword m = 0;       // training images
  arma::uword epochs = 0;
  std::vector<TransferEpoch> history;
  double test_acc = 0;       // after the last epoch: the figure reported
  double best_test_acc = 0;  // best evaluated epoch, for information only (peeks at the test set)
  arma::uword best_epoch = 0;
  double seconds = 0;
};

struct TransferResult {
  TransferOptions options;
  arma::uword ipc = 0;  // images per class of the distilled set (m / k)
  TransferCurve distilled;
  std::vector<TransferCurve> subsets;
  std::optional<TransferCurve> whole;
  // Final test accuracies of the subsets: mean, sample standard deviation
  // (0 for one subset), min and max.
  double subset_mean = 0, subset_std = 0, subset_min = 0, subset_max = 0;
};

// The network's memory at its peak (parameters, gradients, Adam's moments,
// activations of a batch or test chunk) and the test set in model inputs.
std::vector<MemoryItem> transfer_memory(arma::uword d, arma::uword k, arma::uword n_test,
                                        const TransferOptions& options);

// Xs (d×m, model input space of pre) with labels Ys (k×m, column j of class
// j mod k, as every method writes them); refuses m not a multiple of k.
// The subsets take m/k images of each class, preprocessed by pre, one-hot.
TransferResult transfer_set(const arma::mat& Xs, const arma::mat& Ys, const Dataset& data,
                            const Preprocessor& pre, const TransferOptions& options,
                            const Progress& progress = Progress::silent());

// The network trained on one more set of the same options and seed, without
// the baselines (compare: KIP's set beside the analytic one's result).
TransferCurve transfer_one_set(const std::string& name, const arma::mat& Xs, const arma::mat& Ys,
                               const Dataset& data, const Preprocessor& pre,
                               const TransferOptions& options,
                               const Progress& progress = Progress::silent());

// One run's figures: seed, m, epochs, test_acc, best_test_acc, best_epoch,
// final_train_loss, seconds.
nlohmann::json transfer_curve_json(const TransferCurve& curve);
// The "network" and "training" sections of transfer.json.
nlohmann::json transfer_settings_json(const TransferOptions& options);

// transfer.json's sections (without "output"): settings and results.
nlohmann::json transfer_json(const TransferResult& result);
// transfer_history.csv: epoch,set,train_loss,test_acc (empty when not evaluated).
std::string transfer_history_csv(const TransferResult& result);

}  // namespace krrdistill
