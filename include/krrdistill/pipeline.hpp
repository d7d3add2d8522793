// The distill pipeline as one call (docs/design.md §2–§3 end to end): load
// or take a dataset, refuse what cannot work before the long work, fit the
// original model, distill, certify; then write the result to a folder. The
// command line's 'krrdistill distill' is this plus its options.
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
#include "krrdistill/distributed.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/principal_plane.hpp"
#include "krrdistill/progress.hpp"

namespace krrdistill {

// Receives each warning of a run (without the "warning: " prefix).
using WarningSink = std::function<void(const std::string&)>;

struct DistillConfig {
  DataSource source;               // the dataset read (not used by the in-memory overload)
  FeatureMapSpec spec;             // the feature map; spec.seed is the run's seed
  FitOptions fit;                  // the original model's fit (λ, chunk, seed)
  AnalyticOptions analytic;        // ipc, init, λs, seed
  bool stream = false;             // read the pixels from the files in every pass
  double feature_cache_mb = 2048;  // keep nonlinear training features up to this size
  bool allow_inexact = false;      // keep a result whose certificate fails
};

struct DistillTimings {
  double load = 0, fit = 0, distill = 0, certify = 0;
};

struct DistillResult {
  DistillConfig config;
  std::chrono::steady_clock::time_point started;
  Dataset description;  // name, shape, classes; no pixels
  arma::uword n_train = 0, n_test = 0;
  int processes = 1;
  bool feature_cache = false;  // whether the training features were kept
  bool root = true;            // false on the other processes: no distilled set
  bool from_files = true;      // read from config.source (not handed over in memory)
  Model model;
  DistilledSet distilled;
  arma::mat start_images;  // X0 in model input space (real init), else empty
  arma::uvec start_index;  // their training indices (real init)
  Certificate certificate;
  std::string certificate_problem;  // empty when the certificate holds
  DistillTimings timings;
  nlohmann::json statistics;  // distilled from statistics files: which, and what they summed
  PrincipalPlane plane;       // a feature matrix's picture (its grid.png)
};

// Loads (or, with several processes or config.stream, reads shard by shard)
// the dataset of config.source and runs the pipeline on it. Every process of
// comm calls it; only the root's result holds the distilled set and the
// certificate. Throws Error for a refused input or, without allow_inexact, a
// failed certificate (after which nothing should be written).
DistillResult distill_dataset(const DistillConfig& config, const Communicator& comm = {},
                              const Progress& progress = Progress::silent(),
                              const WarningSink& warn = {});

// The same on a dataset the caller holds in memory (one process);
// config.source only describes it in the report (set source.dataset to a
// name no loader knows, e.g. "memory", so that eval does not look for files).
DistillResult distill_dataset(const Dataset& data, const DistillConfig& config,
                              const Progress& progress = Progress::silent(),
                              const WarningSink& warn = {});

// Distils from statistics files (saved_statistics.hpp) without the training
// data (docs/design.md §9): merges them, fits the original model (λ fixed,
// or chosen on the validation sums), distils from noise (a real start needs
// the training images), and certifies on what is at hand: the refit's
// weight error and, with test (a dataset whose test split to score, of the
// same image shape and classes), both models' test predictions. The train
// accuracies and the nearest training distances are absent (NaN, empty).
// config.source describes test; config.spec is the files'.
DistillResult distill_statistics(const std::vector<std::string>& files, const DistillConfig& config,
                                 const StreamDataset* test,
                                 const Progress& progress = Progress::silent(),
                                 const WarningSink& warn = {});

// The same with the test split of config.source's dataset (opened, its
// training split not read) when score_test, else none.
DistillResult distill_statistics(const std::vector<std::string>& files, const DistillConfig& config,
                                 bool score_test, const Progress& progress = Progress::silent(),
                                 const WarningSink& warn = {});

// report.json of a result (its "timings_s" holds the pipeline's phases;
// write_distill_result adds "write", "total" and "output").
nlohmann::json distill_report(const DistillResult& result);

// Writes distilled_X.npy, distilled_Y.npy, model_W.npy, grid.png (for a
// feature matrix principal_plane.png) and report.json into out and commits it.
void write_distill_result(const DistillResult& result, StagedOutputDir& out);
// The same into folder (replaced only with force and only when krrdistill
// wrote it); for refusals before the work, make the StagedOutputDir first.
void write_distill_result(const DistillResult& result, const std::string& folder, bool force);

}  // namespace krrdistill
