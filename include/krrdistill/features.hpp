// Feature maps phi: R^d -> R^p (docs/design.md §3 step 3). Each is a small value
// type; FeatureMap is their variant, and free functions dispatch on it.
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace krrdistill {

// phi(x) = x.
struct LinearMap {
  arma::uword dim = 0;
};

// phi(x) = sqrt(2/p) cos(A x + b), A p×d with i.i.d. N(0, 1/sigma²), b uniform on [0, 2π).
struct RandomFourierMap {
  arma::mat A;  // p×d
  arma::vec b;  // p
  double sigma = 1.0;
};

// L hidden layers, no bias: h_l = leaky_relu_a(M_l h_{l-1}), phi(x) = h_L.
// M_l is width×fan_in with i.i.d. N(0, 1/fan_in).
struct FcnnMap {
  std::vector<arma::mat> layers;  // M_1 (w×d), M_2..M_L (w×w)
  double slope = 0.1;             // a of leaky ReLU; 1 makes the network linear
};

using FeatureMap = std::variant<LinearMap, RandomFourierMap, FcnnMap>;

// What the command line asks for; the map itself is regenerated from it
// bit-identically (same seed, same numbers), so it never needs to be saved.
struct FeatureMapSpec {
  std::string kind = "linear";  // "linear", "rff", "fcnn"
  arma::uword features = 0;     // rff: p (0 = d)
  double rff_sigma = 0.0;       // rff: sigma (0 = default_rff_sigma(d))
  arma::uword layers = 1;       // fcnn: L
  arma::uword width = 0;        // fcnn: width (0 = d)
  double slope = 0.1;           // fcnn: leaky ReLU slope
  std::uint64_t seed = 0;
};

// Default RFF bandwidth for standardised inputs of dimension d: sqrt(d), the
// median-distance heuristic (‖x − y‖² ≈ 2d between standardised images).
double default_rff_sigma(arma::uword input_dim);

FeatureMap make_feature_map(const FeatureMapSpec& spec, arma::uword input_dim);

std::string kind_name(const FeatureMap& map);  // "linear", "rff", "fcnn"
arma::uword input_dim(const FeatureMap& map);
arma::uword feature_dim(const FeatureMap& map);

// Phi = phi(X): d×n -> p×n.
arma::mat map_features(const FeatureMap& map, const arma::mat& X);

// The same in single precision, for the samples of a dataset: the passes
// over the data use it (twice the speed, half the memory), while the
// distilled points, whose features must give the model back to the
// certificate's tolerance, use map_features (docs/design.md §12).
arma::fmat sample_features(const FeatureMap& map, const arma::mat& X);
arma::fmat sample_features(const FeatureMap& map, const arma::fmat& Xf);
// The same into Phi, already p×n: a view of a feature cache's columns takes
// them where they are kept, without a chunk-sized copy.
void sample_features_into(const FeatureMap& map, const arma::fmat& Xf, arma::fmat& Phi);
// The same from the first layer's pre-activations H (w×n in single
// precision; RFF: A x + b, FCNN: M_1 x) formed elsewhere (pixel_features.hpp):
// RFF's cosine, or FCNN's activations and the layers after the first, into
// Phi (p×n). H is overwritten, and may be Phi itself for RFF or a one-layer
// FCNN.
void features_from_first_layer(const FeatureMap& map, arma::fmat& H, arma::fmat& Phi);

// Empty when every p-vector (for RFF: with entries |sqrt(p/2) u| <= 1) has a
// preimage; otherwise why not (injective shape: p > d or a layer wider than its input).
std::string surjectivity_problem(const FeatureMap& map);

// The factor c >= 1 that Phi must be divided by to lie in the map's range
// (RFF: max(1, sqrt(p/2)·max|Phi|); 1 for the others). docs/design.md §3 step 3.
double range_scale(const FeatureMap& map, const arma::mat& Phi);

// Xs with phi(Xs) = Phi, one column per column of X0 (d×m; zeros give the
// minimum-norm preimage). Linear: Phi. FCNN: the preimage nearest x0, layer by
// layer. RFF (docs/design.md §3 step 3): the arccos branch nearest A x0 + b entry by
// entry, then the smallest correction x − x0 onto that branch; this makes
// ‖A(x − x0)‖ smallest, which for p < d is not always the Euclidean nearest
// preimage (that would be a closest-vector search over branches).
// Requires surjectivity and Phi in range.
arma::mat invert_features(const FeatureMap& map, const arma::mat& Phi, const arma::mat& X0);

// Gradient with respect to X (d×n) of sum(dPhi % phi(X)), i.e. the
// vector-Jacobian product that back-propagates dL/dPhi to dL/dX.
arma::mat backprop_features(const FeatureMap& map, const arma::mat& X, const arma::mat& dPhi);

}  // namespace krrdistill
