#include "krrdistill/transfer.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "krrdistill/analytic.hpp"
#include "krrdistill/check_set.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/plot.hpp"
#include "krrdistill/report.hpp"

namespace krrdistill {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Fraction of the test images (held as model inputs) classified right,
// chunk by chunk so that the hidden activations stay width×chunk.
double test_accuracy(const Mlp& net, const arma::mat& X_test, const arma::uvec& labels,
                     arma::uword chunk) {
  arma::uword correct = 0;
  for (arma::uword first = 0; first < X_test.n_cols; first += chunk) {
    const arma::uword last = std::min(X_test.n_cols, first + chunk) - 1;
    correct += arma::accu(mlp_classes(net, X_test.cols(first, last)) == labels.subvec(first, last));
  }
  return double(correct) / double(X_test.n_cols);
}

// One training run on n samples; test accuracy every eval_every epochs and
// at the last.
TransferCurve train_curve(const std::string& set, std::uint64_t seed, arma::uword n,
                          arma::uword epochs, arma::uword eval_every, arma::uword d, arma::uword k,
                          const MlpBatchSource& samples, const arma::mat& X_test,
                          const arma::uvec& test_labels, const TransferOptions& options,
                          const Progress& progress) {
  const Clock::time_point start = Clock::now();
  TransferCurve curve;
  curve.set = set;
  curve.seed = seed;
  curve.m = n;
  curve.epochs = epochs;
  MlpTrainOptions net_options = options.net;
  net_options.seed = seed;
  net_options.epochs = epochs;
  train_mlp(d, k, n, samples, net_options, [&](arma::uword epoch, const Mlp& net, double loss) {
    TransferEpoch row{epoch, loss, std::nullopt};
    if (epoch % eval_every == 0 || epoch == epochs) {
      row.test_acc = test_accuracy(net, X_test, test_labels, options.eval_chunk);
      if (!curve.best_epoch || *row.test_acc > curve.best_test_acc) {
        curve.best_test_acc = *row.test_acc;
        curve.best_epoch = epoch;
      }
    }
    curve.history.push_back(row);
    if (progress.enabled()) {
      char line[160];
      std::snprintf(line, sizeof line, "transfer: %s epoch %u/%u, loss %.4g", set.c_str(),
                    unsigned(epoch), unsigned(epochs), loss);
      progress.status(row.test_acc
                          ? std::string(line) + ", test accuracy " + std::to_string(*row.test_acc)
                          : std::string(line));
    }
  });
  curve.test_acc = *curve.history.back().test_acc;
  curve.seconds = seconds_since(start);
  return curve;
}

// Columns of an in-memory set as a batch source.
MlpBatchSource columns_of(const arma::mat& X, const arma::mat& Y) {
  return [&X, &Y](const arma::uvec& idx, arma::mat& Xb, arma::mat& Yb) {
    Xb = X.cols(idx);
    Yb = Y.cols(idx);
  };
}

}  // namespace

void check_transfer_options(const TransferOptions& options, const std::string& option_prefix) {
  const std::string& p = option_prefix;
  check_option_range(options.net.width, 1, kMaxNetWidth, p + "width");
  check_option_range(options.net.depth, 1, kMaxNetDepth, p + "depth");
  check_option_range(options.net.epochs, 1, kMaxNetEpochs, p + "epochs");
  check_option_range(options.net.batch, 1, kMaxNetBatch, p + "batch");
  check_option_range(options.eval_every, 1, kMaxNetEpochs, p + "eval-every");
  check_option_range(options.subsets, 1, kMaxSubsets, p + "subsets");
  check_option_range(options.whole_epochs, 1, kMaxNetEpochs, p + "whole-epochs");
  check_chunk(options.eval_chunk);
  if (!(options.net.lr > 0) || !std::isfinite(options.net.lr))
    throw Error("--" + p + "lr must be a positive number");
}

std::vector<MemoryItem> transfer_memory(arma::uword d, arma::uword k, arma::uword n_test,
                                        const TransferOptions& options) {
  const double width = double(options.net.width), depth = double(options.net.depth);
  const double params = width * double(d) + (depth - 1) * width * width + double(k) * width;
  const double columns = double(std::max(options.net.batch, options.eval_chunk));
  return {{"network (weights, gradients, Adam moments)", 8.0 * 4.0 * params},
          {"activations", 8.0 * 3.0 * (depth + 1) * width * columns},
          {"test set as model inputs", 8.0 * double(d) * double(n_test)}};
}

namespace {

// The options, the set against the dataset, and a test set to score on.
void check_transfer_inputs(const arma::mat& Xs, const arma::mat& Ys, const Dataset& data,
                           const TransferOptions& options) {
  check_transfer_options(options);
  const arma::uword d = data.shape.size(), k = data.num_classes, m = Xs.n_cols;
  if (Xs.n_rows != d || Ys.n_rows != k || Ys.n_cols != m)
    throw Error("transfer: the set's inputs and labels do not match the dataset");
  if (m == 0 || m % k != 0)
    throw Error("transfer: the set holds " + std::to_string(m) +
                " images, not a positive multiple of the " + std::to_string(k) + " classes");
  if (data.test.labels.n_elem == 0)
    throw Error("transfer: the dataset has no test images to score the networks on");
}

}  // namespace

TransferCurve transfer_one_set(const std::string& name, const arma::mat& Xs, const arma::mat& Ys,
                               const Dataset& data, const Preprocessor& pre,
                               const TransferOptions& options, const Progress& progress) {
  check_transfer_inputs(Xs, Ys, data, options);
  const arma::mat X_test = to_model_input(pre, data.test.pixels, 0, data.test.labels.n_elem);
  TransferCurve curve = train_curve(
      name, options.net.seed, Xs.n_cols, options.net.epochs, options.eval_every, data.shape.size(),
      data.num_classes, columns_of(Xs, Ys), X_test, data.test.labels, options, progress);
  progress.finish();
  return curve;
}

TransferResult transfer_set(const arma::mat& Xs, const arma::mat& Ys, const Dataset& data,
                            const Preprocessor& pre, const TransferOptions& options,
                            const Progress& progress) {
  check_transfer_inputs(Xs, Ys, data, options);
  const arma::uword d = data.shape.size(), k = data.num_classes, m = Xs.n_cols;
  const arma::uword n_test = data.test.labels.n_elem;
  TransferResult result;
  result.options = options;
  result.ipc = m / k;
  const arma::uvec counts = class_counts(data.train.labels, k);
  if (counts.min() < result.ipc)
    throw Error("transfer: the random subsets need " + std::to_string(result.ipc) +
                " training images of each class (as many as the set), class " +
                std::to_string(counts.index_min()) + " has " + std::to_string(counts.min()));
  const arma::mat X_test = to_model_input(pre, data.test.pixels, 0, n_test);
  const std::uint64_t seed = options.net.seed;
  result.distilled = train_curve("distilled", seed, m, options.net.epochs, options.eval_every, d, k,
                                 columns_of(Xs, Ys), X_test, data.test.labels, options, progress);

  arma::vec finals(options.subsets);
  for (arma::uword r = 1; r <= options.subsets; ++r) {
    const std::uint64_t subset_seed = seed + r;
    const arma::uvec chosen = choose_real_images(data.train.labels, k, result.ipc, subset_seed,
                                                 RngStream::transfer_subset);
    const arma::mat X = to_model_input(pre, data.train.pixels, chosen);
    const arma::mat Y = one_hot(data.train.labels.elem(chosen), k);
    result.subsets.push_back(train_curve(
        "random_subset_seed_" + std::to_string(subset_seed), subset_seed, m, options.net.epochs,
        options.eval_every, d, k, columns_of(X, Y), X_test, data.test.labels, options, progress));
    finals[r - 1] = result.subsets.back().test_acc;
  }
  result.subset_mean = arma::mean(finals);
  result.subset_std = finals.n_elem > 1 ? arma::stddev(finals) : 0.0;
  result.subset_min = finals.min();
  result.subset_max = finals.max();

  if (options.whole) {
    // Batch by batch from the stored bytes: no float64 copy of the training set.
    const MlpBatchSource whole = [&](const arma::uvec& idx, arma::mat& Xb, arma::mat& Yb) {
      Xb = to_model_input(pre, data.train.pixels, idx);
      Yb = one_hot(data.train.labels.elem(idx), k);
    };
    result.whole = train_curve("whole", seed, data.train.labels.n_elem, options.whole_epochs, 1, d,
                               k, whole, X_test, data.test.labels, options, progress);
  }
  progress.finish();
  return result;
}

nlohmann::json transfer_curve_json(const TransferCurve& curve) {
  return {{"seed", curve.seed},
          {"m", curve.m},
          {"epochs", curve.epochs},
          {"test_acc", curve.test_acc},
          {"best_test_acc", curve.best_test_acc},
          {"best_epoch", curve.best_epoch},
          {"final_train_loss", curve.history.back().train_loss},
          {"seconds", curve.seconds}};
}

nlohmann::json transfer_settings_json(const TransferOptions& o) {
  return {{"network",
           {{"architecture", "fully-connected ReLU"},
            {"width", o.net.width},
            {"depth", o.net.depth},
            {"init", "He normal hidden layers, zero output layer, zero biases"}}},
          {"training",
           {{"optimizer", "adam"},
            {"lr", o.net.lr},
            {"epochs", o.net.epochs},
            {"batch", o.net.batch},
            {"loss", mlp_loss_name(o.net.loss)},
            {"seed", o.net.seed},
            {"eval_every", o.eval_every},
            {"subsets", o.subsets},
            {"whole", o.whole},
            {"whole_epochs", o.whole ? nlohmann::json(o.whole_epochs) : nlohmann::json(nullptr)}}}};
}

nlohmann::json transfer_json(const TransferResult& result) {
  nlohmann::json seeds = nlohmann::json::array();
  for (const TransferCurve& curve : result.subsets) seeds.push_back(transfer_curve_json(curve));
  nlohmann::json out = transfer_settings_json(result.options);
  out.update(
      {{"distilled", transfer_curve_json(result.distilled)},
       {"random_subset",
        {{"ipc", result.ipc},
         {"labels", "one-hot"},
         {"test_acc", result.subset_mean},
         {"test_acc_std", result.subset_std},
         {"test_acc_min", result.subset_min},
         {"test_acc_max", result.subset_max},
         {"seeds", seeds}}},
       {"whole", result.whole ? transfer_curve_json(*result.whole) : nlohmann::json(nullptr)},
       {"distilled_minus_random_subset", result.distilled.test_acc - result.subset_mean}});
  return out;
}

std::string transfer_history_csv(const TransferResult& result) {
  std::ostringstream csv;
  csv << "epoch,set,train_loss,test_acc\n";
  auto rows = [&csv](const TransferCurve& curve) {
    for (const TransferEpoch& row : curve.history) {
      char text[96];
      std::snprintf(text, sizeof text, "%u,%s,%.17g,", unsigned(row.epoch), curve.set.c_str(),
                    row.train_loss);
      csv << text;
      if (row.test_acc) {
        std::snprintf(text, sizeof text, "%.17g", *row.test_acc);
        csv << text;
      }
      csv << '\n';
    }
  };
  rows(result.distilled);
  for (const TransferCurve& curve : result.subsets) rows(curve);
  if (result.whole) rows(*result.whole);
  return csv.str();
}

}  // namespace krrdistill
