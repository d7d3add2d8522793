// What limits a distributed run: the λ sweep's one p×p factorisation on
// rank 0 (docs/design.md §2) and the ridge solve. For each p given, prints
// the median seconds of the sweep's weights for the 24-value default grid
// (ridge_path_weights: tridiagonal reduction), of a full eigendecomposition
// beside it (eig_sym, divide and conquer, as ridge_path for λ = 0), and of the
// Cholesky solve of fit_primal, and the memory they hold, with the threads
// set as distill sets them (OpenBLAS on one thread, threads.hpp).
// Usage: bench_eig P [P...] [--runs R]
#include <algorithm>
#include <armadillo>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

// Peak resident memory of this process so far (VmHWM), in MB.
double peak_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  restart_with_tuned_libraries();  // the kernels and pages krrdistill runs on
  std::vector<arma::uword> sizes;
  int runs = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else
      sizes.push_back(arma::uword(std::strtoull(argv[i], nullptr, 10)));
  }
  if (sizes.empty() || runs < 1) {
    std::fprintf(stderr, "usage: bench_eig P [P...] [--runs R]\n");
    return 2;
  }
  set_threads(0);
  std::printf("%8s %12s %12s %12s %14s %14s\n", "p", "sweep s", "eig_sym s", "solve s", "sweep MB",
              "peak RSS MB");
  for (arma::uword p : sizes) {
    // A Gram matrix of random features: G = Phi Phiᵀ / n, k = 10 classes.
    std::mt19937_64 rng = make_rng(0, RngStream::feature_map);
    const arma::mat Phi = gaussian_matrix(p, p + 64, 1.0, rng);
    Statistics stats{Phi * Phi.t(), gaussian_matrix(10, p, 1.0, rng), Phi.n_cols};
    const std::vector<double> grid = default_lambda_grid();
    const double t_sweep = median_seconds(runs, [&] { ridge_path_weights(stats, grid); });
    arma::vec g;
    arma::mat V;
    const double t_eig = median_seconds(runs, [&] {
      if (!arma::eig_sym(g, V, stats.G, "dc")) std::exit(1);
    });
    const double t_solve = median_seconds(runs, [&] { fit_primal(stats, 1.0); });
    // G and its reflectors, and the stacked weights (240×p).
    const double sweep_mb =
        (2.0 * double(p) * double(p) + double(grid.size() * 10) * double(p)) * 8.0 / 1e6;
    std::printf("%8llu %12.3f %12.3f %12.3f %14.0f %14.0f\n", (unsigned long long)p, t_sweep, t_eig,
                t_solve, sweep_mb, peak_mb());
  }
  return 0;
}
