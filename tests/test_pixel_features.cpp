// A nonlinear map's features from the pixels through the integer product
// (pixel_features.hpp): the first layer within one float rounding (and the
// bound of its 31-bit rows) of the double map on the model inputs, the
// same bits for any thread count or column range, with standardisation,
// ZCA and several channels; the byte sums joined exactly; and refused
// where the CPU's product is not exact.
#define BOOST_TEST_MODULE pixel_features
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/pixel_features.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;
using fixtures::random_pixels;

namespace {

arma::fmat pixel_features(const FeatureMap& map, const Preprocessor& pre, const PixelMatrix& pixels,
                          arma::uword column, arma::uword count) {
  const PixelFeatures features(map, pre);
  arma::fmat Phi(feature_dim(map), count);
  features.features_into(pixels, column, count, Phi);
  return Phi;
}

bool same_bits(const arma::fmat& a, const arma::fmat& b) {
  return arma::size(a) == arma::size(b) && std::equal(a.begin(), a.end(), b.begin());
}

// 300 images: a block of 256 and a short one.
const arma::uword kImages = 300;

}  // namespace

// With slope 1 a one-layer FCNN is its first layer, M z: each entry within
// half a float ulp of the double M z, plus the rounding of its row to 31
// bits (half a step, scale = largest |Ã_rk| / 2139062143, over Σ q_k) and
// the double arithmetic. The float product of the rounded inputs misses by
// the roundings of d terms, far more.
BOOST_AUTO_TEST_CASE(first_layer_is_the_double_product_to_one_rounding) {
  if (!integer_product_is_exact()) return;  // the held-ISA run checks the refusal
  const ImageShape shape{1, 6, 7};
  const PixelMatrix pixels = random_pixels(shape.size(), kImages, 1);
  for (const bool zca : {false, true}) {
    const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
    FeatureMapSpec spec;
    spec.kind = "fcnn";
    spec.slope = 1.0;
    const FeatureMap map = make_feature_map(spec, shape.size());
    const arma::mat& M = std::get<FcnnMap>(map).layers[0];
    const arma::mat Z = to_model_input(pre, pixels, 0, kImages);
    const arma::mat expected = M * Z;
    const arma::fmat Phi = pixel_features(map, pre, pixels, 0, kImages);
    arma::vec offset;
    const arma::mat on_pixels = compose_with_inputs(pre, M, offset);
    const arma::mat q = arma::conv_to<arma::mat>::from(pixels);
    double worst = 0.0, float_worst = 0.0;
    const arma::fmat float_product =
        arma::conv_to<arma::fmat>::from(M) * arma::conv_to<arma::fmat>::from(Z);
    for (arma::uword j = 0; j < kImages; ++j)
      for (arma::uword r = 0; r < M.n_rows; ++r) {
        const double step = arma::abs(on_pixels.col(r)).max() / 2139062143.0;
        const double bound = 0.5 * std::ldexp(std::abs(expected(r, j)), -23) +
                             0.5 * step * arma::accu(q.col(j)) +
                             1e-12 * (arma::dot(arma::abs(M.row(r)), arma::abs(Z.col(j))));
        const double miss = std::abs(double(Phi(r, j)) - expected(r, j));
        BOOST_TEST_REQUIRE(miss <= bound, "row " << r << " image " << j << ": " << miss << " > "
                                                 << bound << " (zca " << zca << ")");
        worst = std::max(worst, miss / std::abs(expected(r, j)));
        float_worst = std::max(float_worst, std::abs(double(float_product(r, j)) - expected(r, j)) /
                                                std::abs(expected(r, j)));
      }
    BOOST_TEST(worst < float_worst);
  }
}

// RFF and a two-layer FCNN against the double maps on the model inputs,
// over three channels with ZCA: float features, so to float's rounding
// (amplified through the second layer's sum).
BOOST_AUTO_TEST_CASE(features_are_the_double_maps_to_float_rounding) {
  if (!integer_product_is_exact()) return;
  const ImageShape shape{3, 5, 4};
  const PixelMatrix pixels = random_pixels(shape.size(), kImages, 2);
  for (const bool zca : {false, true}) {
    const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
    const arma::mat Z = to_model_input(pre, pixels, 0, kImages);
    for (const std::string kind : {"rff", "fcnn"}) {
      FeatureMapSpec spec;
      spec.kind = kind;
      spec.features = 40;
      spec.layers = 2;
      spec.width = 50;
      const FeatureMap map = make_feature_map(spec, shape.size());
      const arma::mat expected = map_features(map, Z);
      const arma::fmat Phi = pixel_features(map, pre, pixels, 0, kImages);
      const double miss = arma::abs(arma::conv_to<arma::mat>::from(Phi) - expected).max();
      BOOST_TEST(miss <= 1e-5 * arma::abs(expected).max(), kind << " zca " << zca << ": " << miss);
    }
  }
}

// The sums are exact integers: one thread or several, all columns at once
// or in two ranges, the same bits.
BOOST_AUTO_TEST_CASE(same_bits_for_any_thread_count_and_column_range) {
  if (!integer_product_is_exact()) return;
  const ImageShape shape{1, 9, 9};
  const PixelMatrix pixels = random_pixels(shape.size(), kImages, 3);
  const Preprocessor pre = fit_preprocessor(pixels, shape, false, 0.1);
  FeatureMapSpec spec;
  spec.kind = "rff";
  const FeatureMap map = make_feature_map(spec, shape.size());
  set_threads(1);
  const arma::fmat one = pixel_features(map, pre, pixels, 0, kImages);
  for (const int threads : {2, 3}) {
    set_threads(threads);
    BOOST_TEST(same_bits(pixel_features(map, pre, pixels, 0, kImages), one));
  }
  const arma::fmat ranges = arma::join_rows(pixel_features(map, pre, pixels, 0, 100),
                                            pixel_features(map, pre, pixels, 100, kImages - 100));
  BOOST_TEST(same_bits(ranges, one));
  set_threads(0);
  // A destination of the wrong size and columns past the images are refused.
  const PixelFeatures features(map, pre);
  arma::fmat wrong(feature_dim(map), 5);
  BOOST_CHECK_THROW(features.features_into(pixels, 0, 6, wrong), Error);
  arma::fmat Phi(feature_dim(map), 5);
  BOOST_CHECK_THROW(features.features_into(pixels, kImages - 4, 5, Phi), Error);
}

// The byte sums joined in double against the 64-bit integer sum, at the
// largest sums the digits allow on 16,448 pixels (the whole near 2^53).
// With scale 1 and an offset that cancels all but a small remainder, a
// join off by one unit anywhere shows in the float result.
BOOST_AUTO_TEST_CASE(digit_sums_join_exactly_up_to_the_largest_images) {
  const std::int64_t most = 128LL * 255 * 16448;  // a byte's sum, in size
  const std::int64_t top = 534000000;             // the top byte's, whole below 2^53
  const arma::uword width = 64;
  std::vector<std::int32_t> sums(4 * width);
  std::mt19937_64 rng(7);
  const auto uniform = [&](std::int64_t bound) {
    return std::int64_t(rng() % std::uint64_t(2 * bound + 1)) - bound;
  };
  for (int round = 0; round < 50; ++round) {
    arma::vec scale(width, arma::fill::ones), offset(width), random_scale(width),
        random_offset(width);
    std::vector<std::int64_t> value(width);
    for (arma::uword r = 0; r < width; ++r) {
      // Extremes first (each byte's sum near its largest, one sign an
      // output, both signs in turn), then random sums.
      const bool extreme = round < 2;
      const std::int64_t sign = (round == 1 ? -1 : 1) * (r % 2 == 0 ? 1 : -1);
      for (arma::uword t = 0; t < 3; ++t)
        sums[t * width + r] =
            std::int32_t(extreme ? sign * (most - std::int64_t(r)) : uniform(most));
      sums[3 * width + r] = std::int32_t(extreme ? sign * top : uniform(top));
      value[r] = sums[3 * width + r];
      for (int t = 2; t >= 0; --t) value[r] = value[r] * 256 + sums[arma::uword(t) * width + r];
      BOOST_TEST_REQUIRE(std::abs(value[r]) < (std::int64_t(1) << 53));
      offset[r] = -double(value[r] - std::int64_t(r % 5));  // exact: an integer below 2^53
      random_scale[r] = std::ldexp(double(rng() % 1000 + 1), -40);
      random_offset[r] = double(int(rng() % 2001) - 1000) / 7.0;
    }
    std::vector<float> out(width), random_out(width);
    detail::join_digit_sums(sums.data(), width, scale.memptr(), offset.memptr(), out.data());
    detail::join_digit_sums(sums.data(), width, random_scale.memptr(), random_offset.memptr(),
                            random_out.data());
    for (arma::uword r = 0; r < width; ++r) {
      BOOST_TEST_REQUIRE(out[r] == float(r % 5), "round " << round << " output " << r);
      const float expected = float(random_scale[r] * double(value[r]) + random_offset[r]);
      BOOST_TEST_REQUIRE(random_out[r] == expected, "round " << round << " output " << r);
    }
  }
}

// A linear map has no first layer to take; without an exact integer
// product (the run with oneDNN held below VNNI) the path is not offered
// and refuses to be built.
BOOST_AUTO_TEST_CASE(offered_only_where_exact) {
  const ImageShape shape{1, 4, 4};
  const PixelMatrix pixels = random_pixels(shape.size(), 20, 4);
  const Preprocessor pre = fit_preprocessor(pixels, shape, false, 0.1);
  FeatureMapSpec spec;
  BOOST_TEST(!PixelFeatures::available(make_feature_map(spec, shape.size()), shape.size()));
  spec.kind = "rff";
  const FeatureMap rff = make_feature_map(spec, shape.size());
  BOOST_TEST(PixelFeatures::available(rff, shape.size()) == integer_product_is_exact());
  BOOST_TEST((PixelFeatures::buffer_bytes(shape.size(), 16) > 0) == integer_product_is_exact());
  if (!integer_product_is_exact()) BOOST_CHECK_THROW(PixelFeatures(rff, pre), Error);
}
