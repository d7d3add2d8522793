// krrdistill kip and krrdistill labelsolve: the iterative baseline (KIP,
// Nguyen, Chen & Lee, ICLR 2021) and its closed-form labels (docs/design.md §4).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

bool is_feature_model(const std::string& model) {
  return model == "linear" || model == "rff" || model == "fcnn";
}

void add_kernel_options(cxxopts::Options& options) {
  options.add_options("kernel")("depth", "ntk/nngp: hidden layers (1-3)",
                                cxxopts::value<unsigned>()->default_value("1"))(
      "rbf-bandwidth", "rbf: bandwidth (default sqrt(d))",
      cxxopts::value<std::string>()->default_value("0"));
}

}  // namespace

Kernel kernel_from_options(const cxxopts::ParseResult& result, arma::uword input_dim) {
  const FeatureMapSpec spec = feature_spec(result);
  check_feature_sizes(spec, input_dim);
  if (is_feature_model(spec.kind))
    return make_kernel("feature", 1, 0.0, make_feature_map(spec, input_dim));
  const double bandwidth = finite_option(result, "rbf-bandwidth");
  if (bandwidth < 0) throw Error("--rbf-bandwidth must be >= 0");
  if (spec.kind != "ntk" && spec.kind != "nngp" && spec.kind != "rbf")
    throw Error("unknown --model '" + spec.kind +
                "' (expected linear, rff, fcnn, ntk, nngp or rbf)");
  return make_kernel(spec.kind, result["depth"].as<unsigned>(), bandwidth, LinearMap{input_dim});
}

KipOptions kip_options(const cxxopts::ParseResult& result, const std::string& steps_option) {
  KipOptions options;
  options.steps = result[steps_option].as<unsigned>();
  options.lr = finite_option(result, "lr");
  options.batch = result["batch"].as<unsigned>();
  options.eval_every = result["eval-every"].as<unsigned>();
  options.labels = parse_label_mode(result["labels"].as<std::string>());
  options.seed = result["seed"].as<std::uint64_t>();
  check_kip_steps(options.steps, steps_option);
  if (!(options.lr > 0)) throw Error("--lr must be positive");
  check_kip_batch(options.batch);
  return options;
}

void add_kip_options(cxxopts::Options& options, const std::string& steps_option) {
  options.add_options("kip")(steps_option, "KIP steps, 1..1000000",
                             cxxopts::value<unsigned>()->default_value("200"))(
      "lr", "Adam learning rate", cxxopts::value<std::string>()->default_value("0.01"))(
      "batch", "target batch size (class-balanced), 1..65536",
      cxxopts::value<unsigned>()->default_value("5000"))(
      "eval-every", "test accuracy every E steps (and at the last)",
      cxxopts::value<unsigned>()->default_value("20"))(
      "labels", "fixed, learn or solve", cxxopts::value<std::string>()->default_value("fixed"));
}

KipProgressCallback kip_progress_printer(const Progress& progress, const std::string& label) {
  if (!progress.enabled()) return {};
  return [progress, label](const KipProgress& p) {
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(4);
    line << label << " step " << p.step << "/" << p.steps << "  loss " << p.loss;
    if (p.test_accuracy) line << "  test acc " << *p.test_accuracy;
    line.precision(1);
    line << "  " << p.steps_per_second << " steps/s";
    progress.status(line.str());
  };
}

namespace {

KipSupport kip_start(const KipOptions& options, Init init, const Preprocessor& pre,
                     const Dataset& data) {
  if (init == Init::noise) return kip_init_noise(options, data.shape.size(), data.num_classes);
  return kip_init_real(options, pre, data.train, data.num_classes);
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

int run_kip_command(int argc, char** argv) {
  cxxopts::Options options("krrdistill kip",
                           "Kernel Inducing Points: iterative distillation with Adam (docs/design.md §4)");
  add_data_options(options);
  add_kernel_options(options);
  add_kip_options(options, "steps");
  options.add_options("distill")("ipc",
                                 "images per class, 1..(training images of the smallest class)",
                                 cxxopts::value<unsigned>()->default_value("10"))(
      "init", "noise or real", cxxopts::value<std::string>()->default_value("real"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out-kip"))(
      "force", "replace an existing output folder");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "kernel", "kip", "distill", "run"})
              << "\nModels: linear, rff, fcnn (the analytic method's feature maps, same seeds), "
                 "ntk, nngp (infinite-width ReLU, --depth), rbf.\n";
    return 0;
  }
  const Clock::time_point start = Clock::now();
  const DataSource source = data_source(result);
  const FeatureMapSpec spec = feature_spec(result);
  KipOptions kip = kip_options(result, "steps");
  kip.ipc = result["ipc"].as<unsigned>();
  const Init init = parse_init(result["init"].as<std::string>());
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(source));

  progress.status("loading " + source.dataset);
  const Dataset data = load(source);
  const double t_load = seconds_since(start);
  const arma::uword d = data.shape.size(), k = data.num_classes;
  check_ipc(kip.ipc, checked_class_counts(data.train.labels, k, data.name));
  check_feature_sizes(spec, d);
  std::vector<MemoryItem> need = feature_map_memory(spec, d);
  for (const MemoryItem& item :
       kip_memory(d, output_dim(spec, d), k, k * kip.ipc,
                  std::min<arma::uword>(kip.batch, data.train.labels.n_elem)))
    need.push_back(item);
  check_memory("KIP", need);
  const Kernel kernel = kernel_from_options(result, d);
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  const KipSupport support = kip_start(kip, init, pre, data);
  const KipResult res = run_kip(kip, kernel, pre, data.train, data.test, support,
                                kip_progress_printer(progress, "kip"));
  progress.finish();

  const Clock::time_point write_start = Clock::now();
  write_support(out, data, pre, res.Xs, res.Ys, kip.ipc, support.source);
  write_file_atomic(out.path("history.csv"), history_csv(res.history));
  const KipRecord& last = res.history.back();
  // What eval checks the written set against: every test class of the final support's model.
  const PredictionDigest test_predictions = prediction_digest(
      kip_classes(kernel, res.Xs, res.Ys, pre, data.test, kip.eval_chunk, kip.regularizer));
  nlohmann::json report = {
      {"command", "kip"},
      {"dataset", dataset_json(data, source, pre)},
      {"model", kernel_json(kernel, spec, data.shape.size())},
      {"distilled",
       {{"method", "kip"},
        {"ipc", kip.ipc},
        {"m", res.Xs.n_cols},
        {"init", init_name(init)},
        {"labels", label_mode_name(kip.labels)},
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
  report["timings_s"] = {{"load", t_load},
                         {"kip", seconds_since(start) - t_load - seconds_since(write_start)},
                         {"write", seconds_since(write_start)},
                         {"total", seconds_since(start)}};
  report["output"] = out.manifest("report.json");
  write_json_file(out.path("report.json"), report);
  out.commit();
  if (!quiet) {
    std::printf(
        "KIP %s, ipc %u, %s init, %s labels: %u steps in %.2f s (%.4f s/step), test accuracy "
        "%.4f\n",
        kernel_name(kernel).c_str(), unsigned(kip.ipc), init_name(init).c_str(),
        label_mode_name(kip.labels).c_str(), unsigned(kip.steps), last.seconds,
        last.seconds / double(last.step), last.test_accuracy ? *last.test_accuracy : -1.0);
    std::printf(
        "outputs: %s/{distilled_X.npy, distilled_Y.npy, grid.png, history.csv, report.json}\n",
        out.final_dir().c_str());
  }
  return 0;
}

int run_labelsolve(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill labelsolve",
      "Label Solve: closed-form labels for a class-balanced subset of real images (docs/design.md §4); "
      "for the feature models against the whole training set through G and B, otherwise "
      "against one class-balanced batch");
  add_data_options(options);
  add_kernel_options(options);
  options.add_options("labelsolve")("ipc",
                                    "images per class, 1..(training images of the smallest class)",
                                    cxxopts::value<unsigned>()->default_value("10"))(
      "batch", "target batch for kernels without features (ntk, nngp, rbf), 1..65536",
      cxxopts::value<unsigned>()->default_value("5000"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out-labelsolve"))(
      "force", "replace an existing output folder");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "kernel", "labelsolve", "run"});
    return 0;
  }
  const Clock::time_point start = Clock::now();
  const DataSource source = data_source(result);
  const FeatureMapSpec spec = feature_spec(result);
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  KipOptions kip;
  kip.ipc = result["ipc"].as<unsigned>();
  kip.batch = result["batch"].as<unsigned>();
  kip.seed = spec.seed;
  check_kip_batch(kip.batch);
  const arma::uword chunk = result["chunk"].as<unsigned>();
  check_chunk(chunk);
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(source));

  const Dataset data = load(source);
  const arma::uword d = data.shape.size(), k = data.num_classes;
  check_ipc(kip.ipc, checked_class_counts(data.train.labels, k, data.name));
  check_feature_sizes(spec, d);
  // The feature models: the map, G and B; the others: one batch's kernels.
  std::vector<MemoryItem> need = feature_map_memory(spec, d);
  const double p = double(output_dim(spec, d));
  need.push_back({"G and B", 8.0 * 4.0 * p * (p + double(k))});
  for (const MemoryItem& item :
       kip_memory(d, output_dim(spec, d), k, k * kip.ipc,
                  std::min<arma::uword>(kip.batch, data.train.labels.n_elem)))
    need.push_back(item);
  check_memory("Label Solve", need);
  const Kernel kernel = kernel_from_options(result, d);
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  const KipSupport support = kip_init_real(kip, pre, data.train, data.num_classes);

  arma::mat Ys;
  double loss = 0;
  std::string target;
  if (const auto* feature = std::get_if<FeatureKernel>(&kernel)) {
    // Whole training set through its statistics (one streamed pass).
    Statistics stats = zero_statistics(feature_dim(feature->map), data.num_classes);
    for_each_chunk(
        pre, feature->map, data.train.pixels, chunk,
        [&](arma::uword first, const arma::mat&, const arma::mat& Phi) {
          accumulate(stats, Phi, data.train.labels.subvec(first, first + Phi.n_cols - 1));
        },
        progress, "labelsolve: statistics");
    Ys = label_solve_full(feature->map, stats, support.Xs);
    loss = kip_loss_full(feature->map, stats, support.Xs, Ys);
    target = "whole training set";
  } else {
    KipBatchSampler sampler =
        make_batch_sampler(data.train.labels, data.num_classes, kip.batch, kip.seed);
    const arma::uvec batch = next_batch(sampler);
    const arma::mat Xt = to_model_input(pre, data.train.pixels, batch);
    const arma::mat Yt = one_hot(data.train.labels.elem(batch), data.num_classes);
    Ys = label_solve(kernel, support.Xs, Xt, Yt);
    loss = kip_loss(kernel, support.Xs, Ys, Xt, Yt);
    target = "batch of " + std::to_string(batch.n_elem);
  }
  progress.finish();
  const double acc_one_hot = kip_accuracy(kernel, support.Xs, support.Ys, pre, data.test);
  const arma::uvec classes =
      kip_classes(kernel, support.Xs, Ys, pre, data.test, kip.eval_chunk, kip.regularizer);
  const double acc =
      double(arma::accu(classes == data.test.labels)) / double(data.test.labels.n_elem);

  write_support(out, data, pre, support.Xs, Ys, kip.ipc, arma::uvec());
  nlohmann::json report = {
      {"command", "labelsolve"},
      {"dataset", dataset_json(data, source, pre)},
      {"model", kernel_json(kernel, spec, data.shape.size())},
      {"distilled",
       {{"method", "labelsolve"},
        {"ipc", kip.ipc},
        {"m", support.Xs.n_cols},
        {"init", "real"},
        {"target", target},
        {"regularizer", kip.regularizer},
        {"eval_chunk", kip.eval_chunk},
        {"seed", kip.seed},
        {"start_train_index", arma::conv_to<std::vector<arma::uword>>::from(support.source)}}},
      {"result",
       {{"loss", loss},
        {"test_acc", acc},
        {"test_predictions", digest_json(prediction_digest(classes))},
        {"test_acc_one_hot_labels", acc_one_hot}}},
      {"timings_s", {{"total", seconds_since(start)}}},
  };
  report["output"] = out.manifest("report.json");
  write_json_file(out.path("report.json"), report);
  out.commit();
  if (!quiet)
    std::printf(
        "Label Solve (%s, ipc %u, against the %s): test accuracy %.4f (one-hot labels %.4f)\n"
        "outputs: %s/{distilled_X.npy, distilled_Y.npy, grid.png, report.json}\n",
        kernel_name(kernel).c_str(), unsigned(kip.ipc), target.c_str(), acc, acc_one_hot,
        out.final_dir().c_str());
  return 0;
}

}  // namespace krrdistill::cli
