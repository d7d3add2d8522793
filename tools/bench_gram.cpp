// Gram-matrix throughput: the statistics' SYRK (G = Phi Phiᵀ, accumulated in
// chunks as fit_model does) next to a plain DGEMM of the same size, on the
// same machine. Prints median seconds of several runs and GFLOP/s.
#include <algorithm>
#include <armadillo>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "krrdistill/model.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;

namespace {

template <typename F>
double median_seconds(int runs, F&& work) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const arma::uword p = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 784;
  const arma::uword n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 60000;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::mt19937_64 rng = make_rng(1, Stream::feature_map);
  const arma::mat Phi = gaussian_matrix(p, n, 1.0, rng);
  const arma::mat PhiT = Phi.t();
  arma::mat G(p, p);

  const double t_syrk = median_seconds(runs, [&] {
    G.zeros();
    for (arma::uword first = 0; first < n; first += kDefaultChunk) {
      const arma::uword last = std::min(n, first + kDefaultChunk) - 1;
      const arma::mat chunk = Phi.cols(first, last);
      G += chunk * chunk.t();
    }
  });
  const double t_gemm = median_seconds(runs, [&] { G = Phi * PhiT; });
  const double flops_gemm = 2.0 * double(p) * double(p) * double(n);
  const double flops_syrk = flops_gemm / 2.0;  // only one triangle is needed
  std::printf("gram  p=%llu n=%llu  syrk (chunked, as in fit): %.3f s  %.1f GFLOP/s\n",
              (unsigned long long)p, (unsigned long long)n, t_syrk, flops_syrk / t_syrk * 1e-9);
  std::printf("gram  plain dgemm Phi*Phi^T same size:       %.3f s  %.1f GFLOP/s\n", t_gemm,
              flops_gemm / t_gemm * 1e-9);
  std::printf("gram  syrk time / dgemm time: %.2f\n", t_syrk / t_gemm);
  return 0;
}
