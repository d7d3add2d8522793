// Exact one-shot distillation of KRR (Chen, Huang & Weng, NeurIPS 2024;
// docs/design.md §3): m = ipc·k points (Xs, Ys) whose KRR fit at λs equals W.
#pragma once

#include <armadillo>
#include <cstdint>
#include <string>

#include "krrdistill/features.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

enum class Init { noise, real };

Init parse_init(const std::string& text);
std::string init_name(Init init);

struct AnalyticOptions {
  arma::uword ipc = 1;
  Init init = Init::noise;
  double lambda_s = 0.0;  // requested λs
  std::uint64_t seed = 0;
  double noise_scale = 1.0;  // std of Z relative to std(Ys⁺W), noise init (§3 step 1)
};

struct DistilledSet {
  arma::mat Xs;                 // d×m inputs, model input space
  arma::mat Ys;                 // k×m labels (after range scaling)
  arma::mat Phis;               // p×m target features (after range scaling)
  bool learned_labels = false;  // real init: Ys = W (Phi0⁺_λs)⁺ had rank k
  double lambda_s_requested = 0.0;
  double lambda_s_clamped = 0.0;  // after λs <= ipc/(4‖W‖₂²) and the real-σ bound 1/(4 s_max²)
  double lambda_s = 0.0;          // what the distilled model uses (after range scaling)
  double range_scale = 1.0;       // c of §3 step 3 (RFF), 1 otherwise
};

// Training indices of the real starting images: ipc per class, column j of
// class j mod k, drawn without replacement with the seed's real_init stream
// (transfer's random subsets: its own stream). Throws when a class has fewer
// than ipc images.
arma::uvec choose_real_images(const arma::uvec& labels, arma::uword num_classes, arma::uword ipc,
                              std::uint64_t seed, RngStream stream = RngStream::real_init);

// Training indices of m distinct starting samples for real targets (no
// classes, docs/design.md §10), drawn uniformly without replacement with the
// real_init stream, in the order drawn. Throws when m > n.
arma::uvec choose_real_samples(arma::uword n, arma::uword m, std::uint64_t seed);
// One-hot labels of the distilled set: column j of class j mod k (k×m).
arma::mat distilled_one_hot(arma::uword num_classes, arma::uword ipc);

// §3 steps 1–3. W: k×p weights of the original model. X0: d×m real starting
// images in model input space for Init::real (ignored for noise).
DistilledSet distill_analytic(const FeatureMap& map, const arma::mat& W, const arma::mat& X0,
                              const AnalyticOptions& options);

}  // namespace krrdistill
