#include "krrdistill/data.hpp"

#include <future>

#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

namespace {

// Every pixel of a split, through the same reader as a streamed run.
Split read_split(const SplitSource& source) {
  Split split;
  split.labels = arma::conv_to<arma::uvec>::from(source.labels);
  split.targets = source.targets;
  if (source.feature_matrix) {
    split.features = read_features(source, 0, source.size());
    return split;
  }
  PixelReader reader(source);
  split.pixels = reader.read(0, source.size());
  return split;
}

}  // namespace

Dataset load_dataset(const std::string& name, const std::string& dir, bool coarse) {
  const DatasetSource source = open_stream_dataset(name, dir, coarse);
  if (source.feature_matrix()) {
    // Both splits at once, each value as a double and, while read, as the
    // file's bytes (at most 8 more).
    const auto values = [&](const SplitSource& s) { return double(s.dim) * double(s.size()); };
    check_memory("holding the feature matrix in memory (--stream reads it chunk by chunk)",
                 {{"training values", 16.0 * values(source.train)},
                  {"test values", 16.0 * values(source.test)}});
  }
  Dataset ds;
  ds.name = source.name;
  ds.shape = source.shape;
  ds.num_classes = source.num_classes;
  ds.class_names = source.class_names;
  // Inflating is the slow part (about 0.2 s for Fashion-MNIST's training
  // images), so the test split is read on a second thread meanwhile. Errors
  // stay deterministic: a training-split error is reported first.
  std::future<Split> test =
      std::async(std::launch::async, [&source] { return read_split(source.test); });
  ds.train = read_split(source.train);
  ds.test = test.get();
  return ds;
}

namespace {

// The pixels of one split against the shape, and their count against the
// labels' or targets' (count, named what).
void check_split(const std::string& name, const std::string& split, const PixelMatrix& pixels,
                 arma::uword d, arma::uword count, const std::string& what) {
  if (pixels.n_rows != d)
    throw Error(name + ": " + split + " images of " + std::to_string(pixels.n_rows) +
                " values, the shape says " + std::to_string(d));
  if (count != pixels.n_cols)
    throw Error(name + ": " + std::to_string(pixels.n_cols) + " " + split + " images but " +
                std::to_string(count) + " " + what);
}

Dataset described(const std::string& name, const ImageShape& shape, arma::uword k,
                  const std::string& prefix) {
  if (shape.size() == 0) throw Error(name + ": the image shape is empty");
  Dataset data;
  data.name = name;
  data.shape = shape;
  data.num_classes = k;
  for (arma::uword c = 0; c < k; ++c) data.class_names.push_back(prefix + std::to_string(c));
  return data;
}

}  // namespace

Dataset make_dataset(PixelMatrix train_pixels, arma::uvec train_labels, PixelMatrix test_pixels,
                     arma::uvec test_labels, const ImageShape& shape, arma::uword num_classes,
                     const std::string& name) {
  Dataset data = described(name, shape, num_classes, "");
  if (num_classes < 2) throw Error(name + ": needs at least 2 classes");
  const auto check = [&](const std::string& split, const PixelMatrix& pixels,
                         const arma::uvec& labels) {
    check_split(name, split, pixels, shape.size(), labels.n_elem, "labels");
    if (!labels.is_empty() && labels.max() >= num_classes)
      throw Error(name + ": a " + split + " label is " + std::to_string(labels.max()) +
                  ", expected 0.." + std::to_string(num_classes - 1));
  };
  check("training", train_pixels, train_labels);
  check("test", test_pixels, test_labels);
  data.train = {std::move(train_pixels), std::move(train_labels), {}, {}};
  data.test = {std::move(test_pixels), std::move(test_labels), {}, {}};
  return data;
}

Dataset make_regression_dataset(PixelMatrix train_pixels, arma::mat train_targets,
                                PixelMatrix test_pixels, arma::mat test_targets,
                                const ImageShape& shape, const std::string& name) {
  const arma::uword k = train_targets.n_rows;
  Dataset data = described(name, shape, k, "y");
  if (k == 0 || k > kMaxClasses)
    throw Error(name + ": " + std::to_string(k) + " target dimensions (1 to " +
                std::to_string(kMaxClasses) + " are supported)");
  const auto check = [&](const std::string& split, const PixelMatrix& pixels,
                         const arma::mat& targets) {
    check_split(name, split, pixels, shape.size(), targets.n_cols, "targets");
    if (targets.n_rows != k)
      throw Error(name + ": " + split + " targets of dimension " + std::to_string(targets.n_rows) +
                  ", the training targets have " + std::to_string(k));
    if (!targets.is_finite()) throw Error(name + ": a " + split + " target is not finite");
  };
  check("training", train_pixels, train_targets);
  check("test", test_pixels, test_targets);
  data.train = {std::move(train_pixels), {}, std::move(train_targets), {}};
  data.test = {std::move(test_pixels), {}, std::move(test_targets), {}};
  return data;
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
