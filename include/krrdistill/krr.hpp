// Kernel ridge regression in feature space (DESIGN §1–§2): sufficient
// statistics, the eigen ridge path for the λ sweep, fits and predictions.
#pragma once

#include <armadillo>
#include <vector>

namespace krrdistill {

// G = Phi Phiᵀ (p×p) and B = Y Phiᵀ (k×p), sums over samples (DESIGN §2).
struct Statistics {
  arma::mat G;
  arma::mat B;
  arma::uword count = 0;
};

Statistics zero_statistics(arma::uword p, arma::uword k);

// Adds a chunk Phi (p×n) with its labels: G += Phi Phiᵀ (SYRK), B += Y Phiᵀ.
void accumulate(Statistics& stats, const arma::mat& Phi, const arma::uvec& labels);

Statistics operator+(const Statistics& a, const Statistics& b);

// One symmetric eigendecomposition G = V diag(g) Vᵀ serves every λ:
// W(λ) = C diag(1/(g+λ)) Vᵀ with C = B V (DESIGN §2).
struct RidgePath {
  arma::vec g;
  arma::mat V;
  arma::mat C;
};

RidgePath ridge_path(const Statistics& stats);

// W(λ) from the path; λ = 0 uses the pseudo-inverse (eigenvalues below a
// relative tolerance are dropped).
arma::mat path_weights(const RidgePath& path, double lambda);

// W = B (G + λI)⁻¹ by a Cholesky solve (the path's pseudo-inverse for λ = 0).
arma::mat fit_primal(const Statistics& stats, double lambda);

// KRR on data held in memory: W = Y Phi⁺_λ, primal when n >= p, dual
// Y (K + λI)⁻¹ Phiᵀ when n < p, Moore–Penrose for λ = 0 (DESIGN §1–§2).
// This is how a user refits on a distilled set.
arma::mat fit_krr(const arma::mat& Phi, const arma::mat& Y, double lambda);

// Class = argmax of W phi(x), ties to the lower class.
arma::uvec predict_classes(const arma::mat& W, const arma::mat& Phi);

// Default grid 10^-6 … 10^5.5, step 10^0.5 (DESIGN §2).
std::vector<double> default_lambda_grid();

struct LambdaSweep {
  std::vector<double> lambdas;
  std::vector<double> val_accuracy;
  std::vector<double> val_sq_error;  // ‖W(λ) Phi_val − Y_val‖², Y one-hot
  double best_lambda = 0.0;
};

// A validation squared error rounded to 32 significant bits (about 2e-10
// relative). The validation features are formed in chunks that differ
// between in-memory, streamed and multi-process runs, which moves their last
// bits; the rounded sum is then the same in all of them (short of a value
// falling on a rounding boundary, as for an argmax tie), and so is the choice.
double round_sq_error(double value);

// DESIGN §2's choice: the best validation accuracy; ties to the smaller
// validation squared error, then to the larger λ (the better-conditioned
// G + λI: accuracy is often flat over decades of λ). Sets best_lambda.
void choose_lambda(LambdaSweep& sweep);

// Validation accuracy and squared error of W(λ) for every λ, with Vᵀ Phi_val
// formed once; the choice of choose_lambda.
LambdaSweep sweep_lambda(const RidgePath& train_path, const arma::mat& Phi_val,
                         const arma::uvec& val_labels, const std::vector<double>& lambdas);

}  // namespace krrdistill
