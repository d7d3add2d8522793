// The KIP objective (Nguyen, Chen & Lee, ICLR 2021; docs/design.md §4) and Label
// Solve: a support set (Xs d×m, Ys k×m) is fitted by kernel ridge
// regression with Kss_reg = Kss + ε·tr(Kss)/m·I (ε = kKipRegularizer unless
// a function is given another eps); the loss on a target batch (Xt d×nt,
// Yt k×nt one-hot) is 0.5·mean((Kts Kss_reg⁻¹ Ysᵀ − Ytᵀ)²) over nt·k entries.
// Its gradients, the labels that minimise it, and the support's predictions.
// The optimisation loop is kip.hpp.
#pragma once

#include <armadillo>

#include "krrdistill/data.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/kernels.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/preprocess.hpp"

namespace krrdistill {

inline constexpr double kKipRegularizer = 1e-6;  // ε of Kss_reg

// Refuses an empty support, non-finite entries, or labels not k×m.
void check_kip_support(const arma::mat& Xs, const arma::mat& Ys);

struct KipGradient {
  double loss = 0.0;
  arma::mat dXs;  // d×m, through Kts, Kss and the trace term of the regulariser
  arma::mat dYs;  // k×m
};

// A float batch Xt makes the ReLU kernels' products with it float GEMMs
// (kernels.hpp, docs/design.md §4); the other kernels read its values in double.
double kip_loss(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys, const arma::mat& Xt,
                const arma::mat& Yt, double eps = kKipRegularizer);
double kip_loss(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                const arma::fmat& Xt, const arma::mat& Yt, double eps = kKipRegularizer);

KipGradient kip_loss_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                              const arma::mat& Xt, const arma::mat& Yt,
                              double eps = kKipRegularizer);
KipGradient kip_loss_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                              const arma::fmat& Xt, const arma::mat& Yt,
                              double eps = kKipRegularizer);

// Label Solve: Ys = Yt (Kss_reg⁻¹ Kst)⁺ (k×m), the labels that minimise the
// KIP loss on the batch. Solved as least squares Kts α = Ytᵀ (thin SVD of
// Kts, minimum-norm α when rank deficient), then Ysᵀ = Kss_reg α: the same
// minimum, without the 1/ε amplification of Kss's null space.
arma::mat label_solve(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                      const arma::mat& Yt, double eps = kKipRegularizer);

// Label Solve and the loss with its Xs-gradient at the solved labels, from
// one kernel evaluation. At the optimum ∂L/∂Ys = 0, so dXs is also the
// gradient of the label-solved loss Xs ↦ L(Xs, Ys*(Xs)). gradient.dYs is empty.
struct LabelSolveStep {
  arma::mat Ys;
  KipGradient gradient;
};
LabelSolveStep label_solve_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                                    const arma::mat& Yt, double eps = kKipRegularizer);
LabelSolveStep label_solve_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::fmat& Xt,
                                    const arma::mat& Yt, double eps = kKipRegularizer);

// Whole training set, feature kernels only, from the statistics G = Phi Phiᵀ,
// B = Y Phiᵀ (no pass over the samples). With H = Phis Kss_reg⁻¹ (p×m):
// Label Solve minimises ‖Phiᵀ H Ysᵀ − Yᵀ‖², i.e. (Hᵀ G H) Ysᵀ = Hᵀ Bᵀ,
// solved as (Phisᵀ G Phis) α = Phisᵀ Bᵀ on the eigenvectors of that m×m
// matrix (minimum-norm α when singular), Ysᵀ = Kss_reg α; the loss with
// w = Phis Kss_reg⁻¹ Ysᵀ (p×k) is 0.5/(n·k)·(tr(wᵀ G w) − 2 tr(B w) + n)
// (Y one-hot, so ‖Y‖² = n).
arma::mat label_solve_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                           double eps = kKipRegularizer);
double kip_loss_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                     const arma::mat& Ys, double eps = kKipRegularizer);

// Scores (k×nq) of the KRR fit on the support at the query inputs Xq:
// (K(Xq, Xs) Kss_reg⁻¹ Ysᵀ)ᵀ; the predicted class is the argmax of a column.
arma::mat kip_predict(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                      const arma::mat& Xq, double eps = kKipRegularizer);

// The predicted class of every image of a split, in order: model inputs made
// and scored `chunk` columns at a time, so memory stays bounded.
arma::uvec kip_classes(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                       const Preprocessor& pre, const Split& split, arma::uword chunk = 1000,
                       double eps = kKipRegularizer);

// Accuracy on a whole split, from kip_classes.
double kip_accuracy(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                    const Preprocessor& pre, const Split& split, arma::uword chunk = 1000,
                    double eps = kKipRegularizer);

}  // namespace krrdistill
