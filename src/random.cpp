#include "krrdistill/random.hpp"

#include <cmath>

namespace krrdistill {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform double on [0, 1) from the top 53 bits: the same on every platform,
// unlike std::uniform_real_distribution.
double unit_uniform(std::mt19937_64& rng) {
  return double(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

std::mt19937_64 make_rng(std::uint64_t seed, RngStream stream) {
  std::uint64_t mixed = splitmix64(splitmix64(seed) ^ static_cast<std::uint64_t>(stream));
  return std::mt19937_64(mixed);
}

arma::mat gaussian_matrix(arma::uword rows, arma::uword cols, double stddev, std::mt19937_64& rng) {
  // Box–Muller on our own uniforms, so the numbers are fixed by the seed alone.
  arma::mat out(rows, cols);
  const double two_pi = 2.0 * arma::datum::pi;
  double* v = out.memptr();
  const arma::uword n = out.n_elem;
  for (arma::uword i = 0; i < n; i += 2) {
    double u1 = 1.0 - unit_uniform(rng);  // (0, 1]
    double u2 = unit_uniform(rng);
    double r = std::sqrt(-2.0 * std::log(u1)) * stddev;
    v[i] = r * std::cos(two_pi * u2);
    if (i + 1 < n) v[i + 1] = r * std::sin(two_pi * u2);
  }
  return out;
}

arma::vec uniform_vector(arma::uword n, double low, double high, std::mt19937_64& rng) {
  arma::vec out(n);
  for (arma::uword i = 0; i < n; ++i) out[i] = low + (high - low) * unit_uniform(rng);
  return out;
}

}  // namespace krrdistill
