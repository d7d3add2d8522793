// KIP and Label Solve (docs/design.md §4): analytic gradients against finite
// differences, Label Solve optimality, the whole-set formulas from G and B,
// batches, initial support sets, and the training loop on small problems.
#define BOOST_TEST_MODULE kip
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fixtures.hpp"
#include "krrdistill/adam.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/kernels.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;
using fixtures::numeric_gradient;
using fixtures::relative_error;

namespace {

FeatureMap feature_map(const std::string& kind, arma::uword d) {
  FeatureMapSpec spec;
  spec.kind = kind;
  spec.features = 9;  // rff: p
  spec.layers = 2;    // fcnn
  spec.width = 8;
  spec.slope = 0.2;
  spec.seed = 5;
  return make_feature_map(spec, d);
}

std::vector<std::pair<std::string, Kernel>> all_kernels(arma::uword d) {
  std::vector<std::pair<std::string, Kernel>> out;
  for (const char* kind : {"linear", "rff", "fcnn"})
    out.emplace_back(std::string("feature-") + kind, FeatureKernel{feature_map(kind, d)});
  for (arma::uword depth = 1; depth <= 3; ++depth) {
    out.emplace_back("ntk-" + std::to_string(depth), ReluNtk{depth});
    out.emplace_back("nngp-" + std::to_string(depth), ReluNngp{depth});
  }
  out.emplace_back("rbf", Rbf{});
  return out;
}

arma::uvec cyclic_labels(arma::uword n, arma::uword k) {
  arma::uvec labels(n);
  for (arma::uword i = 0; i < n; ++i) labels[i] = i % k;
  return labels;
}

// A small KIP problem in model input space: support of m = ipc·k points,
// targets nt points, both Gaussian.
struct Problem {
  arma::mat Xs, Ys, Xt, Yt;
  arma::uvec target_labels;
};

Problem make_problem(arma::uword d, arma::uword k, arma::uword ipc, arma::uword nt,
                     std::uint64_t seed) {
  auto rng = make_rng(seed, RngStream::kip_init);
  Problem p;
  p.Xs = gaussian_matrix(d, k * ipc, 1.0, rng);
  p.Ys = one_hot(cyclic_labels(k * ipc, k), k);
  p.Xt = gaussian_matrix(d, nt, 1.0, rng);
  p.target_labels = cyclic_labels(nt, k);
  p.Yt = one_hot(p.target_labels, k);
  return p;
}

// Two-class 4×4 grey images: a random mean image per class plus noise.
Dataset blobs(arma::uword n_train, arma::uword n_test, std::uint64_t seed) {
  auto rng = make_rng(seed, RngStream::kip_init);
  Dataset data;
  data.name = "blobs";
  data.shape = ImageShape{1, 4, 4};
  data.num_classes = 2;
  data.class_names = {"0", "1"};
  const arma::mat means =
      arma::join_rows(uniform_vector(16, 60, 190, rng), uniform_vector(16, 60, 190, rng));
  auto make = [&](arma::uword n) {
    Split split;
    split.labels = cyclic_labels(n, 2);
    arma::mat X = gaussian_matrix(16, n, 35.0, rng);
    for (arma::uword i = 0; i < n; ++i) X.col(i) += means.col(split.labels[i]);
    split.pixels = arma::conv_to<PixelMatrix>::from(arma::round(arma::clamp(X, 0.0, 255.0)));
    return split;
  };
  data.train = make(n_train);
  data.test = make(n_test);
  return data;
}

}  // namespace

BOOST_AUTO_TEST_CASE(kip_gradient_matches_finite_differences) {
  // dXs through Kts, Kss and the trace term of the regulariser, and dYs. The
  // larger eps makes the trace term big enough for the check to see it.
  const arma::uword d = 7, k = 3;
  const Problem p = make_problem(d, k, 2, 15, 31);
  for (const double eps : {kKipRegularizer, 0.2}) {
    for (const auto& [name, kernel] : all_kernels(d)) {
      BOOST_TEST_CONTEXT(name << ", eps " << eps) {
        const Kernel& kern = kernel;
        const KipGradient g = kip_loss_gradient(kern, p.Xs, p.Ys, p.Xt, p.Yt, eps);
        BOOST_TEST(g.loss == kip_loss(kern, p.Xs, p.Ys, p.Xt, p.Yt, eps));
        const arma::mat nx = numeric_gradient(
            [&](const arma::mat& X) { return kip_loss(kern, X, p.Ys, p.Xt, p.Yt, eps); }, p.Xs);
        const arma::mat ny = numeric_gradient(
            [&](const arma::mat& Y) { return kip_loss(kern, p.Xs, Y, p.Xt, p.Yt, eps); }, p.Ys);
        BOOST_TEST(relative_error(g.dXs, nx) < 1e-5);
        BOOST_TEST(relative_error(g.dYs, ny) < 1e-5);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(single_precision_batch_gives_nearly_the_double_gradient) {
  // A float batch: the float products of K(Xt, Xs) move the loss and the
  // gradients from those of the same values in double at the float rounding
  // level, for Label Solve's too; the other kernels give the double bits.
  const arma::uword d = 200, k = 3;
  Problem p = make_problem(d, k, 4, 900, 33);
  const arma::fmat Xt_single = arma::conv_to<arma::fmat>::from(p.Xt);
  p.Xt = arma::conv_to<arma::mat>::from(Xt_single);
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      const KipGradient full = kip_loss_gradient(kernel, p.Xs, p.Ys, p.Xt, p.Yt);
      const KipGradient single = kip_loss_gradient(kernel, p.Xs, p.Ys, Xt_single, p.Yt);
      BOOST_TEST(std::abs(single.loss - full.loss) < 1e-5 * full.loss);
      BOOST_TEST(relative_error(single.dXs, full.dXs) < 1e-4);
      BOOST_TEST(relative_error(single.dYs, full.dYs) < 1e-4);
      const bool relu = name.rfind("ntk", 0) == 0 || name.rfind("nngp", 0) == 0;
      BOOST_TEST((single.loss != full.loss) == relu);
      const LabelSolveStep solved = label_solve_gradient(kernel, p.Xs, p.Xt, p.Yt);
      const LabelSolveStep solved_single = label_solve_gradient(kernel, p.Xs, Xt_single, p.Yt);
      BOOST_TEST((kip_loss(kernel, p.Xs, p.Ys, Xt_single, p.Yt) == single.loss));
      BOOST_TEST(relative_error(solved_single.Ys, solved.Ys) < 1e-3);
      BOOST_TEST(relative_error(solved_single.gradient.dXs, solved.gradient.dXs) < 1e-3);
    }
  }
}

BOOST_AUTO_TEST_CASE(kip_loss_matches_its_definition) {
  const arma::uword d = 6, k = 3;
  const Problem p = make_problem(d, k, 2, 10, 32);
  const Kernel kernel = ReluNtk{2};
  const arma::mat Kss = kernel_matrix(kernel, p.Xs);
  const arma::mat R =
      Kss + kKipRegularizer * arma::trace(Kss) / double(Kss.n_rows) * arma::eye(arma::size(Kss));
  const arma::mat P = kernel_matrix(kernel, p.Xt, p.Xs) * arma::solve(R, p.Ys.t());
  const double expected = 0.5 * arma::mean(arma::vectorise(arma::square(P - p.Yt.t())));
  BOOST_TEST(std::abs(kip_loss(kernel, p.Xs, p.Ys, p.Xt, p.Yt) - expected) < 1e-12 * expected);
  BOOST_TEST(arma::abs(kip_predict(kernel, p.Xs, p.Ys, p.Xt) - P.t()).max() < 1e-10);

  const FeatureMap map = feature_map("rff", d);
  const arma::mat Phis = map_features(map, p.Xs), Phit = map_features(map, p.Xt);
  const arma::mat Kf = Phis.t() * Phis;
  const arma::mat Rf =
      Kf + kKipRegularizer * arma::trace(Kf) / double(Kf.n_rows) * arma::eye(arma::size(Kf));
  const arma::mat Pf = Phit.t() * Phis * arma::solve(Rf, p.Ys.t());
  const double expected_f = 0.5 * arma::mean(arma::vectorise(arma::square(Pf - p.Yt.t())));
  BOOST_TEST(std::abs(kip_loss(FeatureKernel{map}, p.Xs, p.Ys, p.Xt, p.Yt) - expected_f) <
             1e-10 * expected_f);
  BOOST_TEST(arma::abs(kip_predict(FeatureKernel{map}, p.Xs, p.Ys, p.Xt) - Pf.t()).max() < 1e-9);
}

BOOST_AUTO_TEST_CASE(label_solve_is_the_least_squares_optimum) {
  const arma::uword d = 7, k = 3;
  const Problem p = make_problem(d, k, 2, 24, 33);
  auto rng = make_rng(34, RngStream::kip_init);
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      const Kernel& kern = kernel;
      const arma::mat Ys = label_solve(kern, p.Xs, p.Xt, p.Yt);
      BOOST_TEST(Ys.n_rows == k);
      BOOST_TEST(Ys.n_cols == p.Xs.n_cols);
      const double solved = kip_loss(kern, p.Xs, Ys, p.Xt, p.Yt);
      const double fixed = kip_loss(kern, p.Xs, p.Ys, p.Xt, p.Yt);
      BOOST_TEST(solved <= fixed);

      // Labels learned by Adam from one-hot on the same support and batch.
      arma::mat learned = p.Ys;
      Adam adam;
      adam.lr = 0.01;
      for (int step = 0; step < 300; ++step)
        adam_step(adam, learned, kip_loss_gradient(kern, p.Xs, learned, p.Xt, p.Yt).dYs);
      const double learned_loss = kip_loss(kern, p.Xs, learned, p.Xt, p.Yt);
      BOOST_TEST(learned_loss < fixed);
      BOOST_TEST(solved <= learned_loss * (1 + 1e-12));

      // A stationary point of a convex quadratic: dYs = 0 and every perturbation raises the loss.
      const arma::mat dYs = kip_loss_gradient(kern, p.Xs, Ys, p.Xt, p.Yt).dYs;
      const arma::mat dYs0 = kip_loss_gradient(kern, p.Xs, p.Ys, p.Xt, p.Yt).dYs;
      BOOST_TEST(arma::norm(dYs, "fro") < 1e-6 * arma::norm(dYs0, "fro"));
      for (int trial = 0; trial < 5; ++trial) {
        const arma::mat E = gaussian_matrix(k, p.Xs.n_cols, 1e-3, rng);
        BOOST_TEST(kip_loss(kern, p.Xs, Ys + E, p.Xt, p.Yt) > solved);
      }

      // One kernel evaluation for Label Solve and the gradient at the solved labels.
      const LabelSolveStep step = label_solve_gradient(kern, p.Xs, p.Xt, p.Yt);
      BOOST_TEST(arma::abs(step.Ys - Ys).max() < 1e-12 * std::max(1.0, arma::abs(Ys).max()));
      const KipGradient at = kip_loss_gradient(kern, p.Xs, step.Ys, p.Xt, p.Yt);
      BOOST_TEST(std::abs(step.gradient.loss - at.loss) < 1e-14);
      BOOST_TEST(relative_error(step.gradient.dXs, at.dXs) < 1e-12);
    }
  }
}

BOOST_AUTO_TEST_CASE(label_solve_gradient_is_the_gradient_of_the_solved_loss) {
  // Envelope theorem: d/dXs L(Xs, Ys*(Xs)) = ∂L/∂Xs at Ys*.
  const arma::uword d = 6, k = 2;
  const Problem p = make_problem(d, k, 2, 14, 35);
  for (const Kernel& kernel :
       {Kernel(ReluNngp{2}), Kernel(FeatureKernel{feature_map("fcnn", d)})}) {
    const LabelSolveStep step = label_solve_gradient(kernel, p.Xs, p.Xt, p.Yt);
    const arma::mat numeric = numeric_gradient(
        [&](const arma::mat& X) {
          return kip_loss(kernel, X, label_solve(kernel, X, p.Xt, p.Yt), p.Xt, p.Yt);
        },
        p.Xs);
    BOOST_TEST(relative_error(step.gradient.dXs, numeric) < 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(whole_set_formulas_equal_the_batch_ones_on_the_whole_set) {
  const arma::uword d = 7, k = 3, n = 45;
  const Problem p = make_problem(d, k, 2, n, 36);
  for (const char* kind : {"linear", "rff", "fcnn"}) {
    BOOST_TEST_CONTEXT(kind) {
      const FeatureMap map = feature_map(kind, d);
      const Kernel kernel = FeatureKernel{map};
      const arma::mat Phi = map_features(map, p.Xt);
      Statistics stats = zero_statistics(Phi.n_rows, k);
      accumulate(stats, Phi, p.target_labels);

      const arma::mat full = label_solve_full(map, stats, p.Xs);
      const arma::mat batch = label_solve(kernel, p.Xs, p.Xt, p.Yt);
      BOOST_TEST(arma::abs(full - batch).max() < 1e-10 * arma::abs(batch).max());

      for (const arma::mat& Ys : {p.Ys, batch}) {
        const double whole = kip_loss_full(map, stats, p.Xs, Ys);
        const double direct = kip_loss(kernel, p.Xs, Ys, p.Xt, p.Yt);
        BOOST_TEST(std::abs(whole - direct) < 1e-10 * direct);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rank_deficient_support_still_gets_optimal_labels) {
  // Linear features with d < m: Kts has rank d < m, so the labels are not
  // unique; both solves must still reach the least-squares loss.
  const arma::uword d = 4, k = 3;
  const Problem p = make_problem(d, k, 3, 40, 37);  // m = 9 > d
  const FeatureMap map = feature_map("linear", d);
  const Kernel kernel = FeatureKernel{map};
  Statistics stats = zero_statistics(d, k);
  accumulate(stats, p.Xt, p.target_labels);
  const arma::mat batch = label_solve(kernel, p.Xs, p.Xt, p.Yt);
  const arma::mat full = label_solve_full(map, stats, p.Xs);
  BOOST_TEST(batch.is_finite());
  BOOST_TEST(full.is_finite());
  const double batch_loss = kip_loss(kernel, p.Xs, batch, p.Xt, p.Yt);
  const double full_loss = kip_loss(kernel, p.Xs, full, p.Xt, p.Yt);
  BOOST_TEST(batch_loss < kip_loss(kernel, p.Xs, p.Ys, p.Xt, p.Yt));
  BOOST_TEST(std::abs(batch_loss - full_loss) < 1e-8 * batch_loss);
  // The optimum: the best linear regression Ytᵀ ≈ Xtᵀ Z over the d-dimensional inputs.
  const arma::mat residual = p.Xt.t() * arma::solve(p.Xt.t(), p.Yt.t()) - p.Yt.t();
  const double optimum = 0.5 * arma::mean(arma::vectorise(arma::square(residual)));
  BOOST_TEST(std::abs(batch_loss - optimum) < 1e-8 * optimum);
  // Minimum-norm α: moderate labels (not 1e9 entries fitting rounding noise), the same both ways.
  BOOST_TEST(arma::abs(batch).max() < 10.0);
  BOOST_TEST(arma::abs(batch - full).max() < 1e-8);
}

BOOST_AUTO_TEST_CASE(batches_are_class_balanced_and_seeded) {
  // Class sizes 5, 8, 3; batch 12 → 4 per class, all 3 of the last class.
  arma::uvec labels(16);
  for (arma::uword i = 0; i < 16; ++i) labels[i] = i < 5 ? 0 : (i < 13 ? 1 : 2);
  labels = arma::shuffle(labels);  // order must not matter
  KipBatchSampler a = make_batch_sampler(labels, 3, 12, 7);
  KipBatchSampler b = make_batch_sampler(labels, 3, 12, 7);
  KipBatchSampler c = make_batch_sampler(labels, 3, 12, 8);
  bool differs = false;
  std::vector<arma::uword> seen0(16, 0);
  for (int call = 0; call < 200; ++call) {
    const arma::uvec batch = next_batch(a);
    BOOST_TEST(batch.n_elem == 11u);
    BOOST_TEST(arma::all(batch == next_batch(b)));
    if (arma::any(batch != next_batch(c))) differs = true;
    const std::set<arma::uword> distinct(batch.begin(), batch.end());
    BOOST_TEST(distinct.size() == batch.n_elem);
    const arma::uvec classes = labels.elem(batch);
    BOOST_TEST(arma::accu(classes == 0) == 4u);
    BOOST_TEST(arma::accu(classes == 1) == 4u);
    BOOST_TEST(arma::accu(classes == 2) == 3u);
    for (arma::uword i : batch) ++seen0[i];
  }
  BOOST_TEST(differs);
  // Every image is drawn in proportion: class 0 → 4/5 of calls, class 1 → 4/8.
  for (arma::uword i = 0; i < 16; ++i) {
    const double rate = double(seen0[i]) / 200.0;
    const double expected = labels[i] == 0 ? 0.8 : (labels[i] == 1 ? 0.5 : 1.0);
    BOOST_TEST(std::abs(rate - expected) < 0.15);
  }
  BOOST_CHECK_THROW(make_batch_sampler(labels, 3, 2, 0), Error);
  BOOST_CHECK_THROW(make_batch_sampler(labels, 2, 12, 0), Error);  // label 2 out of range
}

BOOST_AUTO_TEST_CASE(initial_support_sets) {
  const Dataset data = blobs(30, 4, 41);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.0);
  KipOptions options;
  options.ipc = 3;
  options.seed = 2;
  const KipSupport real = kip_init_real(options, pre, data.train, 2);
  BOOST_TEST(real.Xs.n_rows == 16u);
  BOOST_TEST(real.Xs.n_cols == 6u);
  for (arma::uword j = 0; j < 6; ++j) {
    BOOST_TEST(data.train.labels[real.source[j]] == j % 2);
    BOOST_TEST(real.Ys(j % 2, j) == 1.0);
    BOOST_TEST(arma::accu(real.Ys.col(j)) == 1.0);
  }
  BOOST_TEST(arma::unique(real.source).eval().n_elem == 6u);
  BOOST_TEST(arma::abs(real.Xs - to_model_input(pre, data.train.pixels, real.source)).max() == 0.0);
  BOOST_TEST(arma::all(real.source == kip_init_real(options, pre, data.train, 2).source));
  options.ipc = 16;  // 15 images per class
  BOOST_CHECK_THROW(kip_init_real(options, pre, data.train, 2), Error);

  options.ipc = 2;
  const KipSupport noise = kip_init_noise(options, 16, 3);
  BOOST_TEST(noise.Xs.n_rows == 16u);
  BOOST_TEST(noise.Xs.n_cols == 6u);
  BOOST_TEST(noise.source.n_elem == 0u);
  BOOST_TEST(arma::abs(noise.Ys - one_hot(cyclic_labels(6, 3), 3)).max() == 0.0);
  BOOST_TEST(arma::abs(noise.Xs - kip_init_noise(options, 16, 3).Xs).max() == 0.0);
  BOOST_TEST(std::abs(arma::stddev(arma::vectorise(noise.Xs)) - 1.0) < 0.3);
}

BOOST_AUTO_TEST_CASE(label_modes_parse) {
  BOOST_TEST(label_mode_name(parse_label_mode("fixed")) == "fixed");
  BOOST_TEST(label_mode_name(parse_label_mode("learn")) == "learn");
  BOOST_TEST(label_mode_name(parse_label_mode("solve")) == "solve");
  BOOST_CHECK_THROW(parse_label_mode("soft"), Error);
}

BOOST_AUTO_TEST_CASE(training_reduces_the_loss_on_two_blobs) {
  const Dataset data = blobs(200, 100, 42);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.0);
  const arma::mat X = to_model_input(pre, data.train.pixels, 0, data.train.pixels.n_cols);
  const arma::mat Y = one_hot(data.train.labels, 2);
  const std::vector<std::pair<std::string, Kernel>> kernels = {
      {"feature-linear", FeatureKernel{LinearMap{16}}}, {"ntk-1", ReluNtk{1}}, {"rbf", Rbf{}}};
  for (const auto& [name, kernel] : kernels) {
    for (const LabelMode mode : {LabelMode::fixed, LabelMode::learn, LabelMode::solve}) {
      BOOST_TEST_CONTEXT(name << ", labels " << label_mode_name(mode)) {
        KipOptions options;
        options.ipc = 2;
        options.steps = 50;
        options.lr = 0.01;
        options.batch = 40;
        options.eval_every = 10;
        options.labels = mode;
        options.seed = 3;
        options.eval_chunk = 30;
        // Noise init: far from the data, so there is a lot to learn.
        const KipSupport init = kip_init_noise(options, 16, 2);
        arma::uword calls = 0;
        const KipResult result = run_kip(options, kernel, pre, data.train, data.test, init,
                                         [&](const KipProgress& progress) {
                                           ++calls;
                                           BOOST_TEST(progress.step == calls);
                                           BOOST_TEST(progress.steps == 50u);
                                         });
        BOOST_TEST(calls == 50u);
        BOOST_REQUIRE(result.history.size() == 50u);
        BOOST_TEST(result.initial_test_accuracy.has_value());
        double previous_seconds = 0;
        for (const KipRecord& r : result.history) {
          BOOST_TEST(r.seconds >= previous_seconds);
          previous_seconds = r.seconds;
          BOOST_TEST(r.test_accuracy.has_value() == (r.step % 10 == 0));
        }
        const Kernel& kern = kernel;
        const double before = kip_loss(kern, init.Xs, init.Ys, X, Y);
        const double after = kip_loss(kern, result.Xs, result.Ys, X, Y);
        const double accuracy = *result.history.back().test_accuracy;
        BOOST_TEST_MESSAGE(name << " " << label_mode_name(mode) << ": whole-set loss " << before
                                << " -> " << after << ", test accuracy "
                                << *result.initial_test_accuracy << " -> " << accuracy);
        BOOST_TEST(after < 0.8 * before);
        BOOST_TEST(accuracy > 0.9);
        BOOST_TEST(accuracy == kip_accuracy(kern, result.Xs, result.Ys, pre, data.test));
        if (mode == LabelMode::fixed) BOOST_TEST(arma::abs(result.Ys - init.Ys).max() == 0.0);
        if (mode != LabelMode::fixed) BOOST_TEST(arma::abs(result.Ys - init.Ys).max() > 0.0);

        // Same seed, same numbers.
        const KipResult again = run_kip(options, kernel, pre, data.train, data.test, init);
        BOOST_TEST(arma::abs(again.Xs - result.Xs).max() == 0.0);
        BOOST_TEST(arma::abs(again.Ys - result.Ys).max() == 0.0);
      }
    }
  }
}

// run_kip steps on the model inputs of the sampled columns, in the batch's
// precision; with ZCA they are gathered from the training set whitened once,
// whose product is cut into other tiles than a batch's own would be.
BOOST_AUTO_TEST_CASE(run_kip_steps_on_the_sampled_model_inputs) {
  const Dataset data = blobs(300, 0, 44);
  const std::vector<std::pair<std::string, Kernel>> kernels = {
      {"feature-linear", FeatureKernel{LinearMap{16}}}, {"ntk-1", ReluNtk{1}}};
  for (const bool zca : {false, true}) {
    const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, zca, 0.1);
    for (const auto& [name, kernel] : kernels) {
      for (const ProductPrecision precision :
           {ProductPrecision::single_precision, ProductPrecision::double_precision}) {
        BOOST_TEST_CONTEXT(name << ", zca " << zca << ", " << product_precision_name(precision)) {
          KipOptions options;
          options.ipc = 2;
          options.steps = 3;
          options.batch = 40;
          options.seed = 5;
          options.batch_precision = precision;
          const KipSupport init = kip_init_noise(options, 16, 2);
          const KipResult result = run_kip(options, kernel, pre, data.train, data.test, init);

          KipBatchSampler sampler =
              make_batch_sampler(data.train.labels, 2, options.batch, options.seed);
          Adam adam;
          adam.lr = options.lr;
          arma::mat Xs = init.Xs;
          const bool single =
              precision == ProductPrecision::single_precision && uses_product_precision(kernel);
          for (arma::uword step = 0; step < options.steps; ++step) {
            const arma::uvec columns = next_batch(sampler);
            const arma::mat Yt = one_hot(arma::uvec(data.train.labels.elem(columns)), 2);
            const arma::mat Xt = to_model_input(pre, data.train.pixels, columns);
            const KipGradient g = single
                                      ? kip_loss_gradient(kernel, Xs, init.Ys,
                                                          arma::conv_to<arma::fmat>::from(Xt), Yt)
                                      : kip_loss_gradient(kernel, Xs, init.Ys, Xt, Yt);
            adam_step(adam, Xs, g.dXs);
          }
          // Without ZCA the same bits; with it, the whitening's rounding.
          const double error = relative_error(result.Xs, Xs);
          if (zca)
            BOOST_TEST(error < 1e-9);
          else
            BOOST_TEST(error == 0.0);
          BOOST_TEST(relative_error(Xs, init.Xs) > 1e-4);  // the steps moved it
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(run_kip_rejects_bad_options) {
  const Dataset data = blobs(20, 0, 43);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.0);
  KipOptions options;
  options.ipc = 1;
  options.steps = 2;
  options.batch = 4;
  const KipSupport init = kip_init_noise(options, 16, 2);
  const Kernel kernel = ReluNngp{1};
  // No test columns: no accuracy, but training runs.
  const KipResult result = run_kip(options, kernel, pre, data.train, data.test, init);
  BOOST_TEST(!result.initial_test_accuracy.has_value());
  BOOST_TEST(!result.history.back().test_accuracy.has_value());
  KipOptions bad = options;
  bad.lr = 0;
  BOOST_CHECK_THROW(run_kip(bad, kernel, pre, data.train, data.test, init), Error);
  bad = options;
  bad.batch = 1;
  BOOST_CHECK_THROW(run_kip(bad, kernel, pre, data.train, data.test, init), Error);
  BOOST_CHECK_THROW(
      run_kip(options, kernel, pre, data.train, data.test, kip_init_noise(options, 15, 2)), Error);
  BOOST_CHECK_THROW(kip_loss(kernel, init.Xs, init.Ys, arma::mat(15, 3, arma::fill::ones),
                             arma::mat(2, 3, arma::fill::ones)),
                    Error);
  BOOST_CHECK_THROW(kip_loss(kernel, init.Xs, init.Ys, arma::mat(16, 3, arma::fill::ones),
                             arma::mat(3, 3, arma::fill::ones)),
                    Error);
  BOOST_CHECK_THROW(kip_loss(kernel, arma::mat(16, 2, arma::fill::zeros), init.Ys,
                             arma::mat(16, 3, arma::fill::ones), arma::mat(2, 3, arma::fill::ones)),
                    Error);  // zero trace
}

BOOST_AUTO_TEST_CASE(fashion_mnist_subset) {
  if (!file_exists(std::string(KRRDISTILL_FASHION_MNIST) + "/train-images-idx3-ubyte.gz")) {
    BOOST_TEST_MESSAGE("Fashion-MNIST is not installed; skipped");
    return;
  }
  const Dataset full = load_dataset("fashion-mnist", "", false);
  Split train, test;
  train.pixels = full.train.pixels.cols(0, 999);
  train.labels = full.train.labels.subvec(0, 999);
  test.pixels = full.test.pixels.cols(0, 499);
  test.labels = full.test.labels.subvec(0, 499);
  const Preprocessor pre = fit_preprocessor(train.pixels, full.shape, false, 0.0);
  const arma::mat X = to_model_input(pre, train.pixels, 0, train.pixels.n_cols);
  const arma::mat Y = one_hot(train.labels, 10);
  const std::vector<std::pair<std::string, Kernel>> kernels = {
      {"feature-linear", FeatureKernel{LinearMap{784}}}, {"ntk-1", ReluNtk{1}}};
  for (const auto& [name, kernel] : kernels) {
    BOOST_TEST_CONTEXT(name) {
      KipOptions options;
      options.ipc = 1;
      options.steps = 50;
      options.lr = 0.01;
      options.batch = 200;
      options.eval_every = 25;
      options.seed = 1;
      const KipSupport init = kip_init_real(options, pre, train, 10);
      const KipResult result = run_kip(options, kernel, pre, train, test, init);
      const Kernel& kern = kernel;
      const double before = kip_loss(kern, init.Xs, init.Ys, X, Y);
      const double after = kip_loss(kern, result.Xs, result.Ys, X, Y);
      const double accuracy = *result.history.back().test_accuracy;
      BOOST_TEST_MESSAGE("Fashion-MNIST (1000 train, 500 test, ipc 1) "
                         << name << ": loss " << before << " -> " << after << ", test accuracy "
                         << *result.initial_test_accuracy << " -> " << accuracy << " in "
                         << result.history.back().seconds << " s");
      BOOST_TEST(after < before);
      BOOST_TEST(accuracy > 0.4);
    }
  }
}
