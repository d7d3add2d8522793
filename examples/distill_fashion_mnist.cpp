// Distils Fashion-MNIST (the Debian package's folder) through the library:
// the linear model, one image per class from noise, and its certificate.
// Usage: distill_fashion_mnist [OUT_DIR]
#include <cstdio>
#include <exception>

#include "krrdistill/pipeline.hpp"

int main(int argc, char** argv) {
  try {
    krrdistill::DistillConfig config;  // dataset fashion-mnist, linear model, λ by validation
    config.analytic.ipc = 1;
    config.analytic.init = krrdistill::Init::noise;
    const krrdistill::DistillResult result = krrdistill::distill_dataset(config);

    const krrdistill::Certificate& cert = result.certificate;
    std::printf("distilled %s (%llu training images, lambda %.3g) to %llu images\n",
                result.description.name.c_str(), (unsigned long long)result.n_train,
                result.model.lambda, (unsigned long long)result.distilled.Xs.n_cols);
    std::printf(
        "certificate: |Ws-W|/|W| = %.3g, test accuracy original %.4f, distilled %.4f, agreement "
        "%.4f\n",
        cert.weight_rel_error, cert.original.test, cert.distilled.test, cert.test_agreement);
    if (argc > 1) krrdistill::write_distill_result(result, argv[1], /*force=*/false);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
