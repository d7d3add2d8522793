#include "krrdistill/compensated_sum.hpp"

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
  // Serial on purpose: a few ns an entry, and an OpenMP team here would fight
  // OpenBLAS's still-spinning threads right after the SYRK.
  for (arma::uword i = 0; i < n; ++i) {
    // TwoSum: s + e == hi + x exactly.
    const double hi = pairs[2 * i], s = hi + x[i], back = s - hi;
    const double e = (hi - (s - back)) + (x[i] - back);
    pairs[2 * i] = s;
    pairs[2 * i + 1] += e;
  }
}

arma::mat value(const CompensatedSum& sum) {
  arma::mat out(sum.n_rows, sum.n_cols);
  out = arma::reshape(sum.pairs.row(0) + sum.pairs.row(1), sum.n_rows, sum.n_cols);
  return out;
}

}  // namespace krrdistill
