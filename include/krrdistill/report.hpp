// report.json: what was run and what the certificate found, and the parts
// that `krrdistill eval` reads back to rebuild the same model.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/data_source.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/model.hpp"

namespace krrdistill {

nlohmann::json dataset_json(const Dataset& data, const DataSource& source, const Preprocessor& pre);
nlohmann::json model_json(const Model& model, const FeatureMapSpec& spec);
nlohmann::json distilled_json(const DistilledSet& distilled, const AnalyticOptions& options);
// With the kind's tolerance and whether the set met it ("exact"); the
// original model's ‖W‖F and both models' test prediction digests are what
// eval checks a written set against.
nlohmann::json certificate_json(const Certificate& cert, const std::string& kind);
nlohmann::json digest_json(const PredictionDigest& digest);

// The dataset folder as written in reports: absolute (the default
// dataset's folder resolved), so that eval finds it from any folder.
std::string absolute_data_dir(const DataSource& source);

// {min, median, mean, max} of a vector, plus the values themselves.
nlohmann::json summary_json(const arma::vec& values);

// Read back by eval. path names the file in error messages.
DataSource data_source_from_json(const nlohmann::json& report,
                                 const std::string& path = "report.json");
FeatureMapSpec feature_spec_from_json(const nlohmann::json& report,
                                      const std::string& path = "report.json");

// Everything `krrdistill eval` takes from a report.json, each field checked
// (types, ranges, sizes consistent with each other) before anything is sized
// from it; any problem is an Error naming the file.
struct EvalReport {
  DataSource source;
  FeatureMapSpec spec;    // rff p and fcnn width are at most d
  double lambda_s = 0.0;  // finite, >= 0
  arma::uword d = 0;      // image size the set was distilled for (= product of "shape")
  arma::uword k = 0;      // number of classes
  bool has_reported_test_acc = false;
  double reported_test_acc = 0.0;  // certificate.distilled.test_acc, in [0, 1]

  // What eval checks the set against, present in reports of distill since
  // it records them (has_checks false otherwise).
  // The tolerance is not read: eval applies the kind's own
  // (certificate_tolerance), whatever the file says.
  bool has_checks = false;
  bool exact = true;                      // certificate.exact
  double weight_norm = 0.0;               // certificate.original.weight_norm, > 0
  PredictionDigest original_predictions;  // certificate.original.test_predictions
  double model_lambda = 0.0;              // model.lambda, >= 0
  arma::uword chunk = 0;                  // run.chunk (kip, labelsolve: distilled.eval_chunk), >= 1

  // "distill", "kip" or "labelsolve". The last two record no original model,
  // only the test predictions of the model on their own support
  // (result.test_predictions, read into original_predictions) and its
  // accuracy (result.test_acc, into reported_test_acc); spec.kind may also
  // be ntk, nngp (kernel_depth) or rbf (rbf_bandwidth, resolved).
  std::string command = "distill";
  // distill --stats: no dataset to load (source names none); eval checks the
  // weights only.
  bool from_statistics = false;
  // dataset.targets "regression" (docs/design.md §10): no classes; the
  // checks' references are both models' test MSE instead of the digest.
  bool regression = false;
  bool feature_matrix = false;  // dataset.inputs "features" (docs/design.md §11)
  double original_test_mse = 0.0, distilled_test_mse = 0.0;
  arma::uword kernel_depth = 0;
  double rbf_bandwidth = 0.0;
  double regularizer = 0.0;  // ε of Kss_reg (distilled.regularizer)
};

EvalReport read_eval_report(const std::string& path);

// Refuses a dataset that is not the one the report was made for (image size
// or number of classes differ), before any feature map is built from it.
void check_report_matches(const EvalReport& report, const Dataset& data, const std::string& path);

nlohmann::json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace krrdistill
