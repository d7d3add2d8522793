#define BOOST_TEST_MODULE analytic
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/random.hpp"

using namespace krrdistill;
namespace bdata = boost::unit_test::data;

namespace {

constexpr arma::uword kD = 16, kK = 3, kN = 90;

// A small trained model: random inputs, labels, the map's KRR weights.
struct Setup {
  FeatureMap map;
  arma::mat X;  // d×n
  arma::uvec labels;
  arma::mat W;
};

Setup make_setup(const std::string& kind, arma::uword p, double lambda, std::uint64_t seed) {
  FeatureMapSpec spec;
  spec.kind = kind;
  spec.features = p;
  spec.width = p;
  spec.layers = kind == "fcnn" ? 2 : 1;
  spec.rff_sigma = 4.0;
  spec.seed = seed;
  Setup s{make_feature_map(spec, kD), {}, {}, {}};
  std::mt19937_64 rng = make_rng(seed + 100, RngStream::noise_init);
  s.X = gaussian_matrix(kD, kN, 1.0, rng);
  s.labels.set_size(kN);
  for (arma::uword i = 0; i < kN; ++i) s.labels[i] = i % kK;
  s.W = fit_krr(map_features(s.map, s.X), one_hot(s.labels, kK), lambda);
  return s;
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

DistilledSet run(const Setup& s, arma::uword ipc, Init init, double lambda_s) {
  AnalyticOptions options;
  options.ipc = ipc;
  options.init = init;
  options.lambda_s = lambda_s;
  options.seed = 7;
  arma::mat X0;
  if (init == Init::real) X0 = s.X.cols(choose_real_images(s.labels, kK, ipc, 7));
  return distill_analytic(s.map, s.W, X0, options);
}

}  // namespace

// Ws refit from the distilled (Xs, Ys) at λs equals W: every model, both
// inits, ipc 1 and 3, λs = 0 and λs > 0 (docs/design.md §3).
BOOST_DATA_TEST_CASE(distilled_model_equals_original,
                     bdata::make({"linear", "rff", "fcnn"}) * bdata::make({1u, 3u}) *
                         bdata::make({0, 1}) * bdata::make({0.0, 1e-3}),
                     kind, ipc, real, lambda_s) {
  for (arma::uword p : {kD, kD - 5}) {
    if (std::string(kind) == "linear" && p != kD) continue;
    const Setup s = make_setup(kind, p, 1e-2, 11 + p);
    const DistilledSet ds = run(s, ipc, real ? Init::real : Init::noise, lambda_s);
    BOOST_TEST_CONTEXT(kind << " p=" << p << " ipc=" << ipc << " real=" << real
                            << " lambda_s=" << lambda_s) {
      BOOST_TEST(ds.Xs.n_rows == kD);
      BOOST_TEST(ds.Xs.n_cols == kK * ipc);
      BOOST_TEST(ds.Ys.n_rows == kK);
      const arma::mat Ws = refit_distilled(s.map, ds.Xs, ds.Ys, ds.lambda_s);
      BOOST_TEST(rel(Ws, s.W) < 1e-10);
      BOOST_TEST(rel(map_features(s.map, ds.Xs), ds.Phis) < 1e-10);
      if (lambda_s > 0) BOOST_TEST(ds.lambda_s > 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(one_hot_labels_in_class_order) {
  const arma::mat Ys = distilled_one_hot(3, 2);
  BOOST_TEST(Ys.n_cols == 6u);
  for (arma::uword j = 0; j < 6; ++j) BOOST_TEST(Ys(j % 3, j) == 1.0);
  BOOST_TEST(arma::accu(Ys) == 6.0);
}

BOOST_AUTO_TEST_CASE(real_images_are_class_balanced_and_seeded) {
  arma::uvec labels(60);
  for (arma::uword i = 0; i < 60; ++i) labels[i] = (i * 7) % 4;
  const arma::uvec chosen = choose_real_images(labels, 4, 5, 3);
  BOOST_TEST(chosen.n_elem == 20u);
  for (arma::uword j = 0; j < 20; ++j) BOOST_TEST(labels[chosen[j]] == j % 4);
  BOOST_TEST(arma::uvec(arma::unique(chosen)).n_elem == 20u);
  BOOST_TEST(arma::all(chosen == choose_real_images(labels, 4, 5, 3)));
  BOOST_TEST(!arma::all(chosen == choose_real_images(labels, 4, 5, 4)));
  BOOST_CHECK_THROW(choose_real_images(labels, 4, 16, 3), Error);
}

BOOST_AUTO_TEST_CASE(real_init_stays_near_the_start_images) {
  // λs = 0 and learned labels Ys = W Phi0: the features of the start images
  // already solve Ys D = W up to the null space, so Xs should stay close.
  const Setup s = make_setup("linear", kD, 1e-2, 21);
  const arma::uvec idx = choose_real_images(s.labels, kK, 2, 7);
  const DistilledSet ds = run(s, 2, Init::real, 0.0);
  BOOST_TEST(ds.learned_labels);
  BOOST_TEST(rel(ds.Ys, s.W * s.X.cols(idx)) < 1e-12);
  const DistilledSet noise = run(s, 2, Init::noise, 0.0);
  BOOST_TEST(rel(ds.Xs, s.X.cols(idx)) < rel(noise.Xs, s.X.cols(idx)));
}

BOOST_AUTO_TEST_CASE(lambda_s_is_clamped_and_still_exact) {
  const Setup s = make_setup("linear", kD, 1e-2, 31);
  const DistilledSet ds = run(s, 3, Init::noise, 1e12);
  BOOST_TEST(ds.lambda_s_clamped < 1e12);
  BOOST_TEST(ds.lambda_s == ds.lambda_s_clamped);
  BOOST_TEST(rel(refit_distilled(s.map, ds.Xs, ds.Ys, ds.lambda_s), s.W) < 1e-10);
}

BOOST_AUTO_TEST_CASE(rff_range_scaling_keeps_weights_exact) {
  // Large weights make D⁺ small; a tiny ridge on the original model makes it
  // large, which forces the RFF range scaling c > 1 (docs/design.md §3 step 3).
  const Setup s = make_setup("rff", kD, 1e-8, 41);
  const DistilledSet ds = run(s, 1, Init::noise, 1e-6);
  BOOST_TEST(ds.range_scale > 1.0);
  BOOST_TEST(ds.lambda_s == ds.lambda_s_clamped / (ds.range_scale * ds.range_scale),
             boost::test_tools::tolerance(1e-14));
  BOOST_TEST(rel(refit_distilled(s.map, ds.Xs, ds.Ys, ds.lambda_s), s.W) < 1e-10);
}

BOOST_AUTO_TEST_CASE(injective_shapes_are_refused) {
  FeatureMapSpec spec;
  spec.kind = "rff";
  spec.features = kD + 4;
  const FeatureMap map = make_feature_map(spec, kD);
  const arma::mat W(kK, kD + 4, arma::fill::ones);
  BOOST_CHECK_THROW(distill_analytic(map, W, arma::mat(), AnalyticOptions{}), Error);
}

// W of rank k − 1 up to rounding (centred inputs with one-hot labels give
// rows summing to zero): the rounding-level singular value of D must count
// as zero, or Phis gets a direction 1e13 times the rest and the refit loses
// W (docs/design.md §3, step 2).
BOOST_AUTO_TEST_CASE(rank_deficient_weights_distil_exactly) {
  arma::arma_rng::set_seed(21);
  arma::mat W = arma::randn<arma::mat>(4, 30);
  W.row(3) = -(W.row(0) + W.row(1) + W.row(2));
  W.row(3) += 1e-13 * arma::randn<arma::rowvec>(30);  // the solve's rounding, above eps·p
  const FeatureMap map = LinearMap{30};
  for (const double lambda_s : {0.0, 1e-6})
    for (const arma::uword ipc : {1u, 3u}) {
      AnalyticOptions options;
      options.ipc = ipc;
      options.lambda_s = lambda_s;
      const DistilledSet set = distill_analytic(map, W, arma::mat(), options);
      const arma::mat Ws = refit_distilled(map, set.Xs, set.Ys, set.lambda_s);
      BOOST_TEST(arma::norm(Ws - W, "fro") / arma::norm(W, "fro") < 1e-10,
                 "ipc " << ipc << ", lambda_s " << lambda_s);
      BOOST_TEST(arma::abs(set.Xs).max() < 1e6 * arma::abs(W).max());
    }
}
