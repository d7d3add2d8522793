#include "krrdistill/nearest_distances.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"

namespace krrdistill {

namespace {

// Samples (and distilled inputs) a tile of the screen's product: the
// certificate's pass comes in pieces of one product block (512 samples),
// which would be one tile on one thread; the screen's bound holds for any
// order of the sums.
constexpr arma::uword kScreenBlock = 128;

// Σ_k (a_k − b_k)² in index order: the one measure of a pair.
double squared_distance(const double* a, const double* b, arma::uword d) {
  double sum = 0.0;
  for (arma::uword k = 0; k < d; ++k) {
    const double t = a[k] - b[k];
    sum += t * t;
  }
  return sum;
}

// Σ_k v_k² in eight interleaved partial sums, added pairwise: a fixed order
// the compiler can run as vectors (one chain of d additions cannot be).
double squared_norm(const double* v, arma::uword d) {
  constexpr arma::uword kLanes = 8;
  double lanes[kLanes] = {};
  arma::uword k = 0;
  for (; k + kLanes <= d; k += kLanes)
    for (arma::uword l = 0; l < kLanes; ++l) lanes[l] += v[k + l] * v[k + l];
  for (arma::uword l = 0; k < d; ++k, ++l) lanes[l] += v[k] * v[k];
  for (arma::uword width = kLanes / 2; width > 0; width /= 2)
    for (arma::uword l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  return lanes[0];
}

}  // namespace

NearestDistances::NearestDistances(const arma::mat& Xs)
    : Xs_(Xs),
      minus_2xs_(arma::conv_to<arma::fmat>::from(-2.0 * Xs)),
      xs_norm_(Xs.n_cols),
      xs_sq_(Xs.n_cols),
      nearest_sq_(Xs.n_cols) {
  nearest_sq_.fill(arma::datum::inf);
  for (arma::uword i = 0; i < Xs.n_cols; ++i) {
    xs_sq_[i] = squared_norm(Xs.colptr(i), Xs.n_rows);
    xs_norm_[i] = std::sqrt(xs_sq_[i]);
  }
}

void NearestDistances::add(const arma::mat& X) {
  if (X.n_rows != Xs_.n_rows)
    throw Error("nearest distances: the inputs' dimension does not match");
  if (Xs_.is_empty() || X.n_cols == 0) return;
  X_float_.set_size(X.n_rows, X.n_cols);
  const arma::vec x_sq = column_norms(X, &X_float_);
  // |v_k| ≤ ‖v‖ and |xs_k x_k| ≤ ‖xs‖ ‖x‖: with the norms far inside
  // float's range every entry and product is too. Otherwise (or with an
  // infinity) the screen cannot be trusted, and every pair of the chunk is
  // measured. A NaN gives NaN bounds, and its pairs are measured.
  const double xs_largest = xs_norm_.max(), x_largest = std::sqrt(x_sq.max());
  const bool screen = xs_largest <= 1e36 && x_largest <= 1e36 &&
                      xs_largest * x_largest * 2.0 * double(X.n_rows) <= 1e37;
  const arma::fmat cross =
      screen ? multiply_transposed(X_float_, minus_2xs_, kScreenBlock) : arma::fmat();
  lower_by(X, x_sq, cross, screen);
}

void NearestDistances::add(const arma::mat& X, const arma::mat& minus_2_cross) {
  if (X.n_rows != Xs_.n_rows)
    throw Error("nearest distances: the inputs' dimension does not match");
  if (minus_2_cross.n_rows != Xs_.n_cols || minus_2_cross.n_cols != X.n_cols)
    throw Error("nearest distances: the cross terms do not match the inputs");
  if (Xs_.is_empty() || X.n_cols == 0) return;
  const arma::vec x_sq = column_norms(X, nullptr);
  lower_by(X, x_sq, arma::mat(minus_2_cross.t()), std::isfinite(xs_norm_.max() * x_sq.max()));
}

arma::vec NearestDistances::column_norms(const arma::mat& X, arma::fmat* X_float) const {
  const arma::uword d = X.n_rows;
  arma::vec x_sq(X.n_cols);
  const long columns = long(X.n_cols);
#pragma omp parallel for schedule(static)
  for (long j = 0; j < columns; ++j) {
    const double* from = X.colptr(arma::uword(j));
    if (X_float != nullptr) {
      float* to = X_float->colptr(arma::uword(j));
      for (arma::uword k = 0; k < d; ++k) to[k] = float(from[k]);
    }
    x_sq[j] = squared_norm(from, d);
  }
  return x_sq;
}

template <typename T>
void NearestDistances::lower_by(const arma::mat& X, const arma::vec& x_sq,
                                const arma::Mat<T>& cross, bool screen) {
  const arma::uword d = Xs_.n_rows, m = Xs_.n_cols, n = X.n_cols;
  const arma::vec x_norm = arma::sqrt(x_sq);
  // |fl(−2 xsᵀx) + 2 xsᵀx| ≤ 2 γ Σ|xs_k x_k| ≤ 2 γ ‖xs‖ ‖x‖ for a product in
  // T, γ covering its d roundings and those of the inputs to T
  // (docs/design.md §6); the relative term covers the double sums and the
  // measure's own rounding (each below (d + 2)·2^-53), the absolute term
  // float's gradual underflow.
  const double u = std::numeric_limits<T>::epsilon() / 2;
  const double gamma = 1.01 * double(d + 3) * u / (1.0 - double(d + 3) * u);
  const double relative = 1e-12 + 4.0 * double(d + 2) * std::numeric_limits<double>::epsilon();
  arma::uword measured = 0;
  const long rows = long(m);
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : measured)
  for (long row = 0; row < rows; ++row) {
    const arma::uword i = arma::uword(row);
    std::vector<double> lower(n, -arma::datum::inf);
    if (screen) {
      const T* column = cross.colptr(i);
      for (arma::uword j = 0; j < n; ++j) {
        const double estimate = (double(column[j]) + xs_sq_[i]) + x_sq[j];
        const double reach = xs_norm_[i] + x_norm[j];
        const double bound = 2.0 * gamma * xs_norm_[i] * x_norm[j] + relative * reach * reach +
                             1e-40 * double(d) * (1.0 + reach);
        lower[j] = estimate - bound;
      }
    }
    // The likeliest pair first, so that the best so far rules out the rest early.
    arma::uword first = 0;
    for (arma::uword j = 1; j < n; ++j)
      if (lower[j] < lower[first]) first = j;
    double best = nearest_sq_[i];
    const auto measure = [&](arma::uword j) {
      const double distance = squared_distance(Xs_.colptr(i), X.colptr(j), d);
      if (distance < best) best = distance;
      ++measured;
    };
    measure(first);
    for (arma::uword j = 0; j < n; ++j)
      if (j != first && !(lower[j] > best)) measure(j);
    nearest_sq_[i] = best;
  }
  measured_ += measured;
}

}  // namespace krrdistill
