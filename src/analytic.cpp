#include "krrdistill/analytic.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

namespace {

// Ys of full row rank: below this ratio of extreme singular values a learned
// Ys is treated as rank deficient (and the one-hot labels are kept).
constexpr double kLabelRankTolerance = 1e-8;

// Thin SVD of a full-row-rank Ys (k×m) = U diag(s) Vᵀ, used for Ys⁺ = V diag(1/s) Uᵀ
// and the projection Ys⁺Ys = V Vᵀ.
struct LabelSvd {
  arma::mat U, V;
  arma::vec s;
};

LabelSvd label_svd(const arma::mat& Ys) {
  LabelSvd svd;
  if (!arma::svd_econ(svd.U, svd.s, svd.V, Ys, "both", "dc"))
    throw Error("SVD of the labels failed");
  return svd;
}

bool full_row_rank(const LabelSvd& svd, arma::uword k) {
  return svd.s.n_elem == k && svd.s.min() > kLabelRankTolerance * svd.s.max();
}

// Ys⁺ M for full-row-rank Ys.
arma::mat apply_pinv(const LabelSvd& svd, const arma::mat& M) {
  arma::mat UtM = svd.U.t() * M;
  UtM.each_col() /= svd.s;
  return svd.V * UtM;
}

}  // namespace

Init parse_init(const std::string& text) {
  if (text == "noise") return Init::noise;
  if (text == "real") return Init::real;
  throw Error("unknown --init '" + text + "' (expected noise or real)");
}

std::string init_name(Init init) {
  return init == Init::noise ? "noise" : "real";
}

arma::mat distilled_one_hot(arma::uword num_classes, arma::uword ipc) {
  arma::mat Ys(num_classes, num_classes * ipc, arma::fill::zeros);
  for (arma::uword j = 0; j < Ys.n_cols; ++j) Ys(j % num_classes, j) = 1.0;
  return Ys;
}

arma::uvec choose_real_images(const arma::uvec& labels, arma::uword num_classes, arma::uword ipc,
                              std::uint64_t seed, RngStream stream) {
  std::vector<std::vector<arma::uword>> by_class(num_classes);
  for (arma::uword i = 0; i < labels.n_elem; ++i) by_class.at(labels[i]).push_back(i);
  std::mt19937_64 rng = make_rng(seed, stream);
  arma::uvec chosen(num_classes * ipc);
  for (arma::uword c = 0; c < num_classes; ++c) {
    std::vector<arma::uword>& pool = by_class[c];
    if (pool.size() < ipc)
      throw Error("--ipc " + std::to_string(ipc) + " with --init real needs " +
                  std::to_string(ipc) + " training images of class " + std::to_string(c) +
                  ", which has " + std::to_string(pool.size()));
    // Partial Fisher–Yates with our own index draws (bit-reproducible).
    for (arma::uword i = 0; i < ipc; ++i) {
      const arma::uword j = i + arma::uword(rng() % (pool.size() - i));
      std::swap(pool[i], pool[j]);
      chosen[i * num_classes + c] = pool[i];
    }
  }
  return chosen;
}

arma::uvec choose_real_samples(arma::uword n, arma::uword m, std::uint64_t seed) {
  if (m > n)
    throw Error("--init real needs " + std::to_string(m) + " training samples, the data has " +
                std::to_string(n));
  std::vector<arma::uword> pool(n);
  for (arma::uword i = 0; i < n; ++i) pool[i] = i;
  std::mt19937_64 rng = make_rng(seed, RngStream::real_init);
  arma::uvec chosen(m);
  for (arma::uword i = 0; i < m; ++i) {  // partial Fisher–Yates, as choose_real_images
    std::swap(pool[i], pool[i + arma::uword(rng() % (n - i))]);
    chosen[i] = pool[i];
  }
  return chosen;
}

namespace {

// Singular values of D below this fraction of the largest are treated as zero.
constexpr double kNegligibleSingular = 1e-10;

}  // namespace

DistilledSet distill_analytic(const FeatureMap& map, const arma::mat& W, const arma::mat& X0,
                              const AnalyticOptions& options) {
  const arma::uword k = W.n_rows, p = W.n_cols, d = input_dim(map);
  if (p != feature_dim(map)) throw Error("weights do not match the feature map");
  if (options.ipc == 0) throw Error("--ipc must be at least 1");
  if (!(options.lambda_s >= 0) || !std::isfinite(options.lambda_s))
    throw Error("--lambda-s must be finite and >= 0");
  if (!W.is_finite()) throw Error("the model weights are not finite");
  const std::string problem = surjectivity_problem(map);
  if (!problem.empty()) throw Error(problem);
  const arma::uword m = k * options.ipc;
  const bool real = options.init == Init::real;
  if (real && (X0.n_rows != d || X0.n_cols != m))
    throw Error("real initialisation needs " + std::to_string(m) + " starting images");

  DistilledSet out;
  out.lambda_s_requested = options.lambda_s;
  arma::mat Ys = distilled_one_hot(k, options.ipc);
  // One rule for every init: λs <= 1/(4 s_max²) of D = Ys⁺W with the one-hot
  // labels, which is ipc/(4‖W‖₂²) and does not depend on λs. With real
  // starting images the learned labels grow with λs and shrink D, so a bound
  // on their own D alone would let any λs through, up to overflow.
  double lambda_s = options.lambda_s;
  const double w_norm = arma::norm(W, 2);
  if (w_norm > 0) lambda_s = std::min(lambda_s, double(options.ipc) / (4.0 * w_norm * w_norm));

  // Step 1: D (m×p) with Ys D = W, D = Ys⁺W + (I − Ys⁺Ys) Z.
  arma::mat Z;
  if (real) {
    // Phi0⁺_λs = V diag(s/(s²+λs)) Uᵀ from the thin SVD Phi0 = U diag(s) Vᵀ;
    // learned labels Ys = W (Phi0⁺_λs)⁺ = W U diag((s²+λs)/s) Vᵀ.
    const arma::mat Phi0 = map_features(map, X0);
    arma::mat U, V;
    arma::vec s;
    if (!arma::svd_econ(U, s, V, Phi0, "both", "dc"))
      throw Error("SVD of the start features failed");
    const double tol = double(std::max(p, m)) * std::numeric_limits<double>::epsilon() * s.max();
    const arma::uvec kept = arma::find(s > tol);
    U = U.cols(kept);
    V = V.cols(kept);
    s = s.elem(kept);
    arma::mat pinv0 = V;  // becomes Phi0⁺_λs (m×p)
    pinv0.each_row() %= (s / (arma::square(s) + lambda_s)).t();
    pinv0 = pinv0 * U.t();
    arma::mat WU = W * U;
    WU.each_row() %= ((arma::square(s) + lambda_s) / s).t();
    const arma::mat learned = WU * V.t();
    if (full_row_rank(label_svd(learned), k)) {
      Ys = learned;
      out.learned_labels = true;
    }
    Z = std::move(pinv0);
  }
  const LabelSvd ys = label_svd(Ys);
  if (!full_row_rank(ys, k)) throw Error("the distilled labels Ys do not have full row rank");
  const arma::mat particular = apply_pinv(ys, W);  // Ys⁺W
  if (real) {
    Z -= particular;
  } else {
    std::mt19937_64 rng = make_rng(options.seed, RngStream::noise_init);
    const double scale = options.noise_scale * arma::stddev(arma::vectorise(particular));
    Z = gaussian_matrix(m, p, scale > 0 ? scale : 1.0, rng);
  }
  const arma::mat D = particular + (Z - ys.V * (ys.V.t() * Z));

  // Step 2: Phis = U diag(σ) Vᵀ with σ/(σ²+λs) = s from D = V diag(s) Uᵀ.
  arma::mat left, right;  // D = left diag(s) rightᵀ
  arma::vec s;
  if (!arma::svd_econ(left, s, right, D, "both", "dc")) throw Error("SVD of D failed");
  const double s_max = s.max();
  // A singular value below 1e-10 of the largest is W's own rounding, not a
  // direction of W (docs/design.md §3, step 2): inverting it would make
  // Phis's largest direction 1e10 times the rest and the refit lose W.
  const double tol = std::max(double(std::max(p, m)) * std::numeric_limits<double>::epsilon(),
                              kNegligibleSingular) *
                     s_max;
  const double lambda_bound = 1.0 / (4.0 * s_max * s_max);
  if (lambda_s > lambda_bound) lambda_s = lambda_bound;  // real σ needs λs <= 1/(4 s_max²)
  out.lambda_s_clamped = lambda_s;
  arma::vec sigma(s.n_elem, arma::fill::zeros);
  for (arma::uword i = 0; i < s.n_elem; ++i) {
    if (s[i] <= tol) continue;
    const double disc = std::max(0.0, 1.0 - 4.0 * lambda_s * s[i] * s[i]);
    sigma[i] = (1.0 + std::sqrt(disc)) / (2.0 * s[i]);
  }
  right.each_row() %= sigma.t();
  arma::mat Phis = right * left.t();

  // Step 3: scale into the map's range keeping Ws = W: (Φ/c)⁺_{λ/c²} = c Φ⁺_λ.
  const double c = range_scale(map, Phis);
  if (c > 1) {
    Phis /= c;
    Ys /= c;
    lambda_s /= c * c;
  }
  out.range_scale = c;
  out.lambda_s = lambda_s;
  out.Xs = invert_features(map, Phis, real ? X0 : arma::mat(d, m, arma::fill::zeros));
  out.Ys = std::move(Ys);
  out.Phis = std::move(Phis);
  return out;
}

}  // namespace krrdistill
