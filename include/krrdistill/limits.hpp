// The ranges of every size a user controls (README.md's option tables), in
// one place, so that every command and the report reader refuse the same
// values with the same words, before anything is sized from them.
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>

namespace krrdistill {

// --threads: 0 (one per core) or 1..kMaxThreads; an OpenMP team of tens of
// thousands crashes libgomp rather than failing.
constexpr int kMaxThreads = 256;
// --layers (and "layers" of a report): each layer is a width×fan-in matrix.
constexpr arma::uword kMaxLayers = 100;
// Classes: labels 0..k-1; a stray huge label must not size the class list.
constexpr arma::uword kMaxClasses = 10000;
// --chunk: images per chunk of a pass.
constexpr arma::uword kMaxChunk = 65536;
// KIP: --steps / --kip-steps and --batch.
constexpr arma::uword kMaxKipSteps = 1000000;
constexpr arma::uword kMaxKipBatch = 65536;
// compare --kip-seconds: 0 (no time budget) up to a week.
constexpr double kMaxKipSeconds = 604800;
// transfer: --width, --depth, --epochs and --whole-epochs, --batch,
// --subsets (random real subsets trained for comparison).
constexpr arma::uword kMaxNetWidth = 65536;
constexpr arma::uword kMaxNetDepth = 100;
constexpr arma::uword kMaxNetEpochs = 1000000;
constexpr arma::uword kMaxNetBatch = 65536;
constexpr arma::uword kMaxSubsets = 1000;

// Each throws Error naming the option and its range.
void check_threads(std::int64_t threads);
void check_chunk(std::uint64_t chunk);
void check_layers(std::uint64_t layers);
void check_kip_steps(std::uint64_t steps, const std::string& option);
void check_kip_batch(std::uint64_t batch);
void check_kip_seconds(double seconds);
// "--<option> must be between low and high, got value".
void check_option_range(std::uint64_t value, std::uint64_t low, std::uint64_t high,
                        const std::string& option);

// Training images per class (labels below k).
arma::uvec class_counts(const arma::uvec& labels, arma::uword k);

// k >= 2 and every class 0..k-1 present among the training labels: with one
// class every prediction is that class, and an absent class has no data to
// fit, so its row of W (and of any distilled set) means nothing.
void check_classes(const arma::uvec& train_counts, const std::string& dataset);

// --ipc 1..(training images of the smallest class): a distilled set as large
// as the training data is no distillation, and a real start needs that many.
void check_ipc(std::uint64_t ipc, const arma::uvec& train_counts);
// The same for k real target dimensions (docs/design.md §10): m = ipc·k
// points, at most the n_train training samples.
void check_target_ipc(std::uint64_t ipc, arma::uword k, arma::uword n_train);

}  // namespace krrdistill
