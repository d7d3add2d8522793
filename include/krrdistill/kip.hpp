// KIP, Kernel Inducing Points (Nguyen, Chen & Lee, ICLR 2021; docs/design.md §4): the
// optimisation loop (class-balanced batches, Adam on the support set, labels
// fixed, learned or solved) over the objective of kip_objective.hpp.
#pragma once

#include <armadillo>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/kip_objective.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

enum class LabelMode { fixed, learn, solve };

// "fixed", "learn", "solve"; parse throws Error on anything else.
LabelMode parse_label_mode(const std::string& name);
std::string label_mode_name(LabelMode mode);

struct KipOptions {
  arma::uword ipc = 10;  // images per class of the initial support (m = ipc·k)
  arma::uword steps = 1000;
  double lr = 0.01;              // Adam on Xs
  double label_lr = 0.0;         // Adam on Ys when labels are learned (0 = lr)
  arma::uword batch = 5000;      // target batch: batch/k images per class (at most the class)
  arma::uword eval_every = 100;  // test accuracy every that many steps (0 = last step only)
  LabelMode labels = LabelMode::fixed;
  std::uint64_t seed = 0;                // RngStream::kip_batches and RngStream::kip_init
  arma::uword eval_chunk = 1000;         // test columns scored at a time
  double regularizer = kKipRegularizer;  // ε of Kss_reg
  // Each step's batch for the ReLU NTK and NNGP: in float, so that its
  // products in K(Xt, Xs) are float as in the published KIP, or in double
  // (kernels.hpp, docs/design.md §4). Single by default, as `krrdistill kip`;
  // the objective's own functions (kip_objective.hpp) take the batch's type.
  ProductPrecision batch_precision = ProductPrecision::single_precision;
  // Stop rules besides the step budget (compare --kip-until-match): after the
  // first evaluation whose test accuracy reaches stop_accuracy, and after the
  // step that brings the optimisation time to max_seconds (0: no limit; that
  // step is evaluated, and the run no longer depends on the seed alone).
  std::optional<double> stop_accuracy;
  double max_seconds = 0.0;
};

// A support set: column j of class j mod k.
struct KipSupport {
  arma::mat Xs;       // d×m model inputs
  arma::mat Ys;       // k×m
  arma::uvec source;  // the training columns of a real-image init (empty for noise)
};

// ipc distinct training images per class, one-hot labels: the same images
// as the analytic method's real init for the same seed (choose_real_images).
KipSupport kip_init_real(const KipOptions& options, const Preprocessor& pre, const Split& train,
                         arma::uword num_classes);

// N(0, 1) in model input space (RngStream::kip_init), one-hot labels.
KipSupport kip_init_noise(const KipOptions& options, arma::uword input_dim,
                          arma::uword num_classes);

// Class-balanced target batches: each call draws min(batch/k, class size)
// training columns of every class, distinct within a call, class after class
// (RngStream::kip_batches of the seed).
struct KipBatchSampler {
  std::vector<std::vector<arma::uword>> pools;  // training columns of each class
  arma::uword per_class = 0;
  std::mt19937_64 rng;
};

KipBatchSampler make_batch_sampler(const arma::uvec& labels, arma::uword num_classes,
                                   arma::uword batch, std::uint64_t seed);
arma::uvec next_batch(KipBatchSampler& sampler);

struct KipRecord {
  arma::uword step = 0;                 // 1-based
  double seconds = 0.0;                 // optimisation time so far, evaluation excluded
  double loss = 0.0;                    // batch loss of this step, before its update
  std::optional<double> test_accuracy;  // after this step's update, every eval_every steps and last
};

struct KipProgress {
  arma::uword step = 0;
  arma::uword steps = 0;
  double loss = 0.0;
  std::optional<double> test_accuracy;  // the latest evaluation
  double steps_per_second = 0.0;
};

using KipProgressCallback = std::function<void(const KipProgress&)>;

// Why a KIP run ended.
enum class KipStop { steps, accuracy, seconds };
std::string kip_stop_name(KipStop stop);  // "step budget", "accuracy reached", "time budget"

struct KipResult {
  arma::mat Xs;
  arma::mat Ys;
  std::vector<KipRecord> history;  // one record per step (empty when the start met stop_accuracy)
  std::optional<double> initial_test_accuracy;  // of the initial support (empty without a test set)
  KipStop stopped_by = KipStop::steps;
};

// The KIP loop of docs/design.md §4. Each step: a class-balanced batch from the
// training set (RngStream::kip_batches; without replacement within a batch),
// model inputs of those columns only; for LabelMode::solve, Ys by Label Solve
// on the batch; then Adam on Xs (and on Ys for LabelMode::learn). Test
// accuracy is skipped when test has no columns. progress is called after
// every step. The run ends after options.steps steps or earlier by the stop
// rules of KipOptions.
KipResult run_kip(const KipOptions& options, const Kernel& kernel, const Preprocessor& pre,
                  const Split& train, const Split& test, const KipSupport& init,
                  const KipProgressCallback& progress = {});

}  // namespace krrdistill
