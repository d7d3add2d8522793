#include "krrdistill/krr.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

// LAPACK (OpenBLAS) routines Armadillo does not wrap; the trailing lengths
// are Fortran's hidden lengths of the character arguments.
extern "C" {
void dsytrd_(const char* uplo, const int* n, double* a, const int* lda, double* d, double* e,
             double* tau, double* work, const int* lwork, int* info, std::size_t uplo_len);
void dormtr_(const char* side, const char* uplo, const char* trans, const int* m, const int* n,
             const double* a, const int* lda, const double* tau, double* c, const int* ldc,
             double* work, const int* lwork, int* info, std::size_t side_len, std::size_t uplo_len,
             std::size_t trans_len);
void dgtsv_(const int* n, const int* nrhs, double* dl, double* d, double* du, double* b,
            const int* ldb, int* info);
void dpttrf_(const int* n, double* d, double* e, int* info);
}

namespace krrdistill {

namespace {

// Eigenvalues/singular values below this fraction of the largest are treated
// as zero by the pseudo-inverses (λ = 0).
double pinv_tolerance(const arma::vec& values, arma::uword dim) {
  return values.is_empty() ? 0.0
                           : double(dim) * std::numeric_limits<double>::epsilon() * values.max();
}

}  // namespace

Statistics zero_statistics(arma::uword p, arma::uword k) {
  return Statistics{arma::mat(p, p, arma::fill::zeros), arma::mat(k, p, arma::fill::zeros), 0};
}

namespace {

template <typename T>
void check_chunk(const Statistics& stats, const arma::Mat<T>& Phi) {
  if (Phi.n_rows != stats.G.n_rows) throw Error("statistics: feature chunk does not match");
}

// B += Y Phiᵀ with one-hot Y: per-class sums of feature columns, formed as
// Bᵀ (p×k) so that every add is contiguous.
template <typename T>
void add_target_products(arma::mat& B, const arma::Mat<T>& Phi, const arma::uvec& labels) {
  if (Phi.n_cols != labels.n_elem) throw Error("statistics: feature chunk does not match");
  arma::mat Bt(Phi.n_rows, B.n_rows, arma::fill::zeros);
  for (arma::uword i = 0; i < labels.n_elem; ++i) {
    if (labels[i] >= Bt.n_cols) throw Error("statistics: label out of range");
    double* to = Bt.colptr(labels[i]);
    const T* from = Phi.colptr(i);
    for (arma::uword r = 0; r < Phi.n_rows; ++r) to[r] += double(from[r]);
  }
  B += Bt.t();
}

// B += Y Phiᵀ with real targets Y (k×n).
template <typename T>
void add_target_products(arma::mat& B, const arma::Mat<T>& Phi, const arma::mat& Y) {
  if (Y.n_rows != B.n_rows || Y.n_cols != Phi.n_cols)
    throw Error("statistics: feature chunk does not match");
  if constexpr (std::is_same_v<T, double>)
    B += multiply(Phi, arma::mat(Y.t())).t();
  else
    B += multiply(arma::conv_to<arma::mat>::from(Phi), arma::mat(Y.t())).t();
}

// G += Phi Phiᵀ, SYRK-shaped on every thread, thread-count independent
// (products.hpp); B += Y Phiᵀ.
template <typename T, typename Targets>
void add_statistics(Statistics& stats, const arma::Mat<T>& Phi, const Targets& targets) {
  check_chunk(stats, Phi);
  add_target_products(stats.B, Phi, targets);
  add_gram(stats.G, Phi);
  stats.count += Phi.n_cols;
}

// The chunk's Gram straight into G's lower triangle (products.hpp), its B
// through scratch_B, then added entry by entry.
template <typename T, typename Targets>
void add_chunk(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B, const arma::Mat<T>& Phi,
               const Targets& targets) {
  if (Phi.n_rows != G.n_rows || B.n_cols != Phi.n_rows)
    throw Error("statistics: feature chunk does not match");
  scratch_B.zeros(B.n_rows, B.n_cols);
  add_target_products(scratch_B, Phi, targets);
  add_gram_lower(G, Phi);
  add(B, scratch_B);
}

}  // namespace

void accumulate(Statistics& stats, const arma::mat& Phi, const arma::uvec& labels) {
  add_statistics(stats, Phi, labels);
}

void accumulate(Statistics& stats, const arma::fmat& Phi, const arma::uvec& labels) {
  add_statistics(stats, Phi, labels);
}

void accumulate(Statistics& stats, const arma::mat& Phi, const arma::mat& Y) {
  add_statistics(stats, Phi, Y);
}

void accumulate(Statistics& stats, const arma::fmat& Phi, const arma::mat& Y) {
  add_statistics(stats, Phi, Y);
}

void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::mat& Phi, const arma::uvec& labels) {
  add_chunk(G, B, scratch_B, Phi, labels);
}

void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::mat& Phi, const arma::mat& Y) {
  add_chunk(G, B, scratch_B, Phi, Y);
}

void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::fmat& Phi, const arma::uvec& labels) {
  add_chunk(G, B, scratch_B, Phi, labels);
}

void accumulate_compensated(CompensatedSum& G, CompensatedSum& B, arma::mat& scratch_B,
                            const arma::fmat& Phi, const arma::mat& Y) {
  add_chunk(G, B, scratch_B, Phi, Y);
}

Statistics operator+(const Statistics& a, const Statistics& b) {
  return Statistics{a.G + b.G, a.B + b.B, a.count + b.count};
}

RidgePath ridge_path(const Statistics& stats) {
  RidgePath path;
  if (!arma::eig_sym(path.g, path.V, stats.G, "dc"))
    throw Error("eigendecomposition of the Gram matrix failed");
  path.g.clamp(0.0, arma::datum::inf);  // G is PSD; clear rounding below zero
  path.C = stats.B * path.V;
  return path;
}

arma::mat path_weights(const RidgePath& path, double lambda) {
  arma::vec scale(path.g.n_elem);
  const double tol = pinv_tolerance(path.g, path.g.n_elem);
  for (arma::uword i = 0; i < scale.n_elem; ++i)
    scale[i] = (lambda > 0 || path.g[i] > tol) ? 1.0 / (path.g[i] + lambda) : 0.0;
  arma::mat CS = path.C;
  CS.each_row() %= scale.t();
  return CS * path.V.t();
}

arma::mat fit_primal(const Statistics& stats, double lambda) {
  if (!(lambda >= 0) || !std::isfinite(lambda)) throw Error("lambda must be finite and >= 0");
  if (lambda == 0) return path_weights(ridge_path(stats), 0.0);
  arma::mat regularised = stats.G;
  regularised.diag() += lambda;
  arma::mat Wt;
  // (G + λI) is symmetric positive definite: Cholesky solve, never an inverse.
  if (!arma::solve(Wt, regularised, stats.B.t(), arma::solve_opts::likely_sympd))
    throw Error("ridge solve failed");
  return Wt.t();
}

arma::mat fit_krr(const arma::mat& Phi, const arma::mat& Y, double lambda) {
  if (Phi.n_cols != Y.n_cols) throw Error("KRR: features and labels differ in count");
  if (!(lambda >= 0) || !std::isfinite(lambda)) throw Error("lambda must be finite and >= 0");
  if (lambda > 0 && Phi.n_cols >= Phi.n_rows) {
    // Primal (n >= p): W = B (G + λI)⁻¹, the smaller and better-conditioned system.
    Statistics stats{Phi * Phi.t(), Y * Phi.t(), Phi.n_cols};
    return fit_primal(stats, lambda);
  }
  if (lambda > 0) {
    // Dual (n < p): W = Y (K + λI)⁻¹ Phiᵀ.
    arma::mat K = Phi.t() * Phi;  // SYRK
    K.diag() += lambda;
    arma::mat alpha;
    if (!arma::solve(alpha, K, Y.t(), arma::solve_opts::likely_sympd))
      throw Error("KRR solve failed");
    return (Phi * alpha).t();
  }
  // λ = 0: W = Y Phi⁺ through the thin SVD Phi = U diag(s) Vᵀ, so a
  // rank-deficient Phi still gets the Moore–Penrose answer.
  arma::mat U, V;
  arma::vec s;
  if (!arma::svd_econ(U, s, V, Phi, "both", "dc")) throw Error("KRR: SVD failed");
  const double tol = pinv_tolerance(s, std::max(Phi.n_rows, Phi.n_cols));
  arma::vec inv_s(s.n_elem);
  for (arma::uword i = 0; i < s.n_elem; ++i) inv_s[i] = s[i] > tol ? 1.0 / s[i] : 0.0;
  arma::mat YV = Y * V;
  YV.each_row() %= inv_s.t();
  return YV * U.t();
}

arma::uvec predict_classes(const arma::mat& W, const arma::mat& Phi) {
  const arma::mat scores = W * Phi;
  return arma::conv_to<arma::uvec>::from(arma::index_max(scores, 0));
}

std::vector<double> default_lambda_grid() {
  std::vector<double> grid;
  for (int i = -12; i <= 11; ++i) grid.push_back(std::pow(10.0, 0.5 * i));
  return grid;
}

double round_sq_error(double value) {
  if (!std::isfinite(value) || value == 0) return value;
  int exponent = 0;
  const double mantissa = std::frexp(value, &exponent);  // in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(mantissa, 32)), exponent - 32);
}

void choose_lambda(LambdaSweep& sweep) {
  if (sweep.lambdas.empty() || sweep.val_accuracy.size() != sweep.lambdas.size() ||
      sweep.val_sq_error.size() != sweep.lambdas.size())
    throw Error("lambda sweep: scores do not match the grid");
  std::size_t best = 0;
  for (std::size_t i = 1; i < sweep.lambdas.size(); ++i) {
    const double acc = sweep.val_accuracy[i], best_acc = sweep.val_accuracy[best];
    const double err = sweep.val_sq_error[i], best_err = sweep.val_sq_error[best];
    if (acc > best_acc ||
        (acc == best_acc &&
         (err < best_err || (err == best_err && sweep.lambdas[i] > sweep.lambdas[best]))))
      best = i;
  }
  sweep.best_lambda = sweep.lambdas[best];
}

namespace {

// Q applied from the right to the rows of c (Q, or Qᵀ when transposed),
// Q held as dsytrd's reflectors.
void apply_reflectors(const arma::mat& reflectors, const arma::vec& tau, arma::mat& c,
                      bool transposed) {
  if (c.is_empty()) return;
  const int m = int(c.n_rows), n = int(c.n_cols), lda = int(reflectors.n_rows);
  const char* trans = transposed ? "T" : "N";
  int lwork = -1, info = 0;
  double size = 0;
  dormtr_("R", "L", trans, &m, &n, reflectors.memptr(), &lda, tau.memptr(), c.memptr(), &m, &size,
          &lwork, &info, 1, 1, 1);
  lwork = std::max(1, int(size));
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dormtr_("R", "L", trans, &m, &n, reflectors.memptr(), &lda, tau.memptr(), c.memptr(), &m,
          work.data(), &lwork, &info, 1, 1, 1);
  if (info != 0) throw Error("ridge path: applying the tridiagonal reduction failed");
}

}  // namespace

arma::mat ridge_path_weights(const Statistics& stats, const std::vector<double>& lambdas) {
  const arma::uword p = stats.G.n_rows, k = stats.B.n_rows;
  if (stats.G.n_cols != p || stats.B.n_cols != p) throw Error("ridge path: G and B do not match");
  if (p > arma::uword(std::numeric_limits<int>::max() / 2) ||
      lambdas.size() * k > arma::uword(std::numeric_limits<int>::max()))
    throw Error("ridge path: matrix too large for 32-bit LAPACK indices");
  for (const double lambda : lambdas)
    if (!(lambda > 0) || !std::isfinite(lambda))
      throw Error("the lambda grid must hold finite positive values");
  arma::mat stacked(lambdas.size() * k, p);
  if (p == 0 || stacked.is_empty()) return stacked;
  // G = Q T Qᵀ, T tridiagonal (docs/design.md §2): its lower triangle holds
  // the reflectors of Q, diagonal and off_diagonal hold T.
  arma::mat reflectors = stats.G;
  arma::vec diagonal(p), off_diagonal(p), tau(p);
  const int n = int(p);
  int lwork = -1, info = 0;
  double size = 0;
  dsytrd_("L", &n, reflectors.memptr(), &n, diagonal.memptr(), off_diagonal.memptr(), tau.memptr(),
          &size, &lwork, &info, 1);
  lwork = std::max(1, int(size));
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dsytrd_("L", &n, reflectors.memptr(), &n, diagonal.memptr(), off_diagonal.memptr(), tau.memptr(),
          work.data(), &lwork, &info, 1);
  if (info != 0) throw Error("ridge path: the tridiagonal reduction of G failed");
  // W(λ) = B (G + λI)⁻¹ = (B Q) (T + λI)⁻¹ Qᵀ: one tridiagonal solve a λ on
  // the k rows of B Q, then all the stacked rows taken back by one Qᵀ.
  arma::mat BQ = stats.B;
  apply_reflectors(reflectors, tau, BQ, false);
  const arma::mat BQ_t = BQ.t();
  const int rhs = int(k);
  std::vector<std::size_t> near_rounding;
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    // T's eigenvalues are G's, zero ones included, up to rounding. If one is
    // below −λ/2 (T + λ/2 I is not positive definite: a Sturm count through
    // its LDLᵀ pivots), λ is within G's rounding and only the clamped
    // eigenvalues bound the weights: that λ takes the eigenvalue path.
    arma::vec half_shifted = diagonal + lambdas[i] / 2, sub = off_diagonal.head(p - 1);
    dpttrf_(&n, half_shifted.memptr(), sub.memptr(), &info);
    if (info != 0) {
      near_rounding.push_back(i);
      stacked.rows(i * k, (i + 1) * k - 1).zeros();
      continue;
    }
    arma::vec lower = off_diagonal.head(p - 1), upper = lower, shifted = diagonal + lambdas[i];
    arma::mat solution = BQ_t;
    // T + λI is positive definite here (the count above passed at λ/2).
    dgtsv_(&n, &rhs, lower.memptr(), shifted.memptr(), upper.memptr(), solution.memptr(), &n,
           &info);
    if (info != 0) throw Error("ridge path: G + lambda I is singular for a lambda of the grid");
    stacked.rows(i * k, (i + 1) * k - 1) = solution.t();
  }
  apply_reflectors(reflectors, tau, stacked, true);
  if (!near_rounding.empty()) {
    const RidgePath path = ridge_path(stats);
    for (const std::size_t i : near_rounding)
      stacked.rows(i * k, (i + 1) * k - 1) = path_weights(path, lambdas[i]);
  }
  return stacked;
}

LambdaScores start_lambda_scores(const arma::mat& stacked_weights, std::size_t grid_size) {
  if (grid_size == 0 || stacked_weights.n_rows % grid_size != 0)
    throw Error("lambda sweep: the stacked weights do not match the grid");
  LambdaScores scores;
  scores.weights = stacked_weights;
  scores.correct.zeros(grid_size);
  scores.sq_error = compensated_zeros(grid_size, 1);
  return scores;
}

namespace {

// Adds each sample's squared errors (grid×n, one column a sample) one at a
// time, so that the total does not depend on how the samples were grouped.
void add_sample_errors(CompensatedSum& sq_error, const arma::mat& errors) {
  arma::mat sample(errors.n_rows, 1);
  for (arma::uword j = 0; j < errors.n_cols; ++j) {
    sample.col(0) = errors.col(j);
    add(sq_error, sample);
  }
}

}  // namespace

void add_validation(LambdaScores& scores, const arma::mat& Phi_val, const arma::uvec& labels) {
  const arma::uword grid = scores.correct.n_elem, k = scores.weights.n_rows / grid;
  // One product of the stacked weights (grid·k rows) with the chunk's features.
  const arma::mat all_scores = multiply(scores.weights, Phi_val);
  arma::mat errors(grid, labels.n_elem);  // per λ and sample
  for (arma::uword i = 0; i < grid; ++i) {
    arma::mat predicted_scores = all_scores.rows(i * k, (i + 1) * k - 1);
    const arma::urowvec predicted = arma::index_max(predicted_scores, 0);
    scores.correct[i] += arma::accu(predicted.t() == labels);
    for (arma::uword j = 0; j < labels.n_elem; ++j) predicted_scores(labels[j], j) -= 1.0;
    errors.row(i) = arma::sum(arma::square(predicted_scores), 0);
  }
  add_sample_errors(scores.sq_error, errors);
}

void add_validation(LambdaScores& scores, const arma::mat& Phi_val, const arma::mat& Y) {
  const arma::uword grid = scores.correct.n_elem, k = scores.weights.n_rows / grid;
  if (Y.n_rows != k || Y.n_cols != Phi_val.n_cols)
    throw Error("lambda sweep: targets do not match the features");
  const arma::mat all_scores = multiply(scores.weights, Phi_val);
  arma::mat errors(grid, Y.n_cols);
  for (arma::uword i = 0; i < grid; ++i)
    errors.row(i) = arma::sum(arma::square(all_scores.rows(i * k, (i + 1) * k - 1) - Y), 0);
  add_sample_errors(scores.sq_error, errors);
}

LambdaSweep finish_lambda_sweep(const LambdaScores& scores, const std::vector<double>& lambdas,
                                arma::uword n_val, bool regression) {
  if (n_val == 0) throw Error("empty validation split");
  LambdaSweep sweep;
  sweep.lambdas = lambdas;
  const arma::mat sq_total = value(scores.sq_error);
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    sweep.val_accuracy.push_back(regression ? std::numeric_limits<double>::quiet_NaN()
                                            : double(scores.correct[i]) / double(n_val));
    sweep.val_sq_error.push_back(round_sq_error(sq_total[i]));
  }
  if (regression)
    choose_lambda_by_sq_error(sweep);
  else
    choose_lambda(sweep);
  return sweep;
}

void choose_lambda_by_sq_error(LambdaSweep& sweep) {
  if (sweep.lambdas.empty() || sweep.val_sq_error.size() != sweep.lambdas.size())
    throw Error("lambda sweep: scores do not match the grid");
  std::size_t best = 0;
  for (std::size_t i = 1; i < sweep.lambdas.size(); ++i) {
    const double err = sweep.val_sq_error[i], best_err = sweep.val_sq_error[best];
    if (err < best_err || (err == best_err && sweep.lambdas[i] > sweep.lambdas[best])) best = i;
  }
  sweep.best_lambda = sweep.lambdas[best];
}

LambdaSweep sweep_on_statistics(const Statistics& train, const Statistics& validation,
                                const std::vector<double>& lambdas) {
  if (lambdas.empty()) throw Error("empty lambda grid");
  LambdaSweep sweep;
  sweep.lambdas = lambdas;
  const arma::mat stacked = ridge_path_weights(train, lambdas);
  const arma::uword k = train.B.n_rows;
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    const arma::mat W = stacked.rows(i * k, (i + 1) * k - 1);
    const double error = double(validation.count) - 2.0 * arma::accu(W % validation.B) +
                         arma::accu((W * validation.G) % W);
    sweep.val_accuracy.push_back(std::numeric_limits<double>::quiet_NaN());
    sweep.val_sq_error.push_back(round_sq_error(error));
  }
  choose_lambda_by_sq_error(sweep);
  return sweep;
}

}  // namespace krrdistill
