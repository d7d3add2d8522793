// Datasets: uint8 pixels, one image per column (docs/design.md §1), kept as uint8 so
// that statistics can be accumulated chunk by chunk without a float64 copy
// of the training set (docs/design.md §2).
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>
#include <vector>

#include "krrdistill/image.hpp"

namespace krrdistill {

struct Split {
  PixelMatrix pixels;  // d×n
  arma::uvec labels;   // n, each < num_classes; or
  arma::mat targets;   // k×n real targets (regression, docs/design.md §10; 0×0 with labels)
  arma::mat features;  // p×n float inputs of a feature matrix (§11; pixels then empty)
};

struct Dataset {
  std::string name;  // "fashion-mnist", "mnist", "cifar10", "cifar100", "idx", "npy"
  ImageShape shape;
  arma::uword num_classes = 0;           // k: classes, or target dimensions (regression)
  std::vector<std::string> class_names;  // num_classes entries (numbers when unknown)
  Split train;
  Split test;
  bool regression() const { return train.targets.n_rows > 0; }
  // Float feature vectors (shape {p, 1, 1}) instead of images.
  bool feature_matrix() const { return train.features.n_rows > 0; }
};

// Folder of the Debian package dataset-fashion-mnist.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Dispatch on a dataset name: "fashion-mnist" (dir may be empty: the Debian
// package folder), "mnist", "idx", "cifar10", "cifar100", "npy"; name "auto"
// detects the format from the files in dir. Formats: IDX (MNIST-format
// train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz]), CIFAR-10
// and CIFAR-100 binary (fine labels unless coarse), .npy folders (x_train,
// y_train, x_test, y_test; images uint8 n×h×w or n×c×h×w; y integer class
// labels, or float32/float64 targets n or n×k for regression). The files are
// opened and read by open_stream_dataset's readers (stream.hpp).
Dataset load_dataset(const std::string& name, const std::string& dir, bool coarse);

// A dataset from arrays the caller holds: pixels d×n (one image per column,
// channel-first rows), labels 0..k-1. Checked (sizes, labels < k, d = shape).
Dataset make_dataset(PixelMatrix train_pixels, arma::uvec train_labels, PixelMatrix test_pixels,
                     arma::uvec test_labels, const ImageShape& shape, arma::uword num_classes,
                     const std::string& name = "memory");

// The same with real targets (regression, docs/design.md §10): k×n each,
// finite, one column an image, k >= 1.
Dataset make_regression_dataset(PixelMatrix train_pixels, arma::mat train_targets,
                                PixelMatrix test_pixels, arma::mat test_targets,
                                const ImageShape& shape, const std::string& name = "memory");

// Labels as one-hot columns: k×n (docs/design.md §1, not centered).
arma::mat one_hot(const arma::uvec& labels, arma::uword num_classes);

}  // namespace krrdistill
