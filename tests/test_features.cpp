// Feature maps: formulas, inversion (docs/design.md §3 step 3), gradients, validation.
#define BOOST_TEST_MODULE features
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <random>
#include <string>

#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;

namespace {

constexpr arma::uword kD = 12;
constexpr arma::uword kM = 5;

FeatureMapSpec rff_spec(arma::uword p, std::uint64_t seed = 7) {
  FeatureMapSpec s;
  s.kind = "rff";
  s.features = p;
  s.seed = seed;
  return s;
}

FeatureMapSpec fcnn_spec(arma::uword width, arma::uword layers, double slope,
                         std::uint64_t seed = 7) {
  FeatureMapSpec s;
  s.kind = "fcnn";
  s.width = width;
  s.layers = layers;
  s.slope = slope;
  s.seed = seed;
  return s;
}

arma::mat gaussian(arma::uword rows, arma::uword cols, std::uint64_t seed, double stddev = 1.0) {
  std::mt19937_64 rng(seed);
  return gaussian_matrix(rows, cols, stddev, rng);
}

// Random features in the range of the map (for RFF: |sqrt(p/2) Phi| <= 0.95).
arma::mat target_features(const FeatureMap& map, arma::uword m, std::uint64_t seed) {
  const arma::uword p = feature_dim(map);
  std::mt19937_64 rng(seed);
  if (kind_name(map) == "rff") {
    arma::mat U = arma::reshape(uniform_vector(p * m, -0.95, 0.95, rng), p, m);
    return std::sqrt(2.0 / double(p)) * U;
  }
  return gaussian_matrix(p, m, 1.0, rng);
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

// The first matrix of the map (A or M_1).
arma::mat first_matrix(const FeatureMap& map) {
  if (const auto* r = std::get_if<RandomFourierMap>(&map)) return r->A;
  return std::get<FcnnMap>(map).layers.front();
}

std::vector<FeatureMapSpec> surjective_specs() {
  std::vector<FeatureMapSpec> specs;
  for (arma::uword p : {kD, arma::uword(7)}) {
    specs.push_back(rff_spec(p));
    for (arma::uword L : {1, 3})
      for (double a : {0.1, 0.5}) specs.push_back(fcnn_spec(p, L, a));
  }
  specs.push_back(fcnn_spec(7, 2, 2.0));  // slope > 1 takes the other min/max branch
  return specs;
}

std::string label(const FeatureMapSpec& s) {
  return s.kind + " p/w=" + std::to_string(s.kind == "rff" ? s.features : s.width) +
         " L=" + std::to_string(s.layers) + " a=" + std::to_string(s.slope);
}

}  // namespace

BOOST_AUTO_TEST_CASE(rff_formula_and_stream_layout) {
  const FeatureMap map = make_feature_map(rff_spec(7), kD);
  const auto& r = std::get<RandomFourierMap>(map);
  BOOST_TEST(r.sigma == std::sqrt(double(kD)));
  BOOST_TEST(default_rff_sigma(784) == 28.0);
  // A first, then b, from the feature_map stream of the seed.
  auto rng = make_rng(7, RngStream::feature_map);
  const arma::mat A = gaussian_matrix(7, kD, 1.0 / std::sqrt(double(kD)), rng);
  const arma::vec b = uniform_vector(7, 0.0, 2.0 * arma::datum::pi, rng);
  BOOST_TEST(arma::all(arma::vectorise(A == r.A)));
  BOOST_TEST(arma::all(b == r.b));

  const arma::mat X = gaussian(kD, kM, 1);
  const arma::mat Phi = map_features(map, X);
  BOOST_TEST(Phi.n_rows == 7u);
  BOOST_TEST(Phi.n_cols == kM);
  for (arma::uword j = 0; j < kM; ++j)
    for (arma::uword i = 0; i < 7; ++i) {
      const double expect = std::sqrt(2.0 / 7.0) * std::cos(arma::dot(A.row(i), X.col(j)) + b(i));
      BOOST_TEST(std::abs(Phi(i, j) - expect) < 1e-14);
    }

  FeatureMapSpec s = rff_spec(7);
  s.rff_sigma = 3.0;
  BOOST_TEST(std::get<RandomFourierMap>(make_feature_map(s, kD)).sigma == 3.0);
}

BOOST_AUTO_TEST_CASE(fcnn_formula_and_stream_layout) {
  const FeatureMap map = make_feature_map(fcnn_spec(7, 2, 0.2), kD);
  const auto& f = std::get<FcnnMap>(map);
  BOOST_REQUIRE(f.layers.size() == 2u);
  auto rng = make_rng(7, RngStream::feature_map);
  const arma::mat M1 = gaussian_matrix(7, kD, 1.0 / std::sqrt(double(kD)), rng);
  const arma::mat M2 = gaussian_matrix(7, 7, 1.0 / std::sqrt(7.0), rng);
  BOOST_TEST(arma::all(arma::vectorise(M1 == f.layers[0])));
  BOOST_TEST(arma::all(arma::vectorise(M2 == f.layers[1])));

  const arma::mat X = gaussian(kD, kM, 2);
  const arma::mat Phi = map_features(map, X);
  for (arma::uword j = 0; j < kM; ++j) {
    arma::vec h = X.col(j);
    for (const arma::mat* M : {&M1, &M2}) {
      h = *M * h;
      for (double& v : h)
        if (v < 0) v *= 0.2;
    }
    BOOST_TEST(arma::norm(Phi.col(j) - h) < 1e-13);
  }
  BOOST_TEST(kind_name(map) == "fcnn");
  BOOST_TEST(input_dim(map) == kD);
  BOOST_TEST(feature_dim(map) == 7u);
  // Width 0 means d, and slope 1 is the plain linear network.
  const FeatureMap lin = make_feature_map(fcnn_spec(0, 2, 1.0), kD);
  BOOST_TEST(feature_dim(lin) == kD);
  const auto& g = std::get<FcnnMap>(lin);
  BOOST_TEST(rel(map_features(lin, X), g.layers[1] * (g.layers[0] * X)) < 1e-14);
}

BOOST_AUTO_TEST_CASE(linear_map_is_identity) {
  const FeatureMap map = make_feature_map(FeatureMapSpec{}, kD);
  const arma::mat X = gaussian(kD, kM, 3);
  BOOST_TEST(kind_name(map) == "linear");
  BOOST_TEST(input_dim(map) == kD);
  BOOST_TEST(feature_dim(map) == kD);
  BOOST_TEST(arma::all(arma::vectorise(map_features(map, X) == X)));
  BOOST_TEST(arma::all(arma::vectorise(invert_features(map, X, arma::zeros(kD, kM)) == X)));
  BOOST_TEST(surjectivity_problem(map).empty());
  BOOST_TEST(range_scale(map, 100.0 * X) == 1.0);
}

BOOST_AUTO_TEST_CASE(map_invert_round_trip) {
  for (const FeatureMapSpec& spec : surjective_specs()) {
    BOOST_TEST_CONTEXT(label(spec)) {
      const FeatureMap map = make_feature_map(spec, kD);
      BOOST_TEST(surjectivity_problem(map).empty());
      const arma::mat Phi = target_features(map, kM, 11);
      for (const arma::mat& X0 : {arma::mat(kD, kM, arma::fill::zeros), gaussian(kD, kM, 12)}) {
        const arma::mat Xs = invert_features(map, Phi, X0);
        BOOST_TEST(Xs.n_rows == kD);
        BOOST_TEST(Xs.n_cols == kM);
        BOOST_TEST(rel(map_features(map, Xs), Phi) < 1e-10);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(inverse_is_the_preimage_nearest_x0) {
  for (const FeatureMapSpec& spec : surjective_specs()) {
    if (spec.features == kD || spec.width == kD) continue;  // p < d only: a real choice
    BOOST_TEST_CONTEXT(label(spec)) {
      const FeatureMap map = make_feature_map(spec, kD);
      const arma::mat N = arma::null(first_matrix(map));
      BOOST_REQUIRE(N.n_cols == kD - 7);
      for (std::uint64_t seed : {21, 22, 23}) {
        // X0 is itself a preimage of phi(X0): nothing to move.
        const arma::mat X0 = gaussian(kD, kM, seed);
        BOOST_TEST(rel(invert_features(map, map_features(map, X0), X0), X0) < 1e-10);

        // Other targets: Xs − X0 lies in the row space of A / M_1 (orthogonal
        // to the null space): X0 projected on the preimage subspace it lands on.
        const arma::mat Phi = target_features(map, kM, seed + 100);
        const arma::mat Xs = invert_features(map, Phi, X0);
        const arma::mat Xz = invert_features(map, Phi, arma::zeros(kD, kM));
        BOOST_TEST(rel(map_features(map, Xs), Phi) < 1e-10);
        BOOST_TEST(arma::norm(N.t() * (Xs - X0), "fro") < 1e-10 * arma::norm(Xs - X0, "fro"));
        BOOST_TEST(arma::norm(N.t() * Xz, "fro") < 1e-10 * arma::norm(Xz, "fro"));  // min-norm
        // FCNN (w < d): the preimage set is one affine subspace, so Xs is the
        // Euclidean-nearest preimage. RFF: the preimage set is a union of
        // subspaces, one per branch θ; the branch nearest A x0 + b (docs/design.md §3)
        // minimises ‖A(x − x0)‖ = ‖θ − t‖, not ‖x − x0‖ (about 1 column in 5
        // of this test is Euclidean-closer from zeros), so compare in that metric.
        const arma::mat A = first_matrix(map);
        for (arma::uword j = 0; j < kM; ++j) {
          const arma::vec ds = Xs.col(j) - X0.col(j), dz = Xz.col(j) - X0.col(j);
          if (spec.kind == "fcnn") BOOST_TEST(arma::norm(ds) <= arma::norm(dz) * (1 + 1e-12));
          BOOST_TEST(arma::norm(A * ds) <= arma::norm(A * dz) * (1 + 1e-12));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rff_branch_nearest_a_x0_plus_b) {
  for (arma::uword p : {kD, arma::uword(7)}) {
    BOOST_TEST_CONTEXT("p=" << p) {
      const FeatureMap map = make_feature_map(rff_spec(p), kD);
      const auto& r = std::get<RandomFourierMap>(map);
      const arma::mat X0 = gaussian(kD, kM, 31, 60.0);
      arma::mat T = r.A * X0;
      T.each_col() += r.b;
      BOOST_REQUIRE(T.max() > 20.0 * arma::datum::pi);
      BOOST_REQUIRE(T.min() < -20.0 * arma::datum::pi);
      const arma::mat Phi = map_features(map, X0);
      BOOST_TEST(rel(invert_features(map, Phi, X0), X0) < 1e-10);
      // A nearby start lands on the same branch, hence on X0 (p = d) or on
      // X0 moved along the row space only (p < d).
      const arma::mat X1 = X0 + 0.01 * gaussian(kD, kM, 32);
      const arma::mat Xs = invert_features(map, Phi, X1);
      if (p == kD) BOOST_TEST(rel(Xs, X0) < 1e-10);
      BOOST_TEST(rel(r.A * Xs, r.A * X0) < 1e-10);
    }
  }
}

BOOST_AUTO_TEST_CASE(backprop_matches_finite_differences) {
  std::vector<FeatureMapSpec> specs = {FeatureMapSpec{},      rff_spec(7),
                                       rff_spec(20),          fcnn_spec(7, 2, 0.1),
                                       fcnn_spec(20, 2, 0.3), fcnn_spec(12, 2, 2.5)};
  for (const FeatureMapSpec& spec : specs) {
    BOOST_TEST_CONTEXT(label(spec)) {
      const FeatureMap map = make_feature_map(spec, kD);
      const arma::mat X = gaussian(kD, kM, 41);
      const arma::mat dPhi = gaussian(feature_dim(map), kM, 42);
      const arma::mat G = backprop_features(map, X, dPhi);
      BOOST_REQUIRE(G.n_rows == kD);
      BOOST_REQUIRE(G.n_cols == kM);
      const double h = 1e-6;
      arma::mat Gfd(kD, kM);
      for (arma::uword k = 0; k < X.n_elem; ++k) {
        arma::mat Xp = X, Xm = X;
        Xp(k) += h;
        Xm(k) -= h;
        Gfd(k) =
            (arma::accu(dPhi % map_features(map, Xp)) - arma::accu(dPhi % map_features(map, Xm))) /
            (2.0 * h);
      }
      BOOST_TEST(rel(G, Gfd) < 1e-6);
    }
  }
}

BOOST_AUTO_TEST_CASE(surjectivity_and_range_scale) {
  const FeatureMap wide_rff = make_feature_map(rff_spec(20), kD);
  const std::string why = surjectivity_problem(wide_rff);
  BOOST_TEST(!why.empty());
  BOOST_TEST(why.find("p = 20 > d = 12") != std::string::npos);
  BOOST_TEST(why.find("--features <= 12") != std::string::npos);

  const FeatureMap wide_fcnn = make_feature_map(fcnn_spec(20, 2, 0.1), kD);
  const std::string why2 = surjectivity_problem(wide_fcnn);
  BOOST_TEST(!why2.empty());
  BOOST_TEST(why2.find("layer 1") != std::string::npos);
  BOOST_TEST(why2.find("--width <= 12") != std::string::npos);
  // Widths shrinking then growing: the growing layer is the culprit.
  FcnnMap grow = std::get<FcnnMap>(make_feature_map(fcnn_spec(7, 1, 0.1), kD));
  grow.layers.push_back(gaussian(9, 7, 5));
  BOOST_TEST(surjectivity_problem(FeatureMap(grow)).find("layer 2") != std::string::npos);

  BOOST_CHECK_THROW(invert_features(wide_rff, arma::zeros(20, 2), arma::zeros(kD, 2)), Error);
  BOOST_CHECK_THROW(invert_features(wide_fcnn, arma::zeros(20, 2), arma::zeros(kD, 2)), Error);
  BOOST_TEST(surjectivity_problem(make_feature_map(rff_spec(kD), kD)).empty());
  BOOST_TEST(surjectivity_problem(make_feature_map(fcnn_spec(7, 3, 0.1), kD)).empty());

  const FeatureMap map = make_feature_map(rff_spec(8), kD);
  const double s = std::sqrt(8.0 / 2.0);  // sqrt(p/2) = 2
  arma::mat Phi = 0.3 / s * arma::ones(8, 3);
  Phi(4, 1) = -1.7 / s;
  BOOST_TEST(std::abs(range_scale(map, Phi) - 1.7) < 1e-14);
  Phi(4, 1) = 0.9 / s;
  BOOST_TEST(range_scale(map, Phi) == 1.0);
  BOOST_TEST(range_scale(make_feature_map(fcnn_spec(7, 1, 0.1), kD), 50.0 * arma::ones(7, 2)) ==
             1.0);

  // Out of range: refused with a hint, unless divided by range_scale first.
  Phi(4, 1) = -1.7 / s;
  BOOST_CHECK_THROW(invert_features(map, Phi, arma::zeros(kD, 3)), Error);
  try {
    invert_features(map, Phi, arma::zeros(kD, 3));
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("range_scale") != std::string::npos);
  }
  const arma::mat scaled = Phi / range_scale(map, Phi);
  BOOST_TEST(rel(map_features(map, invert_features(map, scaled, arma::zeros(kD, 3))), scaled) <
             1e-10);
  // |u| = 1 exactly (and a hair over, from rounding) is still in range.
  arma::mat edge = arma::ones(8, 2) / s;
  edge(0, 0) *= 1.0 + 1e-15;
  edge(1, 1) = -edge(1, 1);
  BOOST_TEST(rel(map_features(map, invert_features(map, edge, arma::zeros(kD, 2))), edge) < 1e-7);
}

BOOST_AUTO_TEST_CASE(same_seed_same_map) {
  const arma::mat X = gaussian(kD, kM, 51);
  for (const FeatureMapSpec& spec : {rff_spec(7, 3), fcnn_spec(7, 3, 0.1, 3)}) {
    BOOST_TEST_CONTEXT(spec.kind) {
      const arma::mat a = map_features(make_feature_map(spec, kD), X);
      const arma::mat b = map_features(make_feature_map(spec, kD), X);
      BOOST_TEST(arma::all(arma::vectorise(a == b)));
      FeatureMapSpec other = spec;
      other.seed = 4;
      const arma::mat c = map_features(make_feature_map(other, kD), X);
      BOOST_TEST(arma::norm(a - c, "fro") > 1e-3);
    }
  }
  const RandomFourierMap r1 = std::get<RandomFourierMap>(make_feature_map(rff_spec(7, 3), kD));
  const RandomFourierMap r2 = std::get<RandomFourierMap>(make_feature_map(rff_spec(7, 3), kD));
  BOOST_TEST(arma::all(arma::vectorise(r1.A == r2.A)));
  BOOST_TEST(arma::all(r1.b == r2.b));
}

BOOST_AUTO_TEST_CASE(invalid_specs_and_shapes_throw) {
  FeatureMapSpec s;
  s.kind = "gaussian";
  BOOST_CHECK_THROW(make_feature_map(s, kD), Error);
  BOOST_CHECK_THROW(make_feature_map(FeatureMapSpec{}, 0), Error);
  BOOST_CHECK_THROW(make_feature_map(fcnn_spec(7, 0, 0.1), kD), Error);
  for (double a : {0.0, -0.5, std::nan(""), HUGE_VAL})
    BOOST_CHECK_THROW(make_feature_map(fcnn_spec(7, 1, a), kD), Error);
  for (double sigma : {-1.0, std::nan(""), HUGE_VAL}) {
    FeatureMapSpec r = rff_spec(7);
    r.rff_sigma = sigma;
    BOOST_CHECK_THROW(make_feature_map(r, kD), Error);
  }

  for (const FeatureMapSpec& spec : {FeatureMapSpec{}, rff_spec(7), fcnn_spec(7, 2, 0.1)}) {
    BOOST_TEST_CONTEXT(spec.kind) {
      const FeatureMap map = make_feature_map(spec, kD);
      const arma::uword p = feature_dim(map);
      BOOST_CHECK_THROW(map_features(map, arma::zeros(kD + 1, 3)), Error);
      BOOST_CHECK_THROW(backprop_features(map, arma::zeros(kD + 1, 3), arma::zeros(p, 3)), Error);
      BOOST_CHECK_THROW(backprop_features(map, arma::zeros(kD, 3), arma::zeros(p + 1, 3)), Error);
      BOOST_CHECK_THROW(backprop_features(map, arma::zeros(kD, 3), arma::zeros(p, 2)), Error);
      BOOST_CHECK_THROW(invert_features(map, arma::zeros(p + 1, 3), arma::zeros(kD, 3)), Error);
      BOOST_CHECK_THROW(invert_features(map, arma::zeros(p, 3), arma::zeros(kD + 1, 3)), Error);
      BOOST_CHECK_THROW(invert_features(map, arma::zeros(p, 3), arma::zeros(kD, 2)), Error);
      BOOST_CHECK_THROW(range_scale(map, arma::zeros(p + 1, 3)), Error);
    }
  }
}

// The data's single-precision features (docs/design.md §12): each one the
// float rounding of the double map's, to float accuracy for RFF (whose
// entries are ±sqrt(2/p) cos) and FCNN (relative to each column's norm),
// the linear map's the inputs rounded to float; and the same bits on one
// thread and on two (test_stream's feature_chunks_match_for_each_chunk:
// the same bits from float inputs).
BOOST_AUTO_TEST_CASE(sample_features_are_the_map_in_single_precision) {
  const arma::mat X = gaussian(kD, 700, 4);
  for (const FeatureMapSpec& spec :
       {rff_spec(9), fcnn_spec(9, 2, 0.2), fcnn_spec(9, 3, 2.0), fcnn_spec(9, 1, 0.1)}) {
    const FeatureMap map = make_feature_map(spec, kD);
    const arma::mat exact = map_features(map, X);
    set_threads(1);
    const arma::fmat one = sample_features(map, X);
    set_threads(2);
    const arma::fmat two = sample_features(map, X);
    set_threads(0);
    BOOST_TEST_CONTEXT(spec.kind) {
      BOOST_TEST_REQUIRE(arma::size(two) == arma::size(exact));
      BOOST_TEST(std::equal(one.begin(), one.end(), two.begin()));
      const arma::mat single = arma::conv_to<arma::mat>::from(two);
      for (arma::uword j = 0; j < X.n_cols; ++j)
        BOOST_TEST(arma::norm(single.col(j) - exact.col(j)) <= 1e-6 * arma::norm(exact.col(j)));
      // Not the double values: the single path is really taken.
      BOOST_TEST(rel(single, exact) > 1e-12);
    }
  }
  const arma::fmat linear = sample_features(make_feature_map(FeatureMapSpec{}, kD), X);
  BOOST_TEST(arma::approx_equal(linear, arma::conv_to<arma::fmat>::from(X), "absdiff", 0.0f));
  BOOST_CHECK_THROW(sample_features(make_feature_map(rff_spec(9), kD), gaussian(kD + 1, 2, 5)),
                    Error);
}

// Features formed in place, as the fit forms them in its cache's columns:
// the bits of sample_features, for every map, and nothing outside the view
// written; a view of the wrong size is refused.
BOOST_AUTO_TEST_CASE(sample_features_into_a_view_are_the_same_bits) {
  const arma::fmat X = arma::conv_to<arma::fmat>::from(gaussian(kD, 600, 8));
  for (const FeatureMapSpec& spec :
       {FeatureMapSpec{}, rff_spec(9), fcnn_spec(9, 1, 0.1), fcnn_spec(9, 3, 2.0)}) {
    const FeatureMap map = make_feature_map(spec, kD);
    const arma::uword p = feature_dim(map);
    arma::fmat cache(p, X.n_cols + 100);
    cache.fill(-7.0f);
    arma::fmat view(cache.colptr(60), p, X.n_cols, false, true);
    sample_features_into(map, X, view);
    const arma::fmat expected = sample_features(map, X);
    BOOST_TEST_CONTEXT(spec.kind) {
      BOOST_TEST(std::equal(expected.begin(), expected.end(), cache.colptr(60)));
      BOOST_TEST(arma::all(arma::vectorise(cache.cols(0, 59)) == -7.0f));
      BOOST_TEST(arma::all(arma::vectorise(cache.tail_cols(40)) == -7.0f));
      arma::fmat narrow(cache.colptr(0), p, X.n_cols - 1, false, true);
      BOOST_CHECK_THROW(sample_features_into(map, X, narrow), Error);
    }
  }
}
