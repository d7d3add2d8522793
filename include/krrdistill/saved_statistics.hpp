// A dataset's sufficient statistics in a file (docs/design.md §9): enough to
// fit the original model and distill it without the data, and to add the
// statistics of more data later. A linear map keeps the exact integer pixel
// moments, from which the preprocessing follows after any merge; any other
// map keeps G and B of its features as compensated sums, under a
// preprocessing fixed before the first feature was formed. The file format
// is statistics_file.hpp's.
#pragma once

#include <armadillo>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/data_source.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

// One dataset summed into a statistics file, for the report.
struct StatisticsPart {
  std::string dataset;  // name given to load_dataset
  std::string dir;      // absolute folder
  arma::uword n_train = 0;
  std::uint64_t fingerprint = 0;  // sum of the samples' 64-bit hashes (pixels and label)
  std::string preprocessing;  // nonlinear map: "fitted" or "from FILE" (the --preprocessing file)
};

struct SavedStatistics {
  Dataset description;      // name, shape, classes, class names; no pixels
  arma::uvec class_counts;  // training samples of each class
  FeatureMapSpec spec;      // resolved (rff p and sigma, fcnn width), with its seed
  bool zca = false;
  double zca_reg_fraction = 0.1;
  double validation_fraction = 0.05;
  std::uint64_t validation_seed = 0;
  Preprocessor pre;                  // nonlinear map: the fixed preprocessing
  std::string preprocessing_origin;  // nonlinear map: the folder its preprocessing was fitted on
  std::vector<StatisticsPart> parts;
  FitSums sums;
};

struct StatisticsConfig {
  DataSource source;
  FeatureMapSpec spec;
  FitOptions fit;  // validation fraction, seed and chunk (λ is chosen at distill time)
};

// The statistics of data, described as config.source (every process of comm
// calls it; the result is complete on all). A nonlinear map's preprocessing
// is fitted on data, or, when fixed is given, taken from that statistics
// file (read from fixed_path, which the report names). A class may have no
// sample here; distilling from the merge needs every class.
SavedStatistics compute_statistics(const StreamDataset& data, const StatisticsConfig& config,
                                   const SavedStatistics* fixed, const Communicator& comm,
                                   const Progress& progress, const std::string& fixed_path = "");

// The sums of several files of the same map, seed, preprocessing, shape and
// classes (refused with an Error naming what differs), of different data
// (parts with the same samples, by count and fingerprint, are refused;
// parts that merely overlap cannot be told).
SavedStatistics merge_statistics(const std::vector<SavedStatistics>& parts,
                                 const std::vector<std::string>& names);

// The original model from statistics (fit_from_sums), after checking that
// the map and G fit in memory.
Model fit_statistics(const SavedStatistics& stats, const FitOptions& options);

}  // namespace krrdistill
