// Out-of-core datasets. The analytic method needs only sums over samples
// (docs/design.md §2), so the pixels need never be held whole: opening a dataset
// reads its metadata and labels (one byte an image on disk), and the pixels
// of any sample range are read from the files on demand, chunk by chunk.
// A split may instead point at pixels held in memory (the default path),
// and the passes over it (sample_chunks.hpp) do not care which.
#pragma once

#include <armadillo>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/data_source.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

// A file of fixed-size records, each holding one image's pixels
// (channel-first, as a column of X) at pixel_offset.
struct RecordFile {
  std::string path;
  bool gzip = false;               // read sequentially through zlib
  std::uint64_t data_offset = 0;   // bytes before the first record (after inflating)
  std::uint64_t record_size = 0;   // bytes a record
  std::uint64_t pixel_offset = 0;  // CIFAR: the label bytes before the pixels
  arma::uword count = 0;           // records
  // Gzip IDX images: "header says N images of HxW (B bytes)", to name a
  // length that differs from the header's once the end is read.
  std::string header_claim;
  // Feature matrices (docs/design.md §11): float32 or float64 values, a
  // record of record_size bytes a sample, or with fortran one feature's
  // values of all count samples after another.
  enum class Values { uint8, float32, float64 } values = Values::uint8;
  bool fortran = false;
};

// Labels at 2 bytes a sample (the readers refuse labels from 65536 on): the
// only per-sample memory of a streamed run.
using LabelVector = arma::Col<std::uint16_t>;

struct SplitSource {
  arma::uword dim = 0;                  // d
  LabelVector labels;                   // every label of the split (n), or
  arma::mat targets;                    // k×n real targets (regression; 0×0 with labels)
  std::vector<RecordFile> files;        // the records in sample order, or
  const PixelMatrix* memory = nullptr;  // pixels in memory for samples
  arma::uword memory_first = 0;         // [memory_first, memory_first + memory->n_cols)
  // A feature matrix (docs/design.md §11): float inputs instead of pixels,
  // read by read_features; in memory (p×n) when memory_features is set.
  bool feature_matrix = false;
  const arma::mat* memory_features = nullptr;
  // Real targets (k×n, kept whole: k doubles a sample) instead of class labels.
  bool regression() const { return targets.n_rows > 0; }
  arma::uword size() const { return regression() ? targets.n_cols : labels.n_elem; }
};

// A dataset as its readers open it: every format's headers and labels, the
// pixels read on demand (PixelReader, for_each_pixel_chunk); load_dataset
// reads them all into memory through the same reader.
struct DatasetSource {
  std::string name;  // as Dataset::name
  ImageShape shape;
  arma::uword num_classes = 0;  // k: classes, or target dimensions when regression()
  std::vector<std::string> class_names;
  SplitSource train;
  SplitSource test;
  bool regression() const { return train.regression(); }
  // Float feature vectors (shape {p, 1, 1}: one feature a channel) instead of images.
  bool feature_matrix() const { return train.feature_matrix; }
};
using StreamDataset = DatasetSource;

// Labels of samples [first, first + count), and of the listed samples.
arma::uvec labels_of(const SplitSource& split, arma::uword first, arma::uword count);
arma::uvec labels_of(const SplitSource& split, const arma::uvec& indices);
// Real targets (k×count) of samples [first, first + count), and of the listed
// samples, of a regression split.
arma::mat targets_of(const SplitSource& split, arma::uword first, arma::uword count);
arma::mat targets_of(const SplitSource& split, const arma::uvec& indices);

// Headers and labels only, checked as load_dataset checks them (same
// arguments; .npy images must not be compressed, as for load_dataset).
DatasetSource open_stream_dataset(const std::string& name, const std::string& dir, bool coarse);

// A dataset already in memory; the splits point into data, which must outlive the result.
DatasetSource view_dataset(const Dataset& data);

// Reads pixel columns of one split. For gzip files a stream stays open
// between calls, so ranges read in increasing order inflate each byte once
// (a range before the current position restarts from the beginning).
class PixelReader {
 public:
  explicit PixelReader(const SplitSource& source);
  ~PixelReader();
  PixelReader(const PixelReader&) = delete;
  PixelReader& operator=(const PixelReader&) = delete;

  // Pixels (d×count) of samples [first, first + count). A whole gzip IDX
  // file is inflated in one call to libdeflate, straight into the result.
  PixelMatrix read(arma::uword first, arma::uword count);
  // The same into the first count columns of out (resized only when too small).
  void read(arma::uword first, arma::uword count, PixelMatrix& out);
  // Pixels of the listed samples, in the listed order.
  PixelMatrix gather(const arma::uvec& indices);

 private:
  struct Open;
  void read_into(arma::uword first, arma::uword count, std::uint8_t* out);
  void read_records(std::size_t file, arma::uword first, arma::uword count, std::uint8_t* out);
  const SplitSource& source_;
  std::vector<arma::uword> file_first_;  // first sample of each file
  std::vector<std::unique_ptr<Open>> open_;
};

// Feature values (p×count) of samples [first, first + count) of a feature
// matrix, from memory or its file, each checked finite; and of the listed
// samples (ascending runs are read at once).
arma::mat read_features(const SplitSource& split, arma::uword first, arma::uword count);
arma::mat gather_features(const SplitSource& split, const arma::uvec& indices);

// Calls visit(first, pixels, column, count) for consecutive chunks of samples
// [range.first, range.last) of a split: the chunk's pixels are columns
// [column, column + count) of pixels, a matrix held in memory (no copy) or a
// buffer just read from the files (the next chunk is read meanwhile).
using PixelVisitor = std::function<void(arma::uword first, const PixelMatrix& pixels,
                                        arma::uword column, arma::uword count)>;
void for_each_pixel_chunk(const SplitSource& split, const Range& range, arma::uword chunk,
                          const PixelVisitor& visit);

// The one preprocessing fit (fit_preprocessor on pixels in memory is this
// on a view of them): per-channel integer sums Σ q, Σ q² of this process's shard
// (shard_range(n, comm, chunk)), summed over processes as exact integers,
// then for ZCA a streamed pass for the d×d second moment from the exact
// integer moments of the pixels (pixel_moments.hpp), decomposed on rank 0
// and broadcast. Standardisation must be
// known before any feature is formed (the maps are nonlinear), hence this
// cheap pass over the raw bytes before the statistics.
Preprocessor fit_preprocessor(const DatasetSource& data, bool zca, double zca_reg_fraction,
                              arma::uword chunk, const Communicator& comm);

// A feature matrix's preprocessing (docs/design.md §11): with standardize,
// each feature's mean and std over the training samples (two passes, each
// chunk's sums added as compensated sums over this process's shard and then
// across comm: the same bits for any process count), refusing a constant
// feature; otherwise mean 0 and std 1.
Preprocessor fit_feature_preprocessor(const DatasetSource& data, bool standardize,
                                      arma::uword chunk, const Communicator& comm);
// The preprocessing source asks for, on images or a feature matrix: ZCA is
// for images, standardize for feature matrices (images are always
// standardised per channel); each refused on the other.
Preprocessor fit_input_preprocessor(const DatasetSource& data, const DataSource& source,
                                    arma::uword chunk, const Communicator& comm);
// Model inputs (d×count) of the listed training samples, on every process;
// each reads those inside its own shard (the others contribute zeros to a sum).
arma::mat model_inputs(const Preprocessor& pre, const SplitSource& split, const arma::uvec& indices,
                       const Range& shard, const Communicator& comm);

}  // namespace krrdistill
