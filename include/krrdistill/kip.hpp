// KIP, Kernel Inducing Points (Nguyen, Chen & Lee, ICLR 2021), and Label
// Solve (DESIGN §4). A support set (Xs d×m, Ys k×m) is fitted by kernel ridge
// regression with Kss_reg = Kss + ε·tr(Kss)/m·I (ε = kKipRegularizer unless
// a function is given another eps); the loss on a target batch (Xt d×nt,
// Yt k×nt one-hot) is 0.5·mean((Kts Kss_reg⁻¹ Ysᵀ − Ytᵀ)²) over nt·k entries.
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
#include "krrdistill/kernels.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

inline constexpr double kKipRegularizer = 1e-6;  // ε of Kss_reg

struct KipGradient {
  double loss = 0.0;
  arma::mat dXs;  // d×m, through Kts, Kss and the trace term of the regulariser
  arma::mat dYs;  // k×m
};

double kip_loss(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys, const arma::mat& Xt,
                const arma::mat& Yt, double eps = kKipRegularizer);

KipGradient kip_loss_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                              const arma::mat& Xt, const arma::mat& Yt,
                              double eps = kKipRegularizer);

// Label Solve: Ys = Yt (Kss_reg⁻¹ Kst)⁺ (k×m), the labels that minimise the
// KIP loss on the batch. Solved as least squares Kts α = Ytᵀ (thin SVD of
// Kts, minimum-norm α when rank deficient), then Ysᵀ = Kss_reg α: the same
// minimum, without the 1/ε amplification of Kss's null space.
arma::mat label_solve(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                      const arma::mat& Yt, double eps = kKipRegularizer);

// Label Solve and the loss with its Xs-gradient at the solved labels, from
// one kernel evaluation. At the optimum ∂L/∂Ys = 0, so dXs is also the
// gradient of the label-solved loss Xs ↦ L(Xs, Ys*(Xs)). gradient.dYs is empty.
struct LabelSolveStep {
  arma::mat Ys;
  KipGradient gradient;
};
LabelSolveStep label_solve_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                                    const arma::mat& Yt, double eps = kKipRegularizer);

// Whole training set, feature kernels only, from the statistics G = Phi Phiᵀ,
// B = Y Phiᵀ (no pass over the samples). With H = Phis Kss_reg⁻¹ (p×m):
// Label Solve minimises ‖Phiᵀ H Ysᵀ − Yᵀ‖², i.e. (Hᵀ G H) Ysᵀ = Hᵀ Bᵀ,
// solved as (Phisᵀ G Phis) α = Phisᵀ Bᵀ on the eigenvectors of that m×m
// matrix (minimum-norm α when singular), Ysᵀ = Kss_reg α; the loss with
// w = Phis Kss_reg⁻¹ Ysᵀ (p×k) is 0.5/(n·k)·(tr(wᵀ G w) − 2 tr(B w) + n)
// (Y one-hot, so ‖Y‖² = n).
arma::mat label_solve_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                           double eps = kKipRegularizer);
double kip_loss_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                     const arma::mat& Ys, double eps = kKipRegularizer);

// Scores (k×nq) of the KRR fit on the support at the query inputs Xq:
// (K(Xq, Xs) Kss_reg⁻¹ Ysᵀ)ᵀ; the predicted class is the argmax of a column.
arma::mat kip_predict(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                      const arma::mat& Xq, double eps = kKipRegularizer);

// The predicted class of every image of a split, in order: model inputs made
// and scored `chunk` columns at a time, so memory stays bounded.
arma::uvec kip_classes(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                       const Preprocessor& pre, const Split& split, arma::uword chunk = 1000,
                       double eps = kKipRegularizer);

// Accuracy on a whole split, from kip_classes.
double kip_accuracy(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                    const Preprocessor& pre, const Split& split, arma::uword chunk = 1000,
                    double eps = kKipRegularizer);

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
  std::uint64_t seed = 0;                // Stream::kip_batches and Stream::kip_init
  arma::uword eval_chunk = 1000;         // test columns scored at a time
  double regularizer = kKipRegularizer;  // ε of Kss_reg
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

// N(0, 1) in model input space (Stream::kip_init), one-hot labels.
KipSupport kip_init_noise(const KipOptions& options, arma::uword input_dim,
                          arma::uword num_classes);

// Class-balanced target batches: each call draws min(batch/k, class size)
// training columns of every class, distinct within a call, class after class
// (Stream::kip_batches of the seed).
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

struct KipResult {
  arma::mat Xs;
  arma::mat Ys;
  std::vector<KipRecord> history;               // one record per step (empty when steps = 0)
  std::optional<double> initial_test_accuracy;  // of the initial support (empty without a test set)
};

// The KIP loop of DESIGN §4. Each step: a class-balanced batch from the
// training set (Stream::kip_batches; without replacement within a batch),
// model inputs of those columns only; for LabelMode::solve, Ys by Label Solve
// on the batch; then Adam on Xs (and on Ys for LabelMode::learn). Test
// accuracy is skipped when test has no columns. progress is called after
// every step.
KipResult run_kip(const KipOptions& options, const Kernel& kernel, const Preprocessor& pre,
                  const Split& train, const Split& test, const KipSupport& init,
                  const KipProgressCallback& progress = {});

}  // namespace krrdistill
