// krrdistill compare: the options of the side-by-side run of the analytic
// method and KIP (kip_pipeline.hpp run_compare): a table, compare.json and
// compare.png.
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/kip_pipeline.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

std::vector<arma::uword> parse_ipc_list(const std::string& text) {
  std::vector<arma::uword> list;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(item.c_str(), &end, 10);
    // The range (1..images of the smallest class) is checked once the data is read.
    if (item.empty() || *end != '\0' || value == 0 || value > 0xffffffffUL)
      throw Error("--ipc must be a comma-separated list of positive integers, got '" + text + "'");
    list.push_back(value);
  }
  if (list.empty()) throw Error("--ipc must name at least one value");
  return list;
}

}  // namespace

int run_compare(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill compare",
      "The analytic method and KIP on the same data, model and starting images");
  add_data_options(options);
  // KIP as published: its labels are solved again at every step.
  add_kip_options(options, "kip-steps", "solve");
  options.add_options("compare")(
      "ipc", "comma-separated images per class, each 1..(training images of the smallest class)",
      cxxopts::value<std::string>()->default_value("1,10"))(
      "init", "noise or real (the same starting images for both methods)",
      cxxopts::value<std::string>()->default_value("real"))(
      "lambda-s", "ridge of the analytic distilled model",
      cxxopts::value<std::string>()->default_value("0"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out-compare"))(
      "kip-until-match",
      "stop each KIP run at the first evaluation (--eval-every) that reaches the analytic "
      "test accuracy of its ipc; --kip-steps and --kip-seconds are its budget")(
      "kip-seconds", "time budget of each KIP run in optimisation seconds (0: none)",
      cxxopts::value<std::string>()->default_value("0"))("force",
                                                         "replace an existing output folder")(
      "allow-inexact",
      "keep going when an analytic row fails its certificate (|Ws-W|/|W| above the model's "
      "tolerance or a test prediction changed); the row then says exact: false");
  options.add_options("transfer")(
      "transfer",
      "also train a finite ReLU network (krrdistill transfer) on each method's set and on random "
      "real subsets of its size, and report its test accuracy");
  add_network_options(options, "transfer", "transfer-");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "kip", "compare", "transfer", "run"});
    return 0;
  }
  CompareConfig config;
  config.source = data_source(result);
  config.spec = feature_spec(result);
  if (!is_feature_model(config.spec.kind))
    throw Error("compare needs a model the analytic method can distill: linear, rff or fcnn");
  config.ipcs = parse_ipc_list(result["ipc"].as<std::string>());
  config.kip = kip_options(result, "kip-steps");  // its ipc is set per run
  config.kip.max_seconds = finite_option(result, "kip-seconds");
  check_kip_seconds(config.kip.max_seconds);
  config.kip_until_match = result.count("kip-until-match") > 0;
  // Checked even without --transfer: a bad value is a mistake either way.
  const TransferOptions network =
      network_options(result, "transfer-", result["seed"].as<std::uint64_t>());
  if (result.count("transfer")) config.transfer = network;
  config.init = parse_init(result["init"].as<std::string>());
  config.lambda_s = finite_option(result, "lambda-s");
  if (config.lambda_s < 0) throw Error("--lambda-s must be >= 0");
  config.fit = fit_options(result, config.spec.seed);
  const bool quiet = result.count("quiet") > 0;
  config.allow_inexact = result.count("allow-inexact") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(config.source));

  const CompareRun run =
      krrdistill::run_compare(config, progress, print_warning, [&](arma::uword ipc) {
        return kip_progress_printer(progress, "kip ipc " + std::to_string(ipc));
      });
  progress.finish();
  write_compare_result(run, out);
  std::cout << compare_table(run);
  if (!quiet) std::printf("outputs: %s/{compare.json, compare.png}\n", out.final_dir().c_str());
  return 0;
}

}  // namespace krrdistill::cli
