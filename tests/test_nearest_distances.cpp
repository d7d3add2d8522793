// The certificate's nearest training distances (nearest_distances.hpp):
// every screened minimum equals, bit for bit, the minimum over all pairs
// measured in double, for any chunking, thread count and source of the
// screen, including where the screen's product is all cancellation.
#define BOOST_TEST_MODULE nearest_distances
#include <boost/test/unit_test.hpp>
#include <limits>
#include <vector>

#include "krrdistill/nearest_distances.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

// The minimum over all pairs, each pair measured as the class measures one
// (Σ (xs_k − x_k)² in index order); a NaN distance never lowers it.
arma::vec all_pairs(const arma::mat& Xs, const arma::mat& X) {
  arma::vec nearest(Xs.n_cols);
  nearest.fill(arma::datum::inf);
  for (arma::uword i = 0; i < Xs.n_cols; ++i)
    for (arma::uword j = 0; j < X.n_cols; ++j) {
      double sum = 0.0;
      for (arma::uword k = 0; k < X.n_rows; ++k) {
        const double t = Xs(k, i) - X(k, j);
        sum += t * t;
      }
      if (sum < nearest[i]) nearest[i] = sum;
    }
  return nearest;
}

bool same_bits(const arma::vec& a, const arma::vec& b) {
  return a.n_elem == b.n_elem && std::equal(a.begin(), a.end(), b.begin());
}

// The distances over X in chunks of `chunk`, screened in float or by the
// double cross terms.
NearestDistances over_chunks(const arma::mat& Xs, const arma::mat& X, arma::uword chunk,
                             bool double_cross) {
  NearestDistances nearest(Xs);
  for (arma::uword first = 0; first < X.n_cols; first += chunk) {
    const arma::mat part = X.cols(first, std::min(X.n_cols, first + chunk) - 1);
    if (double_cross)
      nearest.add(part, -2.0 * Xs.t() * part);
    else
      nearest.add(part);
  }
  return nearest;
}

// Checks every chunking, thread count and screen against all_pairs.
void check_against_all_pairs(const arma::mat& Xs, const arma::mat& X) {
  const arma::vec expected = all_pairs(Xs, X);
  for (const arma::uword chunk : {X.n_cols, arma::uword(64), arma::uword(7)})
    for (const int threads : {1, 2, 3})
      for (const bool double_cross : {false, true}) {
        set_threads(threads);
        NearestDistances nearest = over_chunks(Xs, X, chunk, double_cross);
        BOOST_TEST_CONTEXT("chunk " << chunk << ", threads " << threads << ", double cross "
                                    << double_cross) {
          BOOST_TEST(same_bits(nearest.squared(), expected));
        }
      }
  set_threads(0);
}

}  // namespace

// Random inputs: the minimum of all pairs, and the screen rules out nearly
// every pair (one measured per distilled input and chunk, a few more).
BOOST_AUTO_TEST_CASE(random_inputs_give_the_all_pairs_minimum_measuring_few) {
  std::mt19937_64 rng = make_rng(5, RngStream::noise_init);
  const arma::mat Xs = gaussian_matrix(40, 6, 3.0, rng);
  const arma::mat X = gaussian_matrix(40, 500, 1.0, rng);
  check_against_all_pairs(Xs, X);
  NearestDistances nearest = over_chunks(Xs, X, 100, false);
  BOOST_TEST(nearest.measured() >= 6u * 5u);
  BOOST_TEST(nearest.measured() <= 2u * 6u * 5u);
}

// Training inputs clustered far from the origin, a whisker apart, with the
// distilled inputs among them: ‖xs‖² + ‖x‖² − 2 xsᵀx is all cancellation in
// float (its rounding is millions of times the distances), so the screen
// must leave every pair it cannot tell apart; and near-ties that differ in
// the last bits of double.
BOOST_AUTO_TEST_CASE(cancellation_and_near_ties_still_give_the_exact_minimum) {
  std::mt19937_64 rng = make_rng(6, RngStream::noise_init);
  const arma::uword d = 30;
  const arma::vec centre(d, arma::fill::value(1000.0));
  arma::mat X = gaussian_matrix(d, 300, 1e-3, rng);
  X.each_col() += centre;
  arma::mat Xs = gaussian_matrix(d, 4, 1e-3, rng);
  Xs.each_col() += centre;
  check_against_all_pairs(Xs, X);

  // Points on a sphere about xs whose radii differ by one part in 1e13.
  const arma::vec xs = gaussian_matrix(d, 1, 1.0, rng);
  arma::mat ring = gaussian_matrix(d, 200, 1.0, rng);
  for (arma::uword j = 0; j < ring.n_cols; ++j)
    ring.col(j) = xs + 5.0 * (1.0 + 1e-13 * double(j % 17)) * arma::normalise(ring.col(j));
  check_against_all_pairs(xs, ring);
}

// A NaN never lowers a distance, an infinity or a value beyond float's range
// turns the float screen off for its chunk, and the rest are still exact.
BOOST_AUTO_TEST_CASE(non_finite_and_huge_inputs) {
  std::mt19937_64 rng = make_rng(7, RngStream::noise_init);
  const arma::mat Xs = gaussian_matrix(10, 3, 1.0, rng);
  arma::mat X = gaussian_matrix(10, 50, 1.0, rng);
  X(3, 5) = std::numeric_limits<double>::quiet_NaN();
  X(0, 9) = arma::datum::inf;
  X.col(20) *= 1e200;
  check_against_all_pairs(Xs, X);
  const arma::vec nearest = over_chunks(Xs, X, 50, false).squared();
  BOOST_TEST(nearest.is_finite());

  // A tiny distilled input against entries past float's range whose
  // product with it is small: the float copies would be infinite, so the
  // chunk is measured, and the nearest (the first) is found.
  arma::mat tiny(4, 1, arma::fill::zeros);
  tiny(0, 0) = 1e-40;
  arma::mat far(4, 2, arma::fill::zeros);
  far(0, 0) = -4e38;
  far.col(1).tail(3).fill(3e38);
  check_against_all_pairs(tiny, far);

  arma::mat Xs_nan = Xs;
  Xs_nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  const arma::vec with_nan = over_chunks(Xs_nan, X, 16, false).squared();
  BOOST_TEST(std::isinf(with_nan[1]));
  BOOST_TEST(with_nan[0] == nearest[0]);
  BOOST_TEST(with_nan[2] == nearest[2]);
}

// Sizes that do not match are refused.
BOOST_AUTO_TEST_CASE(mismatched_sizes_are_refused) {
  NearestDistances nearest(arma::mat(5, 2, arma::fill::ones));
  BOOST_CHECK_THROW(nearest.add(arma::mat(4, 3, arma::fill::ones)), std::exception);
  BOOST_CHECK_THROW(nearest.add(arma::mat(5, 3, arma::fill::ones), arma::mat(2, 4)),
                    std::exception);
  BOOST_TEST(nearest.squared().is_finite() == false);  // nothing added
}
