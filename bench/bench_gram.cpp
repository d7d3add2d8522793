// Gram-matrix throughput of the statistics pass (G += Phi Phiᵀ chunk by
// chunk, as fit_model does): a SYRK on one OpenBLAS thread, on every core,
// and add_gram's fixed tiles on every OpenMP thread. Prints median seconds,
// GFLOP/s and the speed-up over one thread, and checks that add_gram gives
// the same bits on one thread and on all; the same for the single-precision
// Gram and feature map of an RFF or FCNN pass.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <armadillo>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_timing.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/sample_chunks.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

int main(int argc, char** argv) {
  restart_with_tuned_libraries();  // the kernels and pages krrdistill runs on
  const arma::uword p = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 784;
  const arma::uword n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 60000;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  const int cores = omp_get_num_procs();
  std::mt19937_64 rng = make_rng(1, RngStream::feature_map);
  const arma::mat Phi = gaussian_matrix(p, n, 1.0, rng);
  const double flops = double(p) * double(p) * double(n);  // one triangle of 2 p² n
  arma::mat G(p, p);

  // The statistics pass's shape: chunks of kDefaultChunk columns added into G.
  auto chunked = [&](auto&& add_chunk) {
    return median_seconds(runs, [&] {
      G.zeros();
      for (arma::uword first = 0; first < n; first += kDefaultChunk) {
        const arma::uword last = std::min(n, first + kDefaultChunk) - 1;
        add_chunk(arma::mat(Phi.cols(first, last)));
      }
    });
  };
  openblas_set_num_threads(1);
  const double t_one = chunked([&](const arma::mat& c) { G += c * c.t(); });
  openblas_set_num_threads(cores);
  const double t_blas = chunked([&](const arma::mat& c) { G += c * c.t(); });
  set_threads(0);  // as the CLI runs: OpenBLAS on one thread, OpenMP on every core
  const double t_tiled = chunked([&](const arma::mat& c) { add_gram(G, c); });
  const arma::mat G_tiled = G;
  set_threads(1);
  chunked([&](const arma::mat& c) { add_gram(G, c); });
  const bool same_bits = arma::approx_equal(G, G_tiled, "absdiff", 0.0);

  std::printf("gram p=%llu n=%llu, chunks of %llu, %d cores (median of %d runs)\n",
              (unsigned long long)p, (unsigned long long)n, (unsigned long long)kDefaultChunk,
              cores, runs);
  auto row = [&](const char* name, double t) {
    std::printf("  %-44s %.3f s  %6.1f GFLOP/s  %.2fx\n", name, t, flops / t * 1e-9, t_one / t);
  };
  row("SYRK, OpenBLAS on 1 thread", t_one);
  row("SYRK, OpenBLAS on every core (not used)", t_blas);
  row("add_gram tiles on every core (as in fit)", t_tiled);
  std::printf("  add_gram on 1 and on %d threads: %s\n", cores,
              same_bits ? "identical bits" : "DIFFERENT bits");

  // What an RFF or FCNN pass runs instead (docs/design.md §12): the Gram of
  // float features, float tiles over 1024 samples summed in double.
  const arma::fmat Phi_single = arma::conv_to<arma::fmat>::from(Phi);
  auto chunked_single = [&] {
    return median_seconds(runs, [&] {
      G.zeros();
      for (arma::uword first = 0; first < n; first += kDefaultChunk)
        add_gram(G, arma::fmat(Phi_single.cols(first, std::min(n, first + kDefaultChunk) - 1)));
    });
  };
  set_threads(0);
  const double t_single = chunked_single();
  const arma::mat G_single = G;
  set_threads(1);
  chunked_single();
  const bool same_single = arma::approx_equal(G, G_single, "absdiff", 0.0);
  row("add_gram of floats on every core (rff, fcnn)", t_single);
  std::printf("  add_gram of floats on 1 and on %d threads: %s\n", cores,
              same_single ? "identical bits" : "DIFFERENT bits");

  // The other products that dominate a run: the random-feature map (A X on a
  // chunk) and a KIP step's batch kernel and its backward pass (ipc 10, batch
  // 5000), against Armadillo on one OpenBLAS thread.
  struct Shape {
    const char* name;
    arma::uword rows, inner, cols;
    bool transpose_a;
  };
  bool all_same = same_bits;
  // One product of a shape with elements of type T (the argument's).
  auto measure = [&](const Shape& shape, auto zero) {
    using T = decltype(zero);
    const arma::Mat<T> A = arma::conv_to<arma::Mat<T>>::from(
        shape.transpose_a ? gaussian_matrix(shape.inner, shape.rows, 1.0, rng)
                          : gaussian_matrix(shape.rows, shape.inner, 1.0, rng));
    const arma::Mat<T> B =
        arma::conv_to<arma::Mat<T>>::from(gaussian_matrix(shape.inner, shape.cols, 1.0, rng));
    auto product = [&] { return shape.transpose_a ? multiply_transposed(A, B) : multiply(A, B); };
    arma::Mat<T> C;
    set_threads(1);
    const double t_arma = median_seconds(
        runs, [&] { C = shape.transpose_a ? arma::Mat<T>(A.t() * B) : arma::Mat<T>(A * B); });
    const arma::Mat<T> one = product();
    set_threads(0);
    const double t_tiled = median_seconds(runs, [&] { C = product(); });
    const bool same = arma::approx_equal(C, one, "absdiff", zero);
    all_same = all_same && same;
    const double gflop = 2.0 * double(shape.rows) * double(shape.inner) * double(shape.cols) * 1e-9;
    std::printf("  %-44s %.4f s -> %.4f s  %6.1f GFLOP/s  %.2fx  %s\n", shape.name, t_arma, t_tiled,
                gflop / t_tiled, t_arma / t_tiled, same ? "same bits on 1 thread" : "DIFFERENT");
  };
  const Shape shapes[] = {{"rff map A X, 784x784 * 784x4096", 784, 784, kDefaultChunk, false},
                          {"kip kernel Xt' Xs, 5000x784 * 784x100", 5000, 784, 100, true},
                          {"kip backward Xt dK, 784x5000 * 5000x100", 784, 5000, 100, false}};
  for (const Shape& shape : shapes) measure(shape, 0.0);
  // In single precision, as a pass forms the rff map and as a KIP step with
  // the ReLU kernels forms its batch products (--batch-precision single).
  const Shape single_shapes[] = {
      {"rff map A X in float (as in a pass)", 784, 784, kDefaultChunk, false},
      {"kip kernel Xt' Xs in float (ntk, nngp)", 5000, 784, 100, true},
      {"kip backward Xt dK in float (ntk, nngp)", 784, 5000, 100, false}};
  for (const Shape& shape : single_shapes) measure(shape, 0.0f);

  // Short double results (a model's scores over a chunk, a certificate's
  // cross products) go as their transposes (products.cpp): on one thread,
  // A B as BLAS takes it against multiply's form.
  set_threads(1);
  for (const arma::uword rows : {arma::uword(20), arma::uword(30), arma::uword(120)}) {
    const arma::mat A = gaussian_matrix(rows, p, 1.0, rng);
    const arma::mat B = gaussian_matrix(p, kDefaultChunk, 1.0, rng);
    arma::mat C;
    const double t_plain = median_seconds(runs, [&] { C = A * B; });
    const double t_swapped = median_seconds(runs, [&] { C = multiply(A, B); });
    std::printf(
        "  short product %3llux%llu * %llux%llu, 1 thread  %.5f s as A B -> %.5f s  %.2fx\n",
        (unsigned long long)rows, (unsigned long long)p, (unsigned long long)p,
        (unsigned long long)kDefaultChunk, t_plain, t_swapped, t_plain / t_swapped);
  }
  return all_same && same_single ? 0 : 1;
}
