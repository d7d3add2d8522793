// Exact integer moments of raw pixels (pixel_moments.hpp) against sums in
// 64-bit integers, whatever the product (float32, and int8 where the CPU has
// VNNI), thread count, block boundaries or column order; and a linear model's
// G and B from them against the features' own products. CTest runs this
// program three times: as it is, with oneDNN held below VNNI
// (ONEDNN_MAX_CPU_ISA=AVX512_CORE), where int8 must be refused, and held to
// AVX-VNNI, whose int8 kernels are oneDNN's others.
#define BOOST_TEST_MODULE pixel_moments
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/pixel_moments.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

// Pixels drawn to stress the float blocks: a third of the columns all 255
// (the largest partial sums), the rest uniform.
PixelMatrix random_pixels(arma::uword d, arma::uword n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  PixelMatrix pixels(d, n);
  for (arma::uword j = 0; j < n; ++j)
    for (arma::uword i = 0; i < d; ++i) pixels(i, j) = j % 3 == 0 ? 255 : std::uint8_t(rng() % 256);
  return pixels;
}

arma::uvec random_labels(arma::uword n, arma::uword k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  arma::uvec labels(n);
  for (auto& label : labels) label = rng() % k;
  return labels;
}

// The products this CPU runs: float32 always, int8 where it is exact.
std::vector<MomentsProduct> exact_products() {
  if (fastest_moments_product() == MomentsProduct::int8)
    return {MomentsProduct::float32, MomentsProduct::int8};
  return {MomentsProduct::float32};
}

const char* name(MomentsProduct product) {
  return product == MomentsProduct::int8 ? "int8" : "float32";
}

bool same_bits(const arma::mat& a, const arma::mat& b) {
  return arma::size(a) == arma::size(b) && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

// 700 samples: less than one float block (1024), more than one thread's share.
BOOST_AUTO_TEST_CASE(moments_equal_integer_sums_on_any_thread_count) {
  const arma::uword d = 37, n = 700, k = 4;
  const PixelMatrix pixels = random_pixels(d, n, 1);
  const arma::uvec labels = random_labels(n, k, 2);
  std::vector<std::uint64_t> gram(d * d, 0), class_sums(d * k, 0);
  for (arma::uword s = 0; s < n; ++s)
    for (arma::uword j = 0; j < d; ++j) {
      class_sums[labels[s] * d + j] += pixels(j, s);
      for (arma::uword i = 0; i < d; ++i)
        gram[j * d + i] += std::uint64_t(pixels(i, s)) * pixels(j, s);
    }
  std::vector<PixelMoments> results;
  for (const MomentsProduct product : exact_products())
    for (int threads : {1, 2, 3}) {
      set_threads(threads);
      PixelMoments moments = zero_pixel_moments(d, k);
      add_pixel_moments(moments, pixels, 0, n, labels, product);
      results.push_back(moments);
    }
  const PixelMoments& m = results[0];
  BOOST_TEST(m.count == n);
  for (arma::uword j = 0; j < d; ++j)
    for (arma::uword i = j; i < d; ++i) BOOST_TEST(m.gram(i, j) == double(gram[j * d + i]));
  for (arma::uword c = 0; c < k; ++c) {
    BOOST_TEST(m.class_counts[c] == double(arma::accu(labels == c)));
    for (arma::uword i = 0; i < d; ++i)
      BOOST_TEST(m.class_sums(i, c) == double(class_sums[c * d + i]));
  }
  for (const PixelMoments& other : results) {
    BOOST_TEST(same_bits(arma::trimatl(other.gram), arma::trimatl(m.gram)));
    BOOST_TEST(same_bits(other.class_sums, m.class_sums));
    BOOST_TEST(same_bits(other.class_counts, m.class_counts));
    BOOST_TEST(other.count == m.count);
  }
}

// The int8 product's blocks (4096 images) and panels (about 200 rows): 8200
// images, 901 pixels, white and black columns among random ones, against the
// float product. Its five panels (the last one shorter) are formed whole on
// one thread and on two, and spread by oneDNN over three. Without VNNI,
// int8 is refused and float32 is the fastest.
BOOST_AUTO_TEST_CASE(int8_product_where_exact_and_refused_elsewhere) {
  const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
  const bool held_below_vnni =
      limit != nullptr && (std::string(limit) == "AVX2" || std::string(limit) == "AVX512_CORE");
  const arma::uword d = 901, n = 8200, k = 5;
  PixelMatrix pixels = random_pixels(d, n, 11);
  pixels.cols(1, 40).zeros();
  pixels.cols(41, 80).fill(255);
  const arma::uvec labels = random_labels(n, k, 12);
  PixelMoments expected = zero_pixel_moments(d, k);
  add_pixel_moments(expected, pixels, 0, n, labels, MomentsProduct::float32);
  PixelMoments int8 = zero_pixel_moments(d, k);
  if (held_below_vnni) BOOST_TEST(name(fastest_moments_product()) == std::string("float32"));
  if (fastest_moments_product() == MomentsProduct::float32) {
    BOOST_CHECK_THROW(add_pixel_moments(int8, pixels, 0, n, labels, MomentsProduct::int8), Error);
    return;
  }
  BOOST_TEST_MESSAGE("this CPU has VNNI: the int8 product is checked");
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    int8 = zero_pixel_moments(d, k);
    add_pixel_moments(int8, pixels, 0, n, labels, MomentsProduct::int8);
    BOOST_TEST(same_bits(arma::trimatl(int8.gram), arma::trimatl(expected.gram)));
    BOOST_TEST(same_bits(int8.class_sums, expected.class_sums));
    BOOST_TEST(same_bits(int8.class_counts, expected.class_counts));
  }
  set_threads(0);
}

// White images (and images of ones): with the shift every product is
// 127² = 16129, odd, so a block of more than 1040 of them would hold an odd
// partial sum above 2^24, which a float cannot (1024 is the bound for any
// images: 1024 · 2^14 = 2^24). Unshifted, 259 white images would round in
// one block. On one thread and on two, where 1041 images, 2083 and 4165
// would make blocks of more than 1040 if the bound were 2048.
BOOST_AUTO_TEST_CASE(white_images_are_exact) {
  for (int threads : {1, 2}) {
    set_threads(threads);
    for (const std::uint8_t value : {std::uint8_t(255), std::uint8_t(1)})
      for (arma::uword n : {259u, 1041u, 2083u, 4165u}) {
        const PixelMatrix white(5, n, arma::fill::value(value));
        const double v = value;
        for (const MomentsProduct product : exact_products()) {
          PixelMoments moments = zero_pixel_moments(5, 1);
          add_pixel_moments(moments, white, 0, n, arma::uvec(n, arma::fill::zeros), product);
          BOOST_TEST_CONTEXT(name(product)
                             << ", threads " << threads << ", value " << v << ", n " << n) {
            BOOST_TEST(moments.gram(4, 0) == double(n) * v * v);
            BOOST_TEST(moments.gram(3, 3) == double(n) * v * v);
            BOOST_TEST(moments.class_sums(2, 0) == double(n) * v);
          }
        }
      }
  }
  set_threads(0);
}

// Chunks, listed columns and the exact difference give the same numbers as
// one call over everything.
BOOST_AUTO_TEST_CASE(chunks_lists_and_differences_agree_to_the_bit) {
  const arma::uword d = 20, n = 600, k = 3;
  const PixelMatrix pixels = random_pixels(d, n, 3);
  const arma::uvec labels = random_labels(n, k, 4);
  PixelMoments whole = zero_pixel_moments(d, k);
  add_pixel_moments(whole, pixels, 0, n, labels);
  PixelMoments chunked = zero_pixel_moments(d, k);
  for (arma::uword first = 0; first < n; first += 97) {
    const arma::uword count = std::min<arma::uword>(97, n - first);
    add_pixel_moments(chunked, pixels, first, count, labels.subvec(first, first + count - 1));
  }
  BOOST_TEST(same_bits(chunked.gram, whole.gram));
  BOOST_TEST(same_bits(chunked.class_sums, whole.class_sums));

  const arma::uvec part = arma::regspace<arma::uvec>(0, 7, n - 1);
  PixelMoments listed = zero_pixel_moments(d, k), rest = zero_pixel_moments(d, k);
  add_pixel_moments(listed, pixels, part, labels.elem(part));
  arma::uvec others(n, arma::fill::ones);
  others.elem(part).zeros();
  const arma::uvec rest_index = arma::find(others);
  add_pixel_moments(rest, pixels, rest_index, labels.elem(rest_index));
  const PixelMoments difference = minus(whole, listed);
  BOOST_TEST(difference.count == rest.count);
  BOOST_TEST(same_bits(difference.gram, rest.gram));
  BOOST_TEST(same_bits(difference.class_sums, rest.class_sums));
  BOOST_TEST(same_bits(difference.class_counts, rest.class_counts));
  const PixelMoments sum = plus(rest, listed);
  BOOST_TEST(sum.count == whole.count);
  BOOST_TEST(same_bits(arma::mat(arma::trimatl(sum.gram)), arma::mat(arma::trimatl(whole.gram))));
  BOOST_TEST(same_bits(sum.class_sums, whole.class_sums));
  BOOST_TEST(same_bits(sum.class_counts, whole.class_counts));
}

BOOST_AUTO_TEST_CASE(bad_labels_and_columns_are_refused) {
  const PixelMatrix pixels = random_pixels(4, 10, 5);
  PixelMoments moments = zero_pixel_moments(4, 2);
  BOOST_CHECK_THROW(add_pixel_moments(moments, pixels, 0, 10, arma::uvec(10, arma::fill::value(2))),
                    Error);
  BOOST_CHECK_THROW(add_pixel_moments(moments, pixels, 5, 6, arma::uvec(6, arma::fill::zeros)),
                    Error);
  BOOST_CHECK_THROW(add_pixel_moments(moments, pixels, 0, 10, arma::uvec(9, arma::fill::zeros)),
                    Error);
  BOOST_CHECK_THROW(add_pixel_moments(moments, PixelMatrix(3, 2, arma::fill::zeros), 0, 2,
                                      arma::uvec(2, arma::fill::zeros)),
                    Error);
}

// G and B of the standardised (and whitened) inputs, against X Xᵀ and Y Xᵀ
// of the model inputs themselves: two channels, so the per-channel affine
// map is exercised.
BOOST_AUTO_TEST_CASE(linear_statistics_equal_the_inputs_products) {
  const ImageShape shape{2, 4, 5};
  const arma::uword d = shape.size(), n = 900, k = 3;
  const PixelMatrix pixels = random_pixels(d, n, 6);
  const arma::uvec labels = random_labels(n, k, 7);
  PixelMoments moments = zero_pixel_moments(d, k);
  add_pixel_moments(moments, pixels, 0, n, labels);
  for (bool zca : {false, true}) {
    const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
    const arma::mat X = to_model_input(pre, pixels, 0, n);
    arma::mat Y(k, n, arma::fill::zeros);
    for (arma::uword j = 0; j < n; ++j) Y(labels[j], j) = 1;
    const Statistics stats = linear_statistics(pre, moments);
    const arma::mat G = X * X.t(), B = Y * X.t();
    BOOST_TEST(stats.count == n);
    BOOST_TEST(arma::norm(stats.G - G, "fro") / arma::norm(G, "fro") < 1e-13);
    BOOST_TEST(arma::norm(stats.B - B, "fro") / arma::norm(B, "fro") < 1e-13);
    BOOST_TEST(stats.G.is_symmetric());
  }
}

// The preprocessing from the moments is fit_preprocessor's to the bit (three
// channels, with and without ZCA), and so is the linear model fitted from
// one pass: fit_linear_model against fit_preprocessor then fit_model.
BOOST_AUTO_TEST_CASE(one_pass_linear_fit_equals_the_two_pass_fit_to_the_bit) {
  const ImageShape shape{3, 4, 4};
  const arma::uword d = shape.size(), n = 1500, k = 4;
  PixelMatrix train = random_pixels(d, n, 8);
  train.cols(0, n / 2) /= 2;  // a mean and a spread of their own
  const arma::uvec labels = random_labels(n, k, 9);
  const Dataset data =
      make_dataset(train, labels, random_pixels(d, 50, 10), random_labels(50, k, 11), shape, k);
  PixelMoments moments = zero_pixel_moments(d, k);
  add_pixel_moments(moments, train, 0, n, labels);
  for (bool zca : {false, true}) {
    const Preprocessor expected = fit_preprocessor(train, shape, zca, 0.1);
    const Preprocessor got = preprocessor_from_moments(shape, moments, zca, 0.1, Communicator{});
    BOOST_TEST(same_bits(got.channel_mean, expected.channel_mean));
    BOOST_TEST(same_bits(got.channel_std, expected.channel_std));
    BOOST_TEST(got.zca == zca);
    BOOST_TEST(same_bits(got.zca_whiten, expected.zca_whiten));
    BOOST_TEST(same_bits(got.zca_unwhiten, expected.zca_unwhiten));

    FitOptions options;
    options.chunk = 256;
    const Model two_pass = fit_model(data, expected, LinearMap{d}, options, Progress::silent());
    const Model one_pass =
        fit_linear_model(view_dataset(data), zca, 0.1, options, Communicator{}, Progress::silent());
    BOOST_TEST(one_pass.lambda == two_pass.lambda);
    BOOST_TEST(same_bits(one_pass.W, two_pass.W));
    BOOST_TEST(one_pass.sweep.val_accuracy == two_pass.sweep.val_accuracy);
  }
}

// A fit's pass adds the validation samples' moments on their own, gathered
// across chunks into blocks of up to a chunk: they are those samples' own
// moments, with their own labels, for chunks of one sample, of fewer and
// more samples than the validation split, and of the whole split.
BOOST_AUTO_TEST_CASE(validation_moments_are_the_validation_samples_own) {
  const ImageShape shape{1, 4, 4};
  const arma::uword d = shape.size(), n = 700, k = 3;
  const PixelMatrix train = random_pixels(d, n, 12);
  const arma::uvec labels = random_labels(n, k, 13);
  const Dataset data =
      make_dataset(train, labels, random_pixels(d, 20, 14), random_labels(20, k, 15), shape, k);
  FitOptions options;
  const arma::uvec val = validation_indices(n, options.validation_fraction, options.seed);
  BOOST_TEST_REQUIRE(val.n_elem == 35u);
  PixelMoments all = zero_pixel_moments(d, k), expected = zero_pixel_moments(d, k);
  add_pixel_moments(all, train, 0, n, labels);
  add_pixel_moments(expected, train, val, labels.elem(val));
  for (const arma::uword chunk : {1, 7, 34, 35, 36, 256, 1000}) {
    options.chunk = chunk;
    const FitSums sums = fit_sums(view_dataset(data), Preprocessor{}, LinearMap{d}, options,
                                  Communicator{}, Progress::silent());
    const PixelMoments& got = sums.validation_moments;
    BOOST_TEST(same_bits(arma::trimatl(got.gram), arma::trimatl(expected.gram)), "chunk " << chunk);
    BOOST_TEST(same_bits(got.class_sums, expected.class_sums), "chunk " << chunk);
    BOOST_TEST(same_bits(got.class_counts, expected.class_counts), "chunk " << chunk);
    BOOST_TEST(got.count == expected.count);
    BOOST_TEST(same_bits(arma::trimatl(sums.moments.gram), arma::trimatl(all.gram)));
    BOOST_TEST(same_bits(sums.moments.class_sums, all.class_sums));
    BOOST_TEST(sums.moments.count == n);
  }
}

// The standardisation against the textbook formulas on a tiny case.
BOOST_AUTO_TEST_CASE(channel_moments_from_exact_sums) {
  Preprocessor pre;
  std::vector<ChannelSums> sums(2);
  sums[0] = {4, 0 + 255 + 255 + 0, 2 * 255 * 255};  // values 0, 255, 255, 0
  sums[1] = {2, 10 + 20, 100 + 400};                // values 10, 20
  set_channel_moments(pre, sums);
  BOOST_TEST(pre.channel_mean[0] == 0.5);
  BOOST_TEST(pre.channel_std[0] == 0.5);
  BOOST_TEST(std::abs(pre.channel_mean[1] - 15.0 / 255) < 1e-17);
  BOOST_TEST(std::abs(pre.channel_std[1] - 5.0 / 255) < 1e-17);
  sums[1] = {3, 3 * 7, 3 * 49};  // constant
  BOOST_CHECK_THROW(set_channel_moments(pre, sums), Error);
}
