// The files of a dataset folder: which format a dataset name and folder mean,
// where each file of a format lies, and the small parts of the formats that
// the in-memory readers (data.hpp) and the streaming readers (stream.hpp)
// share, so that both refuse the same input with the same message.
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/limits.hpp"  // kMaxClasses: a stray huge label must not size the class list

namespace krrdistill {

enum class DatasetFormat { idx, cifar10, cifar100, npy };

struct DatasetLocation {
  std::string name;  // as Dataset::name: "fashion-mnist", "mnist", "idx", "cifar10", ...
  DatasetFormat format = DatasetFormat::idx;
  std::string dir;  // the Debian package folder for "fashion-mnist" without a folder
};

// Checks a dataset name (fashion-mnist, mnist, idx, cifar10, cifar100, npy,
// auto) against the folder and --coarse; "auto" detects the format from the
// files in dir.
DatasetLocation locate_dataset(const std::string& name, const std::string& dir, bool coarse);

std::string join_path(const std::string& dir, const std::string& name);

// IDX: "base" or "base.gz" in dir, the plain file first (no inflate needed).
std::string find_idx_file(const std::string& dir, const std::string& base);
// The big-endian 32-bit integers of an IDX header.
std::uint64_t read_be32(const unsigned char* p);

// CIFAR binary records: label bytes, then 3072 pixels in R, G, B planes.
constexpr std::size_t kCifarPixels = 3 * 32 * 32;
struct CifarFormat {
  std::string dataset;                    // for messages: "CIFAR-10", "CIFAR-100"
  std::size_t label_bytes;                // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
  std::size_t label_index;                // which label byte becomes the label
  std::vector<arma::uword> label_limits;  // classes per label byte
  std::vector<std::string> label_kinds;   // "" or "coarse"/"fine", for messages
};
CifarFormat cifar10_format();
CifarFormat cifar100_format(bool coarse);
// dir itself, or its subfolder as unpacked from the official archive.
std::string cifar_folder(const std::string& dir, const std::string& first_file,
                         const std::string& subfolder);
// The paths of the training batches, and of the test batch, in folder.
std::vector<std::string> cifar10_train_files(const std::string& folder);

// Optional class-names file: one name a line, empty lines skipped; must give
// k names (what names the dataset in the message). Without it: "0", "1", ...
std::vector<std::string> read_class_names(const std::string& path, arma::uword k,
                                          const std::string& what);
std::vector<std::string> number_names(arma::uword k);
// Fashion-MNIST's ten class names, in label order.
std::vector<std::string> fashion_mnist_names();

// For messages: "28x28", "3x32x32" (channels x height x width), "(2, 3,)".
std::string size_text(std::uint64_t height, std::uint64_t width);
std::string shape_text(const ImageShape& shape);
std::string shape_text(const std::vector<std::uint64_t>& dims);
bool same_shape(const ImageShape& a, const ImageShape& b);

}  // namespace krrdistill
