#include "krrdistill/kip_objective.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

namespace {
template <typename T>
std::string shape_of(const arma::Mat<T>& M) {
  return std::to_string(M.n_rows) + "x" + std::to_string(M.n_cols);
}

void check_support_inputs(const arma::mat& Xs) {
  if (Xs.n_cols == 0 || Xs.n_rows == 0) throw Error("KIP support set is empty");
  if (!Xs.is_finite()) throw Error("KIP support inputs have non-finite entries");
}

template <typename T>
void check_batch(const arma::mat& Xs, arma::uword k, const arma::Mat<T>& Xt, const arma::mat& Yt) {
  if (Xt.n_cols == 0) throw Error("KIP target batch is empty");
  if (k == 0) throw Error("KIP labels have no classes");
  if (Xt.n_rows != Xs.n_rows)
    throw Error("KIP target inputs are " + shape_of(Xt) + " but the support is " + shape_of(Xs));
  if (Yt.n_rows != k || Yt.n_cols != Xt.n_cols)
    throw Error("KIP target labels are " + shape_of(Yt) + ", expected " + std::to_string(k) + "x" +
                std::to_string(Xt.n_cols));
}

// Kss_reg = Kss + ε·tr(Kss)/m·I = L Lᵀ (docs/design.md §4). Solves only, no inverse.
struct SupportFactor {
  arma::mat L;  // lower Cholesky factor of Kss_reg
};

SupportFactor factor_support(const arma::mat& Kss, double eps) {
  if (!(eps > 0) || !std::isfinite(eps)) throw Error("KIP regulariser eps must be > 0");
  const double shift = eps * arma::trace(Kss) / double(Kss.n_rows);
  if (!(shift > 0) || !std::isfinite(shift))
    throw Error("KIP support kernel matrix has a zero or non-finite trace");
  arma::mat R = Kss;
  R.diag() += shift;
  SupportFactor f;
  if (!arma::chol(f.L, R, "lower"))
    throw Error("KIP: Kss + eps·tr(Kss)/m·I is not positive definite (Cholesky failed)");
  return f;
}

// Kss_reg⁻¹ B by two triangular solves.
arma::mat solve_reg(const SupportFactor& f, const arma::mat& B) {
  const arma::mat Z = arma::solve(arma::trimatl(f.L), B);
  return arma::solve(arma::trimatu(f.L.t()), Z);
}

// phi(X); the linear map's features are X itself, so a large batch is not copied.
const arma::mat& features_of(const FeatureMap& map, const arma::mat& X, arma::mat& storage) {
  if (X.n_rows != input_dim(map))
    throw Error("inputs have " + std::to_string(X.n_rows) + " rows but the feature map expects " +
                std::to_string(input_dim(map)));
  if (std::holds_alternative<LinearMap>(map)) return X;
  storage = map_features(map, X);
  return storage;
}

// What one loss evaluation needs, computed once: the factor of Kss_reg and
// either the features (feature kernels: Kts = Φtᵀ Φs is never formed, as
// Kts α = Φtᵀ(Φs α) and dL/dKts = dP αᵀ has rank k) or the kernel
// evaluations K(Xs, Xs), K(Xt, Xs) with their backward data.
struct Forward {
  const FeatureMap* map = nullptr;
  arma::mat Phis;                 // p×m
  arma::mat Phit;                 // p×nt, empty for the linear map (whose features are Xt)
  const arma::mat* Xt = nullptr;  // the caller's batch
  KernelEvaluation ss;            // other kernels
  KernelEvaluation ts;
  SupportFactor factor;
  double eps = 0.0;
};

// A float batch (T = float) comes here for the ReLU kernels only (batch_in_double).
template <typename T>
Forward forward(const Kernel& kernel, const arma::mat& Xs, const arma::Mat<T>& Xt, double eps) {
  Forward fw;
  arma::mat Kss;
  const auto* fk = std::get_if<FeatureKernel>(&kernel);
  if constexpr (std::is_same_v<T, double>) {
    if (fk != nullptr) {
      fw.map = &fk->map;
      fw.Phis = map_features(fk->map, Xs);
      fw.Xt = &Xt;
      if (Xt.n_cols > 0 && !std::holds_alternative<LinearMap>(fk->map))
        fw.Phit = map_features(fk->map, Xt);
      Kss = fw.Phis.t() * fw.Phis;
      Kss = arma::symmatu(Kss);
    }
  } else if (fk != nullptr) {
    throw Error("a float KIP batch for a feature kernel");
  }
  if (fk == nullptr) {
    fw.ss = evaluate_kernel(kernel, Xs);
    if (Xt.n_cols > 0) fw.ts = evaluate_kernel(kernel, Xt, Xs);
    Kss = fw.ss.K;
  }
  fw.factor = factor_support(Kss, eps);
  fw.eps = eps;
  return fw;
}

// Φt: the batch itself for the linear map, so a large batch is not copied.
const arma::mat& target_features(const Forward& fw) {
  return std::holds_alternative<LinearMap>(*fw.map) ? *fw.Xt : fw.Phit;
}

// Kts (nt×m).
arma::mat cross_kernel(const Forward& fw) {
  if (fw.map != nullptr) return multiply_transposed(target_features(fw), fw.Phis);
  return fw.ts.K;
}

// P = Kts α (nt×k).
arma::mat predict_batch(const Forward& fw, const arma::mat& alpha) {
  if (fw.map != nullptr) return multiply_transposed(target_features(fw), fw.Phis * alpha);
  return multiply(fw.ts.K, alpha);
}

// Loss and, when wanted, the analytic gradient (docs/design.md §4):
// α = R⁻¹Ysᵀ, P = Kts α, E = P − Ytᵀ, dP = E/(nt·k), dKts = dP αᵀ,
// dα = Ktsᵀ dP, β = R⁻¹ dα, dYs = βᵀ, dR = −β αᵀ,
// dKss = dR + ε/m·tr(dR)·I (the trace term of the regulariser).
template <typename T>
KipGradient loss_and_gradient(const Kernel& kernel, const Forward& fw, const arma::mat& Xs,
                              const arma::mat& Ys, const arma::Mat<T>& Xt, const arma::mat& Yt,
                              bool want_dXs, bool want_dYs) {
  const double nt = double(Yt.n_cols), k = double(Yt.n_rows), m = double(Xs.n_cols);
  const arma::mat alpha = solve_reg(fw.factor, Ys.t());
  arma::mat E = predict_batch(fw, alpha) - Yt.t();
  KipGradient g;
  g.loss = 0.5 * arma::accu(arma::square(E)) / (nt * k);
  if (!want_dXs && !want_dYs) return g;

  E /= nt * k;
  const arma::mat& dP = E;
  arma::mat V;  // feature kernels: Φt dP (p×k)
  arma::mat dalpha;
  if (fw.map != nullptr) {
    V = multiply(target_features(fw), dP);
    dalpha = fw.Phis.t() * V;
  } else {
    dalpha = multiply_transposed(fw.ts.K, dP);
  }
  const arma::mat beta = solve_reg(fw.factor, dalpha);
  if (want_dYs) g.dYs = beta.t();
  if (!want_dXs) return g;

  arma::mat dKss = -beta * alpha.t();
  dKss.diag() += fw.eps / m * arma::trace(dKss);
  if (fw.map != nullptr) {
    // K = Φᵀ Φ: dΦs = Φs (dKss + dKssᵀ) + Φt dKts, with Φt dKts = (Φt dP) αᵀ.
    const arma::mat dPhis = fw.Phis * (dKss + dKss.t()) + V * alpha.t();
    g.dXs = backprop_features(*fw.map, Xs, dPhis);
  } else {
    // dKts = dP αᵀ, of rank k, is never formed.
    g.dXs = kernel_backward_symmetric(kernel, Xs, fw.ss, dKss);
    g.dXs += kernel_backward(kernel, Xt, Xs, fw.ts, dP, alpha);
  }
  return g;
}

// Least squares min ‖A x − B‖ with minimum norm by a thin SVD of A itself;
// singular values below max(rows, cols)·eps·s_max count as 0 (rank deficient A).
arma::mat least_squares(const arma::mat& A, const arma::mat& B) {
  arma::mat U, V;
  arma::vec s;
  if (!arma::svd_econ(U, s, V, A, "both", "dc") && !arma::svd_econ(U, s, V, A, "both", "std"))
    throw Error("Label Solve: singular value decomposition failed");
  const double tol = (s.n_elem > 0 ? s.max() : 0.0) * double(std::max(A.n_rows, A.n_cols)) *
                     std::numeric_limits<double>::epsilon();
  arma::vec inv(s.n_elem, arma::fill::zeros);
  for (arma::uword i = 0; i < s.n_elem; ++i)
    if (s[i] > tol) inv[i] = 1.0 / s[i];
  return V * arma::diagmat(inv) * (U.t() * B);
}

// Kss_reg α by the factor: L (Lᵀ α).
arma::mat times_reg(const SupportFactor& f, const arma::mat& alpha) {
  return f.L * (f.L.t() * alpha);
}

// Label Solve (docs/design.md §4): Ys = Yt (R⁻¹ Kst)⁺ minimises ‖Kts R⁻¹ Ysᵀ − Ytᵀ‖
// (R = Kss_reg). Solved in α = R⁻¹ Ysᵀ, a bijection with the same minimum:
// least squares on Kts itself, then Ysᵀ = R α. On Kts R⁻¹ the null space of
// Kss (e.g. m > p) would be amplified by 1/(ε·tr(Kss)/m) to far above the
// rounding level, and a solver would fit it with labels of size 1e9.
arma::mat solve_labels(const Forward& fw, const arma::mat& Yt) {
  const arma::mat alpha = least_squares(cross_kernel(fw), Yt.t());
  const arma::mat Ys = times_reg(fw.factor, alpha).t();
  if (!Ys.is_finite()) throw Error("Label Solve: the least-squares solve failed");
  return Ys;
}

}  // namespace

void check_kip_support(const arma::mat& Xs, const arma::mat& Ys) {
  check_support_inputs(Xs);
  if (Ys.n_cols != Xs.n_cols || Ys.n_rows == 0)
    throw Error("KIP support labels are " + shape_of(Ys) + " for " + shape_of(Xs) + " inputs");
  if (!Ys.is_finite()) throw Error("KIP support labels have non-finite entries");
}

namespace {

// The kernels that ignore a batch's precision read a float batch's values in
// double, so that only the ReLU kernels' products see float.
template <typename Run>
auto batch_in_double(const Kernel& kernel, const arma::fmat& Xt, Run run) {
  if (uses_product_precision(kernel)) return run(Xt);
  return run(arma::conv_to<arma::mat>::from(Xt));
}

template <typename T>
double loss_of(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
               const arma::Mat<T>& Xt, const arma::mat& Yt, double eps) {
  check_kip_support(Xs, Ys);
  check_batch(Xs, Ys.n_rows, Xt, Yt);
  const Forward fw = forward(kernel, Xs, Xt, eps);
  return loss_and_gradient(kernel, fw, Xs, Ys, Xt, Yt, false, false).loss;
}

template <typename T>
KipGradient loss_gradient_of(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                             const arma::Mat<T>& Xt, const arma::mat& Yt, double eps) {
  check_kip_support(Xs, Ys);
  check_batch(Xs, Ys.n_rows, Xt, Yt);
  const Forward fw = forward(kernel, Xs, Xt, eps);
  return loss_and_gradient(kernel, fw, Xs, Ys, Xt, Yt, true, true);
}

template <typename T>
LabelSolveStep label_solve_gradient_of(const Kernel& kernel, const arma::mat& Xs,
                                       const arma::Mat<T>& Xt, const arma::mat& Yt, double eps) {
  check_support_inputs(Xs);
  check_batch(Xs, Yt.n_rows, Xt, Yt);
  const Forward fw = forward(kernel, Xs, Xt, eps);
  LabelSolveStep step;
  step.Ys = solve_labels(fw, Yt);
  step.gradient = loss_and_gradient(kernel, fw, Xs, step.Ys, Xt, Yt, true, false);
  return step;
}

}  // namespace

double kip_loss(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys, const arma::mat& Xt,
                const arma::mat& Yt, double eps) {
  return loss_of(kernel, Xs, Ys, Xt, Yt, eps);
}

double kip_loss(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                const arma::fmat& Xt, const arma::mat& Yt, double eps) {
  return batch_in_double(kernel, Xt,
                         [&](const auto& X) { return loss_of(kernel, Xs, Ys, X, Yt, eps); });
}

KipGradient kip_loss_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                              const arma::mat& Xt, const arma::mat& Yt, double eps) {
  return loss_gradient_of(kernel, Xs, Ys, Xt, Yt, eps);
}

KipGradient kip_loss_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                              const arma::fmat& Xt, const arma::mat& Yt, double eps) {
  return batch_in_double(
      kernel, Xt, [&](const auto& X) { return loss_gradient_of(kernel, Xs, Ys, X, Yt, eps); });
}

arma::mat label_solve(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                      const arma::mat& Yt, double eps) {
  check_support_inputs(Xs);
  check_batch(Xs, Yt.n_rows, Xt, Yt);
  return solve_labels(forward(kernel, Xs, Xt, eps), Yt);
}

LabelSolveStep label_solve_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Xt,
                                    const arma::mat& Yt, double eps) {
  return label_solve_gradient_of(kernel, Xs, Xt, Yt, eps);
}

LabelSolveStep label_solve_gradient(const Kernel& kernel, const arma::mat& Xs, const arma::fmat& Xt,
                                    const arma::mat& Yt, double eps) {
  return batch_in_double(
      kernel, Xt, [&](const auto& X) { return label_solve_gradient_of(kernel, Xs, X, Yt, eps); });
}

namespace {

struct FullSetParts {
  arma::mat Phis;  // p×m
  SupportFactor factor;
  arma::uword k = 0;
};

FullSetParts full_set_parts(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                            double eps) {
  check_support_inputs(Xs);
  FullSetParts parts;
  parts.Phis = map_features(map, Xs);
  const arma::uword p = parts.Phis.n_rows;
  if (stats.G.n_rows != p || stats.G.n_cols != p || stats.B.n_cols != p || stats.B.n_rows == 0)
    throw Error("statistics G " + shape_of(stats.G) + ", B " + shape_of(stats.B) +
                " do not match " + std::to_string(p) + " features");
  if (stats.count == 0) throw Error("statistics of an empty training set");
  arma::mat Kss = parts.Phis.t() * parts.Phis;
  parts.factor = factor_support(arma::symmatu(Kss), eps);
  parts.k = stats.B.n_rows;
  return parts;
}

}  // namespace

arma::mat label_solve_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                           double eps) {
  const FullSetParts parts = full_set_parts(map, stats, Xs, eps);
  // With H = Φs R⁻¹, (Hᵀ G H) Ysᵀ = Hᵀ Bᵀ is R⁻¹ (Φsᵀ G Φs) α = R⁻¹ Φsᵀ Bᵀ for
  // α = R⁻¹ Ysᵀ: solve the m×m system in α (as the batch Label Solve does), then Ysᵀ = R α.
  arma::mat M = parts.Phis.t() * stats.G * parts.Phis;
  M = 0.5 * (M + M.t());
  const arma::mat rhs = parts.Phis.t() * stats.B.t();  // m×k
  arma::vec mu;
  arma::mat U;
  if (!arma::eig_sym(mu, U, M)) throw Error("Label Solve: eigendecomposition failed");
  // Minimum norm: eigenvalues within the rounding of M (p·eps·max) count as 0.
  const double tol = std::max(mu.max(), 0.0) * double(std::max(M.n_rows, parts.Phis.n_rows)) *
                     std::numeric_limits<double>::epsilon();
  arma::vec inv(mu.n_elem, arma::fill::zeros);
  for (arma::uword i = 0; i < mu.n_elem; ++i)
    if (mu[i] > tol) inv[i] = 1.0 / mu[i];
  const arma::mat alpha = U * arma::diagmat(inv) * (U.t() * rhs);
  return times_reg(parts.factor, alpha).t();
}

double kip_loss_full(const FeatureMap& map, const Statistics& stats, const arma::mat& Xs,
                     const arma::mat& Ys, double eps) {
  check_kip_support(Xs, Ys);
  const FullSetParts parts = full_set_parts(map, stats, Xs, eps);
  if (Ys.n_rows != parts.k)
    throw Error("support labels have " + std::to_string(Ys.n_rows) + " rows but B has " +
                std::to_string(parts.k));
  const arma::mat w = parts.Phis * solve_reg(parts.factor, Ys.t());  // p×k
  const double n = double(stats.count);
  // ‖Φᵀw − Yᵀ‖² = tr(wᵀGw) − 2 tr(Bw) + ‖Y‖², and ‖Y‖² = n for one-hot Y.
  const double sq = arma::accu(w % (stats.G * w)) - 2.0 * arma::trace(stats.B * w) + n;
  return 0.5 * sq / (n * double(parts.k));
}

namespace {

// The fitted support, ready to score query inputs.
struct SupportModel {
  const Kernel* kernel = nullptr;
  arma::mat Xs;
  arma::mat alpha;  // m×k = Kss_reg⁻¹ Ysᵀ
  arma::mat w;      // p×k = Φs α (feature kernels)
};

SupportModel fit_support(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                         double eps) {
  check_kip_support(Xs, Ys);
  SupportModel model;
  model.kernel = &kernel;
  model.Xs = Xs;
  const Forward fw = forward(kernel, Xs, arma::mat(Xs.n_rows, 0), eps);
  model.alpha = solve_reg(fw.factor, Ys.t());
  if (fw.map != nullptr) model.w = fw.Phis * model.alpha;
  return model;
}

arma::mat support_scores(const SupportModel& model, const arma::mat& Xq) {
  if (Xq.n_rows != model.Xs.n_rows)
    throw Error("query inputs have " + std::to_string(Xq.n_rows) + " rows, the support " +
                std::to_string(model.Xs.n_rows));
  if (const auto* fk = std::get_if<FeatureKernel>(model.kernel)) {
    arma::mat storage;
    return model.w.t() * features_of(fk->map, Xq, storage);
  }
  return model.alpha.t() * kernel_matrix(*model.kernel, model.Xs, Xq);
}

}  // namespace

arma::mat kip_predict(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                      const arma::mat& Xq, double eps) {
  return support_scores(fit_support(kernel, Xs, Ys, eps), Xq);
}

arma::uvec kip_classes(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                       const Preprocessor& pre, const Split& split, arma::uword chunk, double eps) {
  if (split.pixels.n_cols == 0) throw Error("accuracy of an empty split");
  if (split.labels.n_elem != split.pixels.n_cols)
    throw Error("split has " + std::to_string(split.pixels.n_cols) + " images but " +
                std::to_string(split.labels.n_elem) + " labels");
  if (chunk == 0) throw Error("accuracy chunk must be >= 1");
  const SupportModel model = fit_support(kernel, Xs, Ys, eps);
  const arma::uword n = split.pixels.n_cols;
  arma::uvec classes(n);
  for (arma::uword first = 0; first < n; first += chunk) {
    const arma::uword count = std::min(chunk, n - first);
    const arma::mat scores = support_scores(model, to_model_input(pre, split.pixels, first, count));
    classes.subvec(first, first + count - 1) = arma::index_max(scores, 0).t();
  }
  return classes;
}

double kip_accuracy(const Kernel& kernel, const arma::mat& Xs, const arma::mat& Ys,
                    const Preprocessor& pre, const Split& split, arma::uword chunk, double eps) {
  const arma::uvec classes = kip_classes(kernel, Xs, Ys, pre, split, chunk, eps);
  return double(arma::accu(classes == split.labels)) / double(split.pixels.n_cols);
}

}  // namespace krrdistill
