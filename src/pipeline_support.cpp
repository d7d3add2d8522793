#include "krrdistill/pipeline_support.hpp"

#include <algorithm>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/pixel_features.hpp"
#include "krrdistill/pixel_moments.hpp"

namespace krrdistill {

std::vector<std::string> data_inputs(const DataSource& source) {
  return {locate_dataset(source.dataset, source.dir, source.coarse).dir};
}

arma::uvec checked_class_counts(const arma::uvec& train_labels, arma::uword k,
                                const std::string& dataset) {
  const arma::uvec counts = class_counts(train_labels, k);
  check_classes(counts, dataset);
  return counts;
}

void require_images_with_classes(bool regression, bool feature_matrix, const std::string& dataset,
                                 const std::string& what) {
  if (regression)
    throw Error(dataset + " holds real targets, not class labels: " + what +
                " needs classes (distill and eval take real targets)");
  if (feature_matrix)
    throw Error(dataset + " holds a feature matrix, not images: " + what +
                " needs images (distill and eval take feature matrices)");
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
  if (spec.kind != "rff" && spec.kind != "fcnn") return {};
  const double first_layers = spec.kind == "rff" ? dd + 1 : dd + double(spec.layers - 1) * p;
  return {{"the feature map", 8.0 * p * first_layers},
          {"its integer form", PixelFeatures::buffer_bytes(d, output_dim(spec, d))}};
}

std::vector<MemoryItem> analytic_memory(const FeatureMapSpec& spec, arma::uword d, arma::uword k,
                                        arma::uword m, arma::uword chunk, double feature_cache) {
  std::vector<MemoryItem> items = feature_map_memory(spec, d);
  const double p = double(output_dim(spec, d)), width = std::max(p, double(d));
  // G and B, their compensated (double-double) sums over all samples and
  // over the validation split, one chunk's part, then G − G_val and its
  // reflectors (and, when a λ of the sweep falls back to the eigenvalue
  // path, docs/design.md §2, its eigenvectors and the eigensolver's work):
  // at most six p×p matrices at once.
  items.push_back({"G and B", 8.0 * 6.0 * p * (p + double(k))});
  // The exact pixel moments (a linear fit, ZCA), kept between chunks.
  items.push_back(
      {"the pixel moments' buffers", pixel_moments_buffer_bytes(d, k, fastest_moments_product())});
  // A chunk's pixels as doubles, its inputs and features, and their products.
  items.push_back({"the chunk buffers", 8.0 * 4.0 * double(chunk) * (double(d) + p)});
  if (feature_cache > 0) items.push_back({"the feature cache", feature_cache});
  // D, Z, the SVD factors, Phis, the start images and Xs (m×max(p, d) each).
  items.push_back({"the distilled set's matrices", 8.0 * 8.0 * double(m) * width});
  return items;
}

std::vector<MemoryItem> kip_memory(arma::uword d, arma::uword p, arma::uword k, arma::uword m,
                                   arma::uword batch, bool zca, arma::uword n) {
  const double b = double(batch), mm = double(m);
  std::vector<MemoryItem> items = {
      // Xs and Ys with their gradients and Adam moments.
      {"the support set and its Adam state", 8.0 * 6.0 * mm * double(d + k)},
      // Kss, its factor and gradient; Kts and its gradient (the NTK keeps one per layer).
      {"the support kernels", 8.0 * 4.0 * mm * mm},
      {"the batch kernels", 8.0 * 8.0 * b * mm},
      {"the batch's inputs and features", 8.0 * 3.0 * b * double(d + p + k)},
  };
  if (zca) items.push_back({"the whitened training inputs", 8.0 * double(n) * double(d)});
  return items;
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

}  // namespace krrdistill
