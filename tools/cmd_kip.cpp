// krrdistill kip and krrdistill labelsolve: the options of the KIP baseline
// (Nguyen, Chen & Lee, ICLR 2021) and its closed-form labels (docs/design.md §4);
// the work is kip_pipeline.hpp's.
#include <cstdio>
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/kip_pipeline.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

void add_kernel_options(cxxopts::Options& options) {
  options.add_options("kernel")("depth", "ntk/nngp: hidden layers (1-3)",
                                cxxopts::value<unsigned>()->default_value("1"))(
      "rbf-bandwidth", "rbf: bandwidth (default sqrt(d))",
      cxxopts::value<std::string>()->default_value("0"));
}

// --model and its options; --rbf-bandwidth is read only for the kernels
// that use it.
KernelSpec kernel_spec(const cxxopts::ParseResult& result) {
  KernelSpec spec;
  spec.map = feature_spec(result);
  spec.depth = result["depth"].as<unsigned>();
  if (!is_feature_model(spec.map.kind)) spec.rbf_bandwidth = finite_option(result, "rbf-bandwidth");
  return spec;
}

}  // namespace

int run_kip_command(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill kip",
      "Kernel Inducing Points: iterative distillation with Adam (docs/design.md §4)");
  add_data_options(options);
  add_kernel_options(options);
  add_kip_options(options, "steps", "fixed");
  options.add_options("kip")(
      "batch-precision",
      "ntk/nngp: each step's products with the batch in single (as the published KIP) or double",
      cxxopts::value<std::string>()->default_value("single"));
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
  KipConfig config;
  config.source = data_source(result);
  config.kernel = kernel_spec(result);
  config.kip = kip_options(result, "steps");
  config.kip.batch_precision = parse_product_precision(result["batch-precision"].as<std::string>());
  config.kip.ipc = result["ipc"].as<unsigned>();
  config.init = parse_init(result["init"].as<std::string>());
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(config.source));

  const KipRun run = run_kip_pipeline(config, progress, kip_progress_printer(progress, "kip"));
  progress.finish();
  write_kip_result(run, out);
  if (!quiet) {
    const KipRecord& last = run.result.history.back();
    std::printf(
        "KIP %s, ipc %u, %s init, %s labels: %u steps in %.2f s (%.4f s/step), test accuracy "
        "%.4f\n",
        kernel_name(run.kernel).c_str(), unsigned(config.kip.ipc), init_name(config.init).c_str(),
        label_mode_name(config.kip.labels).c_str(), unsigned(config.kip.steps), last.seconds,
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
      "Label Solve: closed-form labels for a class-balanced subset of real images (docs/design.md "
      "§4); "
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
  LabelSolveConfig config;
  config.source = data_source(result);
  config.kernel = kernel_spec(result);
  config.seed = config.kernel.map.seed;
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  config.ipc = result["ipc"].as<unsigned>();
  config.batch = result["batch"].as<unsigned>();
  check_kip_batch(config.batch);
  config.chunk = result["chunk"].as<unsigned>();
  check_chunk(config.chunk);
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(config.source));

  const LabelSolveRun run = run_label_solve(config, progress);
  write_label_solve_result(run, out);
  if (!quiet)
    std::printf(
        "Label Solve (%s, ipc %u, against the %s): test accuracy %.4f (one-hot labels %.4f)\n"
        "outputs: %s/{distilled_X.npy, distilled_Y.npy, grid.png, report.json}\n",
        kernel_name(run.kernel).c_str(), unsigned(config.ipc), run.target.c_str(), run.test_acc,
        run.test_acc_one_hot, out.final_dir().c_str());
  return 0;
}

}  // namespace krrdistill::cli
