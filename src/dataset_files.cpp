#include "krrdistill/dataset_files.hpp"

#include <filesystem>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

namespace krrdistill {

DatasetLocation locate_dataset(const std::string& name, const std::string& dir, bool coarse) {
  const char* known = "fashion-mnist, mnist, idx, cifar10, cifar100, npy, auto";
  std::string kind = name;
  if (kind != "fashion-mnist" && kind != "mnist" && kind != "idx" && kind != "cifar10" &&
      kind != "cifar100" && kind != "npy" && kind != "auto")
    throw Error("unknown dataset '" + name + "' (expected one of: " + known + ")");
  if (dir.empty() && kind != "fashion-mnist")
    throw Error("dataset '" + name + "' needs a folder (--data DIR)");
  if (kind == "auto") {
    auto has = [&](const std::string& file) { return file_exists(join_path(dir, file)); };
    if (has("train-images-idx3-ubyte") || has("train-images-idx3-ubyte.gz"))
      kind = "idx";
    else if (has("data_batch_1.bin") || has("cifar-10-batches-bin/data_batch_1.bin"))
      kind = "cifar10";
    else if (has("train.bin") || has("cifar-100-binary/train.bin"))
      kind = "cifar100";
    else if (has("x_train.npy"))
      kind = "npy";
    else
      throw Error(dir +
                  ": cannot detect the dataset format (expected train-images-idx3-ubyte[.gz], "
                  "data_batch_1.bin, train.bin or x_train.npy)");
  }
  if (coarse && kind != "cifar100")
    throw Error("coarse labels exist only for cifar100, not for dataset '" + kind + "'");
  DatasetLocation location{kind, DatasetFormat::idx, dir};
  if (kind == "fashion-mnist" && dir.empty()) location.dir = kFashionMnistDir;
  if (kind == "cifar10") location.format = DatasetFormat::cifar10;
  if (kind == "cifar100") location.format = DatasetFormat::cifar100;
  if (kind == "npy") location.format = DatasetFormat::npy;
  return location;
}

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : (std::filesystem::path(dir) / name).string();
}

std::string find_idx_file(const std::string& dir, const std::string& base) {
  const std::string plain = join_path(dir, base);
  if (file_exists(plain)) return plain;
  if (file_exists(plain + ".gz")) return plain + ".gz";
  throw Error(plain + ": no such file (nor " + base + ".gz)");
}

std::uint64_t read_be32(const unsigned char* p) {
  return std::uint64_t(p[0]) << 24 | std::uint64_t(p[1]) << 16 | std::uint64_t(p[2]) << 8 |
         std::uint64_t(p[3]);
}

CifarFormat cifar10_format() {
  return CifarFormat{"CIFAR-10", 1, 0, {10}, {""}};
}

CifarFormat cifar100_format(bool coarse) {
  return CifarFormat{"CIFAR-100", 2, coarse ? 0u : 1u, {20, 100}, {"coarse", "fine"}};
}

std::string cifar_folder(const std::string& dir, const std::string& first_file,
                         const std::string& subfolder) {
  if (file_exists(join_path(dir, first_file))) return dir;
  const std::string sub = join_path(dir, subfolder);
  if (file_exists(join_path(sub, first_file))) return sub;
  throw Error(join_path(dir, first_file) + ": no such file (nor in the subfolder " + subfolder +
              ")");
}

std::vector<std::string> cifar10_train_files(const std::string& folder) {
  std::vector<std::string> paths;
  for (int b = 1; b <= 5; ++b)
    paths.push_back(join_path(folder, "data_batch_" + std::to_string(b) + ".bin"));
  return paths;
}

std::vector<std::string> read_class_names(const std::string& path, arma::uword k,
                                          const std::string& what) {
  if (!file_exists(path)) return number_names(k);
  // A names file is a few kilobytes: the bound only stops a gzip file
  // expanding without end.
  const std::size_t kMaxBytes = std::size_t(16) << 20;
  bool longer = false;
  const std::vector<unsigned char> bytes = read_file_bytes(path, kMaxBytes, &longer);
  if (longer) throw Error(path + ": more than 16 MiB once gunzipped, not a list of class names");
  const std::string text(bytes.begin(), bytes.end());
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    const char* space = " \t\r\f\v";
    const std::size_t first = line.find_first_not_of(space);
    if (first != std::string::npos)
      names.push_back(line.substr(first, line.find_last_not_of(space) - first + 1));
    start = end + 1;
  }
  if (names.size() != k)
    throw Error(path + ": holds " + std::to_string(names.size()) + " class names but " + what +
                " has " + std::to_string(k) + " classes");
  return names;
}

std::vector<std::string> number_names(arma::uword k) {
  std::vector<std::string> names;
  names.reserve(k);
  for (arma::uword c = 0; c < k; ++c) names.push_back(std::to_string(c));
  return names;
}

std::vector<std::string> fashion_mnist_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

std::string size_text(std::uint64_t height, std::uint64_t width) {
  return std::to_string(height) + "x" + std::to_string(width);
}

std::string shape_text(const ImageShape& shape) {
  return std::to_string(shape.channels) + "x" + size_text(shape.height, shape.width);
}

std::string shape_text(const std::vector<std::uint64_t>& dims) {
  std::string out = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(dims[i]);
  }
  if (dims.size() == 1) out += ",";
  return out + ")";
}

bool same_shape(const ImageShape& a, const ImageShape& b) {
  return a.channels == b.channels && a.height == b.height && a.width == b.width;
}

}  // namespace krrdistill
