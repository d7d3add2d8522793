#include "krrdistill/report.hpp"

#include <fstream>
#include <sstream>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

namespace krrdistill {

namespace {

nlohmann::json vec_json(const arma::vec& v) {
  return arma::conv_to<std::vector<double>>::from(v);
}

template <typename T>
T required(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw Error("report.json: missing \"" + std::string(key) + "\" in " + where);
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error("report.json: \"" + std::string(key) + "\" in " + where + " has the wrong type");
  }
}

const nlohmann::json& section(const nlohmann::json& report, const char* key) {
  if (!report.is_object() || !report.contains(key) || !report.at(key).is_object())
    throw Error("report.json: missing section \"" + std::string(key) + "\"");
  return report.at(key);
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
      {"dir", source.dir},
      {"coarse", source.coarse},
      {"n_train", data.train.pixels.n_cols},
      {"n_test", data.test.pixels.n_cols},
      {"d", data.shape.size()},
      {"k", data.num_classes},
      {"shape", {data.shape.channels, data.shape.height, data.shape.width}},
      {"class_names", data.class_names},
      {"preprocessing",
       {{"pixel_scale", "x/255"},
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
    grid.push_back({{"lambda", model.sweep.lambdas[i]}, {"val_acc", model.sweep.val_accuracy[i]}});
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

nlohmann::json certificate_json(const Certificate& cert) {
  return {
      {"weight_rel_error", cert.weight_rel_error},
      {"cosine", cert.cosine},
      {"feature_rel_error", cert.feature_rel_error},
      {"original", {{"train_acc", cert.original.train}, {"test_acc", cert.original.test}}},
      {"distilled", {{"train_acc", cert.distilled.train}, {"test_acc", cert.distilled.test}}},
      {"test_agreement", cert.test_agreement},
      {"init_distance", summary_json(cert.init_distance)},
      {"init_relative_distance", summary_json(cert.init_relative_distance)},
      {"nearest_train_distance", summary_json(cert.nearest_train_distance)},
      {"distance_space", "model input (standardised)"},
  };
}

DataSource data_source_from_json(const nlohmann::json& report) {
  const nlohmann::json& dataset = section(report, "dataset");
  if (!dataset.contains("preprocessing") || !dataset.at("preprocessing").is_object())
    throw Error("report.json: missing \"preprocessing\" in dataset");
  const nlohmann::json& pre = dataset.at("preprocessing");
  DataSource source;
  source.dataset = required<std::string>(dataset, "source", "dataset");
  source.dir = required<std::string>(dataset, "dir", "dataset");
  source.coarse = required<bool>(dataset, "coarse", "dataset");
  source.zca = required<bool>(pre, "zca", "dataset.preprocessing");
  source.zca_reg_fraction = required<double>(pre, "zca_reg_fraction", "dataset.preprocessing");
  return source;
}

FeatureMapSpec feature_spec_from_json(const nlohmann::json& report) {
  const nlohmann::json& model = section(report, "model");
  FeatureMapSpec spec;
  spec.kind = required<std::string>(model, "kind", "model");
  spec.seed = required<std::uint64_t>(model, "seed", "model");
  if (spec.kind == "rff") {
    spec.features = required<arma::uword>(model, "p", "model");
    spec.rff_sigma = required<double>(model, "rff_sigma", "model");
  } else if (spec.kind == "fcnn") {
    spec.layers = required<arma::uword>(model, "layers", "model");
    spec.width = required<arma::uword>(model, "width", "model");
    spec.slope = required<double>(model, "slope", "model");
  } else if (spec.kind != "linear") {
    throw Error("report.json: unknown model kind \"" + spec.kind + "\"");
  }
  return spec;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace krrdistill
