#include "krrdistill/check_set.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/kernels.hpp"
#include "krrdistill/kip.hpp"
#include "krrdistill/kip_objective.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

namespace {

std::string format(const char* pattern, double a, double b) {
  char text[128];
  std::snprintf(text, sizeof text, pattern, a, b);
  return text;
}

// A set written by kip or labelsolve: no exact original model exists, so
// the check is that the set still gives what they certified: every test
// prediction (the recorded digest) and the accuracy of the KRR fit on the
// support with their kernel, preprocessing (their in-memory fit) and ε.
SetCheck check_support(const std::string& dir) {
  const WrittenSet set = read_written_set(dir);
  const EvalReport& report = set.report;
  const Dataset& data = set.data;
  const Preprocessor& pre = set.pre;
  const arma::uword d = data.shape.size();
  if (report.spec.kind == "rff" || report.spec.kind == "fcnn")
    check_memory("eval", feature_map_memory(report.spec, d));
  const Kernel kernel =
      report.spec.kind == "linear" || report.spec.kind == "rff" || report.spec.kind == "fcnn"
          ? make_kernel("feature", 1, 0.0, make_feature_map(report.spec, d))
          : make_kernel(report.spec.kind, report.kernel_depth, report.rbf_bandwidth, LinearMap{d});
  const arma::mat& Xs = set.Xs;
  const arma::mat& Ys = set.Ys;
  const arma::uvec classes =
      kip_classes(kernel, Xs, Ys, pre, data.test, report.chunk, report.regularizer);
  const PredictionDigest digest = prediction_digest(classes);
  const double acc = double(arma::accu(classes == data.test.labels)) / double(classes.n_elem);
  const bool predictions_ok = digest == report.original_predictions;
  const bool acc_ok = acc == report.reported_test_acc;
  nlohmann::json out = {
      {"distilled", dir},
      {"command", report.command},
      {"m", Xs.n_cols},
      {"model", report.spec.kind},
      {"n_test", classes.n_elem},
      {"test_acc", acc},
      {"report_test_acc", report.reported_test_acc},
      {"matches_report", acc_ok},
      {"checks",
       {{"test_predictions",
         {{"count", digest.count},
          {"crc32", digest.crc32},
          {"report_count", report.original_predictions.count},
          {"report_crc32", report.original_predictions.crc32},
          {"pass", predictions_ok}}},
        {"test_acc", {{"value", acc}, {"report", report.reported_test_acc}, {"pass", acc_ok}}}}},
      {"pass", predictions_ok && acc_ok}};
  std::string failure;
  if (!predictions_ok || !acc_ok)
    failure = dir + ": the set no longer gives what " + report.command +
              " recorded: " + (predictions_ok ? "" : "the test predictions differ; ") +
              format("test accuracy %.6g, the report %.6g", acc, report.reported_test_acc);
  return {out, failure};
}

}  // namespace

WrittenSet read_set_data(const std::string& dir) {
  const std::string path = dir + "/report.json";
  WrittenSet set;
  set.report = read_eval_report(path);
  const EvalReport& report = set.report;
  if (report.from_statistics)
    throw Error(path +
                ": this set was distilled from statistics files: there is no dataset to "
                "load for it (eval checks its weights alone)");
  set.data = load(report.source);
  check_report_matches(report, set.data, path);
  if (report.command == "kip" || report.command == "labelsolve")
    set.pre = fit_preprocessor(set.data.train.pixels, set.data.shape, report.source.zca,
                               report.source.zca_reg_fraction);
  else
    // distill's own preprocessing fit (streamed, compensated sums, same
    // chunks), so that --zca gives the same bits.
    set.pre =
        fit_input_preprocessor(view_dataset(set.data), report.source, report.chunk, Communicator{});
  return set;
}

void read_set_arrays(const std::string& dir, WrittenSet& set) {
  set.Xs = read_records(dir + "/distilled_X.npy", set.data.shape.size());
  set.Ys = read_records(dir + "/distilled_Y.npy", set.data.num_classes);
  if (set.Xs.n_cols != set.Ys.n_cols)
    throw Error(dir + ": distilled_X.npy and distilled_Y.npy hold different numbers of images");
}

WrittenSet read_written_set(const std::string& dir) {
  WrittenSet set = read_set_data(dir);
  read_set_arrays(dir, set);
  return set;
}

namespace {

// model_W.npy is the model the report describes: the same ‖W‖F (a relative
// 1e-12 allows only a different summation order); and the refit Ws is
// within the kind's tolerance of it.
void check_weights(const arma::mat& W, const arma::mat& Ws, const EvalReport& report,
                   nlohmann::json& checks, std::vector<std::string>& failures) {
  const double w_norm = arma::norm(W, "fro");
  const bool norm_ok = std::abs(w_norm - report.weight_norm) <= 1e-12 * report.weight_norm;
  checks["model_weight_norm"] = {
      {"value", w_norm}, {"report", report.weight_norm}, {"pass", norm_ok}};
  if (!norm_ok)
    failures.push_back(
        format("model_W.npy has |W| = %.17g, the report %.17g", w_norm, report.weight_norm));
  const double tolerance = certificate_tolerance(report.spec.kind);
  const double rel = arma::norm(Ws - W, "fro") / w_norm;
  const bool rel_ok = rel <= tolerance;  // false for NaN
  checks["weight_rel_error"] = {{"value", rel}, {"tolerance", tolerance}, {"pass", rel_ok}};
  if (!rel_ok) failures.push_back(format("|Ws-W|/|W| = %.3g > %.3g", rel, tolerance));
}

SetCheck finish_check(const std::string& dir, const EvalReport& report, nlohmann::json out,
                      const nlohmann::json& checks, const std::vector<std::string>& failures) {
  out["checks"] = checks;
  out["pass"] = failures.empty();
  std::string failure;
  if (!failures.empty()) {
    failure = dir + ": the distilled set does not reproduce the model: ";
    for (std::size_t i = 0; i < failures.size(); ++i) failure += (i ? "; " : "") + failures[i];
    if (!report.exact) failure += " (the report says it was published with --allow-inexact)";
  }
  return {out, failure};
}

// A set distilled from statistics files: no dataset, so no preprocessing to
// score test images with; the refit from the written files alone is checked
// against model_W.npy and the report.
SetCheck check_weights_only(const std::string& dir, const EvalReport& report, bool refit_original) {
  if (refit_original)
    throw Error(
        "--refit-original needs the dataset; this set was distilled from statistics "
        "files, which replace it");
  check_memory("eval", feature_map_memory(report.spec, report.d));
  const FeatureMap map = make_feature_map(report.spec, report.d);
  const arma::uword k = report.k, p = feature_dim(map);
  const arma::mat Xs = read_records(dir + "/distilled_X.npy", report.d);
  const arma::mat Ys = read_records(dir + "/distilled_Y.npy", k);
  if (Xs.n_cols != Ys.n_cols)
    throw Error(dir + ": distilled_X.npy and distilled_Y.npy hold different numbers of images");
  const arma::mat W_records = read_records(dir + "/model_W.npy", p);
  if (W_records.n_cols != k)
    throw Error(dir + "/model_W.npy: expected " + std::to_string(k) + " rows (classes) of " +
                std::to_string(p) + " weights");
  std::vector<std::string> failures;
  nlohmann::json checks;
  check_weights(W_records.t(), refit_distilled(map, Xs, Ys, report.lambda_s), report, checks,
                failures);
  checks["test_predictions"] = {
      {"skipped", "distilled from statistics files: no dataset to score test images with"}};
  nlohmann::json out = {{"distilled", dir},
                        {"m", Xs.n_cols},
                        {"model", report.spec.kind},
                        {"lambda_s", report.lambda_s},
                        {"n_test", 0}};
  return finish_check(dir, report, std::move(out), checks, failures);
}

// How far a nonlinear fit on another machine may move: its single-precision
// features round differently under another BLAS kernel or vector cosine
// (docs/design.md §12), which moves W by about 1e-5 on Fashion-MNIST; the
// same build on the same machine gives the same bits.
bool single_precision_data(const std::string& kind) {
  return kind != "linear";
}

// --refit-original: the original model fitted again from the dataset at the
// report's λ must be model_W.npy and the refit, within the kind's tolerance
// (1e-4 for RFF and FCNN, whose features are floats).
void check_refit_original(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                          const arma::mat& W, const arma::mat& Ws, const EvalReport& report,
                          nlohmann::json& checks, std::vector<std::string>& failures) {
  const double tolerance =
      single_precision_data(report.spec.kind) ? 1e-4 : certificate_tolerance(report.spec.kind);
  const double w_norm = arma::norm(W, "fro");
  FitOptions fit;
  fit.lambda = report.model_lambda;
  fit.seed = report.spec.seed;
  fit.chunk = report.chunk;
  const Model model = fit_model(data, pre, map, fit, Communicator{}, Progress::silent());
  const double to_file = arma::norm(model.W - W, "fro") / w_norm;
  const double to_refit = arma::norm(model.W - Ws, "fro") / w_norm;
  const bool ok = to_file <= tolerance && to_refit <= tolerance;
  checks["refit_original"] = {{"lambda", report.model_lambda},
                              {"rel_error_to_model_W", to_file},
                              {"rel_error_to_refit", to_refit},
                              {"tolerance", tolerance},
                              {"pass", ok}};
  if (!ok) {
    char text[192];
    std::snprintf(text, sizeof text,
                  "the original model fitted again is %.3g from model_W.npy and %.3g from the "
                  "refit (tolerance %.3g)",
                  to_file, to_refit, tolerance);
    failures.push_back(text);
  }
}

// Real targets (docs/design.md §10): both models' test MSE, scored as
// certify scored them, against the report's. The same chunks and sums give
// the same bits on the same machine; 1e-9 relative allows another BLAS, and
// 1e-6 another rounding of RFF and FCNN's float features.
void check_regression(const StreamDataset& data, const Preprocessor& pre, const FeatureMap& map,
                      const arma::mat& W, const arma::mat& Ws, const EvalReport& report,
                      nlohmann::json& out, nlohmann::json& checks,
                      std::vector<std::string>& failures) {
  const auto [original, refit] =
      test_regression_scores(data, pre, map, W, Ws, report.chunk, Communicator{});
  const double margin = single_precision_data(report.spec.kind) ? 1e-6 : 1e-9;
  const auto close = [margin](double value, double reference) {
    return std::abs(value - reference) <= margin * std::abs(reference);  // false for NaN
  };
  const bool original_ok = close(original.test_mse, report.original_test_mse);
  const bool refit_ok = close(refit.test_mse, report.distilled_test_mse);
  checks["original_test_mse"] = {
      {"value", original.test_mse}, {"report", report.original_test_mse}, {"pass", original_ok}};
  checks["test_mse"] = {
      {"value", refit.test_mse}, {"report", report.distilled_test_mse}, {"pass", refit_ok}};
  out["test_mse"] = refit.test_mse;
  out["test_r2"] = refit.test_r2;
  if (!original_ok)
    failures.push_back(format("model_W.npy gives test MSE %.17g, the report %.17g",
                              original.test_mse, report.original_test_mse));
  if (!refit_ok)
    failures.push_back(format("the refit gives test MSE %.17g, the report %.17g", refit.test_mse,
                              report.distilled_test_mse));
}

}  // namespace

SetCheck check_distilled_set(const std::string& dir, bool refit_original) {
  // Every field checked (types, ranges, p and width <= d) before anything is
  // built from it; each problem is one Error naming the file.
  const std::string report_path = dir + "/report.json";
  const EvalReport report = read_eval_report(report_path);
  if (report.command == "kip" || report.command == "labelsolve") {
    if (refit_original)
      throw Error("--refit-original needs a set written by distill (" + report.command +
                  " has no exact original model)");
    return check_support(dir);
  }
  if (!report.has_checks)
    throw Error(report_path +
                ": records no original model to check the set against (certificate.original."
                "test_predictions, model_W.npy); only sets written by 'krrdistill distill' can be "
                "checked: distill again");
  if (report.from_statistics) return check_weights_only(dir, report, refit_original);
  const FeatureMapSpec& spec = report.spec;
  const double lambda_s = report.lambda_s;

  // The report's d and k checked against the data found, before the map is sized.
  WrittenSet set = read_set_data(dir);
  const StreamDataset data = view_dataset(set.data);
  const Preprocessor& pre = set.pre;
  // The map's matrices (a report may ask for 100 layers of width d), and for
  // --refit-original the statistics, before they are made.
  check_memory("eval", refit_original ? analytic_memory(spec, data.shape.size(), data.num_classes,
                                                        0, report.chunk, 0)
                                      : feature_map_memory(spec, data.shape.size()));
  const FeatureMap map = make_feature_map(spec, data.shape.size());
  const arma::uword k = data.num_classes, p = feature_dim(map);
  read_set_arrays(dir, set);
  const arma::mat& Xs = set.Xs;
  const arma::mat& Ys = set.Ys;
  const arma::mat W_records = read_records(dir + "/model_W.npy", p);
  if (W_records.n_cols != k)
    throw Error(dir + "/model_W.npy: expected " + std::to_string(k) + " rows (classes) of " +
                std::to_string(p) + " weights");
  const arma::mat W = W_records.t();
  const arma::mat Ws = refit_distilled(map, Xs, Ys, lambda_s);

  std::vector<std::string> failures;
  nlohmann::json checks;
  check_weights(W, Ws, report, checks, failures);

  if (report.regression) {
    nlohmann::json out = {{"distilled", dir},
                          {"m", Xs.n_cols},
                          {"model", spec.kind},
                          {"lambda_s", lambda_s},
                          {"n_test", data.test.size()}};
    check_regression(data, pre, map, W, Ws, report, out, checks, failures);
    if (refit_original) check_refit_original(data, pre, map, W, Ws, report, checks, failures);
    return finish_check(dir, report, std::move(out), checks, failures);
  }

  // Every test prediction, scored as certify scored them: the original W
  // must give what the report recorded, and so must the refit.
  const arma::umat classes = test_predictions(data, pre, map, W, Ws, report.chunk, Communicator{});
  const PredictionDigest original = prediction_digest(classes.row(0).t());
  const PredictionDigest refit = prediction_digest(classes.row(1).t());
  const arma::uword n_test = classes.n_cols;
  const arma::uword differ = arma::accu(classes.row(0) != classes.row(1));
  const bool original_ok = original == report.original_predictions;
  const bool refit_ok = refit == report.original_predictions;
  checks["original_test_predictions"] = {{"count", original.count},
                                         {"crc32", original.crc32},
                                         {"report_count", report.original_predictions.count},
                                         {"report_crc32", report.original_predictions.crc32},
                                         {"pass", original_ok}};
  checks["test_predictions"] = {{"count", refit.count},
                                {"crc32", refit.crc32},
                                {"report_crc32", report.original_predictions.crc32},
                                {"differ_from_model_W", differ},
                                {"pass", refit_ok}};
  if (!original_ok)
    failures.push_back("model_W.npy does not give the test predictions the report recorded");
  if (!refit_ok)
    failures.push_back(differ > 0 ? std::to_string(differ) + " of " + std::to_string(n_test) +
                                        " test predictions differ from the original model's"
                                  : "the test predictions differ from those the report recorded");

  const arma::uvec truth = labels_of(data.test, 0, n_test);
  const double acc = n_test == 0 ? 0.0 : double(arma::accu(classes.row(1).t() == truth)) / n_test;
  nlohmann::json out = {{"distilled", dir},     {"m", Xs.n_cols},   {"model", spec.kind},
                        {"lambda_s", lambda_s}, {"n_test", n_test}, {"test_acc", acc}};
  if (report.has_reported_test_acc) {
    out["report_test_acc"] = report.reported_test_acc;
    out["matches_report"] = report.reported_test_acc == acc;
    checks["test_acc"] = {
        {"value", acc}, {"report", report.reported_test_acc}, {"pass", out["matches_report"]}};
    if (!out["matches_report"].get<bool>())
      failures.push_back(
          format("test accuracy %.6g, the report %.6g", acc, report.reported_test_acc));
  }

  if (refit_original) check_refit_original(data, pre, map, W, Ws, report, checks, failures);
  return finish_check(dir, report, std::move(out), checks, failures);
}

}  // namespace krrdistill
