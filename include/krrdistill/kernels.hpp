// Kernels for KIP (docs/design.md §4): the finite feature kernel phi(a)ᵀphi(b) of
// the analytic method's feature map, and the infinite-width kernels of the
// KIP paper (ReLU fully-connected NNGP and NTK, RBF). Each kernel is a small
// value type; Kernel is their variant and free functions dispatch on it.
// Inputs are columns (d×n); derivatives are analytic.
#pragma once

#include <armadillo>
#include <string>
#include <variant>

#include "krrdistill/features.hpp"

namespace krrdistill {

// K(a, b) = phi(a)ᵀ phi(b) for the same map as the analytic run.
struct FeatureKernel {
  FeatureMap map;
};

// Infinite-width ReLU network, `depth` hidden layers (1–3), weight variance
// 2, no bias: Σ⁰ = aᵀb/d, Σˡ = (1/π)·sqrt(Σˡ⁻¹(a,a)Σˡ⁻¹(b,b))·(sin θ + (π−θ) cos θ)
// with cos θ = Σˡ⁻¹(a,b)/sqrt(Σˡ⁻¹(a,a)Σˡ⁻¹(b,b)); diagonals are preserved,
// Σˡ(a,a) = ‖a‖²/d. NNGP K = Σ^depth.
struct ReluNngp {
  arma::uword depth = 1;
};

// NTK of the same network: Θ⁰ = Σ⁰, Θˡ = Θˡ⁻¹·Σ̇ˡ + Σˡ with Σ̇ˡ = (π−θ)/π;
// K = Θ^depth.
struct ReluNtk {
  arma::uword depth = 1;
};

// K(a, b) = exp(−‖a − b‖²/(2ℓ²)); bandwidth ℓ = 0 means sqrt(d).
struct Rbf {
  double bandwidth = 0.0;
};

using Kernel = std::variant<FeatureKernel, ReluNtk, ReluNngp, Rbf>;

// kind: "feature" (uses map), "ntk", "nngp" (use depth), "rbf" (uses
// bandwidth, 0 = sqrt(d)). Throws Error on an unknown kind, a depth outside
// 1–3 or a negative bandwidth.
Kernel make_kernel(const std::string& kind, arma::uword depth, double bandwidth,
                   const FeatureMap& map);

// "feature-linear", "feature-rff", "feature-fcnn", "ntk-2", "nngp-1", "rbf".
std::string kernel_name(const Kernel& kernel);

// ℓ actually used for inputs of dimension d.
double rbf_bandwidth(const Rbf& rbf, arma::uword input_dim);

// K(A, B): na×nb for A d×na, B d×nb.
arma::mat kernel_matrix(const Kernel& kernel, const arma::mat& A, const arma::mat& B);

// K(B, B), exactly symmetric, with the diagonal taken as the same point
// (cos θ = 1 exactly for the ReLU kernels).
arma::mat kernel_matrix(const Kernel& kernel, const arma::mat& B);

// K(A, B) with what the backward pass reuses, so that a forward and a
// backward pass share one Gram product and one arc-cosine recursion.
// ReLU and RBF kernels have dK_ij/db_j = T0_ij·a_i + T1_ij·b_j, hence
// dL/dB = A (dK ∘ T0) + B diag(1ᵀ(dK ∘ T1)); feature kernels keep phi(A).
struct KernelEvaluation {
  arma::mat K;             // na×nb
  arma::mat T0;            // na×nb (ReLU, RBF)
  arma::mat T1;            // na×nb (ReLU, RBF)
  arma::mat Phi_a;         // p×na (feature kernels)
  bool symmetric = false;  // evaluated as K(B, B)
};

// Precision of KIP's target batch A (docs/design.md §4). single: A in float,
// so that a ReLU kernel's two products with it, Aᵀ B and the backward pass's
// A (dK ∘ T0), are float GEMMs (the fmat overloads below); the other kernels
// ignore it.
enum class ProductPrecision { double_precision, single_precision };

// "double", "single"; throws Error on another name.
ProductPrecision parse_product_precision(const std::string& name);
std::string product_precision_name(ProductPrecision precision);

// Whether the kernel heeds a ProductPrecision (the ReLU NTK and NNGP).
bool uses_product_precision(const Kernel& kernel);

KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::mat& A, const arma::mat& B);

// The same for A in float. The ReLU kernels take Aᵀ B as a float GEMM, and
// the inner products of pairs with |cos θ| > 0.99 again in double, from A's
// float values; all else is double. The other kernels evaluate A's values in
// double.
KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::fmat& A, const arma::mat& B);

// K(B, B) as above, for kernel_backward_symmetric.
KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::mat& B);

// dL/dB (d×nb) for L depending on K(A, B) through dK = dL/dK (na×nb), with A
// held fixed (B is the support set). For a float A, the ReLU kernels take the
// product A (dK ∘ T0) in float too, one float sum over the na terms of each entry.
arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& dK);
arma::mat kernel_backward(const Kernel& kernel, const arma::fmat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& dK);
arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const arma::mat& dK);

// The same for dK = U Vᵀ of rank r (U na×r, V nb×r), never formed: KIP's
// dL/dKts = dP αᵀ has rank k. Each column of dK is made, weighted by T0 and
// T1 and summed in one pass on every thread, then one product with A.
arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& U, const arma::mat& V);
arma::mat kernel_backward(const Kernel& kernel, const arma::fmat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& U, const arma::mat& V);

// dL/dB for L depending on K(B, B) through dK (nb×nb, not necessarily
// symmetric): both arguments move. eval must come from evaluate_kernel(kernel, B).
arma::mat kernel_backward_symmetric(const Kernel& kernel, const arma::mat& B,
                                    const KernelEvaluation& eval, const arma::mat& dK);
arma::mat kernel_backward_symmetric(const Kernel& kernel, const arma::mat& B, const arma::mat& dK);

}  // namespace krrdistill
