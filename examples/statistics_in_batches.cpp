// Data that arrives in batches, distilled without keeping it: each batch's
// sufficient statistics go to a file as it comes (the first batch fixes the
// preprocessing of the nonlinear FCNN map, the later ones take it from the
// first file), and the files are merged and distilled at the end
// (saved_statistics.hpp, docs/design.md §9). Three batches of synthetic
// three-class 8×8 images. Usage: statistics_in_batches [FOLDER]
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "krrdistill/pipeline.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"

namespace {

// n images of 8×8 pixels, class i mod 3 each: a bright bar in the class's
// rows over noise.
krrdistill::Dataset make_batch(arma::uword n, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> noise(0, 80);
  krrdistill::PixelMatrix pixels(64, n);
  arma::uvec labels(n);
  for (arma::uword i = 0; i < n; ++i) {
    labels[i] = i % 3;
    for (arma::uword p = 0; p < 64; ++p)
      pixels(p, i) = std::uint8_t(noise(rng) + (p / 8 / 3 == labels[i] ? 170 : 0));
  }
  return krrdistill::make_dataset(pixels, labels, pixels.cols(0, 29), labels.head(30),
                                  krrdistill::ImageShape{1, 8, 8}, 3);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string folder = argc > 1 ? argv[1] : ".";
    std::mt19937_64 rng(11);
    krrdistill::StatisticsConfig config;
    config.spec.kind = "fcnn";
    config.spec.seed = 3;
    std::vector<std::string> files;
    krrdistill::SavedStatistics first;
    for (int batch = 1; batch <= 3; ++batch) {
      const krrdistill::Dataset data = make_batch(200, rng);
      config.source.dataset = "memory";
      config.source.dir = "batch-" + std::to_string(batch);  // names the part in the report
      const krrdistill::SavedStatistics stats = krrdistill::compute_statistics(
          krrdistill::view_dataset(data), config, batch == 1 ? nullptr : &first,
          krrdistill::Communicator{}, krrdistill::Progress::silent(),
          batch == 1 ? "" : files.front());
      files.push_back(folder + "/batch-" + std::to_string(batch) + ".stats");
      krrdistill::write_statistics(files.back(), stats, /*force=*/true);
      if (batch == 1) first = stats;
    }

    krrdistill::DistillConfig run;
    run.analytic.ipc = 2;
    run.analytic.init = krrdistill::Init::noise;  // the training images are gone
    const krrdistill::DistillResult result = krrdistill::distill_statistics(files, run, nullptr);
    std::printf("distilled %llu images from %zu statistics files to %llu (FCNN, lambda %.3g)\n",
                (unsigned long long)result.n_train, files.size(),
                (unsigned long long)result.distilled.Xs.n_cols, result.model.lambda);
    std::printf("|Ws-W|/|W| = %.3g\n", result.certificate.weight_rel_error);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
