#include "krrdistill/compensated_sum.hpp"

#include <algorithm>

#include "krrdistill/error.hpp"

namespace krrdistill {

CompensatedSum compensated_zeros(arma::uword rows, arma::uword cols) {
  return CompensatedSum{arma::mat(2, rows * cols, arma::fill::zeros), rows, cols};
}

void add(CompensatedSum& sum, const arma::mat& terms) {
  if (terms.n_rows != sum.n_rows || terms.n_cols != sum.n_cols)
    throw Error("compensated sum: the terms do not match");
  double* pairs = sum.pairs.memptr();
  const double* x = terms.memptr();
  const arma::uword n = terms.n_elem;
  // Serial: for the small sums (B, the sweep's errors); a Gram's tiles add
  // themselves on their own threads (add_gram_lower in products.hpp).
  for (arma::uword i = 0; i < n; ++i) add_term(pairs + 2 * i, x[i]);
}

void add_pairs(const double* in, double* inout, std::size_t count) {
  const double* a = in;
  double* b = inout;
  for (std::size_t i = 0; i < count; ++i) {
    const double s = a[2 * i] + b[2 * i], back = s - a[2 * i];
    double e = (a[2 * i] - (s - back)) + (b[2 * i] - back);
    e += a[2 * i + 1] + b[2 * i + 1];
    const double hi = s + e;
    b[2 * i + 1] = e - (hi - s);
    b[2 * i] = hi;
  }
}

void add(CompensatedSum& sum, const CompensatedSum& other) {
  if (other.n_rows != sum.n_rows || other.n_cols != sum.n_cols ||
      other.pairs.n_cols != sum.pairs.n_cols)
    throw Error("compensated sum: the sums do not match");
  add_pairs(other.pairs.memptr(), sum.pairs.memptr(), sum.pairs.n_cols);
}

void mirror_lower(CompensatedSum& sum) {
  if (sum.n_rows != sum.n_cols) throw Error("compensated sum: not square");
  const arma::uword p = sum.n_rows;
  double* pairs = sum.pairs.memptr();
  // In 64×64 squares, so that the strided side stays in cache.
  constexpr arma::uword kSquare = 64;
  for (arma::uword c0 = 0; c0 < p; c0 += kSquare)
    for (arma::uword r0 = c0; r0 < p; r0 += kSquare)
      for (arma::uword c = c0; c < std::min(p, c0 + kSquare); ++c)
        for (arma::uword r = std::max(r0, c + 1); r < std::min(p, r0 + kSquare); ++r) {
          const double* from = pairs + 2 * (r + c * p);
          double* to = pairs + 2 * (c + r * p);
          to[0] = from[0];
          to[1] = from[1];
        }
}

arma::mat value(const CompensatedSum& sum) {
  // Entry by entry: an expression of the pairs' rows would hold p×p temporaries.
  arma::mat out(sum.n_rows, sum.n_cols);
  const double* pair = sum.pairs.memptr();
  for (arma::uword i = 0; i < out.n_elem; ++i) out[i] = pair[2 * i] + pair[2 * i + 1];
  return out;
}

void subtract_value(arma::mat& from, const CompensatedSum& sum) {
  if (from.n_rows != sum.n_rows || from.n_cols != sum.n_cols)
    throw Error("compensated sum: sizes do not match");
  const double* pair = sum.pairs.memptr();
  for (arma::uword i = 0; i < from.n_elem; ++i) from[i] -= pair[2 * i] + pair[2 * i + 1];
}

}  // namespace krrdistill
