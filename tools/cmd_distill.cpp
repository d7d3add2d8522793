// krrdistill distill: DESIGN §2–§3 end to end, with the certificate.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

int run_distill(int argc, char** argv) {
  cxxopts::Options options("krrdistill distill",
                           "Exact one-shot distillation of KRR (Chen, Huang & Weng, NeurIPS 2024)");
  add_data_options(options);
  options.add_options("distill")("ipc", "images per class",
                                 cxxopts::value<unsigned>()->default_value("1"))(
      "init", "noise or real", cxxopts::value<std::string>()->default_value("real"))(
      "lambda-s", "ridge of the model refit on the distilled set",
      cxxopts::value<std::string>()->default_value("0"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out"))(
      "force", "replace an existing output folder");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "distill", "run"});
    return 0;
  }

  const Clock::time_point start = Clock::now();
  const DataSource source = data_source(result);
  FeatureMapSpec spec = feature_spec(result);
  AnalyticOptions analytic;
  analytic.ipc = result["ipc"].as<unsigned>();
  analytic.init = parse_init(result["init"].as<std::string>());
  analytic.lambda_s = finite_option(result, "lambda-s");
  analytic.seed = spec.seed;
  if (analytic.ipc == 0) throw Error("--ipc must be at least 1");
  if (analytic.lambda_s < 0) throw Error("--lambda-s must be >= 0");
  FitOptions fit;
  fit.seed = spec.seed;
  fit.chunk = result["chunk"].as<unsigned>();
  if (fit.chunk == 0) throw Error("--chunk must be at least 1");
  if (result.count("lambda")) {
    fit.lambda = finite_option(result, "lambda");
    if (fit.lambda < 0) throw Error("--lambda must be >= 0");
  }
  const bool quiet = result.count("quiet") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  // Checked before any work, so a refused output folder costs nothing.
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0);

  progress.status("loading " + source.dataset);
  const Dataset data = load(source);
  const double t_load = seconds_since(start);

  // Everything that can be refused is refused before the long work.
  FeatureMap map = make_feature_map(spec, data.shape.size());
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  arma::uvec start_index;
  if (analytic.init == Init::real)
    start_index =
        choose_real_images(data.train.labels, data.num_classes, analytic.ipc, analytic.seed);

  Clock::time_point phase = Clock::now();
  progress.status("preprocessing");
  Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  // A nonlinear map costs a large GEMM per pass; keep its training features
  // for the certificate when they fit the budget (the linear map is free).
  const double cache_mb = double(feature_dim(map)) * double(data.train.pixels.n_cols) * 8.0 / 1e6;
  const bool cache = !std::holds_alternative<LinearMap>(map) &&
                     cache_mb <= double(result["feature-cache-mb"].as<unsigned>());
  arma::mat train_features;
  const Model model = fit_model(data, std::move(pre), std::move(map), fit, progress,
                                cache ? &train_features : nullptr);
  const double t_fit = seconds_since(phase);

  phase = Clock::now();
  const arma::mat X0 = analytic.init == Init::real
                           ? to_model_input(model.pre, data.train.pixels, start_index)
                           : arma::mat();
  const DistilledSet distilled = distill_analytic(model.map, model.W, X0, analytic);
  const double t_distill = seconds_since(phase);
  if (distilled.lambda_s_clamped != distilled.lambda_s_requested)
    std::fprintf(
        stderr,
        "warning: --lambda-s %.6g clamped to %.6g (real sigma needs lambda_s <= 1/(4 s_max^2))\n",
        distilled.lambda_s_requested, distilled.lambda_s_clamped);

  phase = Clock::now();
  const Certificate cert =
      certify(data, model, distilled, X0, fit.chunk, progress, cache ? &train_features : nullptr);
  train_features.reset();
  const double t_certify = seconds_since(phase);

  phase = Clock::now();
  const arma::uword m = distilled.Xs.n_cols, k = data.num_classes;
  write_npy(out.path("distilled_X.npy"), image_array_shape(m, data.shape), distilled.Xs.memptr());
  write_npy(out.path("distilled_Y.npy"), {m, k}, distilled.Ys.memptr());
  std::vector<GridBlock> blocks{
      class_rows(to_pixel_space(model.pre, distilled.Xs), k, analytic.ipc)};
  if (analytic.init == Init::real)
    blocks.push_back(class_rows(to_pixel_space(model.pre, X0), k, analytic.ipc));
  write_image_grid(out.path("grid.png"), blocks, data.shape, default_upscale(data.shape));
  const double t_write = seconds_since(phase);

  nlohmann::json report = {
      {"command", "distill"},
      {"dataset", dataset_json(data, source, model.pre)},
      {"model", model_json(model, spec)},
      {"distilled", distilled_json(distilled, analytic)},
      {"certificate", certificate_json(cert)},
  };
  if (analytic.init == Init::real)
    report["distilled"]["start_train_index"] =
        arma::conv_to<std::vector<arma::uword>>::from(start_index);
  report["timings_s"] = {{"load", t_load},       {"fit", t_fit},
                         {"distill", t_distill}, {"certify", t_certify},
                         {"write", t_write},     {"total", seconds_since(start)}};
  write_json_file(out.path("report.json"), report);
  out.commit();
  progress.finish();

  if (!quiet) {
    std::printf(
        "distilled %s (%llu train images, %s model, lambda %.3g) to %llu images (ipc %u, %s init) "
        "in %.2f s\n",
        data.name.c_str(), (unsigned long long)data.train.pixels.n_cols,
        kind_name(model.map).c_str(), model.lambda, (unsigned long long)m, unsigned(analytic.ipc),
        init_name(analytic.init).c_str(), seconds_since(start));
    std::printf(
        "certificate: |Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f, agreement "
        "%.4f\n",
        cert.weight_rel_error, cert.original.test, cert.distilled.test, cert.test_agreement);
    std::printf("outputs: %s/{distilled_X.npy, distilled_Y.npy, grid.png, report.json}\n",
                out.final_dir().c_str());
  }
  return 0;
}

}  // namespace krrdistill::cli
