#include "krrdistill/kip_pipeline.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/kip_objective.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string history_csv(const std::vector<KipRecord>& history) {
  std::ostringstream csv;
  csv.precision(17);
  csv << "step,seconds,loss,test_acc\n";
  for (const KipRecord& r : history) {
    csv << r.step << "," << r.seconds << "," << r.loss << ",";
    if (r.test_accuracy) csv << *r.test_accuracy;
    csv << "\n";
  }
  return csv.str();
}

// distilled_X.npy, distilled_Y.npy and grid.png of a support set.
void write_support(StagedOutputDir& out, const Dataset& data, const Preprocessor& pre,
                   const arma::mat& Xs, const arma::mat& Ys, arma::uword ipc,
                   const arma::uvec& source) {
  const arma::uword m = Xs.n_cols, k = data.num_classes;
  write_npy(out.path("distilled_X.npy"), image_array_shape(m, data.shape), Xs.memptr());
  write_npy(out.path("distilled_Y.npy"), {m, k}, Ys.memptr());
  std::vector<GridBlock> blocks{class_rows(to_pixel_space(pre, Xs), data.class_names, ipc)};
  if (!source.is_empty()) {
    blocks[0].title = "distilled";
    blocks.push_back(class_rows(to_pixel_space(pre, to_model_input(pre, data.train.pixels, source)),
                                data.class_names, ipc));
    blocks[1].title = "start images";
  }
  write_image_grid(out.path("grid.png"), blocks, data.shape, default_upscale(data.shape));
}

}  // namespace

bool is_feature_model(const std::string& kind) {
  return kind == "linear" || kind == "rff" || kind == "fcnn";
}

Kernel make_run_kernel(const KernelSpec& spec, arma::uword input_dim) {
  check_feature_sizes(spec.map, input_dim);
  if (is_feature_model(spec.map.kind))
    return make_kernel("feature", 1, 0.0, make_feature_map(spec.map, input_dim));
  if (spec.rbf_bandwidth < 0) throw Error("--rbf-bandwidth must be >= 0");
  if (spec.map.kind != "ntk" && spec.map.kind != "nngp" && spec.map.kind != "rbf")
    throw Error("unknown --model '" + spec.map.kind +
                "' (expected linear, rff, fcnn, ntk, nngp or rbf)");
  return make_kernel(spec.map.kind, spec.depth, spec.rbf_bandwidth, LinearMap{input_dim});
}

nlohmann::json kernel_json(const Kernel& kernel, const FeatureMapSpec& spec,
                           arma::uword input_dim) {
  nlohmann::json j = {{"kernel", kernel_name(kernel)}, {"kind", spec.kind}, {"seed", spec.seed}};
  if (const auto* feature = std::get_if<FeatureKernel>(&kernel)) {
    j["p"] = feature_dim(feature->map);
    if (const auto* rff = std::get_if<RandomFourierMap>(&feature->map)) j["rff_sigma"] = rff->sigma;
    if (const auto* fcnn = std::get_if<FcnnMap>(&feature->map)) {
      j["layers"] = fcnn->layers.size();
      j["width"] = feature_dim(feature->map);
      j["slope"] = fcnn->slope;
    }
  }
  if (const auto* ntk = std::get_if<ReluNtk>(&kernel)) j["depth"] = ntk->depth;
  if (const auto* nngp = std::get_if<ReluNngp>(&kernel)) j["depth"] = nngp->depth;
  if (const auto* rbf = std::get_if<Rbf>(&kernel))
    j["rbf_bandwidth"] = rbf_bandwidth(*rbf, input_dim);
  return j;
}

namespace {

// Memory a run needs beyond the feature map's and KIP's own, for data of
// dimension d with k classes.
using ExtraMemory = std::function<std::vector<MemoryItem>(arma::uword d, arma::uword k)>;

// The setup KIP and Label Solve share: loads the data, checks kip.ipc
// against its class counts, the feature sizes against its dimension and the
// memory need (the feature map's, then extra's, then KIP's; check_memory
// names it what), then makes the kernel and fits the preprocessor. Returns
// the seconds from started to the data loaded.
double set_up(const DataSource& source, const KernelSpec& kernel_spec, const KipOptions& kip,
              const std::string& what, const ExtraMemory& extra, Clock::time_point started,
              Dataset& data, Kernel& kernel, Preprocessor& pre) {
  data = load(source);
  const double load_seconds = seconds_since(started);
  const FeatureMapSpec& spec = kernel_spec.map;
  const arma::uword d = data.shape.size(), k = data.num_classes;
  require_images_with_classes(data.regression(), data.feature_matrix(), data.name, what);
  check_ipc(kip.ipc, checked_class_counts(data.train.labels, k, data.name));
  check_feature_sizes(spec, d);
  std::vector<MemoryItem> need = feature_map_memory(spec, d);
  if (extra)
    for (const MemoryItem& item : extra(d, k)) need.push_back(item);
  for (const MemoryItem& item :
       kip_memory(d, output_dim(spec, d), k, k * kip.ipc,
                  std::min<arma::uword>(kip.batch, data.train.labels.n_elem), source.zca,
                  data.train.labels.n_elem))
    need.push_back(item);
  check_memory(what, need);
  kernel = make_run_kernel(kernel_spec, d);
  pre = fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  return load_seconds;
}

}  // namespace

KipRun run_kip_pipeline(const KipConfig& config, const Progress& progress,
                        const KipProgressCallback& on_step) {
  KipRun run;
  run.config = config;
  run.started = Clock::now();
  const KipOptions& kip = config.kip;
  progress.status("loading " + config.source.dataset);
  run.load_seconds = set_up(config.source, config.kernel, kip, "KIP", {}, run.started, run.data,
                            run.kernel, run.pre);
  const Dataset& data = run.data;
  const arma::uword d = data.shape.size(), k = data.num_classes;
  run.start = config.init == Init::noise ? kip_init_noise(kip, d, k)
                                         : kip_init_real(kip, run.pre, data.train, k);
  run.result =
      krrdistill::run_kip(kip, run.kernel, run.pre, data.train, data.test, run.start, on_step);
  return run;
}

void write_kip_result(const KipRun& run, StagedOutputDir& out) {
  const Clock::time_point write_start = Clock::now();
  const KipOptions& kip = run.config.kip;
  const Dataset& data = run.data;
  const KipResult& res = run.result;
  write_support(out, data, run.pre, res.Xs, res.Ys, kip.ipc, run.start.source);
  write_file_atomic(out.path("history.csv"), history_csv(res.history));
  const KipRecord& last = res.history.back();
  // What eval checks the written set against: every test class of the final
  // support's model.
  const PredictionDigest test_predictions = prediction_digest(
      kip_classes(run.kernel, res.Xs, res.Ys, run.pre, data.test, kip.eval_chunk, kip.regularizer));
  nlohmann::json report = {
      {"command", "kip"},
      {"dataset", dataset_json(data, run.config.source, run.pre)},
      {"model", kernel_json(run.kernel, run.config.kernel.map, data.shape.size())},
      {"distilled",
       {{"method", "kip"},
        {"ipc", kip.ipc},
        {"m", res.Xs.n_cols},
        {"init", init_name(run.config.init)},
        {"labels", label_mode_name(kip.labels)},
        {"batch_precision", uses_product_precision(run.kernel)
                                ? nlohmann::json(product_precision_name(kip.batch_precision))
                                : nlohmann::json()},
        {"steps", kip.steps},
        {"lr", kip.lr},
        {"batch", kip.batch},
        {"eval_every", kip.eval_every},
        {"regularizer", kip.regularizer},
        {"eval_chunk", kip.eval_chunk},
        {"seed", kip.seed},
        {"files",
         {{"X", "distilled_X.npy"},
          {"Y", "distilled_Y.npy"},
          {"grid", "grid.png"},
          {"history", "history.csv"}}}}},
      {"result",
       {{"initial_test_acc", res.initial_test_accuracy ? nlohmann::json(*res.initial_test_accuracy)
                                                       : nlohmann::json(nullptr)},
        {"test_acc",
         last.test_accuracy ? nlohmann::json(*last.test_accuracy) : nlohmann::json(nullptr)},
        {"test_predictions", digest_json(test_predictions)},
        {"final_loss", last.loss},
        {"optimisation_seconds", last.seconds},
        {"seconds_per_step", last.seconds / double(last.step)}}},
  };
  const double total = seconds_since(run.started);
  report["timings_s"] = {{"load", run.load_seconds},
                         {"kip", total - run.load_seconds - seconds_since(write_start)},
                         {"write", seconds_since(write_start)},
                         {"total", total}};
  report["output"] = out.manifest("report.json");
  write_json_file(out.path("report.json"), report);
  out.commit();
}

LabelSolveRun run_label_solve(const LabelSolveConfig& config, const Progress& progress) {
  LabelSolveRun run;
  run.config = config;
  run.started = Clock::now();
  KipOptions& kip = run.kip;
  kip.ipc = config.ipc;
  kip.batch = config.batch;
  kip.seed = config.seed;
  check_kip_batch(kip.batch);
  check_chunk(config.chunk);
  const FeatureMapSpec& spec = config.kernel.map;

  // The feature models: the map, G and B; the others: one batch's kernels.
  const auto label_solve_memory = [&spec](arma::uword d, arma::uword k) {
    const double p = double(output_dim(spec, d));
    return std::vector<MemoryItem>{{"G and B", 8.0 * 4.0 * p * (p + double(k))}};
  };
  set_up(config.source, config.kernel, kip, "Label Solve", label_solve_memory, run.started,
         run.data, run.kernel, run.pre);
  const Dataset& data = run.data;
  const arma::uword k = data.num_classes;
  run.support = kip_init_real(kip, run.pre, data.train, k);
  const Kernel& kernel = run.kernel;
  const KipSupport& support = run.support;

  if (const auto* feature = std::get_if<FeatureKernel>(&kernel)) {
    // Whole training set through its statistics (one streamed pass),
    // accumulated as the original model's are.
    const Statistics stats =
        split_statistics(run.pre, feature->map, view_dataset(data).train, k, config.chunk,
                         Communicator{}, progress, "labelsolve: statistics");
    run.Ys = label_solve_full(feature->map, stats, support.Xs);
    run.loss = kip_loss_full(feature->map, stats, support.Xs, run.Ys);
    run.target = "whole training set";
  } else {
    KipBatchSampler sampler = make_batch_sampler(data.train.labels, k, kip.batch, kip.seed);
    const arma::uvec batch = next_batch(sampler);
    const arma::mat Xt = to_model_input(run.pre, data.train.pixels, batch);
    const arma::mat Yt = one_hot(data.train.labels.elem(batch), k);
    run.Ys = label_solve(kernel, support.Xs, Xt, Yt);
    run.loss = kip_loss(kernel, support.Xs, run.Ys, Xt, Yt);
    run.target = "batch of " + std::to_string(batch.n_elem);
  }
  progress.finish();
  run.test_acc_one_hot = kip_accuracy(kernel, support.Xs, support.Ys, run.pre, data.test);
  const arma::uvec classes =
      kip_classes(kernel, support.Xs, run.Ys, run.pre, data.test, kip.eval_chunk, kip.regularizer);
  run.test_acc = double(arma::accu(classes == data.test.labels)) / double(data.test.labels.n_elem);
  run.test_predictions = prediction_digest(classes);
  return run;
}

void write_label_solve_result(const LabelSolveRun& run, StagedOutputDir& out) {
  const Dataset& data = run.data;
  const KipOptions& kip = run.kip;
  write_support(out, data, run.pre, run.support.Xs, run.Ys, kip.ipc, arma::uvec());
  nlohmann::json report = {
      {"command", "labelsolve"},
      {"dataset", dataset_json(data, run.config.source, run.pre)},
      {"model", kernel_json(run.kernel, run.config.kernel.map, data.shape.size())},
      {"distilled",
       {{"method", "labelsolve"},
        {"ipc", kip.ipc},
        {"m", run.support.Xs.n_cols},
        {"init", "real"},
        {"target", run.target},
        {"regularizer", kip.regularizer},
        {"eval_chunk", kip.eval_chunk},
        {"seed", kip.seed},
        {"start_train_index", arma::conv_to<std::vector<arma::uword>>::from(run.support.source)}}},
      {"result",
       {{"loss", run.loss},
        {"test_acc", run.test_acc},
        {"test_predictions", digest_json(run.test_predictions)},
        {"test_acc_one_hot_labels", run.test_acc_one_hot}}},
      {"timings_s", {{"total", seconds_since(run.started)}}},
  };
  report["output"] = out.manifest("report.json");
  write_json_file(out.path("report.json"), report);
  out.commit();
}

}  // namespace krrdistill
