#define BOOST_TEST_MODULE krr
#include <boost/test/unit_test.hpp>

#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;

namespace {

struct Problem {
  arma::mat Phi;  // p×n
  arma::uvec labels;
  arma::mat Y;
};

Problem random_problem(arma::uword p, arma::uword n, arma::uword k, std::uint64_t seed) {
  std::mt19937_64 rng = make_rng(seed, RngStream::feature_map);
  Problem pr;
  pr.Phi = gaussian_matrix(p, n, 1.0, rng);
  pr.labels.set_size(n);
  for (arma::uword i = 0; i < n; ++i) pr.labels[i] = rng() % k;
  pr.Y = one_hot(pr.labels, k);
  return pr;
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

}  // namespace

BOOST_AUTO_TEST_CASE(statistics_accumulate_in_chunks) {
  const Problem pr = random_problem(7, 50, 3, 1);
  Statistics chunked = zero_statistics(7, 3);
  accumulate(chunked, pr.Phi.cols(0, 19), pr.labels.subvec(0, 19));
  accumulate(chunked, pr.Phi.cols(20, 49), pr.labels.subvec(20, 49));
  BOOST_TEST(chunked.count == 50u);
  BOOST_TEST(rel(chunked.G, pr.Phi * pr.Phi.t()) < 1e-14);
  BOOST_TEST(rel(chunked.B, pr.Y * pr.Phi.t()) < 1e-14);
  Statistics halves = zero_statistics(7, 3), rest = zero_statistics(7, 3);
  accumulate(halves, pr.Phi.cols(0, 24), pr.labels.subvec(0, 24));
  accumulate(rest, pr.Phi.cols(25, 49), pr.labels.subvec(25, 49));
  BOOST_TEST(rel((halves + rest).G, chunked.G) < 1e-14);
}

BOOST_AUTO_TEST_CASE(eigen_path_equals_direct_solve) {
  const Problem pr = random_problem(12, 40, 4, 2);
  Statistics stats = zero_statistics(12, 4);
  accumulate(stats, pr.Phi, pr.labels);
  const RidgePath path = ridge_path(stats);
  for (double lambda : {1e-6, 1e-2, 1.0, 3e2}) {
    arma::mat regularised = stats.G;
    regularised.diag() += lambda;
    const arma::mat direct = arma::solve(regularised, stats.B.t()).t();
    BOOST_TEST(rel(path_weights(path, lambda), direct) < 1e-10);
    BOOST_TEST(rel(fit_primal(stats, lambda), direct) < 1e-10);
    // Dual form on the same data: Y (K + λI)⁻¹ Phiᵀ.
    BOOST_TEST(rel(fit_krr(pr.Phi, pr.Y, lambda), direct) < 1e-10);
  }
}

// The λ path on one tridiagonal reduction: each λ's stacked rows against a
// Cholesky solve of G + λI, on a well-posed problem (n > p) and on a
// rank-deficient one (n < p, where the small λ are ill-conditioned: against
// the eigendecomposition's path there); an odd p, one class, one λ.
BOOST_AUTO_TEST_CASE(tridiagonal_path_equals_direct_solves) {
  for (const arma::uword p : {1u, 13u, 40u}) {
    for (const arma::uword n : {p / 2 + 1, 3 * p}) {
      for (const arma::uword k : {1u, 4u}) {
        const Problem pr = random_problem(p, n, k, 7 + p + n + k);
        Statistics stats = zero_statistics(p, k);
        accumulate(stats, pr.Phi, pr.labels);
        const std::vector<double> grid = {1e-6, 1e-2, 1.0, 3e2, 1e5};
        const arma::mat stacked = ridge_path_weights(stats, grid);
        BOOST_TEST_REQUIRE(stacked.n_rows == grid.size() * k);
        BOOST_TEST_REQUIRE(stacked.n_cols == p);
        const RidgePath path = ridge_path(stats);
        for (std::size_t i = 0; i < grid.size(); ++i) {
          const arma::mat W = stacked.rows(i * k, (i + 1) * k - 1);
          const arma::mat eigen = path_weights(path, grid[i]);
          BOOST_TEST_CONTEXT("p " << p << ", n " << n << ", k " << k << ", lambda " << grid[i]) {
            if (n > p || grid[i] >= 1.0) BOOST_TEST(rel(W, fit_primal(stats, grid[i])) < 1e-10);
            BOOST_TEST(rel(W, eigen) < (n > p ? 1e-10 : 1e-6));
          }
        }
        const arma::mat one = ridge_path_weights(stats, {1.0});
        BOOST_TEST(rel(one, stacked.rows(2 * k, 3 * k - 1)) < 1e-14);
      }
    }
  }
  // Rank 4 of 24 at a scale of 1e12: G's rounding (about 1e-3) swamps
  // λ = 1e-6, so that λ takes the clamped eigenvalue path, to the bit; a λ
  // far above the rounding stays on the tridiagonal one.
  {
    Problem pr = random_problem(24, 4, 3, 99);
    pr.Phi *= 1e6;
    Statistics stats = zero_statistics(24, 3);
    accumulate(stats, pr.Phi, pr.labels);
    const arma::mat stacked = ridge_path_weights(stats, {1e-6, 1e12});
    const RidgePath path = ridge_path(stats);
    BOOST_TEST(rel(stacked.rows(0, 2), path_weights(path, 1e-6)) == 0.0);
    BOOST_TEST(rel(stacked.rows(3, 5), path_weights(path, 1e12)) > 0.0);
    BOOST_TEST(rel(stacked.rows(3, 5), fit_primal(stats, 1e12)) < 1e-10);
  }
  Statistics stats = zero_statistics(3, 2);
  BOOST_CHECK_THROW(ridge_path_weights(stats, {1.0, 0.0}), Error);
  BOOST_CHECK_THROW(ridge_path_weights(stats, {-1.0}), Error);
  BOOST_CHECK_THROW(ridge_path_weights(stats, {arma::datum::inf}), Error);
  BOOST_CHECK_THROW(start_lambda_scores(arma::mat(5, 3), 2), Error);
}

BOOST_AUTO_TEST_CASE(lambda_zero_is_moore_penrose) {
  // n < p: Phi has a null space; λ = 0 must give Y Phi⁺.
  const Problem pr = random_problem(10, 6, 3, 3);
  const arma::mat expected = pr.Y * arma::pinv(pr.Phi);
  BOOST_TEST(rel(fit_krr(pr.Phi, pr.Y, 0.0), expected) < 1e-10);
  Statistics stats = zero_statistics(10, 3);
  accumulate(stats, pr.Phi, pr.labels);
  BOOST_TEST(rel(path_weights(ridge_path(stats), 0.0), expected) < 1e-8);
}

namespace {

// The sweep as fit_model runs it: validation samples added chunk by chunk.
LambdaSweep sweep_in_chunks(const Statistics& train, const arma::mat& Phi_val,
                            const arma::uvec& labels, const std::vector<double>& grid,
                            arma::uword chunk) {
  LambdaScores scores = start_lambda_scores(ridge_path_weights(train, grid), grid.size());
  for (arma::uword first = 0; first < Phi_val.n_cols; first += chunk) {
    const arma::uword last = std::min(first + chunk, Phi_val.n_cols) - 1;
    add_validation(scores, Phi_val.cols(first, last), labels.subvec(first, last));
  }
  return finish_lambda_sweep(scores, grid, Phi_val.n_cols);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sweep_matches_refits_and_breaks_ties_low) {
  const Problem train = random_problem(8, 60, 3, 4);
  const Problem val = random_problem(8, 30, 3, 5);
  Statistics stats = zero_statistics(8, 3);
  accumulate(stats, train.Phi, train.labels);
  const std::vector<double> grid = default_lambda_grid();
  BOOST_TEST(grid.size() == 24u);
  BOOST_TEST(grid.front() == 1e-6, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(grid.back() == std::pow(10.0, 5.5), boost::test_tools::tolerance(1e-12));
  const LambdaSweep sweep = sweep_in_chunks(stats, val.Phi, val.labels, grid, 30);
  // Any grouping of the validation samples gives the same scores, bit for bit.
  for (arma::uword chunk : {1u, 7u, 16u}) {
    const LambdaSweep other = sweep_in_chunks(stats, val.Phi, val.labels, grid, chunk);
    BOOST_TEST(other.val_accuracy == sweep.val_accuracy, boost::test_tools::per_element());
    BOOST_TEST(other.val_sq_error == sweep.val_sq_error, boost::test_tools::per_element());
  }
  const arma::mat Y_val = one_hot(val.labels, 3);
  std::size_t best = 0;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const arma::mat W = fit_primal(stats, grid[i]);
    const arma::uvec pred = predict_classes(W, val.Phi);
    const double acc = double(arma::accu(pred == val.labels)) / 30.0;
    const double err = arma::accu(arma::square(W * val.Phi - Y_val));
    BOOST_TEST(sweep.val_accuracy[i] == acc);
    BOOST_TEST(sweep.val_sq_error[i] == err, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(sweep.val_sq_error[i] == round_sq_error(sweep.val_sq_error[i]));
    // docs/design.md §2: accuracy, then the smaller squared error, then the larger λ.
    if (acc > sweep.val_accuracy[best] ||
        (acc == sweep.val_accuracy[best] && sweep.val_sq_error[i] < sweep.val_sq_error[best]))
      best = i;
  }
  BOOST_TEST(sweep.best_lambda == grid[best]);
  // A reversed grid picks the same λ.
  std::vector<double> reversed(grid.rbegin(), grid.rend());
  BOOST_TEST(sweep_in_chunks(stats, val.Phi, val.labels, reversed, 30).best_lambda == grid[best]);
}

BOOST_AUTO_TEST_CASE(squared_errors_are_rounded_to_32_bits) {
  BOOST_TEST(round_sq_error(1050.944370) == 1050.944370, boost::test_tools::tolerance(3e-10));
  // A last-bit difference disappears.
  const double x = 1050.9443701234567;
  BOOST_TEST(round_sq_error(x) == round_sq_error(std::nextafter(x, 2000.0)));
  BOOST_TEST(round_sq_error(0.0) == 0.0);
  BOOST_TEST(round_sq_error(0.75) == 0.75);  // exact in 32 bits
}

BOOST_AUTO_TEST_CASE(lambda_choice_breaks_ties_by_squared_error_then_larger_lambda) {
  LambdaSweep sweep;
  sweep.lambdas = {1e-6, 1e-3, 1.0, 1e3};
  // Flat accuracy over the first three; the squared error decides.
  sweep.val_accuracy = {0.9, 0.9, 0.9, 0.8};
  sweep.val_sq_error = {5.0, 4.0, 4.5, 1.0};
  choose_lambda(sweep);
  BOOST_TEST(sweep.best_lambda == 1e-3);
  // Equal errors too: the larger λ (the better-conditioned G + λI).
  sweep.val_sq_error = {4.0, 4.0, 4.0, 1.0};
  choose_lambda(sweep);
  BOOST_TEST(sweep.best_lambda == 1.0);
  // Accuracy first, whatever the error.
  sweep.val_accuracy = {0.9, 0.9, 0.9, 0.95};
  sweep.val_sq_error = {1.0, 1.0, 1.0, 9.0};
  choose_lambda(sweep);
  BOOST_TEST(sweep.best_lambda == 1e3);
  sweep.val_sq_error.pop_back();
  BOOST_CHECK_THROW(choose_lambda(sweep), Error);
}

BOOST_AUTO_TEST_CASE(predict_takes_argmax) {
  arma::mat W = {{1, 0}, {0, 1}, {0.5, 0.5}};
  arma::mat Phi = {{2, 0, 1}, {0, 3, 1}};
  const arma::uvec pred = predict_classes(W, Phi);
  BOOST_TEST(pred[0] == 0u);
  BOOST_TEST(pred[1] == 1u);
  BOOST_TEST(pred[2] == 0u);  // tie between 0, 1 and 2 goes to the lowest class
}
