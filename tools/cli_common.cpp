#include "cli_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"

namespace krrdistill::cli {

void add_data_options(cxxopts::Options& options) {
  options.add_options("data")("dataset",
                              "fashion-mnist, mnist, idx, cifar10, cifar100, npy (default "
                              "fashion-mnist, or auto with --data)",
                              cxxopts::value<std::string>())(
      "data", "folder holding the dataset files", cxxopts::value<std::string>())(
      "coarse", "CIFAR-100: the 20 coarse classes instead of the 100 fine ones")(
      "zca", "ZCA whitening after standardisation")(
      "zca-reg", "ZCA regulariser as a fraction of the mean eigenvalue",
      cxxopts::value<std::string>()->default_value("0.1"));
  options.add_options("model")("model",
                               "linear, rff or fcnn (kip and labelsolve also: ntk, nngp, rbf)",
                               cxxopts::value<std::string>()->default_value("linear"))(
      "features", "rff: number of random features p, 1..d (default d)",
      cxxopts::value<unsigned>()->default_value("0"))(
      "rff-sigma", "rff: bandwidth sigma (default sqrt(d))",
      cxxopts::value<std::string>()->default_value("0"))(
      "layers", "fcnn: hidden layers L, 1..100", cxxopts::value<unsigned>()->default_value("1"))(
      "width", "fcnn: width of the hidden layers, 1..d (default d)",
      cxxopts::value<unsigned>()->default_value("0"))(
      "slope", "fcnn: leaky ReLU slope", cxxopts::value<std::string>()->default_value("0.1"))(
      "lambda", "ridge of the original model (default: validation sweep 1e-6 .. 10^5.5)",
      cxxopts::value<std::string>());
  options.add_options("run")("seed", "seed of every random choice",
                             cxxopts::value<std::uint64_t>()->default_value("0"))(
      "threads",
      "OpenMP threads of the elementwise work, 0 (one per core, the default) or 1..256; OpenBLAS "
      "runs on one thread so results do not depend on it",
      cxxopts::value<int>()->default_value("0"))(
      "chunk", "images per chunk of a pass, 1..65536 (its rounding shows in the last bits)",
      cxxopts::value<unsigned>()->default_value(std::to_string(kDefaultChunk)))(
      "feature-cache-mb",
      "keep nonlinear training features in memory up to this size for the "
      "certificate (0: recompute them)",
      cxxopts::value<unsigned>()->default_value("2048"))("quiet", "no progress on stderr")(
      "h,help", "this help");
}

cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv) {
  cxxopts::ParseResult result = options.parse(argc, argv);
  if (!result.unmatched().empty())
    throw Error("unexpected argument '" + result.unmatched().front() + "'");
  return result;
}

double finite_option(const cxxopts::ParseResult& result, const std::string& name) {
  const std::string text = result[name].as<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    throw Error("--" + name + " must be a finite number, got '" + text + "'");
  return value;
}

FitOptions fit_options(const cxxopts::ParseResult& result, std::uint64_t seed) {
  FitOptions fit;
  fit.seed = seed;
  fit.chunk = result["chunk"].as<unsigned>();
  check_chunk(fit.chunk);
  if (result.count("lambda")) {
    fit.lambda = finite_option(result, "lambda");
    if (fit.lambda < 0) throw Error("--lambda must be >= 0");
  }
  return fit;
}

DataSource data_source(const cxxopts::ParseResult& result) {
  DataSource source;
  source.dir = result.count("data") ? result["data"].as<std::string>() : "";
  source.dataset = result.count("dataset") ? result["dataset"].as<std::string>()
                                           : (source.dir.empty() ? "fashion-mnist" : "auto");
  source.coarse = result.count("coarse") > 0;
  source.zca = result.count("zca") > 0;
  source.zca_reg_fraction = finite_option(result, "zca-reg");
  if (!(source.zca_reg_fraction > 0)) throw Error("--zca-reg must be positive");
  return source;
}

std::vector<std::string> data_inputs(const DataSource& source) {
  return {locate_dataset(source.dataset, source.dir, source.coarse).dir};
}

FeatureMapSpec feature_spec(const cxxopts::ParseResult& result) {
  FeatureMapSpec spec;
  spec.kind = result["model"].as<std::string>();
  spec.features = result["features"].as<unsigned>();
  spec.rff_sigma = finite_option(result, "rff-sigma");
  if (spec.rff_sigma < 0) throw Error("--rff-sigma must be positive");
  spec.layers = result["layers"].as<unsigned>();
  check_layers(spec.layers);
  spec.width = result["width"].as<unsigned>();
  spec.slope = finite_option(result, "slope");
  spec.seed = result["seed"].as<std::uint64_t>();
  return spec;
}

arma::uvec checked_class_counts(const arma::uvec& train_labels, arma::uword k,
                                const std::string& dataset) {
  const arma::uvec counts = class_counts(train_labels, k);
  check_classes(counts, dataset);
  return counts;
}

void check_feature_sizes(const FeatureMapSpec& spec, arma::uword d) {
  if (spec.kind == "rff" && spec.features > d)
    throw Error("random Fourier features with p = " + std::to_string(spec.features) +
                " > d = " + std::to_string(d) +
                " are injective, not surjective: pick --features <= " + std::to_string(d));
  if (spec.kind == "fcnn" && spec.width > d)
    throw Error("fcnn layers of width " + std::to_string(spec.width) +
                " > d = " + std::to_string(d) +
                " are injective, not surjective: pick --width <= " + std::to_string(d));
}

arma::uword output_dim(const FeatureMapSpec& spec, arma::uword d) {
  if (spec.kind == "rff" && spec.features != 0) return spec.features;
  if (spec.kind == "fcnn" && spec.width != 0) return spec.width;
  return d;
}

std::vector<MemoryItem> feature_map_memory(const FeatureMapSpec& spec, arma::uword d) {
  const double p = double(output_dim(spec, d)), dd = double(d);
  if (spec.kind == "rff") return {{"the feature map", 8.0 * p * (dd + 1)}};
  if (spec.kind == "fcnn")
    return {{"the feature map", 8.0 * p * (dd + double(spec.layers - 1) * p)}};
  return {};
}

std::vector<MemoryItem> analytic_memory(const FeatureMapSpec& spec, arma::uword d, arma::uword k,
                                        arma::uword m, arma::uword chunk, double feature_cache) {
  std::vector<MemoryItem> items = feature_map_memory(spec, d);
  const double p = double(output_dim(spec, d)), width = std::max(p, double(d));
  // G and B, their compensated (double-double) sums over all samples and
  // over the validation split, one chunk's part, then G − G_val, its
  // eigenvectors and the eigensolver's work: about six p×p matrices at once.
  items.push_back({"G and B", 8.0 * 6.0 * p * (p + double(k))});
  // A chunk's pixels as doubles, its inputs and features, and their products.
  items.push_back({"the chunk buffers", 8.0 * 4.0 * double(chunk) * (double(d) + p)});
  if (feature_cache > 0) items.push_back({"the feature cache", feature_cache});
  // D, Z, the SVD factors, Phis, the start images and Xs (m×max(p, d) each).
  items.push_back({"the distilled set's matrices", 8.0 * 8.0 * double(m) * width});
  return items;
}

std::vector<MemoryItem> kip_memory(arma::uword d, arma::uword p, arma::uword k, arma::uword m,
                                   arma::uword batch) {
  const double b = double(batch), mm = double(m);
  return {
      // Xs and Ys with their gradients and Adam moments.
      {"the support set and its Adam state", 8.0 * 6.0 * mm * double(d + k)},
      // Kss, its factor and gradient; Kts and its gradient (the NTK keeps one per layer).
      {"the support kernels", 8.0 * 4.0 * mm * mm},
      {"the batch kernels", 8.0 * 8.0 * b * mm},
      {"the batch's inputs and features", 8.0 * 3.0 * b * double(d + p + k)},
  };
}

Dataset load(const DataSource& source) {
  return load_dataset(source.dataset, source.dir, source.coarse);
}

GridBlock class_rows(const arma::mat& pixels, const std::vector<std::string>& class_names,
                     arma::uword ipc) {
  const arma::uword k = class_names.size();
  GridBlock block{arma::mat(pixels.n_rows, k * ipc), k, ipc, class_names, ""};
  for (arma::uword c = 0; c < k; ++c)
    for (arma::uword i = 0; i < ipc; ++i) block.images.col(c * ipc + i) = pixels.col(i * k + c);
  return block;
}

std::vector<std::uint64_t> image_array_shape(arma::uword count, const ImageShape& shape) {
  return {count, shape.channels, shape.height, shape.width};
}

arma::mat read_records(const std::string& path, arma::uword record_size) {
  const NpyArray array = read_npy(path);
  if (array.shape.empty()) throw Error(path + ": expected an array of records, got a scalar");
  const arma::uword records = array.shape.front();
  if (records * record_size != array.count())
    throw Error(path + ": expected records of " + std::to_string(record_size) + " values");
  const std::vector<double> values = npy_as_double(array, path);
  arma::mat out(record_size, records);
  std::copy(values.begin(), values.end(), out.begin());
  if (!out.is_finite()) throw Error(path + ": holds NaN or Inf");
  return out;
}

}  // namespace krrdistill::cli
