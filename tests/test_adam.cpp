// Adam (docs/design.md §4): convergence on a quadratic, bias correction, errors.
#define BOOST_TEST_MODULE adam
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "krrdistill/adam.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;

BOOST_AUTO_TEST_CASE(minimises_a_least_squares_quadratic) {
  // L(x) = 0.5‖A x − b‖², minimum at the least-squares solution.
  auto rng = make_rng(11, RngStream::kip_init);
  const arma::mat A = gaussian_matrix(12, 5, 1.0, rng);
  const arma::mat b = gaussian_matrix(12, 2, 1.0, rng);
  const arma::mat x_star = arma::solve(A, b);
  arma::mat x(5, 2, arma::fill::zeros);
  // With a constant rate Adam ends in a cycle of size ~lr around the minimum,
  // so the rate decays geometrically (the caller owns adam.lr).
  Adam adam;
  adam.lr = 0.05;
  for (int step = 0; step < 20000; ++step) {
    adam_step(adam, x, A.t() * (A * x - b));
    adam.lr *= 0.9995;
  }
  BOOST_TEST(adam.t == 20000u);
  const double error = arma::norm(x - x_star, "fro") / arma::norm(x_star, "fro");
  BOOST_TEST_MESSAGE("relative error after 20000 steps: " << error);
  BOOST_TEST(error < 1e-6);
}

BOOST_AUTO_TEST_CASE(first_step_is_lr_times_sign) {
  // Bias correction: m̂ = g and v̂ = g² on the first step.
  auto rng = make_rng(12, RngStream::kip_init);
  arma::mat g = gaussian_matrix(4, 3, 1.0, rng);
  g.transform([](double v) { return v >= 0 ? v + 0.1 : v - 0.1; });  // |g| >= 0.1
  const arma::mat x0 = gaussian_matrix(4, 3, 1.0, rng);
  arma::mat x = x0;
  Adam adam;
  adam.lr = 0.05;
  adam_step(adam, x, g);
  const arma::mat step = x0 - x;
  BOOST_TEST(arma::abs(step - adam.lr * arma::sign(g)).max() < adam.lr * 1e-6);
  // Exactly lr·g/(|g| + eps).
  BOOST_TEST(arma::abs(step - adam.lr * g / (arma::abs(g) + adam.eps)).max() < 1e-15);
}

BOOST_AUTO_TEST_CASE(second_step_matches_the_formula) {
  const double g1 = 0.3, g2 = -1.7, lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  arma::mat x(1, 1, arma::fill::zeros);
  Adam adam;
  adam.lr = lr;
  adam_step(adam, x, arma::mat(1, 1, arma::fill::value(g1)));
  const double x1 = x(0, 0);
  adam_step(adam, x, arma::mat(1, 1, arma::fill::value(g2)));
  const double m = (1 - b1) * (b1 * g1 + g2), v = (1 - b2) * (b2 * g1 * g1 + g2 * g2);
  const double expected = x1 - lr * (m / (1 - b1 * b1)) / (std::sqrt(v / (1 - b2 * b2)) + eps);
  BOOST_TEST(std::abs(x(0, 0) - expected) < 1e-15);
}

BOOST_AUTO_TEST_CASE(rejects_mismatched_shapes_and_bad_rates) {
  arma::mat x(3, 2, arma::fill::zeros);
  Adam adam;
  BOOST_CHECK_THROW(adam_step(adam, x, arma::mat(2, 3, arma::fill::ones)), Error);
  adam.lr = 0;
  BOOST_CHECK_THROW(adam_step(adam, x, arma::mat(3, 2, arma::fill::ones)), Error);
}
