// The floor a linear run is measured against (bench.sh): inflate the four
// .gz files of an IDX dataset with zlib, convert the training pixels to
// double, and form the d×d Gram with one DSYRK over every training image on
// every core through OpenBLAS's own threads. Beside it, the same Gram as
// krrdistill forms it (exact integer moments, pixel_moments.hpp), checked
// against the DSYRK bit for bit.
// Usage: bench_floor DIR [runs]; prints "floor_s <median>" last for scripts.
#include <cblas.h>
#include <omp.h>
#include <zlib.h>

#include <armadillo>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

std::vector<unsigned char> inflate_file(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    std::fprintf(stderr, "error: cannot open %s\n", path.c_str());
    std::exit(1);
  }
  gzbuffer(file, 1 << 17);
  std::vector<unsigned char> out;
  std::vector<unsigned char> buffer(1 << 20);
  int got;
  while ((got = gzread(file, buffer.data(), unsigned(buffer.size()))) > 0)
    out.insert(out.end(), buffer.begin(), buffer.begin() + got);
  gzclose(file);
  return out;
}

std::uint32_t big_endian(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_floor DIR [runs]\n");
    return 2;
  }
  restart_with_tuned_libraries();  // the kernels and pages krrdistill runs on
  const std::string dir = argv[1];
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const int cores = omp_get_num_procs();
  const char* names[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

  std::vector<std::vector<unsigned char>> files(4);
  const double t_inflate = median_seconds(runs, [&] {
    for (int f = 0; f < 4; ++f) files[f] = inflate_file(dir + "/" + names[f]);
  });
  const std::vector<unsigned char>& images = files[0];
  const arma::uword n = big_endian(&images[4]);
  const arma::uword d = arma::uword(big_endian(&images[8])) * big_endian(&images[12]);
  const unsigned char* pixels = images.data() + 16;

  arma::mat X;
  const double t_convert = median_seconds(runs, [&] {
    X.set_size(d, n);
    double* out = X.memptr();
    for (arma::uword i = 0; i < d * n; ++i) out[i] = double(pixels[i]);
  });
  arma::mat G(d, d);
  openblas_set_num_threads(cores);
  const double t_syrk = median_seconds(runs, [&] {
    G.zeros();
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, int(d), int(n), 1.0, X.memptr(), int(d),
                0.0, G.memptr(), int(d));
  });
  X.reset();

  // krrdistill's way: uint8 pixels, the float product (and int8 where the
  // CPU has VNNI), OpenMP on every core.
  set_threads(0);
  const PixelMatrix Q(const_cast<unsigned char*>(pixels), d, n, false, true);
  const arma::uvec labels(n, arma::fill::zeros);
  struct MomentsTiming {
    const char* name;
    double seconds;
    bool exact;
  };
  std::vector<MomentsTiming> moments_timings;
  std::vector<MomentsProduct> products{MomentsProduct::float32};
  if (fastest_moments_product() == MomentsProduct::int8) products.push_back(MomentsProduct::int8);
  for (const MomentsProduct product : products) {
    PixelMoments moments;
    const double seconds = median_seconds(runs, [&] {
      moments = zero_pixel_moments(d, 1);
      for (arma::uword first = 0; first < n; first += 4096) {
        const arma::uword count = std::min<arma::uword>(4096, n - first);
        add_pixel_moments(moments, Q, first, count, labels.subvec(first, first + count - 1),
                          product);
      }
    });
    moments_timings.push_back(
        {product == MomentsProduct::int8 ? "int8, VNNI" : "float blocks", seconds,
         arma::approx_equal(arma::trimatl(moments.gram), arma::trimatl(G), "absdiff", 0.0)});
  }

  const double floor = t_inflate + t_convert + t_syrk;
  std::printf(
      "floor: %llu images of %llu pixels, %d cores, OpenBLAS kernels %s, median of %d runs\n",
      (unsigned long long)n, (unsigned long long)d, cores, openblas_get_corename(), runs);
  std::printf("  inflate the 4 files (zlib)        %.3f s\n", t_inflate);
  std::printf("  pixels to double                  %.3f s\n", t_convert);
  std::printf("  DSYRK, OpenBLAS on %d threads      %.3f s  %6.1f GFLOP/s\n", cores, t_syrk,
              double(d) * double(d) * double(n) / t_syrk * 1e-9);
  for (const MomentsTiming& t : moments_timings)
    std::printf("  exact pixel moments (%-12s) %.3f s  %.2fx the DSYRK, %s\n", t.name, t.seconds,
                t.seconds / t_syrk, t.exact ? "same bits as DSYRK" : "DIFFERENT from DSYRK");
  std::printf("floor_s %.4f\n", floor);
  for (const MomentsTiming& t : moments_timings)
    if (!t.exact) return 1;
  return 0;
}
