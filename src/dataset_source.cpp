// Opening a dataset as a DatasetSource: the headers and labels of every
// format (IDX, CIFAR binary, .npy), checked as the in-memory readers check
// them; the pixels stay in the files for PixelReader (stream.cpp).
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>

#include "krrdistill/dataset_files.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/stream.hpp"
#include "record_length.hpp"

namespace krrdistill {

namespace {

using detail::check_inflated_length;

// ---- IDX ------------------------------------------------------------------

std::string magic_text(std::uint64_t magic) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08llx", static_cast<unsigned long long>(magic));
  return hex;
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

// Enough inflated bytes to name a mismatch with an absurd header.
constexpr std::size_t kAbsurdHeld = std::size_t(1) << 20;

// The header only: a plain file's length is checked now, gzip content as it
// is read (PixelReader names the mismatch with header_claim), except that an
// absurd header is refused at once.
RecordFile idx_image_file(const std::string& path, ImageShape& shape) {
  InputFile file(path);
  unsigned char header[16];
  const std::size_t got = file.read(header, sizeof header);
  if (got < 16)
    throw Error(path + ": file too short for an IDX image header (" + std::to_string(got) +
                " bytes, need 16)");
  if (read_be32(header) != 0x803)
    throw Error(path + ": wrong magic " + magic_text(read_be32(header)) +
                " (expected 0x00000803 for IDX images)");
  const std::uint64_t n = read_be32(header + 4), h = read_be32(header + 8),
                      w = read_be32(header + 12);
  if (n == 0) throw Error(path + ": holds zero images");
  if (h == 0 || w == 0) throw Error(path + ": image size " + size_text(h, w) + " is empty");
  const std::uint64_t total = idx_image_bytes(header);
  const bool overflow = total == std::numeric_limits<std::uint64_t>::max();
  const std::string claim =
      "header says " + std::to_string(n) + " images of " + size_text(h, w) + " (" +
      (overflow ? std::string("more than 2^64") : std::to_string(total)) + " bytes)";
  const bool gzip = file.gzip();
  if (overflow || (!gzip && total != file.size() - 16)) {
    std::string held = std::to_string(file.size() - 16);
    if (gzip) {
      bool longer = false;
      held = std::to_string(read_file_bytes(path, 16 + kAbsurdHeld, &longer).size() - 16);
      if (longer) held = "more than " + held;
    }
    throw Error(path + ": " + claim + " but the file holds " + held +
                " bytes after the 16-byte header");
  }
  shape = ImageShape{1, h, w};
  // IDX stores each image row-major and contiguous: exactly one record.
  return RecordFile{path, gzip, 16, h * w, 0, arma::uword(n), claim};
}

// A label file: the header and, for a gzip file, no more of the content than
// the header says there should be (plus a byte to notice more), so that a
// small .gz cannot expand into a huge allocation.
LabelVector idx_labels(const std::string& path) {
  auto check_header = [&path](const std::vector<unsigned char>& bytes) {
    if (bytes.size() < 8)
      throw Error(path + ": file too short for an IDX label header (" +
                  std::to_string(bytes.size()) + " bytes, need 8)");
    if (read_be32(bytes.data()) != 0x801)
      throw Error(path + ": wrong magic " + magic_text(read_be32(bytes.data())) +
                  " (expected 0x00000801 for IDX labels)");
    return read_be32(bytes.data() + 4);
  };
  bool longer = false;
  std::vector<unsigned char> bytes = read_file_bytes(path, 8, &longer);
  std::uint64_t n = check_header(bytes);
  if (longer) bytes = read_file_bytes(path, 8 + std::size_t(n), &longer);
  if (n == 0) throw Error(path + ": holds zero labels");
  if (longer || n != bytes.size() - 8)
    throw Error(path + ": header says " + std::to_string(n) + " labels but the file holds " +
                (longer ? "more than " : "") + std::to_string(bytes.size() - 8) +
                " bytes after the 8-byte header");
  LabelVector labels(n);
  for (std::uint64_t i = 0; i < n; ++i) labels[i] = bytes[8 + i];
  return labels;
}

SplitSource idx_split(const std::string& dir, const std::string& prefix, ImageShape& shape) {
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  SplitSource split;
  split.files.push_back(idx_image_file(images, shape));
  split.dim = shape.size();
  split.labels = idx_labels(labels);
  if (split.labels.n_elem != split.files[0].count) {
    // The image file's own fault comes first, as for a plain file.
    check_inflated_length(split.files[0]);
    throw Error(labels + ": holds " + std::to_string(split.labels.n_elem) + " labels but " +
                images + " holds " + std::to_string(split.files[0].count) + " images");
  }
  return split;
}

void check_labels_below(const LabelVector& labels, arma::uword k, const std::string& path) {
  for (arma::uword i = 0; i < labels.n_elem; ++i)
    if (labels[i] >= k)
      throw Error(path + ": label " + std::to_string(labels[i]) + " of item " + std::to_string(i) +
                  " is out of range (the dataset has " + std::to_string(k) + " classes)");
}

arma::uword max_label(const DatasetSource& ds) {
  return std::max<arma::uword>(ds.train.labels.max(), ds.test.labels.max());
}

// ---- CIFAR ----------------------------------------------------------------

// Labels need every record's first bytes: one sequential pass over the
// files, a block of records at a time.
SplitSource cifar_split(const std::vector<std::string>& paths, const CifarFormat& fmt) {
  const std::size_t record = fmt.label_bytes + kCifarPixels;
  SplitSource split;
  split.dim = kCifarPixels;
  std::vector<std::uint16_t> labels;
  auto size_error = [&](const std::string& path, std::uint64_t size) {
    return Error(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " +
                 std::to_string(record) + "-byte " + fmt.dataset + " record (" +
                 std::to_string(fmt.label_bytes) + " label byte" +
                 (fmt.label_bytes > 1 ? "s" : "") + " + 3072 pixels)");
  };
  std::vector<unsigned char> block(1024 * record);
  for (const std::string& path : paths) {
    InputFile file(path);
    const bool gzip = file.gzip();
    if (!gzip) {
      const std::uint64_t size = file.size();
      if (size == 0) throw Error(path + ": holds zero images (the file is empty)");
      if (size % record != 0) throw size_error(path, size);
    }
    // Inflated data has its length known only at the end: a label error is
    // kept until then, so that a wrong length is reported first either way.
    std::string label_error;
    std::uint64_t total = 0, count = 0;
    for (;;) {
      const std::size_t got = file.read(block.data(), block.size());
      total += got;
      for (std::size_t r = 0; r + record <= got && label_error.empty(); r += record, ++count)
        for (std::size_t j = 0; j < fmt.label_bytes; ++j) {
          const unsigned value = block[r + j];
          if (value >= fmt.label_limits[j]) {
            const std::string kind = fmt.label_kinds[j].empty() ? "" : fmt.label_kinds[j] + " ";
            label_error = path + ": " + kind + "label " + std::to_string(value) + " of record " +
                          std::to_string(count) + " is out of range (" + fmt.dataset + " has " +
                          std::to_string(fmt.label_limits[j]) + " " + kind + "classes)";
            break;
          }
          if (j == fmt.label_index) labels.push_back(std::uint16_t(value));
        }
      if (got < block.size()) break;
    }
    if (total == 0) throw Error(path + ": holds zero images (the file is empty)");
    if (total % record != 0) throw size_error(path, total);
    if (!label_error.empty()) throw Error(label_error);
    split.files.push_back(
        RecordFile{path, gzip, 0, record, fmt.label_bytes, arma::uword(count), {}});
  }
  split.labels = LabelVector(labels);
  return split;
}

// ---- .npy -----------------------------------------------------------------

// A feature matrix (docs/design.md §11): float32 or float64, (n, p), C or
// Fortran order; shape {p, 1, 1}, one feature a channel.
RecordFile npy_feature_file(const std::string& path, const NpyHeader& header, ImageShape& shape) {
  const std::vector<std::uint64_t>& dims = header.shape;
  if (dims.size() != 2)
    throw Error(path + ": a feature matrix must have shape (n, p), got " + shape_text(dims));
  const std::uint64_t n = dims[0], p = dims[1];
  if (n == 0) throw Error(path + ": holds zero samples");
  if (p == 0)
    throw Error(path + ": feature vectors of dimension 0 (shape " + shape_text(dims) + ")");
  // p·p doubles of G must be addressable, and p within 32-bit BLAS indices.
  if (p > std::uint64_t(INT_MAX))
    throw Error(path + ": " + std::to_string(p) + " features are too many (at most " +
                std::to_string(INT_MAX) + ")");
  shape = ImageShape{arma::uword(p), 1, 1};
  const std::uint64_t item = header.dtype == "<f4" ? 4 : 8;
  RecordFile f{path, false, header.data_offset, p * item, 0, arma::uword(n), {}};
  f.values = item == 4 ? RecordFile::Values::float32 : RecordFile::Values::float64;
  f.fortran = header.fortran_order;
  return f;
}

// The image array's header: dtype uint8, C order, (n, h, w) or (n, c, h, w);
// the records follow it.
RecordFile npy_image_file(const std::string& path, ImageShape& shape) {
  InputFile file(path, false);
  const NpyHeader header = read_npy_header(file, true);
  const std::vector<std::uint64_t>& dims = header.shape;
  if (header.dtype == "<f4" || header.dtype == "<f8") return npy_feature_file(path, header, shape);
  if (header.fortran_order)
    throw Error(path + ": Fortran-order arrays are not supported (save with C order)");
  if (header.dtype != "|u1")
    throw Error(path + ": images must be uint8 ('|u1') or a float32/float64 feature matrix, got '" +
                header.dtype + "'");
  if (dims.size() != 3 && dims.size() != 4)
    throw Error(path + ": images must have shape (n, h, w) or (n, c, h, w), got " +
                shape_text(dims));
  const std::uint64_t n = dims[0], c = dims.size() == 4 ? dims[1] : 1;
  const std::uint64_t h = dims[dims.size() - 2], w = dims[dims.size() - 1];
  if (n == 0) throw Error(path + ": holds zero images");
  if (c != 1 && c != 3)
    throw Error(path + ": images must have 1 or 3 channels, got " + std::to_string(c) + " (shape " +
                shape_text(dims) + "; channels come second)");
  if (h == 0 || w == 0) throw Error(path + ": image size " + size_text(h, w) + " is empty");
  shape = ImageShape{c, h, w};
  // C order n×c×h×w: each image is one contiguous, channel-first record.
  return RecordFile{path, false, header.data_offset, c * h * w, 0, arma::uword(n), {}};
}

template <typename T>
LabelVector labels_from(const NpyArray& a, const std::string& path) {
  LabelVector labels(a.shape[0]);
  for (arma::uword i = 0; i < labels.n_elem; ++i) {
    T v;
    std::memcpy(&v, a.bytes.data() + i * sizeof(T), sizeof(T));
    if constexpr (std::is_signed<T>::value) {
      if (v < 0)
        throw Error(path + ": label " + std::to_string(v) + " of item " + std::to_string(i) +
                    " is negative");
    }
    if (std::uint64_t(v) >= kMaxClasses)
      throw Error(path + ": label " + std::to_string(v) + " of item " + std::to_string(i) +
                  " is too large (at most " + std::to_string(kMaxClasses) +
                  " classes are supported)");
    labels[i] = std::uint16_t(v);
  }
  return labels;
}

// Float targets, shape (n,) or (n, k), C order: k×n, each finite
// (docs/design.md §10).
arma::mat npy_targets(const NpyArray& a, const std::string& path) {
  if (a.shape.size() != 1 && a.shape.size() != 2)
    throw Error(path + ": float targets must have shape (n,) or (n, k), got " +
                shape_text(a.shape));
  const std::uint64_t n = a.shape[0], k = a.shape.size() == 2 ? a.shape[1] : 1;
  if (k == 0) throw Error(path + ": targets of dimension 0 (shape " + shape_text(a.shape) + ")");
  if (k > kMaxClasses)
    throw Error(path + ": " + std::to_string(k) + " target dimensions (at most " +
                std::to_string(kMaxClasses) + " are supported)");
  const std::vector<double> values = npy_as_double(a, path);
  // C order (n, k): sample i's k targets are contiguous, a column of k×n.
  arma::mat targets(values.data(), arma::uword(k), arma::uword(n));
  if (!targets.is_finite()) {
    const arma::uword at = arma::uvec(arma::find_nonfinite(targets))[0];
    throw Error(path + ": target " + std::to_string(at % k) + " of item " + std::to_string(at / k) +
                " is not a finite number");
  }
  return targets;
}

LabelVector npy_labels(const NpyArray& a, const std::string& path) {
  const std::string& t = a.dtype;
  if (t[1] != 'i' && t[1] != 'u')
    throw Error(path + ": labels must be integers (or float targets), got '" + t + "'");
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

// y_*.npy: integer class labels (1-D), or float targets.
void read_npy_targets(const std::string& path, SplitSource& split) {
  {
    // Read whole, then converted: the file's bytes, and for float targets
    // their doubles twice over (the values and the k×n matrix).
    InputFile file(path, false);
    const NpyHeader header = read_npy_header(file);
    const double bytes = double(header.data_bytes),
                 values = double(header.data_bytes) / double(header.dtype == "<f4" ? 4 : 8);
    check_memory("reading " + path, {{"its data", bytes},
                                     {"its values", header.dtype[1] == 'f' ? 16.0 * values : 0.0}});
  }
  const NpyArray a = read_npy(path);
  const std::string& t = a.dtype;
  if (t[1] == 'f') {
    split.targets = npy_targets(a, path);
    return;
  }
  split.labels = npy_labels(a, path);
}

SplitSource npy_split(const std::string& dir, const std::string& which, ImageShape& shape) {
  const std::string x_path = join_path(dir, "x_" + which + ".npy");
  const std::string y_path = join_path(dir, "y_" + which + ".npy");
  SplitSource split;
  split.files.push_back(npy_image_file(x_path, shape));
  split.dim = shape.size();
  split.feature_matrix = split.files[0].values != RecordFile::Values::uint8;
  read_npy_targets(y_path, split);
  if (split.size() != split.files[0].count)
    throw Error(y_path + ": holds " + std::to_string(split.size()) +
                (split.regression() ? " targets" : " labels") + " but " + x_path + " holds " +
                std::to_string(split.files[0].count) +
                (split.feature_matrix ? " samples" : " images"));
  return split;
}

DatasetSource open_idx(const std::string& dir, const std::string& name) {
  DatasetSource ds;
  ds.name = name;
  ImageShape test_shape;
  ds.train = idx_split(dir, "train", ds.shape);
  ds.test = idx_split(dir, "t10k", test_shape);
  if (!same_shape(ds.shape, test_shape))
    throw Error(ds.test.files[0].path + ": test images are " +
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

DatasetSource open_cifar10(const std::string& dir) {
  const std::string folder = cifar_folder(dir, "data_batch_1.bin", "cifar-10-batches-bin");
  const CifarFormat fmt = cifar10_format();
  const std::vector<std::string> train_paths = cifar10_train_files(folder);
  DatasetSource ds;
  ds.name = "cifar10";
  ds.shape = ImageShape{3, 32, 32};
  ds.num_classes = 10;
  ds.train = cifar_split(train_paths, fmt);
  ds.test = cifar_split({join_path(folder, "test_batch.bin")}, fmt);
  ds.class_names = read_class_names(join_path(folder, "batches.meta.txt"), 10, "CIFAR-10");
  return ds;
}

DatasetSource open_cifar100(const std::string& dir, bool coarse) {
  const std::string folder = cifar_folder(dir, "train.bin", "cifar-100-binary");
  const CifarFormat fmt = cifar100_format(coarse);
  const arma::uword k = coarse ? 20 : 100;
  DatasetSource ds;
  ds.name = "cifar100";
  ds.shape = ImageShape{3, 32, 32};
  ds.num_classes = k;
  ds.train = cifar_split({join_path(folder, "train.bin")}, fmt);
  ds.test = cifar_split({join_path(folder, "test.bin")}, fmt);
  ds.class_names = read_class_names(
      join_path(folder, coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), k,
      coarse ? "CIFAR-100 (coarse)" : "CIFAR-100 (fine)");
  return ds;
}

DatasetSource open_npy(const std::string& dir) {
  DatasetSource ds;
  ds.name = "npy";
  ImageShape test_shape;
  ds.train = npy_split(dir, "train", ds.shape);
  ds.test = npy_split(dir, "test", test_shape);
  if (ds.train.feature_matrix != ds.test.feature_matrix)
    throw Error(join_path(dir, "x_train.npy") + " and " + join_path(dir, "x_test.npy") +
                ": one holds uint8 images and the other a float feature matrix");
  if (ds.feature_matrix() && test_shape.channels != ds.shape.channels)
    throw Error(join_path(dir, "x_test.npy") + ": " + std::to_string(test_shape.channels) +
                " features a sample but the training samples have " +
                std::to_string(ds.shape.channels));
  if (!same_shape(ds.shape, test_shape))
    throw Error(join_path(dir, "x_test.npy") + ": test images are " + shape_text(test_shape) +
                " (channels x height x width) but the training images are " + shape_text(ds.shape));
  if (ds.train.regression() != ds.test.regression())
    throw Error(join_path(dir, "y_train.npy") + " and " + join_path(dir, "y_test.npy") +
                ": one holds float targets and the other integer labels");
  if (!ds.regression()) {
    ds.num_classes = max_label(ds) + 1;
    ds.class_names = number_names(ds.num_classes);
    return ds;
  }
  ds.num_classes = ds.train.targets.n_rows;
  if (ds.test.targets.n_rows != ds.num_classes)
    throw Error(join_path(dir, "y_test.npy") + ": targets of dimension " +
                std::to_string(ds.test.targets.n_rows) + " but the training targets have " +
                std::to_string(ds.num_classes));
  for (arma::uword j = 0; j < ds.num_classes; ++j)
    ds.class_names.push_back("y" + std::to_string(j));
  return ds;
}

SplitSource view_split(const Split& split) {
  SplitSource source;
  source.dim = split.pixels.n_rows;
  if (!split.labels.is_empty() && split.labels.max() >= kMaxClasses)
    throw Error("label " + std::to_string(split.labels.max()) + " is too large (at most " +
                std::to_string(kMaxClasses) + " classes are supported)");
  source.labels = arma::conv_to<LabelVector>::from(split.labels);
  source.targets = split.targets;
  source.memory = &split.pixels;
  if (split.features.n_rows > 0) {
    source.dim = split.features.n_rows;
    source.feature_matrix = true;
    source.memory = nullptr;
    source.memory_features = &split.features;
  }
  return source;
}

}  // namespace

arma::uvec labels_of(const SplitSource& split, arma::uword first, arma::uword count) {
  if (count == 0) return arma::uvec();
  if (first + count > split.labels.n_elem || first + count < first)
    throw Error(split.regression() ? "real targets are not class labels"
                                   : "sample range out of the labels' bounds");
  return arma::conv_to<arma::uvec>::from(split.labels.subvec(first, first + count - 1));
}

arma::uvec labels_of(const SplitSource& split, const arma::uvec& indices) {
  if (!indices.is_empty() && indices.max() >= split.labels.n_elem)
    throw Error(split.regression() ? "real targets are not class labels"
                                   : "sample index out of the labels' bounds");
  return arma::conv_to<arma::uvec>::from(split.labels.elem(indices));
}

arma::mat targets_of(const SplitSource& split, arma::uword first, arma::uword count) {
  if (!split.regression()) throw Error("class labels are not real targets");
  if (count == 0) return arma::mat(split.targets.n_rows, 0);
  if (first + count > split.targets.n_cols || first + count < first)
    throw Error("sample range out of the targets' bounds");
  return split.targets.cols(first, first + count - 1);
}

arma::mat targets_of(const SplitSource& split, const arma::uvec& indices) {
  if (!split.regression()) throw Error("class labels are not real targets");
  if (!indices.is_empty() && indices.max() >= split.targets.n_cols)
    throw Error("sample index out of the targets' bounds");
  return split.targets.cols(indices);
}

DatasetSource open_stream_dataset(const std::string& name, const std::string& dir, bool coarse) {
  const DatasetLocation at = locate_dataset(name, dir, coarse);
  switch (at.format) {
    case DatasetFormat::idx:
      return open_idx(at.dir, at.name);
    case DatasetFormat::cifar10:
      return open_cifar10(at.dir);
    case DatasetFormat::cifar100:
      return open_cifar100(at.dir, coarse);
    case DatasetFormat::npy:
      break;
  }
  return open_npy(at.dir);
}

DatasetSource view_dataset(const Dataset& data) {
  DatasetSource ds;
  ds.name = data.name;
  ds.shape = data.shape;
  ds.num_classes = data.num_classes;
  ds.class_names = data.class_names;
  ds.train = view_split(data.train);
  ds.test = view_split(data.test);
  return ds;
}

}  // namespace krrdistill
