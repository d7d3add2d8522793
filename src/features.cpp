#include "krrdistill/features.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/random.hpp"

#ifdef KRRDISTILL_LIBMVEC
// What glibc's math.h declares only under -ffast-math: cosf has libmvec's
// vector versions, so the simd loop of cosine_features takes four at a time.
extern "C" float cosf(float) noexcept __attribute__((__simd__("notinbranch")));
#endif

namespace krrdistill {

namespace {

const double kTwoPi = 2.0 * arma::datum::pi;

template <class T, class Variant>
constexpr bool is_a = std::is_same_v<std::decay_t<Variant>, T>;

std::string dims(arma::uword rows, arma::uword cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

template <typename T>
void require_rows(const arma::Mat<T>& M, arma::uword rows, const char* what) {
  if (M.n_rows != rows)
    throw Error(std::string(what) + " has " + std::to_string(M.n_rows) +
                " rows but the feature map expects " + std::to_string(rows));
}

// leaky ReLU and its inverse, elementwise; min/max picks the right branch for any a > 0.
arma::mat leaky_relu(const arma::mat& Z, double a) {
  return a <= 1.0 ? arma::mat(arma::max(Z, a * Z)) : arma::mat(arma::min(Z, a * Z));
}

// The same in place: a chunk's layer needs no second matrix.
void leaky_relu_in_place(arma::fmat& Z, double slope) {
  const float a = float(slope);
  if (a <= 1.0f)
    Z.transform([a](float z) { return std::max(z, a * z); });
  else
    Z.transform([a](float z) { return std::min(z, a * z); });
}

arma::mat leaky_relu_inverse(const arma::mat& H, double a) {
  return a <= 1.0 ? arma::mat(arma::min(H, H / a)) : arma::mat(arma::max(H, H / a));
}

// M⁺ R for M of full row rank: LU solve when square, minimum-norm solution
// when wide (QR of Mᵀ = Q R, so M x = r gives x = Q R⁻ᵀ r). One factorisation
// for all columns of R; never an explicit inverse.
arma::mat min_norm_solve(const arma::mat& M, const arma::mat& R) {
  arma::mat X;
  bool ok = false;
  if (M.n_rows == M.n_cols) {
    ok = arma::solve(X, M, R, arma::solve_opts::no_approx);
  } else {
    arma::mat Q, Rt;
    ok = arma::qr_econ(Q, Rt, M.t());
    if (ok) {
      arma::mat Y;
      ok = arma::solve(Y, arma::trimatl(Rt.t()), R, arma::solve_opts::no_approx);
      if (ok) X = Q * Y;
    }
  }
  if (!ok) throw Error("feature map matrix " + dims(M.n_rows, M.n_cols) + " is rank deficient");
  return X;
}

arma::uword fcnn_input_dim(const FcnnMap& f) {
  return f.layers.empty() ? 0 : f.layers[0].n_cols;
}

arma::uword fcnn_output_dim(const FcnnMap& f) {
  return f.layers.empty() ? 0 : f.layers.back().n_rows;
}

}  // namespace

// Inputs are standardised, so ‖x − y‖² ≈ 2d between images: sigma = sqrt(d)
// is the usual median-distance heuristic for the Gaussian kernel.
double default_rff_sigma(arma::uword input_dim) {
  return std::sqrt(double(input_dim));
}

FeatureMap make_feature_map(const FeatureMapSpec& spec, arma::uword input_dim) {
  if (input_dim == 0) throw Error("feature map: input dimension must be positive");
  const arma::uword d = input_dim;
  if (spec.kind == "linear") return LinearMap{d};

  auto rng = make_rng(spec.seed, RngStream::feature_map);
  if (spec.kind == "rff") {
    if (!std::isfinite(spec.rff_sigma) || spec.rff_sigma < 0.0)
      throw Error("random Fourier features: sigma must be positive and finite (0 = default), got " +
                  std::to_string(spec.rff_sigma));
    const arma::uword p = spec.features == 0 ? d : spec.features;
    RandomFourierMap m;
    m.sigma = spec.rff_sigma == 0.0 ? default_rff_sigma(d) : spec.rff_sigma;
    m.A = gaussian_matrix(p, d, 1.0 / m.sigma, rng);  // A first, then b (docs/design.md §3)
    m.b = uniform_vector(p, 0.0, kTwoPi, rng);
    return m;
  }
  if (spec.kind == "fcnn") {
    if (spec.layers == 0) throw Error("fcnn features: need at least one layer");
    if (!std::isfinite(spec.slope) || spec.slope <= 0.0)
      throw Error("fcnn features: leaky ReLU slope must be positive and finite, got " +
                  std::to_string(spec.slope));
    const arma::uword w = spec.width == 0 ? d : spec.width;
    FcnnMap m;
    m.slope = spec.slope;
    m.layers.reserve(spec.layers);
    arma::uword fan_in = d;
    for (arma::uword l = 0; l < spec.layers; ++l) {
      m.layers.push_back(gaussian_matrix(w, fan_in, 1.0 / std::sqrt(double(fan_in)), rng));
      fan_in = w;
    }
    return m;
  }
  throw Error("unknown feature map kind '" + spec.kind + "' (expected linear, rff or fcnn)");
}

std::string kind_name(const FeatureMap& map) {
  return std::visit(
      [](const auto& m) -> std::string {
        if constexpr (is_a<LinearMap, decltype(m)>)
          return "linear";
        else if constexpr (is_a<RandomFourierMap, decltype(m)>)
          return "rff";
        else
          return "fcnn";
      },
      map);
}

arma::uword input_dim(const FeatureMap& map) {
  return std::visit(
      [](const auto& m) -> arma::uword {
        if constexpr (is_a<LinearMap, decltype(m)>)
          return m.dim;
        else if constexpr (is_a<RandomFourierMap, decltype(m)>)
          return m.A.n_cols;
        else
          return fcnn_input_dim(m);
      },
      map);
}

arma::uword feature_dim(const FeatureMap& map) {
  return std::visit(
      [](const auto& m) -> arma::uword {
        if constexpr (is_a<LinearMap, decltype(m)>)
          return m.dim;
        else if constexpr (is_a<RandomFourierMap, decltype(m)>)
          return m.A.n_rows;
        else
          return fcnn_output_dim(m);
      },
      map);
}

arma::mat map_features(const FeatureMap& map, const arma::mat& X) {
  require_rows(X, input_dim(map), "X");
  return std::visit(
      [&X](const auto& m) -> arma::mat {
        if constexpr (is_a<LinearMap, decltype(m)>) {
          return X;
        } else if constexpr (is_a<RandomFourierMap, decltype(m)>) {
          arma::mat Z = multiply(m.A, X);
          Z.each_col() += m.b;
          Z = std::sqrt(2.0 / double(m.A.n_rows)) * arma::cos(Z);
          return Z;
        } else {
          arma::mat H = X;
          for (const arma::mat& M : m.layers) H = leaky_relu(multiply(M, H), m.slope);
          return H;
        }
      },
      map);
}

arma::fmat sample_features(const FeatureMap& map, const arma::mat& X) {
  require_rows(X, input_dim(map), "X");
  return sample_features(map, arma::conv_to<arma::fmat>::from(X));
}

arma::fmat sample_features(const FeatureMap& map, const arma::fmat& Xf) {
  arma::fmat Phi(feature_dim(map), Xf.n_cols);
  sample_features_into(map, Xf, Phi);
  return Phi;
}

namespace {

// RFF's features scale·cos(Z + shift) column by column into Phi (Z may be
// Phi; no shift when it is null), through one buffer whose alignment is
// the same for every column: whether a row takes a vector lane or the
// scalar tail is decided by the row alone, so an entry's bits do not
// depend on the thread, the chunk or the column's place in it.
void cosine_features(const RandomFourierMap& m, const arma::fmat& Z, const float* shift,
                     arma::fmat& Phi) {
  const float scale = float(std::sqrt(2.0 / double(m.A.n_rows)));
#pragma omp parallel
  {
    arma::fvec column(Phi.n_rows);
    float* c = column.memptr();
#pragma omp for schedule(static)
    for (arma::uword j = 0; j < Phi.n_cols; ++j) {
      const float* z = Z.colptr(j);
      if (shift != nullptr)
        for (arma::uword r = 0; r < Phi.n_rows; ++r) c[r] = z[r] + shift[r];
      else
        std::copy(z, z + Phi.n_rows, c);
#pragma omp simd
      for (arma::uword r = 0; r < Phi.n_rows; ++r) c[r] = scale * cosf(c[r]);
      std::copy(c, c + Phi.n_rows, Phi.colptr(j));
    }
  }
}

// An FCNN's features from its first layer's products H (overwritten; may
// be Phi when there is one layer): each hidden layer's product is the one
// new matrix and the ReLU works in it; the last layer's goes into Phi.
void fcnn_features(const FcnnMap& m, arma::fmat& H, arma::fmat& Phi) {
  leaky_relu_in_place(H, m.slope);
  const std::size_t last = m.layers.size() - 1;
  for (std::size_t l = 1; l < last; ++l) {
    H = multiply(arma::conv_to<arma::fmat>::from(m.layers[l]), H);
    leaky_relu_in_place(H, m.slope);
  }
  if (last == 0) {
    if (&H != &Phi) Phi = H;
    return;
  }
  multiply_into(arma::conv_to<arma::fmat>::from(m.layers[last]), H, Phi);
  leaky_relu_in_place(Phi, m.slope);
}

}  // namespace

void sample_features_into(const FeatureMap& map, const arma::fmat& Xf, arma::fmat& Phi) {
  require_rows(Xf, input_dim(map), "X");
  if (Phi.n_rows != feature_dim(map) || Phi.n_cols != Xf.n_cols)
    throw Error("features: the destination has the wrong size");
  std::visit(
      [&Xf, &Phi](const auto& m) {
        if constexpr (is_a<LinearMap, decltype(m)>) {
          Phi = Xf;
        } else if constexpr (is_a<RandomFourierMap, decltype(m)>) {
          multiply_into(arma::conv_to<arma::fmat>::from(m.A), Xf, Phi);
          const arma::fvec b = arma::conv_to<arma::fvec>::from(m.b);
          cosine_features(m, Phi, b.memptr(), Phi);
        } else {
          if (m.layers.empty()) return;  // no features (p = 0)
          const arma::fmat first = arma::conv_to<arma::fmat>::from(m.layers[0]);
          if (m.layers.size() == 1) {
            multiply_into(first, Xf, Phi);
            fcnn_features(m, Phi, Phi);
          } else {
            arma::fmat H = multiply(first, Xf);
            fcnn_features(m, H, Phi);
          }
        }
      },
      map);
}

void features_from_first_layer(const FeatureMap& map, arma::fmat& H, arma::fmat& Phi) {
  if (Phi.n_rows != feature_dim(map) || Phi.n_cols != H.n_cols)
    throw Error("features: the destination has the wrong size");
  if (const auto* rff = std::get_if<RandomFourierMap>(&map))
    cosine_features(*rff, H, nullptr, Phi);
  else if (const auto* fcnn = std::get_if<FcnnMap>(&map); fcnn != nullptr && !fcnn->layers.empty())
    fcnn_features(*fcnn, H, Phi);
  else
    throw Error("features from a first layer: the map has none");
}

std::string surjectivity_problem(const FeatureMap& map) {
  return std::visit(
      [](const auto& m) -> std::string {
        if constexpr (is_a<LinearMap, decltype(m)>) {
          return "";
        } else if constexpr (is_a<RandomFourierMap, decltype(m)>) {
          const arma::uword p = m.A.n_rows, d = m.A.n_cols;
          if (p <= d) return "";
          return "random Fourier features with p = " + std::to_string(p) +
                 " > d = " + std::to_string(d) +
                 " are injective, not surjective: pick --features <= " + std::to_string(d);
        } else {
          if (m.layers.empty()) return "fcnn features have no layers";
          if (!(m.slope > 0.0) || !std::isfinite(m.slope))
            return "fcnn features with leaky ReLU slope " + std::to_string(m.slope) +
                   " are not invertible: pick --slope > 0";
          const arma::uword d = fcnn_input_dim(m);
          for (std::size_t l = 0; l < m.layers.size(); ++l) {
            const arma::mat& M = m.layers[l];
            if (M.n_rows > M.n_cols)
              return "fcnn layer " + std::to_string(l + 1) + " maps " + std::to_string(M.n_cols) +
                     " inputs to " + std::to_string(M.n_rows) +
                     " outputs, wider than its input, so the map is injective, not surjective: "
                     "pick --width <= " +
                     std::to_string(d);
          }
          return "";
        }
      },
      map);
}

double range_scale(const FeatureMap& map, const arma::mat& Phi) {
  require_rows(Phi, feature_dim(map), "Phi");
  if (!Phi.is_finite()) throw Error("Phi has non-finite entries");
  const auto* rff = std::get_if<RandomFourierMap>(&map);
  if (rff == nullptr || Phi.is_empty()) return 1.0;
  const double c = std::sqrt(double(rff->A.n_rows) / 2.0) * arma::abs(Phi).max();
  return std::max(1.0, c);
}

arma::mat invert_features(const FeatureMap& map, const arma::mat& Phi, const arma::mat& X0) {
  require_rows(Phi, feature_dim(map), "Phi");
  require_rows(X0, input_dim(map), "X0");
  if (X0.n_cols != Phi.n_cols)
    throw Error("X0 has " + std::to_string(X0.n_cols) + " columns but Phi has " +
                std::to_string(Phi.n_cols));
  if (!Phi.is_finite() || !X0.is_finite()) throw Error("Phi or X0 has non-finite entries");
  const std::string problem = surjectivity_problem(map);
  if (!problem.empty()) throw Error(problem);

  return std::visit(
      [&](const auto& m) -> arma::mat {
        if constexpr (is_a<LinearMap, decltype(m)>) {
          return Phi;
        } else if constexpr (is_a<RandomFourierMap, decltype(m)>) {
          // docs/design.md §3 step 3: theta = ±arccos(u) + 2πj nearest t = A x0 + b,
          // then x = x0 + A⁺(theta − t).
          const double p = double(m.A.n_rows);
          arma::mat U = std::sqrt(p / 2.0) * Phi;
          if (arma::abs(U).max() > 1.0 + 1e-12)
            throw Error(
                "features are outside the range of the random Fourier map (|sqrt(p/2) Phi| > 1): "
                "divide Phi by range_scale first");
          U.clamp(-1.0, 1.0);
          arma::mat T = m.A * X0;
          T.each_col() += m.b;
          const arma::mat Theta0 = arma::acos(U);
          arma::mat R(arma::size(T));
          const double* t = T.memptr();
          const double* th = Theta0.memptr();
          double* r = R.memptr();
          for (arma::uword i = 0; i < T.n_elem; ++i) {
            const double plus = th[i] + kTwoPi * std::round((t[i] - th[i]) / kTwoPi);
            const double minus = -th[i] + kTwoPi * std::round((t[i] + th[i]) / kTwoPi);
            r[i] = (std::abs(minus - t[i]) < std::abs(plus - t[i]) ? minus : plus) - t[i];
          }
          return X0 + min_norm_solve(m.A, R);
        } else {
          // Layer by layer from the top, each step the solution nearest x0's
          // own activations (docs/design.md §3 step 3).
          const std::size_t L = m.layers.size();
          std::vector<arma::mat> H0(L);  // H0[l] = input of layer l+1 at x0
          H0[0] = X0;
          for (std::size_t l = 1; l < L; ++l)
            H0[l] = leaky_relu(arma::mat(m.layers[l - 1] * H0[l - 1]), m.slope);
          arma::mat H = Phi;
          for (std::size_t l = L; l-- > 0;) {
            const arma::mat& M = m.layers[l];
            arma::mat R = leaky_relu_inverse(H, m.slope) - M * H0[l];
            H = H0[l] + min_norm_solve(M, R);
          }
          return H;
        }
      },
      map);
}

arma::mat backprop_features(const FeatureMap& map, const arma::mat& X, const arma::mat& dPhi) {
  require_rows(X, input_dim(map), "X");
  require_rows(dPhi, feature_dim(map), "dPhi");
  if (X.n_cols != dPhi.n_cols)
    throw Error("X has " + std::to_string(X.n_cols) + " columns but dPhi has " +
                std::to_string(dPhi.n_cols));
  return std::visit(
      [&](const auto& m) -> arma::mat {
        if constexpr (is_a<LinearMap, decltype(m)>) {
          return dPhi;
        } else if constexpr (is_a<RandomFourierMap, decltype(m)>) {
          // d/dx sqrt(2/p) cos(Ax + b) = −sqrt(2/p) diag(sin(Ax + b)) A.
          arma::mat S = multiply(m.A, X);
          S.each_col() += m.b;
          S = (-std::sqrt(2.0 / double(m.A.n_rows))) * (dPhi % arma::sin(S));
          return multiply_transposed(m.A, S);
        } else {
          const std::size_t L = m.layers.size();
          std::vector<arma::mat> Z(L);  // pre-activations
          arma::mat H = X;
          for (std::size_t l = 0; l < L; ++l) {
            Z[l] = multiply(m.layers[l], H);
            if (l + 1 < L) H = leaky_relu(Z[l], m.slope);
          }
          arma::mat G = dPhi;
          for (std::size_t l = L; l-- > 0;) {
            double* g = G.memptr();
            const double* z = Z[l].memptr();
            for (arma::uword i = 0; i < G.n_elem; ++i)
              if (z[i] < 0.0) g[i] *= m.slope;
            G = multiply_transposed(m.layers[l], G);
          }
          return G;
        }
      },
      map);
}

}  // namespace krrdistill
