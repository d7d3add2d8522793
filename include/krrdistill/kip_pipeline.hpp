// The KIP baseline (Nguyen, Chen & Lee, ICLR 2021) and its closed-form Label
// Solve (docs/design.md §4), each as one call on a dataset plus a writer of
// its folder. The command line's kip and labelsolve are these plus their
// options.
#pragma once

#include <armadillo>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
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
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"

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

}  // namespace krrdistill
