// Kernel ridge regression in feature space (docs/design.md §1–§2): sufficient
// statistics, the eigen ridge path for the λ sweep, fits and predictions.
#pragma once

#include <armadillo>
#include <vector>

#include "krrdistill/compensated_sum.hpp"

namespace krrdistill {

// G = Phi Phiᵀ (p×p) and B = Y Phiᵀ (k×p), sums over samples (docs/design.md §2).
struct Statistics {
  arma::mat G;
  arma::mat B;
  arma::uword count = 0;
};

Statistics zero_statistics(arma::uword p, arma::uword k);

// Adds a chunk Phi (p×n) with its labels: G += Phi Phiᵀ (SYRK), B += Y Phiᵀ.
// Single-precision features (features.hpp's sample_features) give G through
// float products summed in double (products.hpp).
void accumulate(Statistics& stats, const arma::mat& Phi, const arma::uvec& labels);
void accumulate(Statistics& stats, const arma::fmat& Phi, const arma::uvec& labels);

// The same with real targets Y (k×n, regression): B += Y Phiᵀ.
void accumulate(Statistics& stats, const arma::mat& Phi, const arma::mat& Y);
void accumulate(Statistics& stats, const arma::fmat& Phi, const arma::mat& Y);

Statistics operator+(const Statistics& a, const Statistics& b);

// Adds a chunk to G and B held as compensated sums: the chunk's own G and B
// (B through scratch_B, k×p, reused), added entry by entry, so the total does
// not depend on how the samples were chunked or sharded. G's lower triangle
// only (add_gram_lower): mirror_lower(G) after the last chunk.
void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::mat& Phi, const arma::uvec& labels);
void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::mat& Phi, const arma::mat& Y);
void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::fmat& Phi, const arma::uvec& labels);
void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::fmat& Phi, const arma::mat& Y);

// One symmetric eigendecomposition G = V diag(g) Vᵀ gives W(λ) for any
// λ ≥ 0: W(λ) = C diag(1/(g+λ)) Vᵀ with C = B V (docs/design.md §2); the
// refit with λ = 0 uses it, for the pseudo-inverse.
struct RidgePath {
  arma::vec g;
  arma::mat V;
  arma::mat C;
};

RidgePath ridge_path(const Statistics& stats);

// W(λ) from the path; λ = 0 uses the pseudo-inverse (eigenvalues below a
// relative tolerance are dropped).
arma::mat path_weights(const RidgePath& path, double lambda);

// W(λ) = B (G + λI)⁻¹ for every λ > 0 of a grid, stacked: rows
// [i·k, (i+1)·k) for λ_i. One tridiagonal reduction G = Q T Qᵀ serves the
// grid, each λ a tridiagonal solve (docs/design.md §2, "The λ sweep").
arma::mat ridge_path_weights(const Statistics& stats, const std::vector<double>& lambdas);

// W = B (G + λI)⁻¹ by a Cholesky solve (the path's pseudo-inverse for λ = 0).
arma::mat fit_primal(const Statistics& stats, double lambda);

// KRR on data held in memory: W = Y Phi⁺_λ, primal when n >= p, dual
// Y (K + λI)⁻¹ Phiᵀ when n < p, Moore–Penrose for λ = 0 (docs/design.md §1–§2).
// This is how a user refits on a distilled set.
arma::mat fit_krr(const arma::mat& Phi, const arma::mat& Y, double lambda);

// Class = argmax of W phi(x), ties to the lower class.
arma::uvec predict_classes(const arma::mat& W, const arma::mat& Phi);

// Default grid 10^-6 … 10^5.5, step 10^0.5 (docs/design.md §2).
std::vector<double> default_lambda_grid();

struct LambdaSweep {
  std::vector<double> lambdas;
  std::vector<double> val_accuracy;
  std::vector<double> val_sq_error;  // ‖W(λ) Phi_val − Y_val‖² (Y one-hot, or real targets)
  double best_lambda = 0.0;
};

// A validation squared error rounded to 32 significant bits (about 2e-10
// relative). The validation features are formed in chunks that differ
// between in-memory, streamed and multi-process runs, which moves their last
// bits; the rounded sum is then the same in all of them (short of a value
// falling on a rounding boundary, as for an argmax tie), and so is the choice.
double round_sq_error(double value);

// docs/design.md §2's choice: the best validation accuracy; ties to the smaller
// validation squared error, then to the larger λ (the better-conditioned
// G + λI: accuracy is often flat over decades of λ). Sets best_lambda.
void choose_lambda(LambdaSweep& sweep);

// The smallest validation squared error, ties to the larger λ: the choice
// when accuracy does not apply (regression targets, docs/design.md §10) or
// cannot be computed (statistics alone, §9). Sets best_lambda.
void choose_lambda_by_sq_error(LambdaSweep& sweep);

// The validation scores of every λ of a grid, summed over validation samples
// as they come (chunk by chunk, process by process): one product of the
// stacked W(λ) with each chunk's Phi_val.
struct LambdaScores {
  arma::mat weights;        // W(λ) of every λ stacked: rows [i·k, (i+1)·k) for λ_i
  arma::uvec correct;       // correct classes for each λ
  CompensatedSum sq_error;  // ‖W(λ) φ − y‖² for each λ, one sample at a time,
                            // so the total does not depend on the grouping
};

// stacked_weights: ridge_path_weights of the training part, grid_size λs.
LambdaScores start_lambda_scores(const arma::mat& stacked_weights, std::size_t grid_size);
// Adds validation samples (their features Phi_val, p×nv, and labels): one
// product of the stacked W(λ) with Phi_val on every thread.
void add_validation(LambdaScores& scores, const arma::mat& Phi_val, const arma::uvec& labels);
// The same with real targets (k×nv, regression): the squared errors only.
void add_validation(LambdaScores& scores, const arma::mat& Phi_val, const arma::mat& Y);
// The sweep from the totals over n_val validation samples (after any sum
// across processes), with choose_lambda's choice; for regression targets
// choose_lambda_by_sq_error's, and val_accuracy NaN.
LambdaSweep finish_lambda_sweep(const LambdaScores& scores, const std::vector<double>& lambdas,
                                arma::uword n_val, bool regression = false);

// The sweep scored on validation statistics alone (their G, B and count,
// one-hot targets): ‖W Φ − Y‖² = n − 2⟨W, B⟩ + ⟨W G, W⟩ for each λ, rounded
// as round_sq_error; the smallest wins, ties to the larger λ. val_accuracy
// holds NaN: the accuracy needs the validation features themselves.
LambdaSweep sweep_on_statistics(const Statistics& train, const Statistics& validation,
                                const std::vector<double>& lambdas);

}  // namespace krrdistill
