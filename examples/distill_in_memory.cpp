// Distils images the program already holds in memory through the library:
// a small synthetic three-class set of 8×8 images (each class a bright bar
// in its own place, plus noise), made here, distilled to two images per
// class, with the certificate printed. Usage: distill_in_memory [OUT_DIR]
#include <cstdio>
#include <exception>
#include <random>

#include "krrdistill/pipeline.hpp"

namespace {

// n images of side×side pixels, class i mod 3 each: a bright bar in the
// class's rows over noise.
void make_images(arma::uword n, arma::uword side, std::mt19937_64& rng,
                 krrdistill::PixelMatrix& pixels, arma::uvec& labels) {
  std::uniform_int_distribution<int> noise(0, 80);
  pixels.set_size(side * side, n);
  labels.set_size(n);
  for (arma::uword i = 0; i < n; ++i) {
    const arma::uword c = i % 3;
    labels[i] = c;
    for (arma::uword y = 0; y < side; ++y)
      for (arma::uword x = 0; x < side; ++x) {
        const bool bar = y / 3 == c;  // rows 0-2, 3-5 or 6-7
        pixels(y * side + x, i) = std::uint8_t(noise(rng) + (bar ? 170 : 0));
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::mt19937_64 rng(7);
    krrdistill::PixelMatrix train_pixels, test_pixels;
    arma::uvec train_labels, test_labels;
    make_images(300, 8, rng, train_pixels, train_labels);
    make_images(90, 8, rng, test_pixels, test_labels);
    const krrdistill::Dataset data = krrdistill::make_dataset(
        train_pixels, train_labels, test_pixels, test_labels, krrdistill::ImageShape{1, 8, 8}, 3);

    krrdistill::DistillConfig config;
    config.source.dataset = "memory";  // names it in the report; no files to read
    config.spec.kind = "linear";
    config.analytic.ipc = 2;
    config.analytic.init = krrdistill::Init::real;
    const krrdistill::DistillResult result = krrdistill::distill_dataset(data, config);

    const krrdistill::Certificate& cert = result.certificate;
    std::printf("distilled %llu training images to %llu (lambda %.3g)\n",
                (unsigned long long)result.n_train, (unsigned long long)result.distilled.Xs.n_cols,
                result.model.lambda);
    std::printf("|Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f\n",
                cert.weight_rel_error, cert.original.test, cert.distilled.test);
    if (argc > 1) krrdistill::write_distill_result(result, argv[1], /*force=*/false);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
