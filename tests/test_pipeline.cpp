// The pipelines as library calls (pipeline.hpp, kip_pipeline.hpp): the same
// bits as the command line, on data read from files or handed over in
// memory; make_dataset's refusals; Label Solve's statistics summed as the
// original model's are.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/kip_pipeline.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/sample_chunks.hpp"
#include "krrdistill/stream.hpp"

using namespace fixtures;
using namespace krrdistill;

namespace {

DistillConfig idx_config(const std::string& dir) {
  DistillConfig config;
  config.source.dataset = "idx";
  config.source.dir = dir;
  config.analytic.ipc = 2;
  config.analytic.init = Init::real;
  return config;
}

}  // namespace

BOOST_AUTO_TEST_CASE(library_writes_what_the_command_line_writes) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 120, 40, 6, 3);
  const RunResult cli = run_cli("distill --dataset idx --data " + tmp.file("data") +
                                    " --ipc 2 --init real --quiet --out " + tmp.file("cli"),
                                tmp.path);
  BOOST_REQUIRE_EQUAL(cli.exit_code, 0);

  const DistillConfig config = idx_config(tmp.file("data"));
  write_distill_result(distill_dataset(config), tmp.file("from_files"), false);
  // The same images handed over in memory.
  const Dataset loaded = load(config.source);
  const DistillResult in_memory = distill_dataset(loaded, config);
  BOOST_CHECK(!in_memory.from_files);
  write_distill_result(in_memory, tmp.file("in_memory"), false);
  for (const char* file : {"distilled_X.npy", "distilled_Y.npy", "model_W.npy", "grid.png"}) {
    const Bytes expected = read_bytes(tmp.file("cli") + "/" + file);
    BOOST_TEST_INFO(file);
    BOOST_CHECK(read_bytes(tmp.file("from_files") + "/" + file) == expected);
    BOOST_CHECK(read_bytes(tmp.file("in_memory") + "/" + file) == expected);
  }
  const nlohmann::json report = read_json_file(tmp.file("in_memory") + "/report.json");
  BOOST_CHECK_EQUAL(report["certificate"]["exact"], true);
  BOOST_CHECK(report["timings_s"].contains("total"));
}

BOOST_AUTO_TEST_CASE(a_failed_certificate_is_refused_unless_allowed) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 200, 40, 8, 4);
  DistillConfig config = idx_config(tmp.file("data"));
  config.analytic.init = Init::noise;
  // Deep, nearly linear-slope fcnn layers: the refit misses W beyond 1e-6
  // (test_cli_certificate.cpp's failing case).
  config.spec.kind = "fcnn";
  config.spec.layers = 8;
  config.spec.slope = 0.02;
  std::vector<std::string> warnings;
  const WarningSink collect = [&](const std::string& text) { warnings.push_back(text); };
  const std::string refused =
      error_of([&] { distill_dataset(config, Communicator{}, Progress::silent(), collect); });
  BOOST_CHECK(contains(refused, "> 1e-06 (fcnn)"));
  BOOST_CHECK(contains(refused, "or pass --allow-inexact to keep it"));
  BOOST_CHECK(warnings.empty());
  config.allow_inexact = true;
  const DistillResult kept = distill_dataset(config, Communicator{}, Progress::silent(), collect);
  BOOST_CHECK(!kept.certificate_problem.empty());
  BOOST_CHECK_GT(kept.certificate.weight_rel_error, 1e-6);
  BOOST_REQUIRE_EQUAL(warnings.size(), 1u);
  BOOST_CHECK(contains(warnings[0], "published with --allow-inexact: "));
  // Refusals before the long work.
  config = idx_config(tmp.file("data"));
  config.analytic.ipc = 100;  // more than the smallest class holds
  BOOST_CHECK(contains(error_of([&] { distill_dataset(config); }), "ipc"));
}

BOOST_AUTO_TEST_CASE(make_dataset_refuses_inconsistent_arrays) {
  const PixelMatrix pixels(4, 6, arma::fill::zeros);
  const arma::uvec labels = {0, 1, 2, 0, 1, 2};
  const ImageShape shape{1, 2, 2};
  BOOST_CHECK_NO_THROW(make_dataset(pixels, labels, pixels, labels, shape, 3));
  BOOST_CHECK(contains(error_of([&] {
                         make_dataset(pixels, labels, pixels, labels, ImageShape{1, 3, 3}, 3);
                       }),
                       "training images of 4 values, the shape says 9"));
  BOOST_CHECK(
      contains(error_of([&] { make_dataset(pixels, labels.head(5), pixels, labels, shape, 3); }),
               "6 training images but 5 labels"));
  BOOST_CHECK(contains(error_of([&] { make_dataset(pixels, labels, pixels, labels, shape, 2); }),
                       "a training label is 2, expected 0..1"));
  BOOST_CHECK(
      contains(error_of([&] { make_dataset(pixels, labels, pixels, labels.head(5), shape, 3); }),
               "6 test images but 5 labels"));
}

BOOST_AUTO_TEST_CASE(in_memory_distillation_is_exact) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 90, 30, 5, 3);
  const Dataset files = load(idx_config(tmp.file("data")).source);
  const Dataset data = make_dataset(files.train.pixels, files.train.labels, files.test.pixels,
                                    files.test.labels, files.shape, 3);
  DistillConfig config;
  config.source.dataset = "memory";
  config.analytic.ipc = 1;
  config.fit.lambda = 1e-3;
  const DistillResult result = distill_dataset(data, config);
  BOOST_CHECK(result.certificate_problem.empty());
  BOOST_CHECK_LT(result.certificate.weight_rel_error, 1e-8);
  BOOST_CHECK_EQUAL(result.distilled.Xs.n_cols, 3u);
  BOOST_CHECK_EQUAL(result.certificate.test_disagreements, 0u);
}

// Label Solve's G and B come from the original model's own accumulation:
// the fit on them gives fit_model's weights bit for bit.
BOOST_AUTO_TEST_CASE(split_statistics_are_fit_models) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 150, 30, 6, 3);
  const Dataset data = load(idx_config(tmp.file("data")).source);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.1);
  for (const std::string kind : {"rff", "linear"}) {
    FeatureMapSpec spec;
    spec.kind = kind;
    if (kind == "rff") spec.features = 20;
    const FeatureMap map = make_feature_map(spec, data.shape.size());
    FitOptions fit;
    fit.lambda = 0.5;
    fit.chunk = 16;
    const Model model = fit_model(data, pre, map, fit, Progress::silent());
    const Statistics stats = split_statistics(pre, map, view_dataset(data).train, 3, fit.chunk,
                                              Communicator{}, Progress::silent(), "test");
    BOOST_CHECK_EQUAL(stats.count, 150u);
    BOOST_CHECK(arma::approx_equal(fit_primal(stats, fit.lambda), model.W, "absdiff", 0.0));
  }
}

// The certificate's figures against plain loops over the samples: both
// models' training and test accuracies, and each distilled image's nearest
// training image by direct differences (the pass screens the pairs by a
// product, chunk by chunk, on every thread, then measures the rest), from
// the fit's feature cache for a nonlinear map as in a run.
BOOST_AUTO_TEST_CASE(certificate_figures_are_those_of_plain_loops) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 300, 40, 6, 3);
  const Dataset files = load(idx_config(tmp.file("data")).source);
  // Labels scrambled: classes the models half get, whose scores a slip moves.
  const auto scrambled = [](arma::uword n) {
    arma::uvec labels(n);
    for (arma::uword j = 0; j < n; ++j) labels[j] = ((j * 2654435761u) >> 7) % 3;
    return labels;
  };
  const Dataset data = make_dataset(files.train.pixels, scrambled(300), files.test.pixels,
                                    scrambled(40), files.shape, 3);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.1);
  const arma::mat X = to_model_input(pre, data.train.pixels, 0, 300);
  const arma::mat X_test = to_model_input(pre, data.test.pixels, 0, 40);
  for (const std::string kind : {"linear", "rff"}) {
    FeatureMapSpec spec;
    spec.kind = kind;
    spec.features = 30;
    const FeatureMap map = make_feature_map(spec, data.shape.size());
    FitOptions fit;
    fit.lambda = 0.5;
    fit.chunk = 64;
    arma::fmat cache;
    const bool cached = kind != "linear";
    const Model model =
        fit_model(data, pre, map, fit, Progress::silent(), cached ? &cache : nullptr);
    AnalyticOptions analytic;
    analytic.ipc = 2;
    const DistilledSet distilled = distill_analytic(map, model.W, {}, analytic);
    const arma::fmat cache_copy = cache;
    const Certificate cert = certify(data, model, distilled, {}, fit.chunk, Progress::silent(),
                                     cached ? &cache : nullptr);
    BOOST_TEST_CONTEXT(kind) {
      // The pass's features: a nonlinear map's are the fit's floats.
      const arma::mat Phi = cached ? arma::conv_to<arma::mat>::from(cache_copy) : X;
      const auto accuracy = [](const arma::mat& W, const arma::mat& features,
                               const arma::uvec& labels) {
        arma::uword correct = 0;
        for (arma::uword j = 0; j < features.n_cols; ++j)
          correct += arma::index_max(W * features.col(j)) == labels[j];
        return double(correct) / double(features.n_cols);
      };
      BOOST_TEST(cert.original.train == accuracy(model.W, Phi, data.train.labels));
      BOOST_TEST(cert.distilled.train == accuracy(cert.Ws, Phi, data.train.labels));
      // The test split's features as every pass forms them (from the pixels
      // where the CPU's integer product is exact, else from float inputs):
      // the fit's cache holds the training split's the same way.
      arma::mat Phi_test = X_test;
      if (cached) {
        const StreamDataset view = view_dataset(data);
        for_each_sample_feature_chunk(pre, map, view.test, Range{0, 40}, fit.chunk,
                                      [&](arma::uword, const arma::fmat& Phi) {
                                        Phi_test = arma::conv_to<arma::mat>::from(Phi);
                                      });
      }
      BOOST_TEST(cert.original.test == accuracy(model.W, Phi_test, data.test.labels));
      BOOST_TEST(cert.distilled.test == accuracy(cert.Ws, Phi_test, data.test.labels));
      BOOST_TEST_REQUIRE(cert.nearest_train_distance.n_elem == distilled.Xs.n_cols);
      for (arma::uword i = 0; i < distilled.Xs.n_cols; ++i) {
        double nearest = arma::datum::inf;
        for (arma::uword j = 0; j < X.n_cols; ++j)
          nearest = std::min(nearest, arma::norm(distilled.Xs.col(i) - X.col(j)));
        BOOST_TEST(std::abs(cert.nearest_train_distance[i] - nearest) <= 1e-13 * nearest);
      }
    }
  }
}

// RFF and FCNN fits take the data's features and their Gram in single
// precision (docs/design.md §12): the weights are the double fit's to float
// rounding (amplified by this small G's conditioning), not its bits, and
// the distilled set still gives them back to the certificate's tolerance.
BOOST_AUTO_TEST_CASE(single_precision_fit_is_the_double_fit_to_float_rounding) {
  TempDir tmp("pipeline");
  write_idx_folder(tmp.file("data"), 400, 30, 6, 3);
  const Dataset data = load(idx_config(tmp.file("data")).source);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.1);
  for (const std::string kind : {"rff", "fcnn"}) {
    FeatureMapSpec spec;
    spec.kind = kind;
    spec.features = 20;
    spec.width = 20;
    const FeatureMap map = make_feature_map(spec, data.shape.size());
    FitOptions fit;
    fit.lambda = 0.5;
    fit.chunk = 64;
    const Model model = fit_model(data, pre, map, fit, Progress::silent());
    const arma::mat Phi = map_features(map, to_model_input(pre, data.train.pixels, 0, 400));
    const arma::mat double_fit = fit_krr(Phi, one_hot(data.train.labels, 3), fit.lambda);
    BOOST_TEST_CONTEXT(kind) {
      const double moved = arma::norm(model.W - double_fit, "fro") / arma::norm(double_fit, "fro");
      BOOST_TEST(moved < 1e-5);
      BOOST_TEST(moved > 1e-12);
      AnalyticOptions analytic;
      analytic.ipc = 1;
      const DistilledSet distilled = distill_analytic(map, model.W, {}, analytic);
      const Certificate cert = certify(data, model, distilled, {}, fit.chunk, Progress::silent());
      BOOST_TEST(cert.weight_rel_error < 1e-9);
    }
  }
}
