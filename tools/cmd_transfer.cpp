// krrdistill transfer: the options of training a finite ReLU network on a
// written distilled set against random real subsets of the same size
// (docs/design.md §8); the work is transfer_pipeline.hpp's.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/threads.hpp"
#include "krrdistill/transfer_pipeline.hpp"

namespace krrdistill::cli {

int run_transfer_command(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill transfer",
      "Train a finite fully-connected ReLU network (Adam) on a distilled set and, with the same "
      "budget, on class-balanced random subsets of real training images of the same size; report "
      "the test accuracy of each (docs/design.md §8)");
  options.add_options("transfer")("distilled", "output folder of distill, kip or labelsolve",
                                  cxxopts::value<std::string>());
  add_network_options(options, "transfer", "");
  options.add_options("transfer")(
      "whole", "also train on the whole training set (costs n/m times an epoch of the set)")(
      "whole-epochs", "epochs on the whole training set, 1..1000000",
      cxxopts::value<unsigned>()->default_value("5"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out-transfer"))(
      "force", "replace an existing output folder");
  options.add_options("run")("seed", "seed of the networks' weights and batches",
                             cxxopts::value<std::uint64_t>()->default_value("0"))(
      "threads", "OpenMP threads, 0 (one per core) or 1..256; same results for any",
      cxxopts::value<int>()->default_value("0"))("quiet", "no progress on stderr or summary")(
      "h,help", "this help");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"transfer", "run"});
    return 0;
  }
  if (!result.count("distilled")) throw Error("transfer needs --distilled DIR");
  TransferConfig config;
  config.distilled_dir = result["distilled"].as<std::string>();
  config.options = network_options(result, "", result["seed"].as<std::uint64_t>());
  TransferOptions& o = config.options;
  o.whole = result.count("whole") > 0;
  o.whole_epochs = result["whole-epochs"].as<unsigned>();
  check_transfer_options(o);
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  // The output must stay clear of the set and of the dataset its report names.
  const std::string report_path = config.distilled_dir + "/report.json";
  const EvalReport report = read_eval_report(report_path);
  if (report.from_statistics)
    throw Error(report_path +
                ": this set was distilled from statistics files: there is no dataset to train "
                "and score the networks on");
  std::vector<std::string> inputs = data_inputs(report.source);
  inputs.push_back(config.distilled_dir);
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0, inputs);

  const TransferRun run = run_transfer(config, progress);
  write_transfer_result(run, out);
  if (!quiet) {
    const TransferResult& r = run.result;
    std::printf(
        "transfer (%u hidden layer(s) of width %u, %u epochs, %s): %u images of the %s set: test "
        "accuracy %.4f; random real subsets of the same size: %.4f ± %.4f (%u seeds, %.4f..%.4f)\n",
        unsigned(o.net.depth), unsigned(o.net.width), unsigned(o.net.epochs),
        mlp_loss_name(o.net.loss).c_str(), unsigned(r.distilled.m), run.command.c_str(),
        r.distilled.test_acc, r.subset_mean, r.subset_std, unsigned(r.subsets.size()), r.subset_min,
        r.subset_max);
    if (r.whole)
      std::printf("whole training set (%u epochs): test accuracy %.4f\n", unsigned(o.whole_epochs),
                  r.whole->test_acc);
    std::printf("outputs: %s/{transfer.json, transfer_history.csv, transfer.png}\n",
                out.final_dir().c_str());
  }
  return 0;
}

}  // namespace krrdistill::cli
