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
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/report.hpp"

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
// What a run reads, for the output folder to stay clear of: the dataset's folder.
std::vector<std::string> data_inputs(const DataSource& source);
FeatureMapSpec feature_spec(const cxxopts::ParseResult& result);
Dataset load(const DataSource& source);

// KIP's large allocations for a support set of m images and a target batch.
std::vector<MemoryItem> kip_memory(arma::uword d, arma::uword p, arma::uword k, arma::uword m,
                                   arma::uword batch);

// Training images per class, refused unless k >= 2 and every class occurs
// (limits.hpp check_classes).
arma::uvec checked_class_counts(const arma::uvec& train_labels, arma::uword k,
                                const std::string& dataset);

// --features and --width 1..d (0: d), before a map is sized from them: a
// larger one is not surjective (docs/design.md §3) and would only cost memory.
void check_feature_sizes(const FeatureMapSpec& spec, arma::uword d);
// The feature dimension p that spec gives on images of d values.
arma::uword output_dim(const FeatureMapSpec& spec, arma::uword d);
// The feature map's matrices (rff: A and b; fcnn: its layers).
std::vector<MemoryItem> feature_map_memory(const FeatureMapSpec& spec, arma::uword d);
// The large allocations of an analytic run beyond the data already held:
// the map, G and B with their copies, the chunk buffers, the feature cache
// (bytes) and the distilled set of m images.
std::vector<MemoryItem> analytic_memory(const FeatureMapSpec& spec, arma::uword d, arma::uword k,
                                        arma::uword m, arma::uword chunk, double feature_cache);

// Images in grid order: one row per class, labelled with its name, ipc
// columns, from the distilled column order (column j of class j mod k, k the
// number of class names).
GridBlock class_rows(const arma::mat& pixels, const std::vector<std::string>& class_names,
                     arma::uword ipc);

// .npy shape of m images: m×c×h×w.
std::vector<std::uint64_t> image_array_shape(arma::uword count, const ImageShape& shape);

// A float64 .npy of records (outermost index) as a matrix, one record per column.
arma::mat read_records(const std::string& path, arma::uword record_size);

// KIP pieces shared by kip, labelsolve and compare (cmd_kip.cpp).
// --steps (kip) or --kip-steps (compare), --lr, --batch, --eval-every, --labels.
void add_kip_options(cxxopts::Options& options, const std::string& steps_option);
KipOptions kip_options(const cxxopts::ParseResult& result, const std::string& steps_option);
// The feature kernel of --model linear|rff|fcnn (same map and seed as the
// analytic method), or ntk/nngp/rbf.
Kernel kernel_from_options(const cxxopts::ParseResult& result, arma::uword input_dim);
KipProgressCallback kip_progress_printer(const Progress& progress, const std::string& label);

int run_distill(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_kip_command(int argc, char** argv);
int run_labelsolve(int argc, char** argv);
int run_compare(int argc, char** argv);

}  // namespace krrdistill::cli
