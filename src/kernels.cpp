#include "krrdistill/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

#ifdef KRRDISTILL_LIBMVEC
// What glibc's math.h declares only under -ffast-math: acos has libmvec's
// vector versions, so the simd loops of relu_recursion take four at a time
// in its AVX2 copy, chosen when the program starts, by the CPU alone.
extern "C" double acos(double) noexcept __attribute__((__simd__("notinbranch")));
#define KRRDISTILL_VECTOR_ACOS_LOOP _Pragma("omp simd")
#define KRRDISTILL_AVX2_COPY __attribute__((target_clones("avx2", "default")))
#else
#define KRRDISTILL_VECTOR_ACOS_LOOP
#define KRRDISTILL_AVX2_COPY
#endif

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

template <typename T>
void check_inputs(const arma::Mat<T>& A, const arma::mat& B) {
  if (A.n_rows != B.n_rows)
    throw Error("kernel inputs have " + std::to_string(A.n_rows) + " and " +
                std::to_string(B.n_rows) + " rows");
}

template <typename T>
void check_evaluation(const arma::Mat<T>& A, const arma::mat& B, const KernelEvaluation& eval) {
  check_inputs(A, B);
  if (eval.K.n_rows != A.n_cols || eval.K.n_cols != B.n_cols)
    throw Error("kernel evaluation does not match the inputs of the backward pass");
}

template <typename T>
void check_backward(const arma::Mat<T>& A, const arma::mat& B, const KernelEvaluation& eval,
                    const arma::mat& dK) {
  if (dK.n_rows != A.n_cols || dK.n_cols != B.n_cols)
    throw Error("dL/dK is " + std::to_string(dK.n_rows) + "x" + std::to_string(dK.n_cols) +
                " but K is " + std::to_string(A.n_cols) + "x" + std::to_string(B.n_cols));
  check_evaluation(A, B, eval);
}

// κ0(c), κ1(c) and sin θ of one layer.
inline void arc_cosine_layer(double c, double& k0, double& k1, double& s) {
  constexpr double inv_pi = 1.0 / kPi;
  const double rest = kPi - std::acos(c);  // π − θ
  s = std::sqrt(std::max(0.0, (1.0 - c) * (1.0 + c)));
  k0 = rest * inv_pi;
  k1 = std::min(1.0, (s + rest * c) * inv_pi);
}

// Normalised arc-cosine recursion (docs/design.md §4) on c = cos θ⁰ = aᵀb/(‖a‖‖b‖):
// with q = ‖a‖‖b‖/d, NNGP = q·c_D and NTK = q·τ_D, where
// c_l = κ1(c_{l−1}), τ_l = τ_{l−1}·κ0(c_{l−1}) + c_l, τ_0 = c_0 = c,
// κ1(c) = (sin θ + (π−θ) c)/π, κ0(c) = (π−θ)/π = κ1'(c), κ0'(c) = 1/(π sin θ).
// Gives f and df/dc by forward-mode differentiation along the layers, for n
// cosines at once, layer after layer, so that the loop over entries
// vectorises; c and dc are overwritten (they carry c_l and dc_l/dc).
// κ0' is infinite at θ = 0 (a cusp of the NTK between parallel inputs); it is
// taken as 0 there, where it only ever multiplies dc = 0 (same point) or
// where the kernel has no derivative.
KRRDISTILL_AVX2_COPY void relu_recursion(double* c, double* dc, arma::uword n, arma::uword depth,
                                         bool ntk, double* f, double* df) {
  constexpr double inv_pi = 1.0 / kPi;
  for (arma::uword i = 0; i < n; ++i) {
    dc[i] = 1.0;
    f[i] = c[i];  // τ_0
    df[i] = 1.0;
  }
  // One loop each for the NTK and the NNGP, so that neither holds a branch.
  for (arma::uword l = 0; l < depth; ++l) {
    if (ntk) {
      KRRDISTILL_VECTOR_ACOS_LOOP
      for (arma::uword i = 0; i < n; ++i) {
        double k0, k1, s;
        arc_cosine_layer(c[i], k0, k1, s);
        const double dk0 = s > 0 ? inv_pi / s : 0.0;
        df[i] = df[i] * k0 + f[i] * dk0 * dc[i] + k0 * dc[i];
        f[i] = f[i] * k0 + k1;
        dc[i] *= k0;
        c[i] = k1;
      }
    } else {
      KRRDISTILL_VECTOR_ACOS_LOOP
      for (arma::uword i = 0; i < n; ++i) {
        double k0, k1, s;
        arc_cosine_layer(c[i], k0, k1, s);
        dc[i] *= k0;
        c[i] = k1;
      }
    }
  }
  if (!ntk) {
    std::copy(c, c + n, f);
    std::copy(dc, dc + n, df);
  }
}

// Reciprocals, 0 for 0 (a zero input has a zero kernel row).
arma::rowvec reciprocals(const arma::rowvec& v) {
  arma::rowvec out(v.n_elem);
  for (arma::uword i = 0; i < v.n_elem; ++i) out[i] = v[i] > 0 ? 1.0 / v[i] : 0.0;
  return out;
}

// |cos θ| above which a float inner product is taken again in double: the
// kernel's derivative in c grows as 1/sin θ towards θ = 0 or π, where the
// float product's rounding (about sqrt(d)·6e-8 of ‖a‖‖b‖, 1e-6 at d = 784)
// would show.
constexpr double kSingleCosineLimit = 0.99;

// A in float, column by column on every thread.
arma::fmat to_single(const arma::mat& A) {
  arma::fmat out(A.n_rows, A.n_cols);
#pragma omp parallel for schedule(static) if (A.n_elem > 100000)
  for (arma::uword j = 0; j < A.n_cols; ++j) {
    const double* from = A.colptr(j);
    float* to = out.colptr(j);
    for (arma::uword r = 0; r < A.n_rows; ++r) to[r] = float(from[r]);
  }
  return out;
}

// ‖a‖ of every column of A, each summed in double in a fixed order on one thread.
template <typename T>
arma::rowvec column_norms(const arma::Mat<T>& A) {
  arma::rowvec norms(A.n_cols);
#pragma omp parallel for schedule(static) if (A.n_elem > 100000)
  for (arma::uword j = 0; j < A.n_cols; ++j) {
    const T* a = A.colptr(j);
    // Four running sums, so that the additions need not wait on each other.
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    arma::uword r = 0;
    for (; r + 4 <= A.n_rows; r += 4)
      for (int l = 0; l < 4; ++l) part[l] += double(a[r + l]) * double(a[r + l]);
    double sum = (part[0] + part[1]) + (part[2] + part[3]);
    for (; r < A.n_rows; ++r) sum += double(a[r]) * double(a[r]);
    norms[j] = std::sqrt(sum);
  }
  return norms;
}

// aᵀb in double, summed in a fixed order.
template <typename T>
double dot_double(const T* a, const double* b, arma::uword n) {
  double sum = 0.0;
  for (arma::uword r = 0; r < n; ++r) sum += double(a[r]) * b[r];
  return sum;
}

// K = q f(c) with q = ‖a‖‖b‖/d; dK/db = T0·a + T1·b with T0 = f'(c)/d and
// T1 = ‖a‖ (f − c f')/(d ‖b‖) (0 for b = 0, where K has no derivative).
// A float A (KIP's batch) makes Aᵀ B a float product; everything after it is
// double.
template <typename T>
void relu_evaluate(const arma::Mat<T>& A, const arma::mat& B, bool symmetric, arma::uword depth,
                   bool ntk, KernelEvaluation& e) {
  constexpr bool single = std::is_same_v<T, float>;
  check_depth(depth);
  const double inv_d = 1.0 / double(A.n_rows);
  const arma::rowvec na = column_norms(A);
  arma::Mat<T> gram;
  if constexpr (single) {
    gram = multiply_transposed(A, to_single(B));
  } else {
    gram = multiply_transposed(A, B);
    if (symmetric) gram = arma::symmatu(gram);
  }
  const arma::rowvec nb = symmetric ? na : column_norms(B);
  const arma::rowvec inv_na = reciprocals(na);
  const arma::rowvec inv_nb = reciprocals(nb);
  // cos θ of the first `rows` entries of column j.
  auto cosines_of = [&](arma::uword j, arma::uword rows, double* cs) {
    const T* g = gram.colptr(j);
    for (arma::uword i = 0; i < rows; ++i) {
      // Products of commuting pairs, so that K(B, B) is exactly symmetric.
      double c = double(g[i]) * (inv_na[i] * inv_nb[j]);
      if (single && std::abs(c) > kSingleCosineLimit)
        c = dot_double(A.colptr(i), B.colptr(j), A.n_rows) * (inv_na[i] * inv_nb[j]);
      // Within rounding of 1 the points are taken as parallel (θ = 0), as on
      // the diagonal of K(B, B): the NTK's cusp would turn the rounding of c
      // into an O(sqrt(eps)) change of the value.
      if (c > kParallel || (symmetric && i == j && na[i] > 0)) c = 1.0;
      cs[i] = std::max(c, -1.0);
    }
  };
  // K, T0 and T1 of column j from the cosines, f and df/dc.
  auto finish = [&](arma::uword j, const double* cs, const double* fs, const double* dfs) {
    double* K = e.K.colptr(j);
    double* T0 = e.T0.colptr(j);
    double* T1 = e.T1.colptr(j);
    const double inv_b_d = inv_nb[j] * inv_d;
    for (arma::uword i = 0; i < A.n_cols; ++i) {
      K[i] = (na[i] * nb[j]) * inv_d * fs[i];
      T0[i] = dfs[i] * inv_d;
      T1[i] = na[i] * (fs[i] - cs[i] * dfs[i]) * inv_b_d;
    }
  };
  e.K.set_size(A.n_cols, B.n_cols);
  e.T0.set_size(A.n_cols, B.n_cols);
  e.T1.set_size(A.n_cols, B.n_cols);
  // Each entry on its own: the same bits for any number of threads. The
  // recursion runs on a column at a time in buffers that start on a 64-byte
  // boundary on every thread, so whether an entry takes a vector lane or the
  // scalar tail depends on its row and the column's length alone. K(B, B)
  // takes the upper triangle only, whose f and df/dc are mirrored below, so
  // that it stays exactly symmetric although the vector and the scalar
  // arc-cosines may round differently.
  arma::mat C, F, DF;  // K(B, B): the cosines, f and df/dc
  if (symmetric) {
    C.set_size(A.n_cols, B.n_cols);
    F.set_size(A.n_cols, B.n_cols);
    DF.set_size(A.n_cols, B.n_cols);
  }
  const std::size_t stride = (A.n_cols + 7) / 8 * 8;  // doubles: 64 bytes
#pragma omp parallel if (A.n_cols * B.n_cols > 20000)
  {
    // Five buffers of a column: cosines, c_l, dc_l/dc, f and df/dc.
    std::vector<double> storage(5 * stride + 8);
    void* start = storage.data();
    std::size_t space = storage.size() * sizeof(double);
    double* cs = static_cast<double*>(std::align(64, 5 * stride * sizeof(double), start, space));
    double* layer = cs + stride;
    double* layer_slope = layer + stride;
    double* fs = layer_slope + stride;
    double* dfs = fs + stride;
#pragma omp for schedule(static)
    for (arma::uword j = 0; j < B.n_cols; ++j) {
      const arma::uword rows = symmetric ? j + 1 : A.n_cols;
      cosines_of(j, rows, cs);
      std::copy(cs, cs + rows, layer);
      relu_recursion(layer, layer_slope, rows, depth, ntk, fs, dfs);
      if (symmetric) {
        std::copy(cs, cs + rows, C.colptr(j));
        std::copy(fs, fs + rows, F.colptr(j));
        std::copy(dfs, dfs + rows, DF.colptr(j));
      } else {
        finish(j, cs, fs, dfs);
      }
    }
  }
  if (symmetric) {
    C = arma::symmatu(C);
    F = arma::symmatu(F);
    DF = arma::symmatu(DF);
    for (arma::uword j = 0; j < B.n_cols; ++j) finish(j, C.colptr(j), F.colptr(j), DF.colptr(j));
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

// For dK = U Vᵀ, without forming it: G = dK ∘ T0 in A's precision and
// s = 1ᵀ(dK ∘ T1), a column at a time on every thread, each column's dK in a
// buffer of the thread's and s_j summed in a fixed order.
template <typename T>
void low_rank_weights(const KernelEvaluation& eval, const arma::mat& U, const arma::mat& V,
                      arma::Mat<T>& G, arma::rowvec& s) {
  const arma::uword na = U.n_rows, nb = V.n_rows;
  G.set_size(na, nb);
  s.set_size(nb);
#pragma omp parallel if (na * nb > 20000)
  {
    std::vector<double> dk(na);
#pragma omp for schedule(static)
    for (arma::uword j = 0; j < nb; ++j) {
      std::fill(dk.begin(), dk.end(), 0.0);
      for (arma::uword c = 0; c < U.n_cols; ++c) {
        const double v = V(j, c);
        const double* u = U.colptr(c);
        for (arma::uword i = 0; i < na; ++i) dk[i] += u[i] * v;
      }
      const double* t0 = eval.T0.colptr(j);
      const double* t1 = eval.T1.colptr(j);
      T* g = G.colptr(j);
      for (arma::uword i = 0; i < na; ++i) g[i] = T(dk[i] * t0[i]);
      // Four running sums, so that the additions need not wait on each other.
      double part[4] = {0.0, 0.0, 0.0, 0.0};
      arma::uword i = 0;
      for (; i + 4 <= na; i += 4)
        for (int l = 0; l < 4; ++l) part[l] += dk[i + l] * t1[i + l];
      double sum = (part[0] + part[1]) + (part[2] + part[3]);
      for (; i < na; ++i) sum += dk[i] * t1[i];
      s[j] = sum;
    }
  }
}

// dL/dB's second term B diag(1ᵀ(dK ∘ T1)), added to dB.
void add_norm_term(arma::mat& dB, const arma::mat& B, const KernelEvaluation& eval,
                   const arma::mat& dK) {
  const arma::rowvec s = arma::sum(dK % eval.T1, 0);
  dB += B.each_row() % s;
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

ProductPrecision parse_product_precision(const std::string& name) {
  if (name == "double") return ProductPrecision::double_precision;
  if (name == "single") return ProductPrecision::single_precision;
  throw Error("unknown precision '" + name + "' (expected single or double)");
}

std::string product_precision_name(ProductPrecision precision) {
  return precision == ProductPrecision::single_precision ? "single" : "double";
}

bool uses_product_precision(const Kernel& kernel) {
  return std::holds_alternative<ReluNtk>(kernel) || std::holds_alternative<ReluNngp>(kernel);
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

KernelEvaluation evaluate_kernel(const Kernel& kernel, const arma::fmat& A, const arma::mat& B) {
  if (!uses_product_precision(kernel))
    return evaluate(kernel, arma::conv_to<arma::mat>::from(A), B, false);
  check_inputs(A, B);
  KernelEvaluation e;
  if (const auto* ntk = std::get_if<ReluNtk>(&kernel))
    relu_evaluate(A, B, false, ntk->depth, true, e);
  else
    relu_evaluate(A, B, false, std::get<ReluNngp>(kernel).depth, false, e);
  return e;
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
  add_norm_term(dB, B, eval, dK);
  return dB;
}

arma::mat kernel_backward(const Kernel& kernel, const arma::fmat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& dK) {
  if (!uses_product_precision(kernel))
    return kernel_backward(kernel, arma::conv_to<arma::mat>::from(A), B, eval, dK);
  check_backward(A, B, eval, dK);
  // One float sum over the batch for each entry, as in the forward product.
  arma::mat dB = arma::conv_to<arma::mat>::from(multiply(A, to_single(dK % eval.T0)));
  add_norm_term(dB, B, eval, dK);
  return dB;
}

namespace {

template <typename T>
void check_factors(const arma::Mat<T>& A, const arma::mat& B, const arma::mat& U,
                   const arma::mat& V) {
  if (U.n_rows != A.n_cols || V.n_rows != B.n_cols || U.n_cols != V.n_cols)
    throw Error("dL/dK's factors are " + std::to_string(U.n_rows) + "x" + std::to_string(U.n_cols) +
                " and " + std::to_string(V.n_rows) + "x" + std::to_string(V.n_cols) + " for " +
                std::to_string(A.n_cols) + " and " + std::to_string(B.n_cols) + " points");
}

// dL/dB for dK = U Vᵀ: A (dK ∘ T0) in A's precision, plus the norm term.
template <typename T>
arma::mat low_rank_backward(const arma::Mat<T>& A, const arma::mat& B, const KernelEvaluation& eval,
                            const arma::mat& U, const arma::mat& V) {
  arma::Mat<T> G;
  arma::rowvec s;
  low_rank_weights(eval, U, V, G, s);
  arma::mat dB;
  if constexpr (std::is_same_v<T, double>)
    dB = multiply(A, G);
  else
    dB = arma::conv_to<arma::mat>::from(multiply(A, G));
  dB += B.each_row() % s;
  return dB;
}

}  // namespace

arma::mat kernel_backward(const Kernel& kernel, const arma::mat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& U, const arma::mat& V) {
  check_evaluation(A, B, eval);
  check_factors(A, B, U, V);
  if (const auto* fk = std::get_if<FeatureKernel>(&kernel))
    return backprop_features(fk->map, B, multiply(eval.Phi_a, U) * V.t());
  return low_rank_backward(A, B, eval, U, V);
}

arma::mat kernel_backward(const Kernel& kernel, const arma::fmat& A, const arma::mat& B,
                          const KernelEvaluation& eval, const arma::mat& U, const arma::mat& V) {
  if (!uses_product_precision(kernel))
    return kernel_backward(kernel, arma::conv_to<arma::mat>::from(A), B, eval, U, V);
  check_evaluation(A, B, eval);
  check_factors(A, B, U, V);
  return low_rank_backward(A, B, eval, U, V);
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
