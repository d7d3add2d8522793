// Adam (Kingma & Ba, 2015) with bias correction, used by KIP for the support
// inputs Xs and, when labels are learned, for Ys (docs/design.md §4).
#pragma once

#include <armadillo>

namespace krrdistill {

// Hyper-parameters and state for ONE parameter matrix.
struct Adam {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  arma::mat m;        // first-moment estimate (empty before the first step)
  arma::mat v;        // second-moment estimate
  arma::uword t = 0;  // steps taken
};

// One descent step on param given dL/dparam (same shape):
// m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², param −= lr m̂ / (sqrt(v̂) + eps)
// with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t). The first step moves each entry by
// lr·g/(|g| + eps) ≈ lr·sign(g).
void adam_step(Adam& adam, arma::mat& param, const arma::mat& grad);

}  // namespace krrdistill
