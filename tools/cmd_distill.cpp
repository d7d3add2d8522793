// krrdistill distill: the options of the distill pipeline (pipeline.hpp), on
// one process or, built with MPI, on the processes of mpirun (distributed.hpp).
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

void print_summary(const DistillResult& run, const std::string& folder) {
  const Certificate& cert = run.certificate;
  std::printf(
      "distilled %s (%llu train images, %s model, lambda %.3g) to %llu images (ipc %u, %s init) "
      "in %.2f s\n",
      run.description.name.c_str(), (unsigned long long)run.n_train,
      kind_name(run.model.map).c_str(), run.model.lambda,
      (unsigned long long)run.distilled.Xs.n_cols, unsigned(run.config.analytic.ipc),
      init_name(run.config.analytic.init).c_str(), seconds_since(run.started));
  if (run.n_test > 0 && cert.regression)
    std::printf(
        "certificate: |Ws-W|/|W| = %.3g, test MSE original %.6g, distilled %.6g, R2 %.4f, %.4f\n",
        cert.weight_rel_error, cert.original_errors.test_mse, cert.distilled_errors.test_mse,
        cert.original_errors.test_r2, cert.distilled_errors.test_r2);
  else if (run.n_test > 0)
    std::printf(
        "certificate: |Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f, agreement "
        "%.4f\n",
        cert.weight_rel_error, cert.original.test, cert.distilled.test, cert.test_agreement);
  else
    std::printf("certificate: |Ws-W|/|W| = %.3g (no test split given)\n", cert.weight_rel_error);
  std::printf("outputs: %s/{distilled_X.npy, distilled_Y.npy, model_W.npy, %s, report.json}\n",
              folder.c_str(),
              run.description.feature_matrix() ? "principal_plane.png" : "grid.png");
}

// distill --stats: the model and the map come from the files.
int distill_from_statistics(const cxxopts::ParseResult& result, const Communicator& comm) {
  if (comm.size > 1) throw Error("distill --stats runs on one process");
  for (const char* fixed : {"model", "features", "rff-sigma", "layers", "width", "slope", "zca",
                            "zca-reg", "standardize", "stream"})
    if (result.count(fixed))
      throw Error(std::string("--") + fixed +
                  " is fixed by the statistics files (krrdistill stats takes it)");
  DistillConfig config;
  config.source = data_source(result);
  config.analytic.ipc = result["ipc"].as<unsigned>();
  // Noise unless asked: a real start needs the training images.
  config.analytic.init =
      result.count("init") ? parse_init(result["init"].as<std::string>()) : Init::noise;
  config.analytic.lambda_s = finite_option(result, "lambda-s");
  config.analytic.seed = result["seed"].as<std::uint64_t>();
  config.fit = fit_options(result, config.analytic.seed);
  config.allow_inexact = result.count("allow-inexact") > 0;
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  const std::vector<std::string> files = result["stats"].as<std::vector<std::string>>();
  const bool with_test = result.count("data") || result.count("dataset");
  std::vector<std::string> inputs = files;
  if (with_test)
    for (const std::string& input : data_inputs(config.source)) inputs.push_back(input);
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0, inputs);
  const DistillResult run = distill_statistics(files, config, with_test, progress, print_warning);
  write_distill_result(run, out);
  progress.finish();
  if (!quiet) print_summary(run, out.final_dir());
  return 0;
}

int distill(int argc, char** argv, const Communicator& comm) {
  cxxopts::Options options("krrdistill distill",
                           "Exact one-shot distillation of KRR (Chen, Huang & Weng, NeurIPS 2024)");
  add_data_options(options);
  options.add_options("distill")("ipc",
                                 "points per class (per target dimension for real targets), "
                                 "1..(training samples of the smallest class)",
                                 cxxopts::value<unsigned>()->default_value("1"))(
      "init", "noise or real", cxxopts::value<std::string>()->default_value("real"))(
      "lambda-s", "ridge of the model refit on the distilled set",
      cxxopts::value<std::string>()->default_value("0"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out"))(
      "force", "replace an existing output folder")(
      "allow-inexact",
      "publish even when the certificate fails (|Ws-W|/|W| above the model's tolerance or a "
      "test prediction changed); the report then says exact: false")(
      "standardize",
      "a feature matrix (float x_*.npy): standardise each feature over the training samples "
      "(images always are, per channel)")(
      "stream",
      "read the pixels from the files chunk by chunk in every pass instead of holding them in "
      "memory (peak memory O(p^2 + chunk d); no feature cache)")(
      "stats",
      "distil from statistics files of krrdistill stats instead of a dataset (repeat to merge "
      "them); --dataset/--data then name the data whose test split the certificate scores",
      cxxopts::value<std::vector<std::string>>());
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "distill", "run"});
    return 0;
  }

  if (result.count("stats")) return distill_from_statistics(result, comm);
  DistillConfig config;
  config.source = data_source(result);
  config.source.standardize = result.count("standardize") > 0;
  config.spec = feature_spec(result);
  config.analytic.ipc = result["ipc"].as<unsigned>();
  config.analytic.init = parse_init(result["init"].as<std::string>());
  config.analytic.lambda_s = finite_option(result, "lambda-s");
  config.analytic.seed = config.spec.seed;
  config.fit = fit_options(result, config.spec.seed);
  config.stream = result.count("stream") > 0;
  config.allow_inexact = result.count("allow-inexact") > 0;
  config.feature_cache_mb = result["feature-cache-mb"].as<unsigned>();
  const bool quiet = result.count("quiet") > 0;
  // Only rank 0 talks and writes; every rank takes part in the passes.
  const Progress progress = comm.root() ? Progress::for_terminal(quiet) : Progress::silent();
  set_threads(result["threads"].as<int>());
  // Checked before any work, so a refused output folder costs nothing.
  std::optional<StagedOutputDir> out;
  if (comm.root())
    out.emplace(result["out"].as<std::string>(), result.count("force") > 0,
                data_inputs(config.source));

  const DistillResult run = distill_dataset(config, comm, progress, print_warning);
  // A refusal on rank 0 (run_distill ends the other ranks) publishes nothing.
  if (!comm.root()) return 0;
  write_distill_result(run, *out);
  progress.finish();

  if (!quiet) print_summary(run, out->final_dir());
  return 0;
}

}  // namespace

int run_distill(int argc, char** argv) {
  return run_on_processes(argc, argv, distill);
}

}  // namespace krrdistill::cli
