#include "krrdistill/data.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <limits>
#include <type_traits>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/npy.hpp"

namespace krrdistill {

namespace {

namespace fs = std::filesystem;

arma::uword max_label(const Dataset& ds) {
  arma::uword top = 0;
  if (!ds.train.labels.empty()) top = std::max(top, arma::uword(ds.train.labels.max()));
  if (!ds.test.labels.empty()) top = std::max(top, arma::uword(ds.test.labels.max()));
  return top;
}

// ---- IDX ------------------------------------------------------------------

struct IdxFile {
  std::vector<unsigned char> bytes;
  bool longer = false;  // a gzip file whose content goes on beyond bytes
  std::string held;     // bytes after the header, as text ("more than N" when longer)
};

// An IDX file: the header (header_size bytes; the whole file when it is
// plain) and, for a gzip file, no more of the content than size_from_header
// says there should be (plus a byte to notice more), so that a small .gz
// cannot expand into a huge allocation.
template <typename SizeFromHeader>
IdxFile read_idx_file(const std::string& path, std::size_t header_size, const char* what,
                      SizeFromHeader size_from_header) {
  bool longer = false;
  std::vector<unsigned char> bytes = read_file_bytes(path, header_size, &longer);
  if (bytes.size() < header_size)
    throw Error(path + ": file too short for an IDX " + what + " header (" +
                std::to_string(bytes.size()) + " bytes, need " + std::to_string(header_size) + ")");
  if (longer) {
    // Throws on a bad magic before anything more is inflated.
    const std::uint64_t expected = size_from_header(bytes.data());
    const std::uint64_t kAbsurd = std::uint64_t(1) << 20;  // enough to name a mismatch
    const std::uint64_t limit = expected == std::numeric_limits<std::uint64_t>::max()
                                    ? kAbsurd
                                    : std::min<std::uint64_t>(expected, SIZE_MAX - header_size);
    bytes = read_file_bytes(path, header_size + std::size_t(limit), &longer);
  }
  const std::string held =
      (longer ? "more than " : "") + std::to_string(bytes.size() - header_size);
  return IdxFile{std::move(bytes), longer, held};
}

std::string wrong_magic(const std::string& path, std::uint64_t magic, const char* expected) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08llx", static_cast<unsigned long long>(magic));
  return path + ": wrong magic " + hex + " (expected " + expected + ")";
}

// n·h·w of an IDX image header, UINT64_MAX when it overflows (h, w < 2^32, so
// h·w fits; n·h·w may not).
std::uint64_t idx_image_bytes(const unsigned char* header) {
  const std::uint64_t n = read_be32(header + 4), h = read_be32(header + 8),
                      w = read_be32(header + 12);
  const std::uint64_t d = h * w;
  if (n != 0 && d > (std::numeric_limits<std::uint64_t>::max() - 1) / n)
    return std::numeric_limits<std::uint64_t>::max();
  return n * d;
}

PixelMatrix read_idx_images(const std::string& path, ImageShape& shape) {
  auto check_header = [&path](const unsigned char* header) {
    if (read_be32(header) != 0x803)
      throw Error(wrong_magic(path, read_be32(header), "0x00000803 for IDX images"));
    return idx_image_bytes(header);
  };
  const IdxFile file = read_idx_file(path, 16, "image", check_header);
  const std::vector<unsigned char>& bytes = file.bytes;
  const std::uint64_t total = check_header(bytes.data());
  const std::uint64_t n = read_be32(bytes.data() + 4);
  const std::uint64_t h = read_be32(bytes.data() + 8);
  const std::uint64_t w = read_be32(bytes.data() + 12);
  if (n == 0) throw Error(path + ": holds zero images");
  if (h == 0 || w == 0) throw Error(path + ": image size " + size_text(h, w) + " is empty");
  const bool overflow = total == std::numeric_limits<std::uint64_t>::max();
  if (overflow || file.longer || total != bytes.size() - 16) {
    const std::string expected = overflow ? std::string("more than 2^64") : std::to_string(total);
    throw Error(path + ": header says " + std::to_string(n) + " images of " + size_text(h, w) +
                " (" + expected + " bytes) but the file holds " + file.held +
                " bytes after the 16-byte header");
  }
  shape = ImageShape{1, h, w};
  // IDX stores each image row-major and contiguous: exactly one column.
  PixelMatrix pixels(h * w, n, arma::fill::none);
  std::memcpy(pixels.memptr(), bytes.data() + 16, total);
  return pixels;
}

arma::uvec read_idx_labels(const std::string& path) {
  auto check_header = [&path](const unsigned char* header) {
    if (read_be32(header) != 0x801)
      throw Error(wrong_magic(path, read_be32(header), "0x00000801 for IDX labels"));
    return read_be32(header + 4);
  };
  const IdxFile file = read_idx_file(path, 8, "label", check_header);
  const std::vector<unsigned char>& bytes = file.bytes;
  const std::uint64_t n = check_header(bytes.data());
  if (n == 0) throw Error(path + ": holds zero labels");
  if (file.longer || n != bytes.size() - 8)
    throw Error(path + ": header says " + std::to_string(n) + " labels but the file holds " +
                file.held + " bytes after the 8-byte header");
  arma::uvec labels(n);
  for (std::uint64_t i = 0; i < n; ++i) labels[i] = bytes[8 + i];
  return labels;
}

Split read_idx_split(const std::string& dir, const std::string& prefix, ImageShape& shape) {
  std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  Split split;
  split.pixels = read_idx_images(images_path, shape);
  split.labels = read_idx_labels(labels_path);
  if (split.labels.n_elem != split.pixels.n_cols)
    throw Error(labels_path + ": holds " + std::to_string(split.labels.n_elem) + " labels but " +
                images_path + " holds " + std::to_string(split.pixels.n_cols) + " images");
  return split;
}

void check_labels_below(const arma::uvec& labels, arma::uword k, const std::string& path) {
  for (arma::uword i = 0; i < labels.n_elem; ++i)
    if (labels[i] >= k)
      throw Error(path + ": label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                  " is out of range (the dataset has " + std::to_string(k) + " classes)");
}

// ---- CIFAR ----------------------------------------------------------------

// Reads and checks several batch files, then packs them into one split
// (each buffer is released as soon as it is copied).
Split read_cifar_split(const std::vector<std::string>& paths, const CifarFormat& fmt) {
  const std::size_t record = fmt.label_bytes + kCifarPixels;
  std::vector<std::vector<unsigned char>> buffers;
  std::size_t total = 0;
  for (const std::string& path : paths) {
    buffers.push_back(read_file_bytes(path));
    const std::vector<unsigned char>& b = buffers.back();
    if (b.empty()) throw Error(path + ": holds zero images (the file is empty)");
    if (b.size() % record != 0)
      throw Error(path + ": size " + std::to_string(b.size()) + " bytes is not a multiple of the " +
                  std::to_string(record) + "-byte " + fmt.dataset + " record (" +
                  std::to_string(fmt.label_bytes) + " label byte" +
                  (fmt.label_bytes > 1 ? "s" : "") + " + 3072 pixels)");
    const std::size_t n = b.size() / record;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < fmt.label_bytes; ++j) {
        unsigned value = b[i * record + j];
        if (value >= fmt.label_limits[j])
          throw Error(path + ": " + fmt.label_kinds[j] + (fmt.label_kinds[j].empty() ? "" : " ") +
                      "label " + std::to_string(value) + " of record " + std::to_string(i) +
                      " is out of range (" + fmt.dataset + " has " +
                      std::to_string(fmt.label_limits[j]) + " " + fmt.label_kinds[j] +
                      (fmt.label_kinds[j].empty() ? "" : " ") + "classes)");
      }
    total += n;
  }
  Split split;
  split.pixels.set_size(kCifarPixels, total);
  split.labels.set_size(total);
  std::size_t col = 0;
  for (std::vector<unsigned char>& b : buffers) {
    const std::size_t n = b.size() / record;
    for (std::size_t i = 0; i < n; ++i, ++col) {
      const unsigned char* rec = b.data() + i * record;
      split.labels[col] = rec[fmt.label_index];
      // CIFAR's R, G, B planes stay in their order: channel-first column.
      std::memcpy(split.pixels.colptr(col), rec + fmt.label_bytes, kCifarPixels);
    }
    std::vector<unsigned char>().swap(b);
  }
  return split;
}

// ---- .npy -----------------------------------------------------------------

PixelMatrix npy_images(const std::string& path, ImageShape& shape) {
  NpyArray a = read_npy(path);
  if (a.dtype != "|u1") throw Error(path + ": images must be uint8 ('|u1'), got '" + a.dtype + "'");
  if (a.shape.size() != 3 && a.shape.size() != 4)
    throw Error(path + ": images must have shape (n, h, w) or (n, c, h, w), got " +
                shape_text(a.shape));
  const std::uint64_t n = a.shape[0];
  const std::uint64_t c = a.shape.size() == 4 ? a.shape[1] : 1;
  const std::uint64_t h = a.shape[a.shape.size() - 2];
  const std::uint64_t w = a.shape[a.shape.size() - 1];
  if (n == 0) throw Error(path + ": holds zero images");
  if (c != 1 && c != 3)
    throw Error(path + ": images must have 1 or 3 channels, got " + std::to_string(c) + " (shape " +
                shape_text(a.shape) + "; channels come second)");
  if (h == 0 || w == 0) throw Error(path + ": image size " + size_text(h, w) + " is empty");
  shape = ImageShape{c, h, w};
  // C order n×c×h×w: each image is one contiguous, channel-first record.
  PixelMatrix pixels(c * h * w, n, arma::fill::none);
  std::memcpy(pixels.memptr(), a.bytes.data(), a.bytes.size());
  return pixels;
}

template <typename T>
arma::uvec labels_from(const NpyArray& a, const std::string& path) {
  arma::uvec labels(a.shape[0]);
  for (arma::uword i = 0; i < labels.n_elem; ++i) {
    T v;
    std::memcpy(&v, a.bytes.data() + i * sizeof(T), sizeof(T));
    // Compare as signed/unsigned 64-bit without narrowing surprises.
    if constexpr (std::is_signed<T>::value) {
      if (v < 0)
        throw Error(path + ": label " + std::to_string(v) + " of item " + std::to_string(i) +
                    " is negative");
    }
    if (std::uint64_t(v) >= kMaxClasses)
      throw Error(path + ": label " + std::to_string(v) + " of item " + std::to_string(i) +
                  " is too large (at most " + std::to_string(kMaxClasses) +
                  " classes are supported)");
    labels[i] = arma::uword(v);
  }
  return labels;
}

arma::uvec npy_labels(const std::string& path) {
  NpyArray a = read_npy(path);
  const std::string& t = a.dtype;
  if (t[1] != 'i' && t[1] != 'u') throw Error(path + ": labels must be integers, got '" + t + "'");
  if (a.shape.size() != 1)
    throw Error(path + ": labels must be 1-D, got shape " + shape_text(a.shape));
  if (t == "|u1") return labels_from<std::uint8_t>(a, path);
  if (t == "|i1") return labels_from<std::int8_t>(a, path);
  if (t == "<u2") return labels_from<std::uint16_t>(a, path);
  if (t == "<i2") return labels_from<std::int16_t>(a, path);
  if (t == "<u4") return labels_from<std::uint32_t>(a, path);
  if (t == "<i4") return labels_from<std::int32_t>(a, path);
  if (t == "<u8") return labels_from<std::uint64_t>(a, path);
  return labels_from<std::int64_t>(a, path);  // "<i8", the last integer type
}

Split npy_split(const std::string& dir, const std::string& which, ImageShape& shape) {
  std::string x_path = join_path(dir, "x_" + which + ".npy");
  std::string y_path = join_path(dir, "y_" + which + ".npy");
  Split split;
  split.pixels = npy_images(x_path, shape);
  split.labels = npy_labels(y_path);
  if (split.labels.n_elem != split.pixels.n_cols)
    throw Error(y_path + ": holds " + std::to_string(split.labels.n_elem) + " labels but " +
                x_path + " holds " + std::to_string(split.pixels.n_cols) + " images");
  return split;
}

}  // namespace

Dataset load_idx_folder(const std::string& dir, const std::string& name) {
  Dataset ds;
  ds.name = name;
  // Inflating is the slow part (about 0.2 s for Fashion-MNIST's training
  // images), so the test split is read on a second thread meanwhile. Errors
  // stay deterministic: a training-split error is reported first.
  ImageShape test_shape;
  std::future<Split> test = std::async(
      std::launch::async, [&dir, &test_shape] { return read_idx_split(dir, "t10k", test_shape); });
  ds.train = read_idx_split(dir, "train", ds.shape);
  ds.test = test.get();
  if (!same_shape(ds.shape, test_shape))
    throw Error(find_idx_file(dir, "t10k-images-idx3-ubyte") + ": test images are " +
                size_text(test_shape.height, test_shape.width) + " but the training images are " +
                size_text(ds.shape.height, ds.shape.width));

  if (name == "fashion-mnist" || name == "mnist") {
    ds.num_classes = 10;
    check_labels_below(ds.train.labels, 10, find_idx_file(dir, "train-labels-idx1-ubyte"));
    check_labels_below(ds.test.labels, 10, find_idx_file(dir, "t10k-labels-idx1-ubyte"));
  } else {
    ds.num_classes = max_label(ds) + 1;
  }
  if (name == "fashion-mnist")
    ds.class_names = fashion_mnist_names();
  else
    ds.class_names = number_names(ds.num_classes);
  return ds;
}

Dataset load_cifar10(const std::string& dir) {
  const std::string folder = cifar_folder(dir, "data_batch_1.bin", "cifar-10-batches-bin");
  CifarFormat fmt = cifar10_format();
  const std::vector<std::string> train_paths = cifar10_train_files(folder);
  Dataset ds;
  ds.name = "cifar10";
  ds.shape = ImageShape{3, 32, 32};
  ds.num_classes = 10;
  ds.train = read_cifar_split(train_paths, fmt);
  ds.test = read_cifar_split({join_path(folder, "test_batch.bin")}, fmt);
  ds.class_names = read_class_names(join_path(folder, "batches.meta.txt"), 10, "CIFAR-10");
  return ds;
}

Dataset load_cifar100(const std::string& dir, bool coarse) {
  const std::string folder = cifar_folder(dir, "train.bin", "cifar-100-binary");
  CifarFormat fmt = cifar100_format(coarse);
  const arma::uword k = coarse ? 20 : 100;
  Dataset ds;
  ds.name = "cifar100";
  ds.shape = ImageShape{3, 32, 32};
  ds.num_classes = k;
  ds.train = read_cifar_split({join_path(folder, "train.bin")}, fmt);
  ds.test = read_cifar_split({join_path(folder, "test.bin")}, fmt);
  ds.class_names = read_class_names(
      join_path(folder, coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), k,
      coarse ? "CIFAR-100 (coarse)" : "CIFAR-100 (fine)");
  return ds;
}

Dataset load_npy_folder(const std::string& dir) {
  Dataset ds;
  ds.name = "npy";
  ImageShape test_shape;
  ds.train = npy_split(dir, "train", ds.shape);
  ds.test = npy_split(dir, "test", test_shape);
  if (!same_shape(ds.shape, test_shape))
    throw Error(join_path(dir, "x_test.npy") + ": test images are " + shape_text(test_shape) +
                " (channels x height x width) but the training images are " + shape_text(ds.shape));
  ds.num_classes = max_label(ds) + 1;
  ds.class_names = number_names(ds.num_classes);
  return ds;
}

Dataset load_dataset(const std::string& name, const std::string& dir, bool coarse) {
  const DatasetLocation at = locate_dataset(name, dir, coarse);
  switch (at.format) {
    case DatasetFormat::idx:
      return load_idx_folder(at.dir, at.name);
    case DatasetFormat::cifar10:
      return load_cifar10(at.dir);
    case DatasetFormat::cifar100:
      return load_cifar100(at.dir, coarse);
    case DatasetFormat::npy:
      break;
  }
  return load_npy_folder(at.dir);
}

arma::mat one_hot(const arma::uvec& labels, arma::uword num_classes) {
  arma::mat Y(num_classes, labels.n_elem, arma::fill::zeros);
  for (arma::uword i = 0; i < labels.n_elem; ++i) {
    if (labels[i] >= num_classes)
      throw Error("one_hot: label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                  " is not below the number of classes " + std::to_string(num_classes));
    Y(labels[i], i) = 1.0;
  }
  return Y;
}

}  // namespace krrdistill
