#define BOOST_TEST_MODULE preprocess
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;
using fixtures::random_pixels;

BOOST_AUTO_TEST_CASE(standardise_per_channel) {
  const ImageShape shape{3, 4, 5};
  const PixelMatrix pixels = random_pixels(shape.size(), 200, 1);
  const Preprocessor pre = fit_preprocessor(pixels, shape, false, 0.1);
  const arma::mat X = to_model_input(pre, pixels, 0, pixels.n_cols);
  for (arma::uword c = 0; c < 3; ++c) {
    const arma::mat channel = X.rows(c * 20, c * 20 + 19);
    BOOST_TEST(std::abs(arma::mean(arma::vectorise(channel))) < 1e-12);
    BOOST_TEST(std::abs(arma::mean(arma::vectorise(arma::square(channel))) - 1.0) < 1e-12);
    const arma::mat raw = arma::conv_to<arma::mat>::from(pixels.rows(c * 20, c * 20 + 19)) / 255.0;
    BOOST_TEST(std::abs(pre.channel_mean[c] - arma::mean(arma::vectorise(raw))) < 1e-12);
  }
  // Chunk and index forms agree.
  const arma::uvec cols = {5, 0, 199};
  const arma::mat picked = to_model_input(pre, pixels, cols);
  BOOST_TEST(arma::norm(picked.col(0) - X.col(5)) == 0.0);
  BOOST_TEST(arma::norm(to_model_input(pre, pixels, 10, 3) - X.cols(10, 12)) == 0.0);
}

// KIP's float batch: every value the double model input rounded once, with
// and without ZCA, on several channels.
BOOST_AUTO_TEST_CASE(single_precision_inputs_are_the_double_ones_rounded) {
  const ImageShape shape{3, 4, 5};
  const PixelMatrix pixels = random_pixels(shape.size(), 300, 4);
  const arma::uvec cols = {7, 0, 299, 7, 150};
  for (bool zca : {false, true}) {
    BOOST_TEST_CONTEXT("zca " << zca) {
      const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
      const arma::fmat single = to_model_input_single(pre, pixels, cols);
      const arma::fmat rounded = arma::conv_to<arma::fmat>::from(to_model_input(pre, pixels, cols));
      BOOST_TEST(arma::approx_equal(single, rounded, "absdiff", 0.0f));
      BOOST_TEST(arma::abs(rounded).max() > 0.0f);
      // A range of columns, as a pass reads them, into reused matrices.
      arma::fmat range_single;
      arma::mat scratch;
      for (int twice = 0; twice < 2; ++twice)
        model_inputs_into(pre, pixels, 10, 50, range_single, scratch);
      const arma::fmat range_rounded =
          arma::conv_to<arma::fmat>::from(to_model_input(pre, pixels, 10, 50));
      BOOST_TEST(arma::approx_equal(range_single, range_rounded, "absdiff", 0.0f));
    }
  }
  const Preprocessor pre = fit_preprocessor(pixels, shape, false, 0.1);
  BOOST_CHECK_THROW(to_model_input_single(pre, pixels, arma::uvec{300}), Error);
  arma::fmat X;
  arma::mat scratch;
  BOOST_CHECK_THROW(model_inputs_into(pre, pixels, 290, 11, X, scratch), Error);
}

BOOST_AUTO_TEST_CASE(inverse_is_exact) {
  const ImageShape shape{1, 6, 6};
  const PixelMatrix pixels = random_pixels(shape.size(), 300, 2);
  const arma::mat expected = arma::conv_to<arma::mat>::from(pixels) / 255.0;
  for (bool zca : {false, true}) {
    const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
    const arma::mat X = to_model_input(pre, pixels, 0, pixels.n_cols);
    BOOST_TEST(arma::abs(to_pixel_space(pre, X) - expected).max() < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(zca_whitens_up_to_the_regulariser) {
  const ImageShape shape{1, 4, 4};
  const PixelMatrix pixels = random_pixels(shape.size(), 500, 3);
  const Preprocessor plain = fit_preprocessor(pixels, shape, false, 0.1);
  const Preprocessor pre = fit_preprocessor(pixels, shape, true, 0.1);
  const arma::mat S = [&] {
    const arma::mat X = to_model_input(plain, pixels, 0, pixels.n_cols);
    return arma::mat(X * X.t() / double(pixels.n_cols));
  }();
  arma::vec e = arma::eig_sym(S);
  BOOST_TEST(std::abs(pre.zca_reg - 0.1 * arma::mean(e)) < 1e-12);
  // Whitened second moment = S (S + reg I)⁻¹, eigenvalues e/(e+reg).
  const arma::mat Xw = to_model_input(pre, pixels, 0, pixels.n_cols);
  const arma::vec ew = arma::eig_sym(Xw * Xw.t() / double(pixels.n_cols));
  BOOST_TEST(arma::abs(ew - e / (e + pre.zca_reg)).max() < 1e-10);
}

// A matrix on the model inputs composed with the preprocessing's affine map
// of the pixel values: M T q + M t is M times the inputs, per channel and
// with ZCA (a full T).
BOOST_AUTO_TEST_CASE(composed_with_inputs_is_the_matrix_on_the_inputs) {
  const ImageShape shape{3, 4, 5};
  const PixelMatrix pixels = random_pixels(shape.size(), 300, 4);
  std::mt19937_64 rng = make_rng(9, RngStream::feature_map);
  const arma::mat M = gaussian_matrix(7, shape.size(), 1.0, rng);
  for (const bool zca : {false, true}) {
    BOOST_TEST_CONTEXT("zca " << zca) {
      const Preprocessor pre = fit_preprocessor(pixels, shape, zca, 0.1);
      arma::vec offset;
      const arma::mat on_pixels = compose_with_inputs(pre, M, offset);  // (M T)ᵀ
      const arma::mat expected = M * to_model_input(pre, pixels, 0, pixels.n_cols);
      arma::mat composed = on_pixels.t() * arma::conv_to<arma::mat>::from(pixels);
      composed.each_col() += offset;
      BOOST_TEST(arma::abs(composed - expected).max() <= 1e-11 * arma::abs(expected).max());
    }
  }
  const Preprocessor pre = fit_preprocessor(pixels, shape, false, 0.1);
  arma::vec offset;
  BOOST_CHECK_THROW(compose_with_inputs(pre, arma::mat(2, 5), offset), Error);
}
