// The analytic method and KIP side by side (kip_pipeline.hpp run_compare).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "krrdistill/error.hpp"
#include "krrdistill/kip_pipeline.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The KIP row's figures against the analytic row of its ipc (KipRow).
void match_analytic(KipRow& row, const AnalyticRow& analytic) {
  const std::optional<double>& start = row.result.initial_test_accuracy;
  row.best_test_acc = start.value_or(0.0);
  if (start && *start >= analytic.test_acc) {
    row.seconds_to_match = 0.0;
    row.step_to_match = 0;
  }
  for (const KipRecord& rec : row.result.history) {
    if (!rec.test_accuracy) continue;
    row.best_test_acc = std::max(row.best_test_acc, *rec.test_accuracy);
    if (!row.seconds_to_match && *rec.test_accuracy >= analytic.test_acc) {
      row.seconds_to_match = rec.seconds;
      row.step_to_match = rec.step;
    }
  }
  row.speedup_is_lower_bound = !row.seconds_to_match;
  row.speedup = row.seconds_to_match.value_or(row.seconds) / analytic.seconds;
}

}  // namespace

CompareRun run_compare(const CompareConfig& config, const Progress& progress,
                       const WarningSink& warn,
                       const std::function<KipProgressCallback(arma::uword)>& kip_progress) {
  const FeatureMapSpec& spec = config.spec;
  if (!is_feature_model(spec.kind))
    throw Error(
        "compare needs a model the analytic method can distill: "
        "linear, rff or fcnn");
  if (config.ipcs.empty()) throw Error("--ipc must name at least one value");
  if (config.transfer) check_transfer_options(*config.transfer, "transfer-");
  const std::vector<arma::uword>& ipcs = config.ipcs;
  const Init init = config.init;
  CompareRun run;
  run.config = config;
  progress.status("loading " + config.source.dataset);
  run.data = load(config.source);
  const Dataset& data = run.data;
  const arma::uword k = data.num_classes, d = data.shape.size();
  require_images_with_classes(data.regression(), data.feature_matrix(), data.name, "compare");
  const arma::uvec counts = checked_class_counts(data.train.labels, k, data.name);
  // Both methods are judged by their test accuracy.
  if (data.test.labels.n_elem == 0)
    throw Error("compare needs test images, and " + data.name + " has none");
  for (arma::uword ipc : ipcs) check_ipc(ipc, counts);
  check_feature_sizes(spec, d);
  // The runs follow one another: the fit's G and B, then the largest ipc's
  // analytic set and KIP's support and kernels.
  const arma::uword m = k * *std::max_element(ipcs.begin(), ipcs.end());
  std::vector<MemoryItem> need = analytic_memory(
      spec, d, k, m, std::min<arma::uword>(config.fit.chunk, data.train.labels.n_elem), 0.0);
  for (const MemoryItem& item :
       kip_memory(d, output_dim(spec, d), k, m,
                  std::min<arma::uword>(config.kip.batch, data.train.labels.n_elem),
                  config.source.zca, data.train.labels.n_elem))
    need.push_back(item);
  if (config.transfer)
    for (const MemoryItem& item : transfer_memory(d, k, data.test.labels.n_elem, *config.transfer))
      need.push_back(item);
  check_memory("compare", need);
  FeatureMap map = make_feature_map(spec, d);
  if (const std::string problem = surjectivity_problem(map); !problem.empty()) throw Error(problem);
  if (const std::string problem = rff_sigma_problem(map); !problem.empty()) throw Error(problem);
  std::vector<arma::uvec> starts;  // the same real starting images for both methods
  for (arma::uword ipc : ipcs)
    starts.push_back(init == Init::real ? choose_real_images(data.train.labels, k, ipc, spec.seed)
                                        : arma::uvec());

  // Analytic: one fit (statistics, λ sweep) serves every ipc; its time counts
  // for each.
  Clock::time_point phase = Clock::now();
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, config.source.zca,
                                            config.source.zca_reg_fraction);
  run.model = fit_model(data, pre, map, config.fit, progress);
  const Model& model = run.model;
  const double t_fit = seconds_since(phase);
  for (std::size_t i = 0; i < ipcs.size(); ++i) {
    phase = Clock::now();
    AnalyticOptions options;
    options.ipc = ipcs[i];
    options.init = init;
    options.lambda_s = config.lambda_s;
    options.seed = spec.seed;
    const arma::mat X0 =
        init == Init::real ? to_model_input(pre, data.train.pixels, starts[i]) : arma::mat();
    const DistilledSet distilled = distill_analytic(model.map, model.W, X0, options);
    const double distill_seconds = seconds_since(phase);
    const arma::mat Ws = refit_distilled(model.map, distilled.Xs, distilled.Ys, distilled.lambda_s);
    // The row's certificate, checked before KIP spends its time: every test
    // prediction of the refit against the original's, and the weights.
    const arma::umat classes = test_predictions(view_dataset(data), pre, model.map, model.W, Ws,
                                                config.fit.chunk, Communicator{});
    const arma::uword n_test = classes.n_cols;
    const arma::uword differ = arma::accu(classes.row(0) != classes.row(1));
    const double rel = arma::norm(Ws - model.W, "fro") / arma::norm(model.W, "fro");
    const std::string problem = certificate_problem(spec.kind, rel, differ, n_test);
    if (!problem.empty()) {
      if (!config.allow_inexact)
        throw Error("analytic ipc " + std::to_string(ipcs[i]) + ": " + problem +
                    ", or pass --allow-inexact to keep going");
      if (warn)
        warn("analytic ipc " + std::to_string(ipcs[i]) + " kept with --allow-inexact: " + problem);
    }
    const double acc = double(arma::accu(classes.row(1).t() == data.test.labels)) / double(n_test);
    run.analytic.push_back({ipcs[i], acc, t_fit + distill_seconds, distill_seconds, rel, differ,
                            problem.empty(), distilled});
  }

  // KIP on the same feature map (same seed), from the same starting images.
  const Kernel kernel = make_kernel("feature", 1, 0.0, model.map);
  KipOptions kip = config.kip;
  for (std::size_t i = 0; i < ipcs.size(); ++i) {
    kip.ipc = ipcs[i];
    if (config.kip_until_match) kip.stop_accuracy = run.analytic[i].test_acc;
    const KipSupport support = init == Init::real ? kip_init_real(kip, pre, data.train, k)
                                                  : kip_init_noise(kip, data.shape.size(), k);
    KipRow row;
    row.ipc = ipcs[i];
    row.result = run_kip(kip, kernel, pre, data.train, data.test, support,
                         kip_progress ? kip_progress(ipcs[i]) : KipProgressCallback{});
    // No step at all when the start already reached the analytic accuracy.
    const std::vector<KipRecord>& history = row.result.history;
    row.test_acc = history.empty() ? row.result.initial_test_accuracy.value_or(0.0)
                                   : history.back().test_accuracy.value_or(0.0);
    row.seconds = history.empty() ? 0.0 : history.back().seconds;
    match_analytic(row, run.analytic[i]);
    run.kip.push_back(std::move(row));
  }

  // The finite network on each method's set and on random real subsets of
  // the same size, all with the same options and seed.
  if (config.transfer) {
    for (std::size_t i = 0; i < ipcs.size(); ++i) {
      const DistilledSet& set = run.analytic[i].distilled;
      run.transfer.push_back(transfer_set(set.Xs, set.Ys, data, pre, *config.transfer, progress));
      KipRow& kip_row = run.kip[i];
      kip_row.transfer = transfer_one_set("kip", kip_row.result.Xs, kip_row.result.Ys, data, pre,
                                          *config.transfer, progress);
    }
  }
  return run;
}

namespace {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// "12.3x", or ">= 12.3x" when KIP did not reach the analytic accuracy.
std::string speedup_text(const KipRow& r) {
  char text[64];
  std::snprintf(text, sizeof text, "%s%.1fx", r.speedup_is_lower_bound ? ">= " : "", r.speedup);
  return text;
}

// The budget a KIP run had, for the table and compare.json.
std::string budget_text(const KipOptions& kip) {
  std::string text = std::to_string(kip.steps) + " steps";
  if (kip.max_seconds > 0) {
    char seconds[64];
    std::snprintf(seconds, sizeof seconds, " or %g s", kip.max_seconds);
    text += seconds;
  }
  return text;
}

}  // namespace

std::string compare_table(const CompareRun& run) {
  std::ostringstream table;
  char line[256];
  const bool transfer = !run.transfer.empty();
  // The finite network's accuracy, when trained.
  const auto net = [&](std::optional<double> acc) {
    if (!transfer) return std::string("\n");
    char text[32];
    if (acc)
      std::snprintf(text, sizeof text, " %9.4f\n", *acc);
    else
      std::snprintf(text, sizeof text, " %9s\n", "");
    return std::string(text);
  };
  std::snprintf(line, sizeof line, "%-13s %5s %9s %9s %10s %16s %18s", "method", "ipc", "test_acc",
                "best_acc", "seconds", "s to analytic", "analytic speed-up");
  table << line << (transfer ? std::string("   net_acc\n") : std::string("\n"));
  for (std::size_t i = 0; i < run.analytic.size(); ++i) {
    const AnalyticRow& a = run.analytic[i];
    const KipRow& r = run.kip[i];
    std::snprintf(line, sizeof line, "%-13s %5llu %9.4f %9s %10.3f %16s %18s", "analytic",
                  (unsigned long long)a.ipc, a.test_acc, "", a.seconds, "", "");
    table << line
          << net(transfer ? std::optional<double>(run.transfer[i].distilled.test_acc)
                          : std::nullopt);
    char reached[64];
    if (r.seconds_to_match)
      std::snprintf(reached, sizeof reached, "%.3f (step %llu)", *r.seconds_to_match,
                    (unsigned long long)*r.step_to_match);
    else
      std::snprintf(reached, sizeof reached, "not within budget");
    std::snprintf(line, sizeof line, "%-13s %5llu %9.4f %9.4f %10.3f %16s %18s", "kip",
                  (unsigned long long)r.ipc, r.test_acc, r.best_test_acc, r.seconds, reached,
                  speedup_text(r).c_str());
    table << line << net(r.transfer ? std::optional<double>(r.transfer->test_acc) : std::nullopt);
    if (transfer) {
      std::snprintf(line, sizeof line, "%-13s %5llu %9s %9s %10s %16s %18s", "random_subset",
                    (unsigned long long)a.ipc, "", "", "", "", "");
      table << line << net(run.transfer[i].subset_mean);
    }
  }
  std::snprintf(line, sizeof line, "KIP budget: %s per ipc, labels %s\n",
                budget_text(run.config.kip).c_str(),
                label_mode_name(run.config.kip.labels).c_str());
  table << line;
  return table.str();
}

void write_compare_result(const CompareRun& run, StagedOutputDir& out) {
  const CompareConfig& config = run.config;
  const KipOptions& kip = config.kip;
  nlohmann::json rows = nlohmann::json::array();
  PlotSpec plot;
  plot.title = run.data.name + ", " + config.spec.kind + " KRR: test accuracy against time";
  plot.x_label = "wall seconds (log scale)";
  plot.y_label = "test accuracy";
  plot.log_x = true;
  for (std::size_t i = 0; i < run.analytic.size(); ++i) {
    const AnalyticRow& a = run.analytic[i];
    const KipRow& r = run.kip[i];
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
    }
    rows.push_back({{"method", "analytic"},
                    {"ipc", a.ipc},
                    {"test_acc", a.test_acc},
                    {"seconds", a.seconds},
                    {"distill_seconds", a.distill_seconds},
                    {"weight_rel_error", a.weight_rel_error},
                    {"certificate",
                     {{"exact", a.exact},
                      {"tolerance", certificate_tolerance(config.spec.kind)},
                      {"test_disagreements", a.test_disagreements}}}});
    if (!run.transfer.empty()) {
      rows.back()["transfer_test_acc"] = run.transfer[i].distilled.test_acc;
      rows.back()["transfer"] = transfer_curve_json(run.transfer[i].distilled);
    }
    const arma::uword steps = r.result.history.size();
    rows.push_back(
        {{"method", "kip"},
         {"ipc", r.ipc},
         {"test_acc", r.test_acc},
         {"best_test_acc", r.best_test_acc},
         {"initial_test_acc", optional_json(r.result.initial_test_accuracy)},
         {"seconds", r.seconds},
         {"steps", steps},
         {"stopped_by", kip_stop_name(r.result.stopped_by)},
         {"seconds_per_step", steps > 0 ? r.seconds / double(steps) : 0.0},
         {"seconds_to_match", optional_json(r.seconds_to_match)},
         {"step_to_match", optional_json(r.step_to_match)},
         {"speedup", r.speedup},
         {"speedup_is_lower_bound", r.speedup_is_lower_bound},
         {"speedup_distill_only",
          a.distill_seconds > 0 ? r.seconds_to_match.value_or(r.seconds) / a.distill_seconds : 0.0},
         {"history", history}});
    if (!run.transfer.empty()) {
      const TransferResult& t = run.transfer[i];
      rows.back()["transfer_test_acc"] = r.transfer->test_acc;
      rows.back()["transfer"] = transfer_curve_json(*r.transfer);
      nlohmann::json seeds = nlohmann::json::array();
      for (const TransferCurve& curve : t.subsets) seeds.push_back(transfer_curve_json(curve));
      rows.push_back({{"method", "random_subset"},
                      {"ipc", a.ipc},
                      {"labels", "one-hot"},
                      {"transfer_test_acc", t.subset_mean},
                      {"transfer_test_acc_std", t.subset_std},
                      {"transfer_test_acc_min", t.subset_min},
                      {"transfer_test_acc_max", t.subset_max},
                      {"seeds", seeds}});
    }
    plot.series.push_back(std::move(curve));
  }
  // The analytic rows share one model, so their points often coincide: each
  // is labelled with its ipc, and the labels stack apart.
  for (const AnalyticRow& a : run.analytic)
    plot.series.push_back({"analytic ipc " + std::to_string(a.ipc),
                           {a.seconds},
                           {a.test_acc},
                           true,
                           {"ipc " + std::to_string(a.ipc)}});

  nlohmann::json report = {
      {"command", "compare"},
      {"dataset", dataset_json(run.data, config.source, run.model.pre)},
      {"model", model_json(run.model, config.spec)},
      {"settings",
       {{"init", init_name(config.init)},
        {"lambda_s", config.lambda_s},
        {"kip_steps", kip.steps},
        {"kip_seconds", kip.max_seconds},
        {"kip_until_match", config.kip_until_match},
        {"kip_budget", budget_text(kip)},
        {"lr", kip.lr},
        {"batch", kip.batch},
        {"labels", label_mode_name(kip.labels)},
        {"eval_every", kip.eval_every},
        {"allow_inexact", config.allow_inexact},
        {"seconds",
         "analytic: statistics, lambda sweep and refit, plus "
         "distillation; KIP: optimisation "
         "steps; test evaluation excluded from both"},
        {"speedup",
         "KIP seconds to the first evaluation reaching the analytic test accuracy over the "
         "analytic seconds; without such an evaluation, KIP's whole run over the analytic "
         "seconds, a lower bound (speedup_is_lower_bound)"}}},
      {"rows", rows},
  };
  if (config.transfer) report["transfer"] = transfer_settings_json(*config.transfer);
  write_plot_png(out.path("compare.png"), plot);
  report["output"] = out.manifest("compare.json");
  write_json_file(out.path("compare.json"), report);
  out.commit();
}

}  // namespace krrdistill
