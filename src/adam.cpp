#include "krrdistill/adam.hpp"

#include <cmath>
#include <string>

#include "krrdistill/error.hpp"

namespace krrdistill {

void adam_step(Adam& adam, arma::mat& param, const arma::mat& grad) {
  if (grad.n_rows != param.n_rows || grad.n_cols != param.n_cols)
    throw Error("adam: gradient is " + std::to_string(grad.n_rows) + "x" +
                std::to_string(grad.n_cols) + " but the parameter is " +
                std::to_string(param.n_rows) + "x" + std::to_string(param.n_cols));
  if (!(adam.lr > 0) || !(adam.beta1 >= 0 && adam.beta1 < 1) ||
      !(adam.beta2 >= 0 && adam.beta2 < 1) || !(adam.eps >= 0))
    throw Error("adam: need lr > 0, 0 <= beta1, beta2 < 1 and eps >= 0");
  if (adam.t == 0 || adam.m.n_rows != param.n_rows || adam.m.n_cols != param.n_cols) {
    adam.m.zeros(param.n_rows, param.n_cols);
    adam.v.zeros(param.n_rows, param.n_cols);
    adam.t = 0;
  }
  ++adam.t;
  const double c1 = 1.0 - std::pow(adam.beta1, double(adam.t));
  const double c2 = 1.0 - std::pow(adam.beta2, double(adam.t));
  double* m = adam.m.memptr();
  double* v = adam.v.memptr();
  double* x = param.memptr();
  const double* g = grad.memptr();
  // Elementwise, so the bits do not depend on the thread count; worth the
  // threads for a network's weight matrices, not for a small support set.
  const arma::uword n = param.n_elem;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (arma::uword i = 0; i < n; ++i) {
    m[i] = adam.beta1 * m[i] + (1.0 - adam.beta1) * g[i];
    v[i] = adam.beta2 * v[i] + (1.0 - adam.beta2) * g[i] * g[i];
    x[i] -= adam.lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + adam.eps);
  }
}

}  // namespace krrdistill
