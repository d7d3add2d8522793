// Pieces the pipelines (pipeline.hpp, kip_pipeline.hpp) share: the refusals
// made before the long work (classes, feature sizes, memory), the memory
// estimates, and the layout of what they write.
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/data_source.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/image.hpp"
#include "krrdistill/image_grid.hpp"
#include "krrdistill/memory.hpp"

namespace krrdistill {

// The dataset a source names, in memory.
Dataset load(const DataSource& source);
// What a run reads, for the output folder to stay clear of: the dataset's folder.
std::vector<std::string> data_inputs(const DataSource& source);

// Training images per class, refused unless k >= 2 and every class occurs
// (limits.hpp check_classes).
arma::uvec checked_class_counts(const arma::uvec& train_labels, arma::uword k,
                                const std::string& dataset);

// Real targets (regression, docs/design.md §10) and feature matrices (§11)
// are distilled and checked by distill and eval alone; what needs images
// with classes (what) refuses them.
void require_images_with_classes(bool regression, bool feature_matrix, const std::string& dataset,
                                 const std::string& what);
// --features and --width 1..d (0: d), before a map is sized from them: a
// larger one is not surjective (docs/design.md §3) and would only cost memory.
void check_feature_sizes(const FeatureMapSpec& spec, arma::uword d);
// The feature dimension p that spec gives on images of d values.
arma::uword output_dim(const FeatureMapSpec& spec, arma::uword d);

// The feature map's matrices (rff: A and b; fcnn: its layers).
std::vector<MemoryItem> feature_map_memory(const FeatureMapSpec& spec, arma::uword d);
// The large allocations of an analytic run beyond the data already held:
// the map, G and B with their copies, the chunk buffers, the feature cache
// (bytes) and the distilled set of m images.
std::vector<MemoryItem> analytic_memory(const FeatureMapSpec& spec, arma::uword d, arma::uword k,
                                        arma::uword m, arma::uword chunk, double feature_cache);
// KIP's large allocations for a support set of m images and a target batch;
// with ZCA, the n training inputs whitened once (at most in double).
std::vector<MemoryItem> kip_memory(arma::uword d, arma::uword p, arma::uword k, arma::uword m,
                                   arma::uword batch, bool zca, arma::uword n);

// Images in grid order: one row per class, labelled with its name, ipc
// columns, from the distilled column order (column j of class j mod k, k the
// number of class names).
GridBlock class_rows(const arma::mat& pixels, const std::vector<std::string>& class_names,
                     arma::uword ipc);

// .npy shape of m images: m×c×h×w.
std::vector<std::uint64_t> image_array_shape(arma::uword count, const ImageShape& shape);

// A float64 .npy of records (outermost index) as a matrix, one record per column.
arma::mat read_records(const std::string& path, arma::uword record_size);

}  // namespace krrdistill
