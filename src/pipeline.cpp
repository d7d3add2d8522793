#include "krrdistill/pipeline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>
#include <optional>
#include <system_error>
#include <utility>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Fail closed: a set that does not reproduce its model is an error, unless
// allow_inexact keeps it (with a warning).
void judge_certificate(DistillResult& result, const DistillConfig& config,
                       const WarningSink& warn) {
  result.certificate_problem = certificate_problem(kind_name(result.model.map), result.certificate);
  if (!result.certificate_problem.empty()) {
    if (!config.allow_inexact)
      throw Error(result.certificate_problem + ", or pass --allow-inexact to keep it");
    if (warn) warn("published with --allow-inexact: " + result.certificate_problem);
  }
}

void warn_clamped(const DistilledSet& distilled, const WarningSink& warn) {
  if (!warn || distilled.lambda_s_clamped == distilled.lambda_s_requested) return;
  char text[256];
  std::snprintf(text, sizeof text,
                "--lambda-s %.6g clamped to %.6g (lambda_s <= ipc/(4 |W|_2^2), and real sigma "
                "needs lambda_s <= 1/(4 s_max(D)^2))",
                distilled.lambda_s_requested, distilled.lambda_s_clamped);
  warn(text);
}

// KRR has no intercept (docs/design.md §10): an output whose training mean
// is far from 0 costs about mean²/variance of R². Says so when that exceeds
// 1% for some output; empty otherwise.
std::string intercept_warning(const arma::mat& targets) {
  for (arma::uword j = 0; j < targets.n_rows; ++j) {
    const arma::rowvec y = targets.row(j);
    const double mean = arma::mean(y), variance = y.n_elem > 1 ? arma::var(y, 1) : 0.0;
    if (mean * mean <= 0.01 * variance) continue;
    char text[256];
    std::snprintf(text, sizeof text,
                  "target y%llu has training mean %.3g against std %.3g, and KRR has no "
                  "intercept: centre the targets (subtract their training mean) to fit it",
                  static_cast<unsigned long long>(j), mean, std::sqrt(variance));
    return text;
  }
  return "";
}

// The options that need no data, refused before any is read.
void check_distill_options(const DistillConfig& config) {
  check_chunk(config.fit.chunk);
  if (!(config.analytic.lambda_s >= 0)) throw Error("--lambda-s must be >= 0");
}

// Everything after the data is at hand: refusals, fit, distill, certify.
DistillResult distill_view(const StreamDataset& data, const DistillConfig& config,
                           const Communicator& comm, const Progress& progress,
                           const WarningSink& warn, DistillResult result) {
  const FeatureMapSpec& spec = config.spec;
  const AnalyticOptions& analytic = config.analytic;
  const FitOptions& fit = config.fit;
  if (data.feature_matrix() ? config.source.zca : config.source.standardize)
    throw Error(data.feature_matrix()
                    ? "--zca whitens images; a feature matrix takes --standardize"
                    : "--standardize is for feature matrices; images are always standardised per "
                      "channel");
  // Everything that can be refused is refused before the long work: the
  // classes, --ipc, then the memory the run will need.
  arma::uvec train_labels;
  if (data.regression()) {
    check_target_ipc(analytic.ipc, data.num_classes, data.train.size());
  } else {
    train_labels = labels_of(data.train, 0, data.train.size());
    check_ipc(analytic.ipc, checked_class_counts(train_labels, data.num_classes, data.name));
  }
  const arma::uword d = data.shape.size(), p = output_dim(spec, d);
  check_feature_sizes(spec, d);
  const std::vector<MemoryItem> need =
      analytic_memory(spec, d, data.num_classes, data.num_classes * analytic.ipc,
                      std::min<arma::uword>(fit.chunk, data.train.size()), 0.0);
  check_memory("distillation", need);
  // A nonlinear map costs a large GEMM per pass; keep this process's
  // training features for the certificate when they fit the budget and the
  // memory left (the linear map is free; without the cache they are
  // recomputed). Not when streaming: memory stays O(p² + chunk·d).
  const Range train_range = shard_range(data.train.size(), comm, fit.chunk);
  const double cache_bytes = double(p) * double(train_range.size()) * 4.0;  // floats (§12)
  const double available = available_memory_bytes();
  const bool cache = !config.stream && spec.kind != "linear" &&
                     cache_bytes / 1e6 <= config.feature_cache_mb &&
                     (available <= 0 || total_bytes(need) + cache_bytes <= available);
  FeatureMap map = make_feature_map(spec, d);
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  if (const std::string problem = rff_sigma_problem(map); !problem.empty()) throw Error(problem);
  // Refusals first, then warnings: a refused run prints one line.
  if (data.regression() && warn && comm.root())
    if (const std::string note = intercept_warning(data.train.targets); !note.empty()) warn(note);
  if (analytic.init == Init::real)
    result.start_index =
        data.regression()
            ? choose_real_samples(data.train.size(), data.num_classes * analytic.ipc, analytic.seed)
            : choose_real_images(train_labels, data.num_classes, analytic.ipc, analytic.seed);

  Clock::time_point phase = Clock::now();
  arma::fmat train_features;
  if (std::holds_alternative<LinearMap>(map) && !data.feature_matrix()) {
    // One pass gives the preprocessing and the statistics (docs/design.md §2).
    result.model = fit_linear_model(data, config.source.zca, config.source.zca_reg_fraction, fit,
                                    comm, progress);
  } else {
    progress.status("preprocessing");
    Preprocessor pre = fit_input_preprocessor(data, config.source, fit.chunk, comm);
    result.model = fit_model(data, std::move(pre), std::move(map), fit, comm, progress,
                             cache ? &train_features : nullptr);
  }
  result.timings.fit = seconds_since(phase);
  const Model& model = result.model;

  phase = Clock::now();
  // Real starting images: chosen from the global labels (the same for any
  // number of processes), read by the process whose shard holds each.
  if (analytic.init == Init::real)
    result.start_images =
        model_inputs(model.pre, data.train, result.start_index, train_range, comm);
  if (comm.root())
    result.distilled = distill_analytic(model.map, model.W, result.start_images, analytic);
  result.timings.distill = seconds_since(phase);
  const DistilledSet& distilled = result.distilled;
  if (comm.root()) warn_clamped(distilled, warn);

  phase = Clock::now();
  result.certificate = certify(data, model, distilled, result.start_images, fit.chunk, comm,
                               progress, cache ? &train_features : nullptr);  // releases it
  if (data.feature_matrix())
    result.plane = principal_plane(data, model.pre, distilled.Xs, train_range, comm);
  result.timings.certify = seconds_since(phase);
  result.feature_cache = cache;
  result.processes = comm.size;
  result.root = comm.root();
  // Every collective is behind us: the root alone judges the certificate.
  if (!comm.root()) return result;
  judge_certificate(result, config, warn);
  return result;
}

DistillResult start_result(const DistillConfig& config, const StreamDataset& data,
                           Clock::time_point started, double t_load) {
  DistillResult result;
  result.config = config;
  result.started = started;
  result.timings.load = t_load;
  // The dataset's description without its pixels (they may never have been loaded whole).
  result.description.name = data.name;
  result.description.shape = data.shape;
  result.description.num_classes = data.num_classes;
  result.description.class_names = data.class_names;
  // A description holds no samples; for real targets their dimension k, for
  // a feature matrix its p.
  if (data.regression()) result.description.train.targets.set_size(data.num_classes, 0);
  if (data.feature_matrix()) result.description.train.features.set_size(data.train.dim, 0);
  result.n_train = data.train.size();
  result.n_test = data.test.size();
  return result;
}

}  // namespace

DistillResult distill_dataset(const DistillConfig& config, const Communicator& comm,
                              const Progress& progress, const WarningSink& warn) {
  const Clock::time_point started = Clock::now();
  check_distill_options(config);
  const DataSource& source = config.source;
  // One process holds the data in memory; with stream the passes read it
  // from the files; several processes each hold (or read) only their shard
  // of each split.
  progress.status("loading " + source.dataset);
  // The fit's first pass would wait for oneDNN's integer kernels (a linear
  // map's moments, a nonlinear map's pixel features): built meanwhile on a
  // thread of their own (a core is idle while the training images
  // inflate). Without a thread to spare, the pass builds them.
  std::future<void> integer_kernels;
  try {
    integer_kernels = std::async(std::launch::async, prepare_integer_product);
  } catch (const std::system_error&) {
  }
  Dataset loaded;
  StreamDataset data;
  PixelMatrix train_shard, test_shard;
  if (comm.size == 1 && !config.stream) {
    loaded = load(source);
    data = view_dataset(loaded);
  } else {
    data = open_stream_dataset(source.dataset, source.dir, source.coarse);
    // A feature matrix's shards are read from its file in every pass.
    if (!config.stream && !data.feature_matrix()) {
      const Range train_range = shard_range(data.train.size(), comm, config.fit.chunk);
      const Range test_range = shard_range(data.test.size(), comm, config.fit.chunk);
      train_shard = PixelReader(data.train).read(train_range.first, train_range.size());
      test_shard = PixelReader(data.test).read(test_range.first, test_range.size());
      data.train.memory = &train_shard;
      data.train.memory_first = train_range.first;
      data.test.memory = &test_shard;
      data.test.memory_first = test_range.first;
    }
  }
  return distill_view(data, config, comm, progress, warn,
                      start_result(config, data, started, seconds_since(started)));
}

DistillResult distill_dataset(const Dataset& data, const DistillConfig& config,
                              const Progress& progress, const WarningSink& warn) {
  if (config.stream) throw Error("a dataset held in memory cannot be streamed from its files");
  check_distill_options(config);
  const StreamDataset view = view_dataset(data);
  DistillResult result = start_result(config, view, Clock::now(), 0.0);
  result.from_files = false;
  return distill_view(view, config, Communicator{}, progress, warn, std::move(result));
}

DistillResult distill_statistics(const std::vector<std::string>& files, const DistillConfig& config,
                                 const StreamDataset* test, const Progress& progress,
                                 const WarningSink& warn) {
  const Clock::time_point started = Clock::now();
  const AnalyticOptions& analytic = config.analytic;
  check_distill_options(config);
  if (analytic.init == Init::real)
    throw Error(
        "--init real needs the training images, which statistics do not hold: use --init noise");
  if (files.empty()) throw Error("no statistics files");
  progress.status("reading statistics");
  std::vector<SavedStatistics> parts;
  for (const std::string& file : files) parts.push_back(read_statistics(file));
  SavedStatistics stats = merge_statistics(parts, files);
  parts.clear();
  const arma::uword d = stats.description.shape.size(), k = stats.description.num_classes;
  for (arma::uword c = 0; c < k; ++c)
    if (stats.class_counts[c] == 0)
      throw Error("class " + stats.description.class_names[c] +
                  " has no training sample in the statistics");
  check_ipc(analytic.ipc, stats.class_counts);
  // The certificate's data: no training samples, and the test split if given.
  StreamDataset view;
  view.name = stats.description.name;
  view.shape = stats.description.shape;
  view.num_classes = k;
  view.class_names = stats.description.class_names;
  view.train.dim = view.test.dim = d;
  if (test != nullptr) {
    require_images_with_classes(test->regression(), test->feature_matrix(), test->name,
                                "a test split for statistics files");
    if (!same_shape(test->shape, view.shape) || test->num_classes != k)
      throw Error("the test data (" + shape_text(test->shape) + ", " +
                  std::to_string(test->num_classes) +
                  " classes) is not what the statistics are of (" + shape_text(view.shape) + ", " +
                  std::to_string(k) + " classes)");
    view.test = test->test;
  }

  DistillResult result;
  result.config = config;
  result.config.spec = stats.spec;
  result.started = started;
  result.description = stats.description;
  result.n_train = stats.sums.n;
  result.n_test = view.test.size();
  result.from_files = false;
  result.timings.load = seconds_since(started);

  Clock::time_point phase = Clock::now();
  {
    FeatureMap map = make_feature_map(stats.spec, d);
    if (const std::string problem = surjectivity_problem(map); !problem.empty())
      throw Error(problem);
    if (const std::string problem = rff_sigma_problem(map); !problem.empty()) throw Error(problem);
  }
  progress.status("fit: from statistics");
  result.model = fit_statistics(stats, config.fit);
  result.timings.fit = seconds_since(phase);

  phase = Clock::now();
  result.distilled = distill_analytic(result.model.map, result.model.W, {}, analytic);
  result.timings.distill = seconds_since(phase);
  warn_clamped(result.distilled, warn);

  phase = Clock::now();
  result.certificate =
      certify(view, result.model, result.distilled, {}, config.fit.chunk, Communicator{}, progress);
  result.certificate.nearest_train_distance.reset();  // no training samples at hand
  result.timings.certify = seconds_since(phase);

  result.statistics = {
      {"files", files},
      {"parts", parts_json(stats.parts)},
      {"n_validation", stats.sums.n_validation},
      {"lambda_selection",
       std::isnan(config.fit.lambda) ? "validation squared error of the statistics" : "fixed"},
      {"test_split", test != nullptr}};
  result.statistics["preprocessing"] = stats.spec.kind == "linear"
                                           ? "from the merged pixel moments"
                                           : "fixed, fitted on " + stats.preprocessing_origin;
  judge_certificate(result, config, warn);
  return result;
}

DistillResult distill_statistics(const std::vector<std::string>& files, const DistillConfig& config,
                                 bool score_test, const Progress& progress,
                                 const WarningSink& warn) {
  if (!score_test) return distill_statistics(files, config, nullptr, progress, warn);
  const StreamDataset test =
      open_stream_dataset(config.source.dataset, config.source.dir, config.source.coarse);
  return distill_statistics(files, config, &test, progress, warn);
}

nlohmann::json distill_report(const DistillResult& result) {
  const DistillConfig& config = result.config;
  const std::string kind = kind_name(result.model.map);
  nlohmann::json report = {
      {"command", "distill"},
      {"dataset", dataset_json(result.description, config.source, result.model.pre)},
      {"model", model_json(result.model, config.spec)},
      {"distilled", distilled_json(result.distilled, config.analytic)},
      {"certificate", certificate_json(result.certificate, kind)},
  };
  report["dataset"]["n_train"] = result.n_train;
  if (result.description.feature_matrix() && !config.source.standardize)
    report["certificate"]["distance_space"] = "model input (the features as given)";
  if (!result.statistics.is_null()) {
    // eval cannot rebuild this model from a dataset: the report says so.
    report["statistics"] = result.statistics;
    report["dataset"]["source"] = "statistics";
  }
  report["dataset"]["n_test"] = result.n_test;
  report["distilled"]["allow_inexact"] = config.allow_inexact;
  report["distilled"]["files"]["model_W"] = "model_W.npy";
  if (result.description.feature_matrix()) {
    report["distilled"]["files"].erase("grid");
    report["distilled"]["files"]["principal_plane"] = "principal_plane.png";
  }
  report["run"] = {{"processes", result.processes},
                   {"stream", config.stream},
                   {"feature_cache", result.feature_cache},
                   {"chunk", config.fit.chunk}};
  if (config.analytic.init == Init::real)
    report["distilled"]["start_train_index"] =
        arma::conv_to<std::vector<arma::uword>>::from(result.start_index);
  report["timings_s"] = {{"load", result.timings.load},
                         {"fit", result.timings.fit},
                         {"distill", result.timings.distill},
                         {"certify", result.timings.certify}};
  return report;
}

void write_distill_result(const DistillResult& result, StagedOutputDir& out) {
  if (!result.root) throw Error("only the root process holds the distilled set");
  const Clock::time_point phase = Clock::now();
  const DistilledSet& distilled = result.distilled;
  const Dataset& data = result.description;
  const Model& model = result.model;
  const arma::uword m = distilled.Xs.n_cols, k = data.num_classes, ipc = result.config.analytic.ipc;
  write_npy(out.path("distilled_X.npy"),
            data.feature_matrix() ? std::vector<std::uint64_t>{m, data.shape.size()}
                                  : image_array_shape(m, data.shape),
            distilled.Xs.memptr());
  write_npy(out.path("distilled_Y.npy"), {m, k}, distilled.Ys.memptr());
  // The original weights (k×p, row-major as numpy reads them), for eval's check.
  const arma::mat W_rows = model.W.t();
  write_npy(out.path("model_W.npy"), {k, model.W.n_cols}, W_rows.memptr());
  if (data.feature_matrix()) {
    write_principal_plane_png(out.path("principal_plane.png"), result.plane, data.class_names);
  } else {
    std::vector<GridBlock> blocks{
        class_rows(to_pixel_space(model.pre, distilled.Xs), data.class_names, ipc)};
    if (result.config.analytic.init == Init::real) {
      blocks[0].title = "distilled";
      blocks.push_back(
          class_rows(to_pixel_space(model.pre, result.start_images), data.class_names, ipc));
      blocks[1].title = "start images";
    }
    write_image_grid(out.path("grid.png"), blocks, data.shape, default_upscale(data.shape));
  }

  nlohmann::json report = distill_report(result);
  report["timings_s"]["write"] = seconds_since(phase);
  report["timings_s"]["total"] = seconds_since(result.started);
  report["output"] = out.manifest("report.json");
  write_json_file(out.path("report.json"), report);
  out.commit();
}

void write_distill_result(const DistillResult& result, const std::string& folder, bool force) {
  StagedOutputDir out(
      folder, force,
      result.from_files ? data_inputs(result.config.source) : std::vector<std::string>{});
  write_distill_result(result, out);
}

}  // namespace krrdistill
