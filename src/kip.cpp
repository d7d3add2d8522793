#include "krrdistill/kip.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "krrdistill/adam.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

namespace {

// Uniform on [0, n) by rejection on whole 64-bit draws: unbiased and fixed by
// the seed alone (no std distributions).
arma::uword uniform_index(std::mt19937_64& rng, arma::uword n) {
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t limit = top - top % std::uint64_t(n);
  std::uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return arma::uword(r % std::uint64_t(n));
}

// Moves a uniform random subset of `count` elements of pool to its front
// (partial Fisher–Yates).
void shuffle_front(std::vector<arma::uword>& pool, arma::uword count, std::mt19937_64& rng) {
  for (arma::uword i = 0; i < count; ++i) {
    const arma::uword j = i + uniform_index(rng, pool.size() - i);
    std::swap(pool[i], pool[j]);
  }
}

// Training columns of each class, in order.
std::vector<std::vector<arma::uword>> class_pools(const arma::uvec& labels, arma::uword k) {
  if (k == 0) throw Error("no classes");
  std::vector<std::vector<arma::uword>> pools(k);
  for (arma::uword i = 0; i < labels.n_elem; ++i) {
    const arma::uword c = labels[i];
    if (c >= k)
      throw Error("training label " + std::to_string(c) + " is out of range for " +
                  std::to_string(k) + " classes");
    pools[c].push_back(i);
  }
  for (arma::uword c = 0; c < k; ++c)
    if (pools[c].empty()) throw Error("class " + std::to_string(c) + " has no training images");
  return pools;
}

std::vector<std::vector<arma::uword>> class_pools(const Split& split, arma::uword k) {
  if (split.labels.n_elem != split.pixels.n_cols)
    throw Error("the training split has " + std::to_string(split.pixels.n_cols) + " images but " +
                std::to_string(split.labels.n_elem) + " labels");
  return class_pools(split.labels, k);
}

void check_options(const KipOptions& o) {
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw Error("KIP learning rate must be > 0");
  if (!(o.label_lr >= 0) || !std::isfinite(o.label_lr))
    throw Error("KIP label learning rate must be >= 0");
  if (o.eval_chunk == 0) throw Error("KIP evaluation chunk must be >= 1");
  if (!(o.max_seconds >= 0) || !std::isfinite(o.max_seconds))
    throw Error("KIP time budget must be >= 0 seconds");
  if (o.stop_accuracy && !std::isfinite(*o.stop_accuracy))
    throw Error("KIP stop accuracy must be finite");
  if (!(o.regularizer > 0) || !std::isfinite(o.regularizer))
    throw Error("KIP regulariser must be > 0");
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// With ZCA a batch's whitening is a d×d×nt product at every step, several
// times the rest of the step (d = 784: 3 GFLOP in double); the training set
// is whitened once instead, chunk by chunk, and each batch gathered from it.
// Without ZCA a batch is made from the pixels directly. T is the batch's
// precision (docs/design.md §4).
template <typename T>
class BatchMaker {
 public:
  BatchMaker(const Preprocessor& pre, const PixelMatrix& pixels) : pre_(pre), pixels_(pixels) {
    if (!pre.zca) return;
    constexpr arma::uword chunk = 4096;
    whitened_.set_size(pixels.n_rows, pixels.n_cols);
    arma::mat X, scratch;
    for (arma::uword first = 0; first < pixels.n_cols; first += chunk) {
      const arma::uword count = std::min(chunk, pixels.n_cols - first);
      model_inputs_into(pre, pixels, first, count, X, scratch);
      copy_columns(
          X, [first](arma::uword j) { return first + j; }, count, whitened_, false);
    }
  }

  arma::Mat<T> operator()(const arma::uvec& columns) const {
    if (!pre_.zca) {
      if constexpr (std::is_same_v<T, float>)
        return to_model_input_single(pre_, pixels_, columns);
      else
        return to_model_input(pre_, pixels_, columns);
    }
    if (arma::any(columns >= whitened_.n_cols)) throw Error("image index out of bounds");
    arma::Mat<T> batch(whitened_.n_rows, columns.n_elem);
    copy_columns(
        whitened_, [&columns](arma::uword j) { return columns[j]; }, columns.n_elem, batch, true);
    return batch;
  }

 private:
  // Column j of `to` from column at(j) of `from` (gather), or column at(j)
  // of `to` from column j of `from`, on every thread.
  template <typename From, typename At>
  static void copy_columns(const arma::Mat<From>& from, At at, arma::uword count, arma::Mat<T>& to,
                           bool gather) {
#pragma omp parallel for schedule(static)
    for (arma::uword j = 0; j < count; ++j) {
      const From* in = from.colptr(gather ? at(j) : j);
      T* out = to.colptr(gather ? j : at(j));
      for (arma::uword r = 0; r < from.n_rows; ++r) out[r] = T(in[r]);
    }
  }

  const Preprocessor& pre_;
  const PixelMatrix& pixels_;
  arma::Mat<T> whitened_;  // ZCA: every training input, whitened
};

}  // namespace

LabelMode parse_label_mode(const std::string& name) {
  if (name == "fixed") return LabelMode::fixed;
  if (name == "learn") return LabelMode::learn;
  if (name == "solve") return LabelMode::solve;
  throw Error("unknown label mode '" + name + "' (expected fixed, learn or solve)");
}

std::string kip_stop_name(KipStop stop) {
  switch (stop) {
    case KipStop::steps:
      return "step budget";
    case KipStop::accuracy:
      return "accuracy reached";
    case KipStop::seconds:
      return "time budget";
  }
  return "step budget";
}

std::string label_mode_name(LabelMode mode) {
  switch (mode) {
    case LabelMode::fixed:
      return "fixed";
    case LabelMode::learn:
      return "learn";
    case LabelMode::solve:
      return "solve";
  }
  return "fixed";
}

KipBatchSampler make_batch_sampler(const arma::uvec& labels, arma::uword num_classes,
                                   arma::uword batch, std::uint64_t seed) {
  KipBatchSampler sampler;
  sampler.pools = class_pools(labels, num_classes);
  sampler.per_class = batch / num_classes;
  if (sampler.per_class == 0)
    throw Error("KIP batch " + std::to_string(batch) + " is smaller than the " +
                std::to_string(num_classes) + " classes");
  sampler.rng = make_rng(seed, RngStream::kip_batches);
  return sampler;
}

arma::uvec next_batch(KipBatchSampler& sampler) {
  arma::uword total = 0;
  for (const auto& pool : sampler.pools)
    total += std::min<arma::uword>(sampler.per_class, pool.size());
  arma::uvec columns(total);
  arma::uword filled = 0;
  for (auto& pool : sampler.pools) {
    const arma::uword take = std::min<arma::uword>(sampler.per_class, pool.size());
    shuffle_front(pool, take, sampler.rng);
    for (arma::uword i = 0; i < take; ++i) columns[filled++] = pool[i];
  }
  return columns;
}

KipSupport kip_init_real(const KipOptions& options, const Preprocessor& pre, const Split& train,
                         arma::uword num_classes) {
  if (num_classes == 0 || options.ipc == 0) throw Error("KIP init needs classes and ipc >= 1");
  class_pools(train, num_classes);  // checks labels against the images and the classes
  // The analytic method's own choice, so that both start from the same images.
  KipSupport s;
  s.source = choose_real_images(train.labels, num_classes, options.ipc, options.seed);
  s.Xs = to_model_input(pre, train.pixels, s.source);
  s.Ys = distilled_one_hot(num_classes, options.ipc);
  return s;
}

KipSupport kip_init_noise(const KipOptions& options, arma::uword input_dim,
                          arma::uword num_classes) {
  if (num_classes == 0 || options.ipc == 0 || input_dim == 0)
    throw Error("KIP init needs classes, ipc >= 1 and inputs");
  std::mt19937_64 rng = make_rng(options.seed, RngStream::kip_init);
  KipSupport s;
  s.Xs = gaussian_matrix(input_dim, num_classes * options.ipc, 1.0, rng);
  s.Ys = distilled_one_hot(num_classes, options.ipc);
  return s;
}

KipResult run_kip(const KipOptions& options, const Kernel& kernel, const Preprocessor& pre,
                  const Split& train, const Split& test, const KipSupport& init,
                  const KipProgressCallback& progress) {
  check_options(options);
  check_kip_support(init.Xs, init.Ys);
  const arma::uword k = init.Ys.n_rows;
  if (init.Xs.n_rows != pre.shape.size())
    throw Error("KIP support inputs have " + std::to_string(init.Xs.n_rows) +
                " rows but images have " + std::to_string(pre.shape.size()) + " values");
  if (train.labels.n_elem != train.pixels.n_cols)
    throw Error("the training split has " + std::to_string(train.pixels.n_cols) + " images but " +
                std::to_string(train.labels.n_elem) + " labels");
  KipBatchSampler sampler = make_batch_sampler(train.labels, k, options.batch, options.seed);
  const bool has_test = test.pixels.n_cols > 0;

  KipResult result;
  result.Xs = init.Xs;
  result.Ys = init.Ys;
  if (has_test)
    result.initial_test_accuracy = kip_accuracy(kernel, result.Xs, result.Ys, pre, test,
                                                options.eval_chunk, options.regularizer);
  std::optional<double> last_accuracy = result.initial_test_accuracy;
  if (options.stop_accuracy && last_accuracy && *last_accuracy >= *options.stop_accuracy) {
    result.stopped_by = KipStop::accuracy;  // the start already reaches it: no step
    return result;
  }

  Adam adam_x;
  adam_x.lr = options.lr;
  Adam adam_y;
  adam_y.lr = options.label_lr > 0 ? options.label_lr : options.lr;
  double seconds = 0.0;
  result.history.reserve(options.steps);
  const bool single_batch = options.batch_precision == ProductPrecision::single_precision &&
                            uses_product_precision(kernel);
  // The whitening of the training set counts as optimisation time.
  const auto whitening_started = std::chrono::steady_clock::now();
  std::optional<BatchMaker<float>> single_batches;
  std::optional<BatchMaker<double>> double_batches;
  if (single_batch)
    single_batches.emplace(pre, train.pixels);
  else
    double_batches.emplace(pre, train.pixels);
  seconds += seconds_since(whitening_started);

  for (arma::uword step = 1; step <= options.steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const arma::uvec columns = next_batch(sampler);
    const arma::mat Yt = one_hot(arma::uvec(train.labels.elem(columns)), k);
    KipRecord record;
    record.step = step;
    // The batch in the precision its kernel takes it in, made straight from
    // the pixels: a float batch never exists in double.
    const auto take_step = [&](const auto& Xt) {
      if (options.labels == LabelMode::solve) {
        LabelSolveStep s = label_solve_gradient(kernel, result.Xs, Xt, Yt, options.regularizer);
        record.loss = s.gradient.loss;
        result.Ys = std::move(s.Ys);
        if (std::isfinite(record.loss)) adam_step(adam_x, result.Xs, s.gradient.dXs);
      } else {
        const KipGradient g =
            kip_loss_gradient(kernel, result.Xs, result.Ys, Xt, Yt, options.regularizer);
        record.loss = g.loss;
        if (std::isfinite(record.loss)) {
          adam_step(adam_x, result.Xs, g.dXs);
          if (options.labels == LabelMode::learn) adam_step(adam_y, result.Ys, g.dYs);
        }
      }
    };
    if (single_batch)
      take_step((*single_batches)(columns));
    else
      take_step((*double_batches)(columns));
    if (!std::isfinite(record.loss) || !result.Xs.is_finite())
      throw Error("KIP diverged at step " + std::to_string(step) +
                  " (non-finite loss or inputs); "
                  "lower the learning rate");
    seconds += seconds_since(start);
    record.seconds = seconds;

    const bool out_of_time = options.max_seconds > 0 && seconds >= options.max_seconds;
    const bool evaluate = (options.eval_every > 0 && step % options.eval_every == 0) ||
                          step == options.steps || out_of_time;
    if (evaluate && has_test) {
      record.test_accuracy = kip_accuracy(kernel, result.Xs, result.Ys, pre, test,
                                          options.eval_chunk, options.regularizer);
      last_accuracy = record.test_accuracy;
    }
    result.history.push_back(record);

    if (progress) {
      KipProgress p;
      p.step = step;
      p.steps = options.steps;
      p.loss = record.loss;
      p.test_accuracy = last_accuracy;
      p.steps_per_second = seconds > 0 ? double(step) / seconds : 0.0;
      progress(p);
    }
    if (options.stop_accuracy && record.test_accuracy &&
        *record.test_accuracy >= *options.stop_accuracy) {
      result.stopped_by = KipStop::accuracy;
      break;
    }
    if (out_of_time) {
      result.stopped_by = KipStop::seconds;
      break;
    }
  }
  return result;
}

}  // namespace krrdistill
