#include "krrdistill/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/json_fields.hpp"
#include "krrdistill/limits.hpp"

namespace krrdistill {

namespace {

nlohmann::json vec_json(const arma::vec& v) {
  return arma::conv_to<std::vector<double>>::from(v);
}

// The "test_predictions" digest (count, crc32) inside j, which is at where.
PredictionDigest digest_from_json(const nlohmann::json& j, const std::string& where,
                                  const std::string& path) {
  const nlohmann::json& digest = field(j, "test_predictions", where, path);
  const std::string inner = where + ".test_predictions";
  PredictionDigest out;
  out.count = unsigned_field(digest, "count", inner, path);
  const std::uint64_t crc = unsigned_field(digest, "crc32", inner, path);
  if (crc > 0xffffffffu) wrong("crc32", inner, path, "must fit in 32 bits");
  out.crc32 = std::uint32_t(crc);
  return out;
}

// A report of kip or labelsolve: their kernel, the data, and the test
// predictions of the final support's model, which eval checks.
EvalReport read_support_report(const nlohmann::json& report, const std::string& path,
                               EvalReport out) {
  out.source = data_source_from_json(report, path);
  out.d = header_image_size(report, path);
  const nlohmann::json& dataset = section(report, "dataset", path);
  out.k = unsigned_field(dataset, "k", "dataset", path);
  if (out.k == 0) wrong("k", "dataset", path, "must be at least 1");
  const nlohmann::json& model = section(report, "model", path);
  const std::string kind = string_field(model, "kind", "model", path);
  if (kind == "ntk" || kind == "nngp") {
    out.spec.kind = kind;
    out.kernel_depth = unsigned_field(model, "depth", "model", path);
    if (out.kernel_depth < 1 || out.kernel_depth > 3)
      wrong("depth", "model", path, "must be 1, 2 or 3");
  } else if (kind == "rbf") {
    out.spec.kind = kind;
    out.rbf_bandwidth = finite_field(model, "rbf_bandwidth", "model", path);
    if (!(out.rbf_bandwidth > 0)) wrong("rbf_bandwidth", "model", path, "must be positive");
  } else {
    out.spec = feature_spec_from_json(report, path);  // linear, rff, fcnn, or refused
  }
  const nlohmann::json& distilled = section(report, "distilled", path);
  out.regularizer = finite_field(distilled, "regularizer", "distilled", path);
  if (!(out.regularizer > 0)) wrong("regularizer", "distilled", path, "must be positive");
  out.chunk = unsigned_field(distilled, "eval_chunk", "distilled", path);
  if (out.chunk == 0) wrong("eval_chunk", "distilled", path, "must be at least 1");
  const nlohmann::json& result = section(report, "result", path);
  out.reported_test_acc = finite_field(result, "test_acc", "result", path);
  if (out.reported_test_acc < 0 || out.reported_test_acc > 1)
    wrong("test_acc", "result", path, "must lie in [0, 1]");
  out.has_reported_test_acc = true;
  out.original_predictions = digest_from_json(result, "result", path);
  out.has_checks = true;
  return out;
}

}  // namespace

nlohmann::json summary_json(const arma::vec& values) {
  if (values.is_empty()) return nullptr;
  return {{"min", values.min()},
          {"median", arma::median(values)},
          {"mean", arma::mean(values)},
          {"max", values.max()},
          {"values", vec_json(values)}};
}

nlohmann::json dataset_json(const Dataset& data, const DataSource& source,
                            const Preprocessor& pre) {
  nlohmann::json j = {
      {"name", data.name},
      {"source", source.dataset},
      {"dir", absolute_data_dir(source)},
      {"coarse", source.coarse},
      {"n_train", std::max(data.train.pixels.n_cols, data.train.features.n_cols)},
      {"n_test", std::max(data.test.pixels.n_cols, data.test.features.n_cols)},
      {"d", data.shape.size()},
      {"k", data.num_classes},
      {"targets", data.regression() ? "regression" : "classes"},
      {"inputs", data.feature_matrix() ? "features" : "images"},
      {"shape", {data.shape.channels, data.shape.height, data.shape.width}},
      {"class_names", data.class_names},
      {"preprocessing",
       {{"pixel_scale", data.feature_matrix() ? "none" : "x/255"},
        {"standardize", data.feature_matrix() ? source.standardize : true},
        {"channel_mean", vec_json(pre.channel_mean)},
        {"channel_std", vec_json(pre.channel_std)},
        {"zca", pre.zca},
        {"zca_reg_fraction", source.zca_reg_fraction},
        {"zca_reg", pre.zca_reg}}},
  };
  return j;
}

nlohmann::json model_json(const Model& model, const FeatureMapSpec& spec) {
  nlohmann::json grid = nlohmann::json::array();
  for (std::size_t i = 0; i < model.sweep.lambdas.size(); ++i)
    grid.push_back({{"lambda", model.sweep.lambdas[i]},
                    {"val_acc", model.sweep.val_accuracy[i]},
                    {"val_sq_error", model.sweep.val_sq_error[i]}});
  nlohmann::json j = {
      {"kind", kind_name(model.map)},
      {"p", feature_dim(model.map)},
      {"lambda", model.lambda},
      {"lambda_selection", model.sweep.lambdas.empty() ? "fixed" : "validation sweep"},
      {"n_validation", model.n_validation},
      {"lambda_grid", grid},
      {"seed", spec.seed},
  };
  if (const auto* rff = std::get_if<RandomFourierMap>(&model.map)) j["rff_sigma"] = rff->sigma;
  if (const auto* fcnn = std::get_if<FcnnMap>(&model.map)) {
    j["layers"] = fcnn->layers.size();
    j["width"] = feature_dim(model.map);
    j["slope"] = fcnn->slope;
  }
  return j;
}

nlohmann::json distilled_json(const DistilledSet& distilled, const AnalyticOptions& options) {
  return {
      {"method", "analytic"},
      {"ipc", options.ipc},
      {"m", distilled.Xs.n_cols},
      {"init", init_name(options.init)},
      {"seed", options.seed},
      {"learned_labels", distilled.learned_labels},
      {"lambda_s_requested", distilled.lambda_s_requested},
      {"lambda_s_clamped", distilled.lambda_s_clamped != distilled.lambda_s_requested},
      {"range_scale", distilled.range_scale},
      {"lambda_s", distilled.lambda_s},
      {"files", {{"X", "distilled_X.npy"}, {"Y", "distilled_Y.npy"}, {"grid", "grid.png"}}},
  };
}

std::string absolute_data_dir(const DataSource& source) {
  std::string dir = source.dir;
  if (dir.empty() && source.dataset == "fashion-mnist") dir = kFashionMnistDir;
  if (dir.empty()) return dir;
  return std::filesystem::absolute(dir).lexically_normal().string();
}

nlohmann::json digest_json(const PredictionDigest& digest) {
  return {
      {"count", digest.count}, {"crc32", digest.crc32}, {"digest", "crc32 of uint32le classes"}};
}

// Real targets: both models' errors (docs/design.md §10) where classes
// would have accuracies and prediction digests.
nlohmann::json regression_certificate_json(const Certificate& cert, const std::string& kind) {
  const auto scores = [](const RegressionScores& s) {
    return nlohmann::json{
        {"train_mse", s.train_mse}, {"test_mse", s.test_mse}, {"test_r2", s.test_r2}};
  };
  nlohmann::json original = scores(cert.original_errors);
  original["weight_norm"] = cert.original_weight_norm;
  return {
      {"exact", certificate_problem(kind, cert).empty()},
      {"tolerance", certificate_tolerance(kind)},
      {"weight_rel_error", cert.weight_rel_error},
      {"cosine", cert.cosine},
      {"feature_rel_error", cert.feature_rel_error},
      {"original", original},
      {"distilled", scores(cert.distilled_errors)},
      {"n_test", cert.n_test},
      {"test_max_prediction_difference", cert.test_max_prediction_difference},
      {"init_distance", summary_json(cert.init_distance)},
      {"init_relative_distance", summary_json(cert.init_relative_distance)},
      {"nearest_train_distance", summary_json(cert.nearest_train_distance)},
      {"distance_space", "model input (standardised)"},
  };
}

nlohmann::json certificate_json(const Certificate& cert, const std::string& kind) {
  if (cert.regression) return regression_certificate_json(cert, kind);
  return {
      {"exact", certificate_problem(kind, cert).empty()},
      {"tolerance", certificate_tolerance(kind)},
      {"weight_rel_error", cert.weight_rel_error},
      {"cosine", cert.cosine},
      {"feature_rel_error", cert.feature_rel_error},
      {"original",
       {{"train_acc", cert.original.train},
        {"test_acc", cert.original.test},
        {"weight_norm", cert.original_weight_norm},
        {"test_predictions", digest_json(cert.original_test_predictions)}}},
      {"distilled",
       {{"train_acc", cert.distilled.train},
        {"test_acc", cert.distilled.test},
        {"test_predictions", digest_json(cert.distilled_test_predictions)}}},
      {"test_agreement", cert.test_agreement},
      {"test_disagreements", cert.test_disagreements},
      {"init_distance", summary_json(cert.init_distance)},
      {"init_relative_distance", summary_json(cert.init_relative_distance)},
      {"nearest_train_distance", summary_json(cert.nearest_train_distance)},
      {"distance_space", "model input (standardised)"},
  };
}

namespace {

// dataset.inputs or dataset.targets: true for other (features, regression),
// false for usual or when absent (reports written before the field).
bool is_other_kind(const nlohmann::json& dataset, const char* key, const std::string& usual,
                   const std::string& other, const std::string& path) {
  if (!dataset.contains(key)) return false;
  const std::string kind = string_field(dataset, key, "dataset", path);
  if (kind != usual && kind != other)
    wrong(key, "dataset", path, "must be \"" + usual + "\" or \"" + other + "\"");
  return kind == other;
}

}  // namespace

DataSource data_source_from_json(const nlohmann::json& report, const std::string& path) {
  const nlohmann::json& dataset = section(report, "dataset", path);
  const nlohmann::json& pre = field(dataset, "preprocessing", "dataset", path);
  if (!pre.is_object()) wrong("preprocessing", "dataset", path, "must be an object");
  DataSource source;
  source.dataset = string_field(dataset, "source", "dataset", path);
  source.dir = string_field(dataset, "dir", "dataset", path);
  source.coarse = bool_field(dataset, "coarse", "dataset", path);
  source.zca = bool_field(pre, "zca", "dataset.preprocessing", path);
  // Feature matrices only (images are always standardised); older reports lack it.
  if (is_other_kind(dataset, "inputs", "images", "features", path) && pre.contains("standardize"))
    source.standardize = bool_field(pre, "standardize", "dataset.preprocessing", path);
  source.zca_reg_fraction = finite_field(pre, "zca_reg_fraction", "dataset.preprocessing", path);
  if (!(source.zca_reg_fraction > 0))
    wrong("zca_reg_fraction", "dataset.preprocessing", path, "must be positive");
  return source;
}

FeatureMapSpec feature_spec_from_json(const nlohmann::json& report, const std::string& path) {
  const nlohmann::json& model = section(report, "model", path);
  FeatureMapSpec spec;
  spec.kind = string_field(model, "kind", "model", path);
  spec.seed = unsigned_field(model, "seed", "model", path);
  if (spec.kind == "rff") {
    spec.features = unsigned_field(model, "p", "model", path);
    spec.rff_sigma = finite_field(model, "rff_sigma", "model", path);
    if (spec.features == 0) wrong("p", "model", path, "must be at least 1");
    if (!(spec.rff_sigma > 0)) wrong("rff_sigma", "model", path, "must be positive");
  } else if (spec.kind == "fcnn") {
    spec.layers = unsigned_field(model, "layers", "model", path);
    spec.width = unsigned_field(model, "width", "model", path);
    spec.slope = finite_field(model, "slope", "model", path);
    // The range of --layers (limits.hpp): each layer is a width×d matrix.
    if (spec.layers == 0 || spec.layers > kMaxLayers)
      wrong("layers", "model", path, "must be between 1 and " + std::to_string(kMaxLayers));
    if (spec.width == 0) wrong("width", "model", path, "must be at least 1");
    if (!(spec.slope > 0)) wrong("slope", "model", path, "must be positive");
  } else if (spec.kind != "linear") {
    throw Error(path + ": unknown model kind \"" + spec.kind + "\" (expected linear, rff or fcnn)");
  }
  // Analytic distillation needs a surjective map (docs/design.md §3): p <= d and
  // width <= d, which also bounds what the map allocates.
  if (spec.kind == "rff" || spec.kind == "fcnn") {
    const std::uint64_t d = header_image_size(report, path);
    if (spec.kind == "rff" && spec.features > d)
      wrong("p", "model", path, "is larger than the image size d = " + std::to_string(d));
    if (spec.kind == "fcnn" && spec.width > d)
      wrong("width", "model", path, "is larger than the image size d = " + std::to_string(d));
  }
  return spec;
}

EvalReport read_eval_report(const std::string& path) {
  const nlohmann::json report = read_json_file(path);
  EvalReport out;
  if (report.is_object() && report.contains("command") && report.at("command").is_string())
    out.command = report.at("command").get<std::string>();
  if (out.command == "kip" || out.command == "labelsolve")
    return read_support_report(report, path, out);
  // distill --stats: the dataset names no source to load, and the
  // statistics section lists the files (eval then checks the weights only).
  out.from_statistics = report.is_object() && report.contains("statistics");
  if (out.from_statistics) {
    const nlohmann::json& files =
        field(section(report, "statistics", path), "files", "statistics", path);
    if (!files.is_array() || files.empty())
      wrong("files", "statistics", path, "must list the statistics files");
    if (string_field(section(report, "dataset", path), "source", "dataset", path) != "statistics")
      wrong("source", "dataset", path, "must be \"statistics\" in a set distilled from statistics");
  } else if (report.is_object() && report.contains("dataset") && report.at("dataset").is_object() &&
             report.at("dataset").contains("source") &&
             report.at("dataset").at("source") == "statistics") {
    throw Error(path +
                ": \"dataset.source\" says statistics but there is no \"statistics\" section");
  }
  out.source = data_source_from_json(report, path);
  out.spec = feature_spec_from_json(report, path);

  // The sizes the set was made for, checked against the dataset later
  // (check_report_matches) before any map is built.
  out.d = header_image_size(report, path);
  const nlohmann::json& dataset = section(report, "dataset", path);
  out.k = unsigned_field(dataset, "k", "dataset", path);
  if (out.k == 0) wrong("k", "dataset", path, "must be at least 1");
  out.feature_matrix = is_other_kind(dataset, "inputs", "images", "features", path);
  out.regression = is_other_kind(dataset, "targets", "classes", "regression", path);
  if (out.from_statistics && (out.feature_matrix || out.regression))
    wrong(out.regression ? "targets" : "inputs", "dataset", path,
          "must be images with classes for a set distilled from statistics");

  out.lambda_s = finite_field(section(report, "distilled", path), "lambda_s", "distilled", path);
  if (out.lambda_s < 0) wrong("lambda_s", "distilled", path, "must be >= 0");

  if (report.contains("certificate")) {
    const nlohmann::json& cert = section(report, "certificate", path);
    const nlohmann::json& distilled = field(cert, "distilled", "certificate", path);
    if (!distilled.is_object()) wrong("distilled", "certificate", path, "must be an object");
    // Distilled from statistics without a test split, or real targets: no
    // test accuracy.
    if (!out.regression && !(out.from_statistics && distilled.contains("test_acc") &&
                             distilled.at("test_acc").is_null())) {
      out.reported_test_acc = finite_field(distilled, "test_acc", "certificate.distilled", path);
      if (out.reported_test_acc < 0 || out.reported_test_acc > 1)
        wrong("test_acc", "certificate.distilled", path, "must lie in [0, 1]");
      out.has_reported_test_acc = true;
    }

    // The checks' references, all or none (older and hand-made reports have none).
    const nlohmann::json& original = field(cert, "original", "certificate", path);
    const char* reference = out.regression ? "test_mse" : "test_predictions";
    if (original.is_object() && original.contains(reference)) {
      if (out.regression) {
        out.original_test_mse = finite_field(original, "test_mse", "certificate.original", path);
        out.distilled_test_mse = finite_field(distilled, "test_mse", "certificate.distilled", path);
        if (out.original_test_mse < 0 || out.distilled_test_mse < 0)
          wrong("test_mse", "certificate", path, "must be >= 0");
      } else {
        out.original_predictions = digest_from_json(original, "certificate.original", path);
      }
      out.weight_norm = finite_field(original, "weight_norm", "certificate.original", path);
      if (!(out.weight_norm > 0))
        wrong("weight_norm", "certificate.original", path, "must be positive");
      out.exact = bool_field(cert, "exact", "certificate", path);
      out.model_lambda = finite_field(section(report, "model", path), "lambda", "model", path);
      if (out.model_lambda < 0) wrong("lambda", "model", path, "must be >= 0");
      out.chunk = unsigned_field(section(report, "run", path), "chunk", "run", path);
      if (out.chunk == 0) wrong("chunk", "run", path, "must be at least 1");
      out.has_checks = true;
    }
  }
  return out;
}

void check_report_matches(const EvalReport& report, const Dataset& data, const std::string& path) {
  if (data.shape.size() != report.d)
    throw Error(path + ": made for images of " + std::to_string(report.d) +
                " values, but the dataset's images have " + std::to_string(data.shape.size()));
  if (data.feature_matrix() != report.feature_matrix)
    throw Error(path + ": made for " + (report.feature_matrix ? "a feature matrix" : "images") +
                ", but the dataset holds " +
                (data.feature_matrix() ? "a feature matrix" : "images"));
  if (data.regression() != report.regression)
    throw Error(path + ": made for " + (report.regression ? "real targets" : "class labels") +
                ", but the dataset holds " + (data.regression() ? "real targets" : "class labels"));
  if (data.num_classes != report.k)
    throw Error(path + ": made for " + std::to_string(report.k) +
                (report.regression ? " target dimensions" : " classes") + ", but the dataset has " +
                std::to_string(data.num_classes));
}

nlohmann::json read_json_file(const std::string& path) {
  // read_file_bytes names missing files and folders given as files. A report
  // is kilobytes to a few MB: the bound stops a gzip bomb early and cheaply.
  const std::size_t kMaxBytes = std::size_t(64) << 20;
  bool longer = false;
  const std::vector<unsigned char> bytes = read_file_bytes(path, kMaxBytes, &longer);
  if (longer) throw Error(path + ": more than 64 MiB once gunzipped, not a report");
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace krrdistill
