#include "krrdistill/limits.hpp"

#include <cstdio>

#include "krrdistill/error.hpp"

namespace krrdistill {

void check_threads(std::int64_t threads) {
  if (threads < 0 || threads > kMaxThreads)
    throw Error("--threads must be 0 (one per core) or between 1 and " +
                std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
}

void check_chunk(std::uint64_t chunk) {
  if (chunk == 0 || chunk > kMaxChunk)
    throw Error("--chunk must be between 1 and " + std::to_string(kMaxChunk) + ", got " +
                std::to_string(chunk));
}

void check_layers(std::uint64_t layers) {
  if (layers == 0 || layers > kMaxLayers)
    throw Error("--layers must be between 1 and " + std::to_string(kMaxLayers) + ", got " +
                std::to_string(layers));
}

void check_kip_steps(std::uint64_t steps, const std::string& option) {
  if (steps == 0 || steps > kMaxKipSteps)
    throw Error("--" + option + " must be between 1 and " + std::to_string(kMaxKipSteps) +
                ", got " + std::to_string(steps));
}

void check_kip_batch(std::uint64_t batch) {
  if (batch == 0 || batch > kMaxKipBatch)
    throw Error("--batch must be between 1 and " + std::to_string(kMaxKipBatch) + ", got " +
                std::to_string(batch));
}

void check_kip_seconds(double seconds) {
  if (!(seconds >= 0 && seconds <= kMaxKipSeconds)) {
    char value[32];
    std::snprintf(value, sizeof value, "%g", seconds);
    throw Error("--kip-seconds must be between 0 (no time budget) and " +
                std::to_string(long(kMaxKipSeconds)) + " (a week), got " + value);
  }
}

void check_option_range(std::uint64_t value, std::uint64_t low, std::uint64_t high,
                        const std::string& option) {
  if (value < low || value > high)
    throw Error("--" + option + " must be between " + std::to_string(low) + " and " +
                std::to_string(high) + ", got " + std::to_string(value));
}

arma::uvec class_counts(const arma::uvec& labels, arma::uword k) {
  arma::uvec counts(k, arma::fill::zeros);
  for (arma::uword label : labels) {
    if (label >= k) throw Error("label " + std::to_string(label) + " is not below k");
    ++counts[label];
  }
  return counts;
}

void check_classes(const arma::uvec& train_counts, const std::string& dataset) {
  const arma::uword k = train_counts.n_elem;
  if (k > kMaxClasses)
    throw Error(dataset + ": " + std::to_string(k) + " classes, at most " +
                std::to_string(kMaxClasses) + " are supported");
  if (k < 2)
    throw Error(dataset + ": the labels name " + std::to_string(k) +
                " class; distillation needs at least 2 (with one, every prediction is that class)");
  const arma::uvec absent = arma::find(train_counts == 0);
  if (!absent.is_empty())
    throw Error(dataset + ": class " + std::to_string(absent[0]) + " of 0.." +
                std::to_string(k - 1) + " has no training image (" + std::to_string(absent.n_elem) +
                " absent); every class below the largest label must occur");
}

void check_ipc(std::uint64_t ipc, const arma::uvec& train_counts) {
  const arma::uword smallest = train_counts.is_empty() ? 0 : train_counts.min();
  if (ipc == 0 || ipc > smallest)
    throw Error("--ipc must be between 1 and " + std::to_string(smallest) +
                " (the training images of the smallest class), got " + std::to_string(ipc));
}

void check_target_ipc(std::uint64_t ipc, arma::uword k, arma::uword n_train) {
  const arma::uword largest = k == 0 ? 0 : n_train / k;
  if (largest == 0)
    throw Error("real targets of " + std::to_string(k) + " dimensions need at least " +
                std::to_string(k) + " training samples, one a distilled point; there are " +
                std::to_string(n_train));
  if (ipc == 0 || ipc > largest)
    throw Error("--ipc must be between 1 and " + std::to_string(largest) +
                " (ipc points a target dimension, " + std::to_string(k) +
                " dimensions, at most the " + std::to_string(n_train) + " training samples), got " +
                std::to_string(ipc));
}

}  // namespace krrdistill
