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
  arma::uvec labels;   // n, each < num_classes
};

struct Dataset {
  std::string name;  // "fashion-mnist", "mnist", "cifar10", "cifar100", "idx", "npy"
  ImageShape shape;
  arma::uword num_classes = 0;
  std::vector<std::string> class_names;  // num_classes entries (numbers when unknown)
  Split train;
  Split test;
};

// Folder of the Debian package dataset-fashion-mnist.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// MNIST-format IDX folder: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. Image size from the header.
Dataset load_idx_folder(const std::string& dir, const std::string& name);

// CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin (1 + 3072 bytes a record),
// class names from batches.meta.txt when present.
Dataset load_cifar10(const std::string& dir);

// CIFAR-100 binary: train.bin, test.bin (2 + 3072 bytes a record: coarse, fine);
// fine labels unless coarse, names from fine_label_names.txt / coarse_label_names.txt.
Dataset load_cifar100(const std::string& dir, bool coarse);

// .npy folder: x_train.npy, y_train.npy, x_test.npy, y_test.npy; images uint8
// n×h×w or n×c×h×w (channel-first), labels any integer type, 1-D.
Dataset load_npy_folder(const std::string& dir);

// Dispatch on a dataset name: "fashion-mnist" (dir may be empty: the Debian
// package folder), "mnist", "idx", "cifar10", "cifar100", "npy"; name "auto"
// detects the format from the files in dir.
Dataset load_dataset(const std::string& name, const std::string& dir, bool coarse);

// Labels as one-hot columns: k×n (docs/design.md §1, not centered).
arma::mat one_hot(const arma::uvec& labels, arma::uword num_classes);

}  // namespace krrdistill
