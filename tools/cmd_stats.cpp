// krrdistill stats: a dataset's sufficient statistics to one file
// (saved_statistics.hpp), for distill --stats; on one process or, built with
// MPI, on the processes of mpirun.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include "cli_common.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"
#include "krrdistill/stream.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

int stats(int argc, char** argv, const Communicator& comm) {
  cxxopts::Options options("krrdistill stats",
                           "The sufficient statistics of a dataset, to distil without it or to "
                           "add more data later (krrdistill distill --stats)");
  add_data_options(options);
  options.add_options("stats")("out", "statistics file to write", cxxopts::value<std::string>())(
      "force", "replace an existing statistics file")(
      "preprocessing",
      "nonlinear maps: take the preprocessing of this statistics file instead of fitting it on "
      "the data, so that both files' statistics add",
      cxxopts::value<std::string>());
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "stats", "run"});
    return 0;
  }
  if (!result.count("out")) throw Error("--out FILE is required");
  if (result.count("lambda"))
    throw Error("--lambda belongs to distill: the statistics serve every lambda");
  if (result.count("feature-cache-mb"))
    throw Error("--feature-cache-mb belongs to distill: stats keeps no features");
  StatisticsConfig config;
  config.source = data_source(result);
  config.spec = feature_spec(result);
  config.fit = fit_options(result, config.spec.seed);
  const std::string out = result["out"].as<std::string>();
  const bool force = result.count("force") > 0;
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = comm.root() ? Progress::for_terminal(quiet) : Progress::silent();
  set_threads(result["threads"].as<int>());

  // Checked before the pass, so a refused file costs nothing; and never the
  // file that fixes the preprocessing, which the new one is to be merged with.
  if (comm.root()) check_statistics_output(out, force);
  std::error_code same_error;
  if (result.count("preprocessing") &&
      std::filesystem::equivalent(out, result["preprocessing"].as<std::string>(), same_error))
    throw Error(out + " is the --preprocessing file: write the new statistics to another file");
  SavedStatistics fixed;
  if (result.count("preprocessing"))
    fixed = read_statistics(result["preprocessing"].as<std::string>());
  // One pass over the files (each process over its shard): nothing is held.
  progress.status("opening " + config.source.dataset);
  const StreamDataset data =
      open_stream_dataset(config.source.dataset, config.source.dir, config.source.coarse);
  const SavedStatistics saved = compute_statistics(
      data, config, result.count("preprocessing") ? &fixed : nullptr, comm, progress,
      result.count("preprocessing") ? result["preprocessing"].as<std::string>() : "");
  if (!comm.root()) return 0;
  write_statistics(out, saved, force);
  progress.finish();
  if (!quiet)
    std::printf("statistics of %llu training images (%s, %llu classes, %s model) written to %s\n",
                (unsigned long long)saved.sums.n, saved.description.name.c_str(),
                (unsigned long long)saved.description.num_classes, saved.spec.kind.c_str(),
                out.c_str());
  return 0;
}

}  // namespace

int run_stats(int argc, char** argv) {
  return run_on_processes(argc, argv, stats);
}

}  // namespace krrdistill::cli
