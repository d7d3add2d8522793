#include "krrdistill/data.hpp"

#include <future>

#include "krrdistill/error.hpp"
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
