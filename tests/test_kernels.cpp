// KIP kernels (docs/design.md §4): values against direct implementations, symmetry,
// positive semidefiniteness, and analytic derivatives against central
// finite differences; the single-precision batch products against the double ones.
#define BOOST_TEST_MODULE kernels
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/kernels.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;
using fixtures::numeric_gradient;
using fixtures::relative_error;

namespace {

const double kPi = std::acos(-1.0);

std::vector<std::pair<std::string, Kernel>> all_kernels(arma::uword d) {
  FeatureMapSpec linear;
  linear.kind = "linear";
  FeatureMapSpec rff;
  rff.kind = "rff";
  rff.features = 5;
  rff.seed = 3;
  FeatureMapSpec fcnn;
  fcnn.kind = "fcnn";
  fcnn.layers = 2;
  fcnn.width = 6;
  fcnn.slope = 0.2;
  fcnn.seed = 4;
  std::vector<std::pair<std::string, Kernel>> out;
  out.emplace_back("feature-linear", FeatureKernel{make_feature_map(linear, d)});
  out.emplace_back("feature-rff", FeatureKernel{make_feature_map(rff, d)});
  out.emplace_back("feature-fcnn", FeatureKernel{make_feature_map(fcnn, d)});
  for (arma::uword depth = 1; depth <= 3; ++depth) {
    out.emplace_back("ntk-" + std::to_string(depth), ReluNtk{depth});
    out.emplace_back("nngp-" + std::to_string(depth), ReluNngp{depth});
  }
  out.emplace_back("rbf", Rbf{});
  out.emplace_back("rbf-1.5", Rbf{1.5});
  return out;
}

// Σˡ and Θˡ as the recursion is usually written, unnormalised, one pair at a
// time: an implementation independent of the library's normalised one.
void direct_relu(const arma::vec& x, const arma::vec& y, arma::uword depth, double& nngp,
                 double& ntk) {
  const double d = double(x.n_elem);
  double sxx = arma::dot(x, x) / d, syy = arma::dot(y, y) / d, sxy = arma::dot(x, y) / d;
  double theta_ntk = sxy;
  for (arma::uword l = 0; l < depth; ++l) {
    const double c = std::max(-1.0, std::min(1.0, sxy / std::sqrt(sxx * syy)));
    const double t = std::acos(c);
    const double next = std::sqrt(sxx * syy) * (std::sin(t) + (kPi - t) * std::cos(t)) / kPi;
    theta_ntk = theta_ntk * (kPi - t) / kPi + next;
    sxy = next;
    // Σˡ(x,x) = Σˡ⁻¹(x,x): θ = 0 gives (1/π)·Σ·π.
  }
  nngp = sxy;
  ntk = theta_ntk;
}

}  // namespace

BOOST_AUTO_TEST_CASE(depth_one_matches_the_closed_form_arc_cosine_kernel) {
  // Cho & Saul's arc-cosine kernel of order 1, k1 = (1/π)‖x‖‖y‖(sin θ + (π−θ) cos θ),
  // scaled by 1/d; NTK = (xᵀy/d)(π−θ)/π + k1/d.
  auto rng = make_rng(21, RngStream::kip_init);
  const arma::uword d = 6;
  const arma::mat A = gaussian_matrix(d, 4, 1.0, rng);
  const arma::mat B = gaussian_matrix(d, 3, 1.0, rng);
  const arma::mat Kn = kernel_matrix(ReluNngp{1}, A, B);
  const arma::mat Kt = kernel_matrix(ReluNtk{1}, A, B);
  for (arma::uword i = 0; i < A.n_cols; ++i)
    for (arma::uword j = 0; j < B.n_cols; ++j) {
      const arma::vec x = A.col(i), y = B.col(j);
      const double nx = arma::norm(x), ny = arma::norm(y);
      const double t = std::acos(arma::dot(x, y) / (nx * ny));
      const double k1 = nx * ny * (std::sin(t) + (kPi - t) * std::cos(t)) / kPi / double(d);
      BOOST_TEST(std::abs(Kn(i, j) - k1) < 1e-12 * std::abs(k1) + 1e-14);
      const double ntk = arma::dot(x, y) / double(d) * (kPi - t) / kPi + k1;
      BOOST_TEST(std::abs(Kt(i, j) - ntk) < 1e-12 * std::abs(ntk) + 1e-14);
    }
}

BOOST_AUTO_TEST_CASE(deeper_kernels_match_the_unnormalised_recursion) {
  auto rng = make_rng(22, RngStream::kip_init);
  const arma::mat A = gaussian_matrix(7, 5, 1.0, rng);
  const arma::mat B = gaussian_matrix(7, 4, 2.0, rng);
  for (arma::uword depth = 1; depth <= 3; ++depth) {
    const arma::mat Kn = kernel_matrix(ReluNngp{depth}, A, B);
    const arma::mat Kt = kernel_matrix(ReluNtk{depth}, A, B);
    for (arma::uword i = 0; i < A.n_cols; ++i)
      for (arma::uword j = 0; j < B.n_cols; ++j) {
        double nngp, ntk;
        direct_relu(A.col(i), B.col(j), depth, nngp, ntk);
        BOOST_TEST(std::abs(Kn(i, j) - nngp) < 1e-12 * std::abs(nngp) + 1e-14);
        BOOST_TEST(std::abs(Kt(i, j) - ntk) < 1e-12 * std::abs(ntk) + 1e-14);
      }
  }
}

BOOST_AUTO_TEST_CASE(depth_one_matches_a_wide_random_relu_layer) {
  // Monte Carlo of the network the recursion describes: z = wᵀx with
  // w ~ N(0, I/d), Σ¹ = 2 E[relu(z(x)) relu(z(y))], Σ̇¹ = 2 E[1{z(x)>0} 1{z(y)>0}]
  // (weight variance 2 after each ReLU).
  auto rng = make_rng(23, RngStream::kip_init);
  const arma::uword d = 5, samples = 400000;
  const arma::mat P = gaussian_matrix(d, 2, 1.0, rng);
  const arma::mat W = gaussian_matrix(samples, d, 1.0 / std::sqrt(double(d)), rng);
  const arma::mat Z = W * P;  // samples×2
  const arma::vec r0 = arma::clamp(Z.col(0), 0.0, arma::datum::inf);
  const arma::vec r1 = arma::clamp(Z.col(1), 0.0, arma::datum::inf);
  const double sigma1 = 2.0 * arma::mean(r0 % r1);
  const double sigma_dot =
      2.0 * double(arma::accu((Z.col(0) > 0.0) % (Z.col(1) > 0.0))) / double(samples);
  const double nngp = kernel_matrix(ReluNngp{1}, P.col(0), P.col(1))(0, 0);
  const double ntk = kernel_matrix(ReluNtk{1}, P.col(0), P.col(1))(0, 0);
  const double sigma0 = arma::dot(P.col(0), P.col(1)) / double(d);
  BOOST_TEST_MESSAGE("NNGP " << nngp << " vs Monte Carlo " << sigma1);
  BOOST_TEST(std::abs(nngp - sigma1) < 0.02 * std::abs(nngp));
  BOOST_TEST(std::abs(ntk - (sigma0 * sigma_dot + sigma1)) < 0.02 * std::abs(ntk));
}

BOOST_AUTO_TEST_CASE(relu_diagonals_are_preserved) {
  auto rng = make_rng(24, RngStream::kip_init);
  const arma::uword d = 9;
  const arma::mat B = gaussian_matrix(d, 6, 1.5, rng);
  const arma::rowvec sq = arma::sum(arma::square(B), 0) / double(d);
  for (arma::uword depth = 1; depth <= 3; ++depth) {
    const arma::vec nngp = kernel_matrix(ReluNngp{depth}, B).diag();
    const arma::vec ntk = kernel_matrix(ReluNtk{depth}, B).diag();
    // Depth-1 NNGP of x with itself = ‖x‖²/d, and every layer keeps it; Θᴰ(x,x) = (D+1)‖x‖²/d.
    BOOST_TEST(arma::abs(nngp - sq.t()).max() < 1e-14 * sq.max());
    BOOST_TEST(arma::abs(ntk - double(depth + 1) * sq.t()).max() < 1e-14 * sq.max());
    // The cross version (not known to be the same points) agrees.
    const arma::vec cross = arma::mat(kernel_matrix(ReluNngp{depth}, B, B)).diag();
    BOOST_TEST(arma::abs(cross - sq.t()).max() < 1e-12 * sq.max());
  }
}

BOOST_AUTO_TEST_CASE(gram_matrices_are_symmetric_and_positive_semidefinite) {
  const arma::uword d = 8;
  auto rng = make_rng(25, RngStream::kip_init);
  const arma::mat B = gaussian_matrix(d, 14, 1.0, rng);
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      const arma::mat K = kernel_matrix(kernel, B);
      BOOST_TEST(arma::abs(K - K.t()).max() == 0.0);
      BOOST_TEST(arma::abs(K - kernel_matrix(kernel, B, B)).max() < 1e-12 * arma::abs(K).max());
      const arma::vec e = arma::eig_sym(K);
      BOOST_TEST(e.min() > -1e-12 * e.max());
      // k(a, b) = k(b, a) for rectangular inputs too.
      const arma::mat A = gaussian_matrix(d, 3, 1.0, rng);
      BOOST_TEST(arma::abs(kernel_matrix(kernel, A, B) - kernel_matrix(kernel, B, A).t()).max() <
                 1e-12 * arma::abs(K).max());
    }
  }
}

BOOST_AUTO_TEST_CASE(rbf_and_feature_values) {
  auto rng = make_rng(26, RngStream::kip_init);
  const arma::uword d = 6;
  const arma::mat A = gaussian_matrix(d, 3, 1.0, rng);
  const arma::mat B = gaussian_matrix(d, 4, 1.0, rng);
  const arma::mat K = kernel_matrix(Rbf{}, A, B);
  const arma::mat K2 = kernel_matrix(Rbf{0.7}, A, B);
  for (arma::uword i = 0; i < A.n_cols; ++i)
    for (arma::uword j = 0; j < B.n_cols; ++j) {
      const double sq = arma::accu(arma::square(A.col(i) - B.col(j)));
      BOOST_TEST(std::abs(K(i, j) - std::exp(-sq / (2.0 * double(d)))) < 1e-14);
      BOOST_TEST(std::abs(K2(i, j) - std::exp(-sq / (2.0 * 0.49))) < 1e-14);
    }
  BOOST_TEST(arma::abs(kernel_matrix(Rbf{}, B).diag() - 1.0).max() == 0.0);
  BOOST_TEST(rbf_bandwidth(Rbf{}, 16) == 4.0);

  FeatureMapSpec spec;
  spec.kind = "rff";
  spec.features = 4;
  spec.seed = 9;
  const FeatureMap map = make_feature_map(spec, d);
  const arma::mat expected = map_features(map, A).t() * map_features(map, B);
  BOOST_TEST(arma::abs(kernel_matrix(FeatureKernel{map}, A, B) - expected).max() < 1e-14);
}

BOOST_AUTO_TEST_CASE(backward_matches_finite_differences) {
  const arma::uword d = 7;
  auto rng = make_rng(27, RngStream::kip_init);
  const arma::mat A = gaussian_matrix(d, 5, 1.0, rng);
  const arma::mat B = gaussian_matrix(d, 4, 1.0, rng);
  const arma::mat dK = gaussian_matrix(5, 4, 1.0, rng);
  const arma::mat dKss = gaussian_matrix(4, 4, 1.0, rng);  // not symmetric
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      const Kernel& k = kernel;
      const arma::mat analytic = kernel_backward(k, A, B, dK);
      const arma::mat numeric = numeric_gradient(
          [&](const arma::mat& Bp) { return arma::accu(dK % kernel_matrix(k, A, Bp)); }, B);
      BOOST_TEST(relative_error(analytic, numeric) < 1e-5);

      const arma::mat analytic_s = kernel_backward_symmetric(k, B, dKss);
      const arma::mat numeric_s = numeric_gradient(
          [&](const arma::mat& Bp) { return arma::accu(dKss % kernel_matrix(k, Bp)); }, B);
      BOOST_TEST(relative_error(analytic_s, numeric_s) < 1e-5);

      // A cached evaluation gives the same backward pass.
      const KernelEvaluation eval = evaluate_kernel(k, A, B);
      BOOST_TEST(arma::abs(kernel_backward(k, A, B, eval, dK) - analytic).max() == 0.0);
    }
  }
}

// dK = U Vᵀ given by its factors (KIP's dL/dKts = dP αᵀ) gives the backward
// pass of the formed dK, for a double and a float A, with the same bits on 1
// and 2 threads (901·23 entries: the threaded loop, an odd column length).
BOOST_AUTO_TEST_CASE(low_rank_backward_is_the_backward_of_the_formed_product) {
  const arma::uword d = 9, na = 901, nb = 23, r = 4;
  auto rng = make_rng(31, RngStream::kip_init);
  const arma::mat B = gaussian_matrix(d, nb, 1.0, rng);
  const arma::fmat Af = arma::conv_to<arma::fmat>::from(gaussian_matrix(d, na, 1.0, rng));
  const arma::mat A = arma::conv_to<arma::mat>::from(Af);
  const arma::mat U = gaussian_matrix(na, r, 1.0, rng), V = gaussian_matrix(nb, r, 1.0, rng);
  const arma::mat dK = U * V.t();
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      const KernelEvaluation eval = evaluate_kernel(kernel, A, B);
      const arma::mat dense = kernel_backward(kernel, A, B, eval, dK);
      BOOST_TEST(relative_error(kernel_backward(kernel, A, B, eval, U, V), dense) < 1e-13);
      const KernelEvaluation eval_f = evaluate_kernel(kernel, Af, B);
      const arma::mat dense_f = kernel_backward(kernel, Af, B, eval_f, dK);
      BOOST_TEST(relative_error(kernel_backward(kernel, Af, B, eval_f, U, V), dense_f) < 1e-6);
      for (const bool in_single : {false, true}) {
        const auto backward = [&] {
          return in_single ? kernel_backward(kernel, Af, B, eval_f, U, V)
                           : kernel_backward(kernel, A, B, eval, U, V);
        };
        set_threads(1);
        const arma::mat one = backward();
        set_threads(2);
        const arma::mat two = backward();
        set_threads(0);
        BOOST_TEST(arma::approx_equal(one, two, "absdiff", 0.0));
      }
      BOOST_CHECK_THROW(kernel_backward(kernel, A, B, eval, U, V.rows(1, nb - 1)), Error);
      BOOST_CHECK_THROW(kernel_backward(kernel, A, B, eval, U.cols(1, r - 1), V), Error);
    }
  }
}

BOOST_AUTO_TEST_CASE(coincident_points_give_finite_values_and_gradients) {
  // θ = 0 between a support point and a target point, and between two
  // support points; NTK's Σ̇ has an infinite slope there.
  const arma::uword d = 5;
  auto rng = make_rng(28, RngStream::kip_init);
  arma::mat B = gaussian_matrix(d, 4, 1.0, rng);
  B.col(2) = B.col(0);
  B.col(3) = 2.5 * B.col(1);  // parallel, θ = 0 too
  const arma::mat A = arma::join_rows(B.cols(0, 1), gaussian_matrix(d, 2, 1.0, rng));
  const arma::mat dK = gaussian_matrix(A.n_cols, B.n_cols, 1.0, rng);
  const arma::mat dKss = gaussian_matrix(B.n_cols, B.n_cols, 1.0, rng);
  for (const auto& [name, kernel] : all_kernels(d)) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(kernel_matrix(kernel, A, B).is_finite());
      BOOST_TEST(kernel_matrix(kernel, B).is_finite());
      BOOST_TEST(kernel_backward(kernel, A, B, dK).is_finite());
      BOOST_TEST(kernel_backward_symmetric(kernel, B, dKss).is_finite());
    }
  }
  // On the diagonal the derivative is the exact one of (D+1)‖x‖²/d, even for the NTK:
  // d/dx of Σ_i dK_ii Θ(x_i, x_i) = 2 dK_ii (D+1) x_i / d.
  const arma::mat single = gaussian_matrix(d, 1, 1.0, rng);
  for (arma::uword depth = 1; depth <= 3; ++depth) {
    const arma::mat g =
        kernel_backward_symmetric(ReluNtk{depth}, single, arma::mat(1, 1, arma::fill::ones));
    BOOST_TEST(arma::abs(g - 2.0 * double(depth + 1) * single / double(d)).max() < 1e-14);
  }
}

// KIP's batch kernel on a float batch, whose products are float (docs/design.md
// §4): near the double kernel of the same values, the same as it where the
// points are nearly parallel or opposite (where a float inner product, about
// 1e-7 off in cos θ, would move the NTK's cusp by 1e-4 or more), and the same
// bits for any thread count.
BOOST_AUTO_TEST_CASE(single_precision_batch_products) {
  const arma::uword d = 300;
  auto rng = make_rng(29, RngStream::kip_init);
  const arma::mat B = gaussian_matrix(d, 37, 1.0, rng);
  arma::mat A = gaussian_matrix(d, 601, 1.0, rng);  // 601·37 entries: the threaded loop
  // Some pairs past the |cos θ| limit, so that the threads take them again in double.
  for (arma::uword i = 0; i < 5; ++i)
    A.col(100 + i) = B.col(i) + 0.05 * gaussian_matrix(d, 1, 1.0, rng);
  A.col(200) = -B.col(6) + 0.05 * gaussian_matrix(d, 1, 1.0, rng);
  const arma::mat dK = gaussian_matrix(A.n_cols, B.n_cols, 1.0, rng);
  // The batch in float, and its values in double.
  const auto in_float = [](const arma::mat& X) { return arma::conv_to<arma::fmat>::from(X); };
  const auto in_double = [](const arma::fmat& X) { return arma::conv_to<arma::mat>::from(X); };
  const arma::fmat Af = in_float(A);
  A = in_double(Af);
  for (const Kernel& kernel : {Kernel{ReluNtk{1}}, Kernel{ReluNtk{3}}, Kernel{ReluNngp{2}}}) {
    BOOST_TEST_CONTEXT(kernel_name(kernel)) {
      const KernelEvaluation full = evaluate_kernel(kernel, A, B);
      const KernelEvaluation single = evaluate_kernel(kernel, Af, B);
      const double scale = arma::abs(full.K).max();
      BOOST_TEST(arma::abs(single.K - full.K).max() < 1e-5 * scale);
      BOOST_TEST(arma::abs(single.K - full.K).max() > 0.0);  // the products are float
      const arma::mat dB_full = kernel_backward(kernel, A, B, full, dK);
      const arma::mat dB_single = kernel_backward(kernel, Af, B, single, dK);
      BOOST_TEST(relative_error(dB_single, dB_full) < 1e-4);
      BOOST_TEST(relative_error(dB_single, dB_full) > 0.0);

      for (const bool in_single : {false, true}) {
        const auto forward_and_back = [&](KernelEvaluation& e, arma::mat& dB) {
          e = in_single ? evaluate_kernel(kernel, Af, B) : evaluate_kernel(kernel, A, B);
          dB = in_single ? kernel_backward(kernel, Af, B, e, dK)
                         : kernel_backward(kernel, A, B, e, dK);
        };
        KernelEvaluation one, two;
        arma::mat dB_one, dB_two;
        set_threads(1);
        forward_and_back(one, dB_one);
        set_threads(2);
        forward_and_back(two, dB_two);
        set_threads(0);
        BOOST_TEST(arma::approx_equal(one.K, two.K, "absdiff", 0.0));
        BOOST_TEST(arma::approx_equal(one.T0, two.T0, "absdiff", 0.0));
        BOOST_TEST(arma::approx_equal(one.T1, two.T1, "absdiff", 0.0));
        BOOST_TEST(arma::approx_equal(dB_one, dB_two, "absdiff", 0.0));
      }
    }
  }

  // Nearly parallel and opposite pairs (i, i), at depth 1, where the kernel
  // is well conditioned in c away from c = ±1 exactly: the same point, a
  // multiple, a step of 1e-3 (1 − cos θ ≈ 5e-7), the point at a float
  // rounding of its own (within the parallel snap), a step of 1e-3 from the
  // opposite point, a step of 0.1 (cos θ ≈ 0.995, just past the limit of
  // 0.99, where a float product would still move K by about 1e-6), and a
  // generic pair for reference.
  arma::mat N = B.cols(0, 6);
  N.col(1) *= 3.0;
  N.col(2) += 1e-3 * gaussian_matrix(d, 1, 1.0, rng);
  N.col(3) = arma::conv_to<arma::vec>::from(arma::conv_to<arma::fvec>::from(B.col(3)));
  N.col(4) = -B.col(4) + 1e-3 * gaussian_matrix(d, 1, 1.0, rng);
  N.col(5) += 0.1 * gaussian_matrix(d, 1, 1.0, rng);
  N.col(6) = gaussian_matrix(d, 1, 1.0, rng);
  const arma::fmat Nf = in_float(N);
  N = in_double(Nf);
  for (const Kernel& kernel : {Kernel{ReluNtk{1}}, Kernel{ReluNngp{1}}}) {
    BOOST_TEST_CONTEXT(kernel_name(kernel)) {
      const KernelEvaluation full = evaluate_kernel(kernel, N, B);
      const KernelEvaluation single = evaluate_kernel(kernel, Nf, B);
      const double cos5 =
          arma::dot(N.col(5), B.col(5)) / arma::norm(N.col(5)) / arma::norm(B.col(5));
      BOOST_TEST((cos5 > 0.99 && cos5 < 0.999));
      for (arma::uword i = 0; i < 6; ++i) {
        BOOST_TEST_CONTEXT("pair " << i) {
          // dK/dc grows as 1/sin θ: at a step of 1e-3 from θ = 0 or π the two
          // paths' inner products (both double, summed in different orders)
          // give about 1e-13 of a generic entry; a float one gives 1e-5.
          const double scale = std::abs(full.K(6, 6));
          BOOST_TEST(std::abs(single.K(i, i) - full.K(i, i)) < 1e-10 * scale);
          BOOST_TEST(std::abs(single.T0(i, i) - full.T0(i, i)) <= 1e-8 * std::abs(full.T0(i, i)));
          BOOST_TEST(std::abs(single.T1(i, i) - full.T1(i, i)) <= 1e-8 * std::abs(full.T1(i, i)));
        }
      }
    }
  }

  // K(B, B) on enough columns for the threaded loop: the same bits on 1 and
  // 2 threads, exactly symmetric.
  const arma::mat S = gaussian_matrix(d, 160, 1.0, rng);
  for (const Kernel& kernel : {Kernel{ReluNtk{2}}, Kernel{ReluNngp{1}}}) {
    set_threads(1);
    const KernelEvaluation one = evaluate_kernel(kernel, S);
    set_threads(2);
    const KernelEvaluation two = evaluate_kernel(kernel, S);
    set_threads(0);
    BOOST_TEST(arma::approx_equal(one.K, two.K, "absdiff", 0.0));
    BOOST_TEST(arma::approx_equal(one.T1, two.T1, "absdiff", 0.0));
    BOOST_TEST(arma::approx_equal(two.K, arma::mat(two.K.t()), "absdiff", 0.0));
  }

  // The other kernels evaluate a float batch's values in double.
  const Kernel rbf = Rbf{};
  BOOST_TEST(arma::approx_equal(evaluate_kernel(rbf, Af, B).K, evaluate_kernel(rbf, A, B).K,
                                "absdiff", 0.0));
  BOOST_TEST(arma::approx_equal(kernel_backward(rbf, Af, B, evaluate_kernel(rbf, Af, B), dK),
                                kernel_backward(rbf, A, B, dK), "absdiff", 0.0));
  BOOST_TEST(!uses_product_precision(rbf));
  BOOST_TEST(uses_product_precision(Kernel{ReluNngp{1}}));
  BOOST_TEST(product_precision_name(parse_product_precision("single")) == "single");
  BOOST_TEST(product_precision_name(parse_product_precision("double")) == "double");
  BOOST_CHECK_THROW(parse_product_precision("half"), Error);
}

BOOST_AUTO_TEST_CASE(make_kernel_and_names) {
  const FeatureMap map = LinearMap{4};
  BOOST_TEST(kernel_name(make_kernel("feature", 0, 0, map)) == "feature-linear");
  BOOST_TEST(kernel_name(make_kernel("ntk", 2, 0, map)) == "ntk-2");
  BOOST_TEST(kernel_name(make_kernel("nngp", 3, 0, map)) == "nngp-3");
  BOOST_TEST(kernel_name(make_kernel("rbf", 0, 2.0, map)) == "rbf");
  BOOST_TEST(std::get<Rbf>(make_kernel("rbf", 0, 2.0, map)).bandwidth == 2.0);
  BOOST_CHECK_THROW(make_kernel("ntk", 0, 0, map), Error);
  BOOST_CHECK_THROW(make_kernel("nngp", 4, 0, map), Error);
  BOOST_CHECK_THROW(make_kernel("rbf", 0, -1.0, map), Error);
  BOOST_CHECK_THROW(make_kernel("laplace", 1, 0, map), Error);
  BOOST_CHECK_THROW(kernel_matrix(ReluNtk{4}, arma::mat(3, 2, arma::fill::ones),
                                  arma::mat(3, 2, arma::fill::ones)),
                    Error);
  BOOST_CHECK_THROW(
      kernel_matrix(Rbf{}, arma::mat(3, 2, arma::fill::ones), arma::mat(4, 2, arma::fill::ones)),
      Error);
  BOOST_CHECK_THROW(
      kernel_backward(Rbf{}, arma::mat(3, 2, arma::fill::ones), arma::mat(3, 4, arma::fill::ones),
                      arma::mat(4, 2, arma::fill::ones)),
      Error);
  BOOST_CHECK_THROW(kernel_backward_symmetric(Rbf{}, arma::mat(3, 2, arma::fill::ones),
                                              arma::mat(2, 3, arma::fill::ones)),
                    Error);
}
