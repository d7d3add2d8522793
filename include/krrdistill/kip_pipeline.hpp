// The KIP baseline (Nguyen, Chen & Lee, ICLR 2021), its closed-form Label
// Solve (docs/design.md §4) and the side-by-side comparison with the analytic
// method, each as one call on a dataset plus a writer of its folder. The
// command line's kip, labelsolve and compare are these plus their options.
#pragma once

#include <armadillo>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/data_source.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/kernels.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/plot.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/sample_chunks.hpp"
#include "krrdistill/transfer.hpp"

namespace krrdistill {

// The kernel of a KIP or Label Solve run: a feature map's (spec.kind linear,
// rff, fcnn: the analytic method's map, same seed) or ntk/nngp/rbf.
struct KernelSpec {
  FeatureMapSpec map;        // map.kind names the kernel
  arma::uword depth = 1;     // ntk/nngp: hidden layers
  double rbf_bandwidth = 0;  // rbf: 0 = sqrt(d)
};

bool is_feature_model(const std::string& kind);
// Refuses feature sizes above d and unknown kinds.
Kernel make_run_kernel(const KernelSpec& spec, arma::uword input_dim);
// The report's "model" section of a kernel.
nlohmann::json kernel_json(const Kernel& kernel, const FeatureMapSpec& spec, arma::uword input_dim);

struct KipConfig {
  DataSource source;
  KernelSpec kernel;
  KipOptions kip;  // ipc, steps, lr, batch, eval_every, labels, seed
  Init init = Init::real;
};

struct KipRun {
  KipConfig config;
  std::chrono::steady_clock::time_point started;
  double load_seconds = 0;
  Dataset data;
  Preprocessor pre;
  Kernel kernel;
  KipSupport start;  // the initial support
  KipResult result;
};

// Loads the data, refuses (classes, ipc, feature sizes, memory), runs KIP.
KipRun run_kip_pipeline(const KipConfig& config, const Progress& progress = Progress::silent(),
                        const KipProgressCallback& on_step = {});
// distilled_X.npy, distilled_Y.npy, grid.png, history.csv and report.json; commits.
void write_kip_result(const KipRun& run, StagedOutputDir& out);

struct LabelSolveConfig {
  DataSource source;
  KernelSpec kernel;
  arma::uword ipc = 10;
  arma::uword batch = 5000;  // target batch of the kernels without features
  arma::uword chunk = kDefaultChunk;
  std::uint64_t seed = 0;
};

struct LabelSolveRun {
  LabelSolveConfig config;
  std::chrono::steady_clock::time_point started;
  Dataset data;
  Preprocessor pre;
  Kernel kernel;
  KipOptions kip;      // the regulariser and evaluation chunk used
  KipSupport support;  // the real images with one-hot labels
  arma::mat Ys;        // their solved labels
  double loss = 0;
  std::string target;  // "whole training set" or "batch of N"
  double test_acc = 0, test_acc_one_hot = 0;
  PredictionDigest test_predictions;
};

// Label Solve: for the feature kernels against the whole training set
// through G and B (summed as fit_model sums them, compensated), otherwise
// against one class-balanced batch.
LabelSolveRun run_label_solve(const LabelSolveConfig& config,
                              const Progress& progress = Progress::silent());
// distilled_X.npy, distilled_Y.npy, grid.png and report.json; commits.
void write_label_solve_result(const LabelSolveRun& run, StagedOutputDir& out);

struct CompareConfig {
  DataSource source;
  FeatureMapSpec spec;  // linear, rff or fcnn
  std::vector<arma::uword> ipcs;
  KipOptions kip;  // steps, lr, batch, eval_every, labels, seed, max_seconds; ipc set per row
  // Stop each KIP run at the first evaluation that reaches its analytic row's
  // test accuracy (within the budget of kip.steps and kip.max_seconds).
  bool kip_until_match = false;
  // With a value, each method's set and random real subsets of its size
  // train a finite network (transfer.hpp; its whole-set option is not used).
  std::optional<TransferOptions> transfer;
  Init init = Init::real;
  double lambda_s = 0;
  FitOptions fit;
  bool allow_inexact = false;
};

struct AnalyticRow {
  arma::uword ipc = 0;
  double test_acc = 0;
  double seconds = 0;          // statistics, λ sweep and refit, plus distillation
  double distill_seconds = 0;  // distillation alone, given the fitted model
  double weight_rel_error = 0;
  arma::uword test_disagreements = 0;  // against the original model
  bool exact = true;                   // the certificate held
  DistilledSet distilled;              // the set itself (Xs, Ys), for the transfer
};

struct KipRow {
  arma::uword ipc = 0;
  double test_acc = 0, seconds = 0;  // at the last step
  KipResult result;
  // Against the analytic row of the same ipc: the best evaluated accuracy,
  // the optimisation seconds and step of the first evaluation reaching the
  // analytic accuracy (empty: not within the budget; step 0: the start),
  // and KIP's seconds over the analytic seconds: to the match, or, without
  // one, the whole run's, which bounds the speed-up from below.
  double best_test_acc = 0;
  std::optional<double> seconds_to_match;
  std::optional<arma::uword> step_to_match;
  double speedup = 0;
  bool speedup_is_lower_bound = false;
  std::optional<TransferCurve> transfer;  // the finite network trained on KIP's set
};

struct CompareRun {
  CompareConfig config;
  Dataset data;
  Model model;
  std::vector<AnalyticRow> analytic;
  std::vector<KipRow> kip;
  // With config.transfer, per ipc: the network on the analytic set
  // (transfer.distilled) and on the random real subsets of its size.
  std::vector<TransferResult> transfer;
};

// One fit serves every analytic row (each certified before KIP spends its
// time); KIP runs on the same map from the same starting images.
// kip_progress(ipc) gives the callback of the KIP run of that ipc.
CompareRun run_compare(const CompareConfig& config, const Progress& progress = Progress::silent(),
                       const WarningSink& warn = {},
                       const std::function<KipProgressCallback(arma::uword)>& kip_progress = {});
// The table printed by the command line: one line per method and ipc.
std::string compare_table(const CompareRun& run);
// compare.json and compare.png; commits.
void write_compare_result(const CompareRun& run, StagedOutputDir& out);

}  // namespace krrdistill
