// Pieces shared by the krrdistill commands: option groups, parsing of
// real-valued options, and the data source they describe.
#pragma once

#include <chrono>
#include <cxxopts.hpp>
#include <string>

#include "krrdistill/data.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/image_grid.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/transfer.hpp"

namespace krrdistill::cli {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --dataset/--data/--coarse/--zca, --model and its options, --lambda, and
// --seed/--threads/--chunk/--feature-cache-mb/--quiet/--help.
void add_data_options(cxxopts::Options& options);

// Parses and refuses stray positional arguments.
cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv);

// Real-valued options are parsed here rather than by cxxopts, so that a bad
// value is reported with the option's name.
double finite_option(const cxxopts::ParseResult& result, const std::string& name);

// The original model's fit: --chunk and --lambda (none: the validation
// sweep), checked, and the run's seed.
FitOptions fit_options(const cxxopts::ParseResult& result, std::uint64_t seed);

DataSource data_source(const cxxopts::ParseResult& result);
FeatureMapSpec feature_spec(const cxxopts::ParseResult& result);

// A warning of the library on stderr: "warning: " and the text.
void print_warning(const std::string& text);

// KIP pieces shared by kip, labelsolve and compare.
// --steps (kip) or --kip-steps (compare), --lr, --batch, --eval-every, --labels.
void add_kip_options(cxxopts::Options& options, const std::string& steps_option,
                     const std::string& default_labels);
KipOptions kip_options(const cxxopts::ParseResult& result, const std::string& steps_option);
KipProgressCallback kip_progress_printer(const Progress& progress, const std::string& label);

// The finite network of transfer and compare --transfer: --PREFIXwidth,
// depth, epochs, batch, lr, loss, eval-every and subsets (prefix "" for
// transfer, "transfer-" for compare), in the given option group.
void add_network_options(cxxopts::Options& options, const std::string& group,
                         const std::string& prefix);
// Read and checked; the network's seed is seed.
TransferOptions network_options(const cxxopts::ParseResult& result, const std::string& prefix,
                                std::uint64_t seed);

// Runs command on the processes of mpirun (one without it). With several,
// a failure on one rank ends them all with its message: the others would
// otherwise wait in a collective for ever.
int run_on_processes(int argc, char** argv,
                     int (*command)(int argc, char** argv, const Communicator& comm));

int run_distill(int argc, char** argv);
int run_stats(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_kip_command(int argc, char** argv);
int run_labelsolve(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_transfer_command(int argc, char** argv);

}  // namespace krrdistill::cli
