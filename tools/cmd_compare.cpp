// krrdistill compare: the analytic method and KIP side by side, in one
// process, on the same data, preprocessing, feature map (same seed) and
// starting images, for each ipc: a table, compare.json and compare.png.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/plot.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/stream.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

namespace {

std::vector<arma::uword> parse_ipc_list(const std::string& text) {
  std::vector<arma::uword> list;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(item.c_str(), &end, 10);
    // The range (1..images of the smallest class) is checked once the data is read.
    if (item.empty() || *end != '\0' || value == 0 || value > 0xffffffffUL)
      throw Error("--ipc must be a comma-separated list of positive integers, got '" + text + "'");
    list.push_back(value);
  }
  if (list.empty()) throw Error("--ipc must name at least one value");
  return list;
}

struct AnalyticRow {
  arma::uword ipc = 0;
  double test_acc = 0;
  double seconds = 0;          // statistics, λ sweep and refit, plus distillation
  double distill_seconds = 0;  // distillation alone, given the fitted model
  double weight_rel_error = 0;
  arma::uword test_disagreements = 0;  // against the original model
  bool exact = true;                   // the certificate held
};

struct KipRow {
  arma::uword ipc = 0;
  double test_acc = 0, seconds = 0;
  KipResult result;
};

}  // namespace

int run_compare(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill compare",
      "The analytic method and KIP on the same data, model and starting images");
  add_data_options(options);
  add_kip_options(options, "kip-steps");
  options.add_options("compare")(
      "ipc", "comma-separated images per class, each 1..(training images of the smallest class)",
      cxxopts::value<std::string>()->default_value("1,10"))(
      "init", "noise or real (the same starting images for both methods)",
      cxxopts::value<std::string>()->default_value("real"))(
      "lambda-s", "ridge of the analytic distilled model",
      cxxopts::value<std::string>()->default_value("0"))(
      "out", "output folder", cxxopts::value<std::string>()->default_value("out-compare"))(
      "force", "replace an existing output folder")(
      "allow-inexact",
      "keep going when an analytic row fails its certificate (|Ws-W|/|W| above the model's "
      "tolerance or a test prediction changed); the row then says exact: false");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help({"data", "model", "kip", "compare", "run"});
    return 0;
  }
  const DataSource source = data_source(result);
  const FeatureMapSpec spec = feature_spec(result);
  if (spec.kind != "linear" && spec.kind != "rff" && spec.kind != "fcnn")
    throw Error("compare needs a model the analytic method can distill: linear, rff or fcnn");
  const std::vector<arma::uword> ipcs = parse_ipc_list(result["ipc"].as<std::string>());
  KipOptions kip = kip_options(result, "kip-steps");  // its ipc is set per run
  const Init init = parse_init(result["init"].as<std::string>());
  const double lambda_s = finite_option(result, "lambda-s");
  if (lambda_s < 0) throw Error("--lambda-s must be >= 0");
  const FitOptions fit = fit_options(result, spec.seed);
  const bool quiet = result.count("quiet") > 0;
  const bool allow_inexact = result.count("allow-inexact") > 0;
  const Progress progress = Progress::for_terminal(quiet);
  set_threads(result["threads"].as<int>());
  StagedOutputDir out(result["out"].as<std::string>(), result.count("force") > 0,
                      data_inputs(source));

  progress.status("loading " + source.dataset);
  const Dataset data = load(source);
  const arma::uword k = data.num_classes, d = data.shape.size();
  const arma::uvec counts = checked_class_counts(data.train.labels, k, data.name);
  for (arma::uword ipc : ipcs) check_ipc(ipc, counts);
  check_feature_sizes(spec, d);
  // The runs follow one another: the fit's G and B, then the largest ipc's
  // analytic set and KIP's support and kernels.
  const arma::uword m = k * *std::max_element(ipcs.begin(), ipcs.end());
  std::vector<MemoryItem> need = analytic_memory(
      spec, d, k, m, std::min<arma::uword>(fit.chunk, data.train.labels.n_elem), 0.0);
  for (const MemoryItem& item :
       kip_memory(d, output_dim(spec, d), k, m,
                  std::min<arma::uword>(kip.batch, data.train.labels.n_elem)))
    need.push_back(item);
  check_memory("compare", need);
  FeatureMap map = make_feature_map(spec, d);
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  if (const std::string problem = rff_sigma_problem(map); !problem.empty()) throw Error(problem);
  std::vector<arma::uvec> starts;  // the same real starting images for both methods
  for (arma::uword ipc : ipcs)
    starts.push_back(init == Init::real ? choose_real_images(data.train.labels, k, ipc, spec.seed)
                                        : arma::uvec());

  // Analytic: one fit (statistics, λ sweep) serves every ipc; its time counts for each.
  Clock::time_point phase = Clock::now();
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  const Model model = fit_model(data, pre, map, fit, progress);
  const double t_fit = seconds_since(phase);
  std::vector<AnalyticRow> analytic;
  for (std::size_t i = 0; i < ipcs.size(); ++i) {
    phase = Clock::now();
    AnalyticOptions options;
    options.ipc = ipcs[i];
    options.init = init;
    options.lambda_s = lambda_s;
    options.seed = spec.seed;
    const arma::mat X0 =
        init == Init::real ? to_model_input(pre, data.train.pixels, starts[i]) : arma::mat();
    const DistilledSet distilled = distill_analytic(model.map, model.W, X0, options);
    const double distill_seconds = seconds_since(phase);
    const arma::mat Ws = refit_distilled(model.map, distilled.Xs, distilled.Ys, distilled.lambda_s);
    // The row's certificate, checked before KIP spends its time: every test
    // prediction of the refit against the original's, and the weights.
    const arma::umat classes = test_predictions(view_dataset(data), pre, model.map, model.W, Ws,
                                                fit.chunk, Communicator{});
    const arma::uword n_test = classes.n_cols;
    const arma::uword differ = arma::accu(classes.row(0) != classes.row(1));
    const double rel = arma::norm(Ws - model.W, "fro") / arma::norm(model.W, "fro");
    const std::string problem = certificate_problem(spec.kind, rel, differ, n_test);
    if (!problem.empty()) {
      if (!allow_inexact)
        throw Error("analytic ipc " + std::to_string(ipcs[i]) + ": " + problem +
                    ", or pass --allow-inexact to keep going");
      std::fprintf(stderr, "warning: analytic ipc %llu kept with --allow-inexact: %s\n",
                   (unsigned long long)ipcs[i], problem.c_str());
    }
    const double acc = double(arma::accu(classes.row(1).t() == data.test.labels)) / double(n_test);
    analytic.push_back(
        {ipcs[i], acc, t_fit + distill_seconds, distill_seconds, rel, differ, problem.empty()});
  }

  // KIP on the same feature map (same seed), from the same starting images.
  const Kernel kernel = make_kernel("feature", 1, 0.0, model.map);
  std::vector<KipRow> kip_rows;
  for (std::size_t i = 0; i < ipcs.size(); ++i) {
    kip.ipc = ipcs[i];
    const KipSupport support = init == Init::real ? kip_init_real(kip, pre, data.train, k)
                                                  : kip_init_noise(kip, data.shape.size(), k);
    KipResult res = run_kip(kip, kernel, pre, data.train, data.test, support,
                            kip_progress_printer(progress, "kip ipc " + std::to_string(ipcs[i])));
    const KipRecord& last = res.history.back();
    kip_rows.push_back({ipcs[i], last.test_accuracy.value_or(0.0), last.seconds, std::move(res)});
  }
  progress.finish();

  // Table, compare.json, compare.png.
  nlohmann::json rows = nlohmann::json::array();
  std::ostringstream table;
  char line[256];
  std::snprintf(line, sizeof line, "%-9s %5s %9s %10s %18s %22s\n", "method", "ipc", "test_acc",
                "seconds", "analytic speed-up", "KIP step >= analytic");
  table << line;
  PlotSpec plot;
  plot.title = data.name + ", " + spec.kind + " KRR: test accuracy against time";
  plot.x_label = "wall seconds (log scale)";
  plot.y_label = "test accuracy";
  plot.log_x = true;
  for (std::size_t i = 0; i < ipcs.size(); ++i) {
    const AnalyticRow& a = analytic[i];
    const KipRow& r = kip_rows[i];
    nlohmann::json reached = "never";
    nlohmann::json history = nlohmann::json::array();
    PlotSeries curve{"KIP ipc " + std::to_string(r.ipc), {}, {}, false};
    if (r.result.initial_test_accuracy) {
      curve.x.push_back(0.0);  // log scale: not drawn, kept for the record
      curve.y.push_back(*r.result.initial_test_accuracy);
    }
    for (const KipRecord& rec : r.result.history) {
      if (!rec.test_accuracy) continue;
      history.push_back({{"step", rec.step},
                         {"seconds", rec.seconds},
                         {"loss", rec.loss},
                         {"test_acc", *rec.test_accuracy}});
      curve.x.push_back(rec.seconds);
      curve.y.push_back(*rec.test_accuracy);
      if (reached == "never" && *rec.test_accuracy >= a.test_acc) reached = rec.step;
    }
    const double speedup = r.seconds / a.seconds;
    rows.push_back({{"method", "analytic"},
                    {"ipc", a.ipc},
                    {"test_acc", a.test_acc},
                    {"seconds", a.seconds},
                    {"distill_seconds", a.distill_seconds},
                    {"weight_rel_error", a.weight_rel_error},
                    {"certificate",
                     {{"exact", a.exact},
                      {"tolerance", certificate_tolerance(spec.kind)},
                      {"test_disagreements", a.test_disagreements}}}});
    rows.push_back({{"method", "kip"},
                    {"ipc", r.ipc},
                    {"test_acc", r.test_acc},
                    {"seconds", r.seconds},
                    {"steps", kip.steps},
                    {"seconds_per_step", r.seconds / double(kip.steps)},
                    {"analytic_speedup", speedup},
                    {"analytic_speedup_distill_only", r.seconds / a.distill_seconds},
                    {"first_step_reaching_analytic", reached},
                    {"history", history}});
    std::snprintf(line, sizeof line, "%-9s %5llu %9.4f %10.3f %18s %22s\n", "analytic",
                  (unsigned long long)a.ipc, a.test_acc, a.seconds, "", "");
    table << line;
    const std::string reached_text =
        reached.is_string() ? "never" : std::to_string(reached.get<unsigned long long>());
    std::snprintf(line, sizeof line, "%-9s %5llu %9.4f %10.3f %17.1fx %22s\n", "kip",
                  (unsigned long long)r.ipc, r.test_acc, r.seconds, speedup, reached_text.c_str());
    table << line;
    plot.series.push_back(std::move(curve));
  }
  for (const AnalyticRow& a : analytic)
    plot.series.push_back(
        {"analytic ipc " + std::to_string(a.ipc), {a.seconds}, {a.test_acc}, true});

  nlohmann::json report = {
      {"command", "compare"},
      {"dataset", dataset_json(data, source, pre)},
      {"model", model_json(model, spec)},
      {"settings",
       {{"init", init_name(init)},
        {"lambda_s", lambda_s},
        {"kip_steps", kip.steps},
        {"lr", kip.lr},
        {"batch", kip.batch},
        {"labels", label_mode_name(kip.labels)},
        {"eval_every", kip.eval_every},
        {"allow_inexact", allow_inexact},
        {"seconds",
         "analytic: statistics, lambda sweep and refit, plus distillation; KIP: optimisation "
         "steps; test evaluation excluded from both"}}},
      {"rows", rows},
  };
  write_plot_png(out.path("compare.png"), plot);
  report["output"] = out.manifest("compare.json");
  write_json_file(out.path("compare.json"), report);
  out.commit();
  std::cout << table.str();
  if (!quiet) std::printf("outputs: %s/{compare.json, compare.png}\n", out.final_dir().c_str());
  return 0;
}

}  // namespace krrdistill::cli
