#include "krrdistill/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kParallel = 1.0 - 64 * std::numeric_limits<double>::epsilon();

template <typename T, typename U>
constexpr bool is_a = std::is_same_v<T, std::decay_t<U>>;

void check_depth(arma::uword depth) {
  if (depth < 1 || depth > 3)
    throw Error("ReLU NTK/NNGP depth must be 1, 2 or 3 (got " + std::to_string(depth) + ")");
}

void check_bandwidth(double bandwidth) {
  if (!(bandwidth >= 0) || !std::isfinite(bandwidth))
    throw Error("RBF bandwidth must be >= 0 (0 = sqrt(d))");
}

void check_inputs(const arma::mat& A, const arma::mat& B) {
  if (A.n_rows != B.n_rows)
    throw Error("kernel inputs have " + std::to_string(A.n_rows) + " and " +
                std::to_string(B.n_rows) + " rows");
}

void check_backward(const arma::mat& A, const arma::mat& B, const KernelEvaluation& eval,
                    const arma::mat& dK) {
  check_inputs(A, B);
  if (dK.n_rows != A.n_cols || dK.n_cols != B.n_cols)
    throw Error("dL/dK is " + std::to_string(dK.n_rows) + "x" + std::to_string(dK.n_cols) +
                " but K is " + std::to_string(A.n_cols) + "x" + std::to_string(B.n_cols));
  if (eval.K.n_rows != A.n_cols || eval.K.n_cols != B.n_cols)
    throw Error("kernel evaluation does not match the inputs of the backward pass");
}

// Normalised arc-cosine recursion (docs/design.md §4) on c = cos θ⁰ = aᵀb/(‖a‖‖b‖):
// with q = ‖a‖‖b‖/d, NNGP = q·c_D and NTK = q·τ_D, where
// c_l = κ1(c_{l−1}), τ_l = τ_{l−1}·κ0(c_{l−1}) + c_l, τ_0 = c_0 = c,
// κ1(c) = (sin θ + (π−θ) c)/π, κ0(c) = (π−θ)/π = κ1'(c), κ0'(c) = 1/(π sin θ).
// Returns f and df/dc by forward-mode differentiation along the layers.
// κ0' is infinite at θ = 0 (a cusp of the NTK between parallel inputs); it is
// taken as 0 there, where it only ever multiplies dc = 0 (same point) or
// where the kernel has no derivative.
inline void relu_recursion(double c, arma::uword depth, bool ntk, double& f, double& df) {
  constexpr double inv_pi = 1.0 / kPi;
  double cl = c, dcl = 1.0, tau = c, dtau = 1.0;
  for (arma::uword l = 0; l < depth; ++l) {
    const double rest = kPi - std::acos(cl);  // π − θ
    const double s = std::sqrt(std::max(0.0, (1.0 - cl) * (1.0 + cl)));
    const double k0 = rest * inv_pi;
    const double k1 = std::min(1.0, (s + rest * cl) * inv_pi);
    if (ntk) {
      const double dk0 = s > 0 ? inv_pi / s : 0.0;
      dtau = dtau * k0 + tau * dk0 * dcl + k0 * dcl;
      tau = tau * k0 + k1;
    }
    dcl *= k0;
    cl = k1;
  }
  f = ntk ? tau : cl;
  df = ntk ? dtau : dcl;
}

// Reciprocals, 0 for 0 (a zero input has a zero kernel row).
arma::rowvec reciprocals(const arma::rowvec& v) {
  arma::rowvec out(v.n_elem);
  for (arma::uword i = 0; i < v.n_elem; ++i) out[i] = v[i] > 0 ? 1.0 / v[i] : 0.0;
  return out;
}

// K = q f(c) with q = ‖a‖‖b‖/d; dK/db = T0·a + T1·b with T0 = f'(c)/d and
// T1 = ‖a‖ (f − c f')/(d ‖b‖) (0 for b = 0, where K has no derivative).
void relu_evaluate(const arma::mat& A, const arma::mat& B, bool symmetric, arma::uword depth,
                   bool ntk, KernelEvaluation& e) {
  check_depth(depth);
  const double inv_d = 1.0 / double(A.n_rows);
  arma::mat gram = multiply_transposed(A, B);
  if (symmetric) gram = arma::symmatu(gram);
  const arma::rowvec na = arma::sqrt(arma::sum(arma::square(A), 0));
  const arma::rowvec nb = symmetric ? na : arma::rowvec(arma::sqrt(arma::sum(arma::square(B), 0)));
  const arma::rowvec inv_na = reciprocals(na);
  const arma::rowvec inv_nb = reciprocals(nb);
  e.K.set_size(A.n_cols, B.n_cols);
  e.T0.set_size(A.n_cols, B.n_cols);
  e.T1.set_size(A.n_cols, B.n_cols);
  // Each entry on its own: the same bits for any number of threads.
#pragma omp parallel for schedule(static) if (A.n_cols * B.n_cols > 20000)
  for (arma::uword j = 0; j < B.n_cols; ++j) {
    const double* g = gram.colptr(j);
    double* K = e.K.colptr(j);
    double* T0 = e.T0.colptr(j);
    double* T1 = e.T1.colptr(j);
    const double inv_b_d = inv_nb[j] * inv_d;
    for (arma::uword i = 0; i < A.n_cols; ++i) {
      // Products of commuting pairs, so that K(B, B) is exactly symmetric.
      double c = g[i] * (inv_na[i] * inv_nb[j]);
      // Within rounding of 1 the points are taken as parallel (θ = 0), as on
      // the diagonal of K(B, B): the NTK's cusp would turn the rounding of c
      // into an O(sqrt(eps)) change of the value.
      if (c > kParallel || (symmetric && i == j && na[i] > 0)) c = 1.0;
      c = std::max(c, -1.0);
      double f, df;
      relu_recursion(c, depth, ntk, f, df);
      K[i] = (na[i] * nb[j]) * inv_d * f;
      T0[i] = df * inv_d;
      T1[i] = na[i] * (f - c * df) * inv_b_d;
    }
  }
}

// K = exp(−‖a − b‖²/(2ℓ²)); dK/db = K (a − b)/ℓ².
void rbf_evaluate(const arma::mat& A, const arma::mat& B, bool symmetric, const Rbf& rbf,
                  KernelEvaluation& e) {
  const double ell = rbf_bandwidth(rbf, A.n_rows);
  const double inv2 = 1.0 / (ell * ell);
  arma::mat gram = multiply_transposed(A, B);
  if (symmetric) gram = arma::symmatu(gram);
  const arma::rowvec na2 = arma::sum(arma::square(A), 0);
  const arma::rowvec nb2 = symmetric ? na2 : arma::rowvec(arma::sum(arma::square(B), 0));
  e.K.set_size(A.n_cols, B.n_cols);
#pragma omp parallel for schedule(static) if (A.n_cols * B.n_cols > 20000)
  for (arma::uword j = 0; j < B.n_cols; ++j) {
    const double* g = gram.colptr(j);
    double* K = e.K.colptr(j);
    for (arma::uword i = 0; i < A.n_cols; ++i) {
      const double sq = symmetric && i == j ? 0.0 : std::max(0.0, na2[i] + nb2[j] - 2.0 * g[i]);
      K[i] = std::exp(-0.5 * sq * inv2);
    }
  }
  e.T0 = e.K * inv2;
  e.T1 = -e.T0;
}

KernelEvaluation evaluate(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          bool symmetric) {
  check_inputs(A, B);
  KernelEvaluation e;
  e.symmetric = symmetric;
  std::visit(
      [&](const auto& k) {
        if constexpr (is_a<FeatureKernel, decltype(k)>) {
          e.Phi_a = map_features(k.map, A);
          if (symmetric) {
            e.K = multiply_transposed(e.Phi_a, e.Phi_a);
            e.K = arma::symmatu(e.K);
          } else {
            e.K = multiply_transposed(e.Phi_a, map_features(k.map, B));
          }
        } else if constexpr (is_a<ReluNtk, decltype(k)>) {
          relu_evaluate(A, B, symmetric, k.depth, true, e);
        } else if constexpr (is_a<ReluNngp, decltype(k)>) {
          relu_evaluate(A, B, symmetric, k.depth, false, e);
        } else {
          rbf_evaluate(A, B, symmetric, k, e);
        }
      },
      kernel);
  return e;
}

}  // namespace

Kernel make_kernel(const std::string& kind, arma::uword depth, double bandwidth,
                   const FeatureMap& map) {
  if (kind == "feature") return FeatureKernel{map};
  if (kind == "ntk" || kind == "nngp") {
    check_depth(depth);
    if (kind == "ntk") return ReluNtk{depth};
    return ReluNngp{depth};
  }
  if (kind == "rbf") {
    check_bandwidth(bandwidth);
    return Rbf{bandwidth};
  }
  throw Error("unknown kernel '" + kind + "' (expected feature, ntk, nngp or rbf)");
}

std::string kernel_name(const Kernel& kernel) {
  return std::visit(
      [](const auto& k) -> std::string {
        if constexpr (is_a<FeatureKernel, decltype(k)>)
          return "feature-" + kind_name(k.map);
        else if constexpr (is_a<ReluNtk, decltype(k)>)
          return "ntk-" + std::to_string(k.depth);
        else if constexpr (is_a<ReluNngp, decltype(k)>)
          return "nngp-" + std::to_string(k.depth);
        else
          return "rbf";
      },
      kernel);
}

double rbf_bandwidth(const Rbf& rbf, arma::uword input_dim) {
  check_bandwidth(rbf.bandwidth);
  if (rbf.bandwidth > 0) return rbf.bandwidth;
  if (input_dim == 0) throw Error("RBF kernel on empty inputs");
  return std::sqrt(double(input_dim));
}

arma::mat kernel_matrix(const Kernel& kernel, const arma::mat& A, const arma::mat& B) {
  return evaluate(kernel, A, B, false).K;
}

arma::mat kernel_matrix(const Kernel& kernel, const arma::mat& B) {
  return evaluate(kernel, B, B, true).K;
}

KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::mat& A, const arma::mat& B) {
  return evaluate(kernel, A, B, false);
}

KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::mat& B) {
  return evaluate(kernel, B, B, true);
}

arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& dK) {
  check_backward(A, B, eval, dK);
  if (const auto* fk = std::get_if<FeatureKernel>(&kernel)) {
    // K = Φaᵀ Φb: dΦb = Φa dK, then back through the map.
    return backprop_features(fk->map, B, multiply(eval.Phi_a, dK));
  }
  arma::mat dB = multiply(A, dK % eval.T0);
  const arma::rowvec s = arma::sum(dK % eval.T1, 0);
  dB += B.each_row() % s;
  return dB;
}

arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const arma::mat& dK) {
  return kernel_backward(kernel, A, B, evaluate(kernel, A, B, false), dK);
}

arma::mat kernel_backward_symmetric(const Kernel& kernel, const arma::mat& B,
                                    const KernelEvaluation& eval, const arma::mat& dK) {
  if (!eval.symmetric) throw Error("kernel_backward_symmetric needs a K(B, B) evaluation");
  if (dK.n_rows != B.n_cols || dK.n_cols != B.n_cols)
    throw Error("dL/dK is " + std::to_string(dK.n_rows) + "x" + std::to_string(dK.n_cols) +
                " but K(B, B) is " + std::to_string(B.n_cols) + "x" + std::to_string(B.n_cols));
  // Every kernel here is symmetric, k(a, b) = k(b, a), so moving the first
  // argument with dK is moving the second with dKᵀ: dB = ∂_B[K(B,B)](dK + dKᵀ).
  return kernel_backward(kernel, B, B, eval, dK + dK.t());
}

arma::mat kernel_backward_symmetric(const Kernel& kernel, const arma::mat& B, const arma::mat& dK) {
  return kernel_backward_symmetric(kernel, B, evaluate(kernel, B, B, true), dK);
}

}  // namespace krrdistill
