// A feature matrix's picture (docs/design.md §11): images have a grid of
// the distilled images, feature vectors this instead. Training samples, each
// class's mean and the distilled points, projected on the first two
// principal directions of the training samples in model input space.
#pragma once

#include <armadillo>
#include <string>
#include <vector>

#include "krrdistill/distributed.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/stream.hpp"

namespace krrdistill {

struct PrincipalPlane {
  arma::uword n_train = 0;   // training samples in all
  arma::mat samples;         // 2×s: the s evenly spaced training samples the plane is fitted on
  arma::uvec sample_labels;  // s (empty for real targets)
  arma::mat class_means;     // 2×k over those samples (empty for real targets)
  arma::mat distilled;       // 2×m
  arma::vec variance;        // the two directions' share of the samples' variance
};

// The s = min(n, 1000, 6.25e6/p) training samples i·n/s (so at most 50 MB
// of inputs), read by the processes whose shards hold them (every process
// of comm calls it); their centred SVD gives the two directions, each
// signed so that its largest entry is positive (the same plot every run).
PrincipalPlane principal_plane(const StreamDataset& data, const Preprocessor& pre,
                               const arma::mat& Xs, const Range& shard, const Communicator& comm);

// Draws it as a PNG (plot.hpp): samples, class means labelled by class,
// distilled points labelled by the class (or target dimension) of column j mod k.
void write_principal_plane_png(const std::string& path, const PrincipalPlane& plane,
                               const std::vector<std::string>& class_names);

}  // namespace krrdistill
