// Feature matrices (docs/design.md §11): a feature set made from
// Fashion-MNIST with a fixed hand-made nonlinear map, saved as .npy, is
// distilled exactly by every model; the linear fit is the ridge solution on
// the features as given (or standardised); C and Fortran order give the same
// bits; the principal plane is the samples' own.
#define BOOST_TEST_MODULE feature_matrix
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/pipeline.hpp"
#include "krrdistill/principal_plane.hpp"
#include "krrdistill/stream.hpp"

using namespace krrdistill;
using fixtures::TempDir;

namespace {

constexpr arma::uword kTrain = 2000, kTest = 500, kFeatures = 40;

// Features tanh(R q/255 − 0.5·R 1) of the first images, R a fixed Gaussian
// kFeatures×784 matrix: a map no model here contains.
arma::mat hand_made_features(const PixelMatrix& pixels) {
  arma::arma_rng::set_seed(17);
  const arma::mat R = arma::randn<arma::mat>(kFeatures, pixels.n_rows) / 28.0;
  const arma::mat X = arma::conv_to<arma::mat>::from(pixels) / 255.0 - 0.5;
  return arma::tanh(R * X);
}

template <typename T>
fixtures::Bytes values_bytes(const arma::mat& features, bool fortran) {
  // (n, p): C order is features column by column (Armadillo's own order).
  const arma::mat ordered = fortran ? arma::mat(features.t()) : features;
  std::vector<T> values(ordered.begin(), ordered.end());
  fixtures::Bytes out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

fixtures::Bytes label_bytes(const arma::uvec& labels) {
  fixtures::Bytes out;
  for (arma::uword l : labels) out.push_back(std::uint8_t(l));
  return out;
}

struct FeatureFolders {
  TempDir tmp{"feature_matrix"};
  arma::mat train, test;  // p×n, float32 values held as double
  arma::uvec train_labels, test_labels;
  std::string c_order = tmp.file("c"), fortran = tmp.file("fortran");
  FeatureFolders() {
    const Dataset fm = load_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);
    train = hand_made_features(fm.train.pixels.cols(0, kTrain - 1));
    test = hand_made_features(fm.test.pixels.cols(0, kTest - 1));
    // float32 values: what the files hold.
    train = arma::conv_to<arma::mat>::from(arma::conv_to<arma::fmat>::from(train));
    test = arma::conv_to<arma::mat>::from(arma::conv_to<arma::fmat>::from(test));
    train_labels = fm.train.labels.head(kTrain);
    test_labels = fm.test.labels.head(kTest);
    for (const bool f : {false, true}) {
      const std::string dir = f ? fortran : c_order;
      std::filesystem::create_directories(dir);
      const std::string p = std::to_string(kFeatures);
      fixtures::write_plain(
          dir + "/x_train.npy",
          krrdistill_fuzz::npy("<f4", "(" + std::to_string(kTrain) + ", " + p + ")",
                               values_bytes<float>(train, f), f));
      fixtures::write_plain(
          dir + "/x_test.npy",
          krrdistill_fuzz::npy("<f4", "(" + std::to_string(kTest) + ", " + p + ")",
                               values_bytes<float>(test, f), f));
      fixtures::write_plain(dir + "/y_train.npy",
                            krrdistill_fuzz::npy("|u1", "(" + std::to_string(kTrain) + ",)",
                                                 label_bytes(train_labels)));
      fixtures::write_plain(dir + "/y_test.npy",
                            krrdistill_fuzz::npy("|u1", "(" + std::to_string(kTest) + ",)",
                                                 label_bytes(test_labels)));
    }
  }
};

DistillConfig config_for(const std::string& dir, const std::string& kind, Init init,
                         double lambda) {
  DistillConfig config;
  config.source.dataset = "npy";
  config.source.dir = dir;
  config.spec.kind = kind;
  config.fit.lambda = lambda;
  config.fit.chunk = 300;
  config.analytic.ipc = 2;
  config.analytic.init = init;
  return config;
}

double rel(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / arma::norm(b, "fro");
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_hand_made_feature_set_distils_exactly) {
  FeatureFolders f;
  for (const std::string kind : {"linear", "rff", "fcnn"})
    for (const Init init : {Init::noise, Init::real})
      BOOST_TEST_CONTEXT(kind << " " << init_name(init)) {
        const DistillResult r = distill_dataset(config_for(f.c_order, kind, init, 0.1));
        BOOST_TEST(r.description.feature_matrix());
        BOOST_TEST(r.distilled.Xs.n_rows == kFeatures);
        BOOST_TEST(r.distilled.Xs.n_cols == 20u);
        BOOST_TEST(r.certificate.weight_rel_error < 1e-9);
        BOOST_TEST(r.certificate.test_disagreements == 0u);
        BOOST_TEST(r.certificate_problem.empty());
        BOOST_TEST(r.certificate.original.test > 0.5);  // the features carry the classes
        // Fortran order: the same values, so the same bits.
        const DistillResult fr = distill_dataset(config_for(f.fortran, kind, init, 0.1));
        BOOST_TEST(arma::approx_equal(fr.distilled.Xs, r.distilled.Xs, "absdiff", 0.0));
        BOOST_TEST(arma::approx_equal(fr.model.W, r.model.W, "absdiff", 0.0));
      }
}

BOOST_AUTO_TEST_CASE(linear_fit_is_the_ridge_solution_on_the_features) {
  FeatureFolders f;
  const double lambda = 0.1;
  const arma::mat Y = one_hot(f.train_labels, 10);
  const auto ridge = [&](const arma::mat& Phi) {
    return arma::mat(
        arma::solve(Phi * Phi.t() + lambda * arma::eye(kFeatures, kFeatures), Phi * Y.t()).t());
  };
  // As given: the model's inputs are the values themselves.
  const DistillResult raw = distill_dataset(config_for(f.c_order, "linear", Init::noise, lambda));
  BOOST_TEST(rel(raw.model.W, ridge(f.train)) < 1e-10);
  // Standardised: each feature's mean and (population) std over the training samples.
  DistillConfig config = config_for(f.c_order, "linear", Init::noise, lambda);
  config.source.standardize = true;
  const DistillResult std_run = distill_dataset(config);
  const arma::vec mean = arma::mean(f.train, 1), sd = arma::stddev(f.train, 1, 1);
  BOOST_TEST(rel(std_run.model.pre.channel_mean, mean) < 1e-13);
  BOOST_TEST(rel(std_run.model.pre.channel_std, sd) < 1e-12);
  arma::mat Z = f.train;
  Z.each_col() -= mean;
  Z.each_col() /= sd;
  BOOST_TEST(rel(std_run.model.W, ridge(Z)) < 1e-10);
  BOOST_TEST(std_run.certificate.weight_rel_error < 1e-12);
}

BOOST_AUTO_TEST_CASE(principal_plane_is_the_samples_own) {
  // Spread 3 along feature 0 and 1 along feature 1 (2 and 3 almost flat):
  // the directions are ±e0 and ±e1, signed to a positive largest entry.
  arma::arma_rng::set_seed(4);
  arma::mat values = arma::randn<arma::mat>(4, 400);
  values.row(0) *= 3.0;
  values.rows(2, 3) *= 1e-3;
  arma::mat test = values.cols(0, 9);
  arma::uvec labels(400), test_labels(10, arma::fill::zeros);
  for (arma::uword i = 0; i < 400; ++i) labels[i] = i % 2;
  Dataset data;
  data.shape = ImageShape{4, 1, 1};
  data.num_classes = 2;
  data.train.features = values;
  data.train.labels = labels;
  data.test.features = test;
  data.test.labels = test_labels;
  const StreamDataset view = view_dataset(data);
  Preprocessor pre;
  pre.shape = data.shape;
  pre.channel_mean.zeros(4);
  pre.channel_std.ones(4);
  const arma::mat Xs = {{1.0, -2.0}, {0.5, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
  const PrincipalPlane plane = principal_plane(view, pre, Xs, Range{0, 400}, Communicator{});
  BOOST_TEST(plane.samples.n_cols == 400u);
  // Against the covariance's eigenvectors (eig_sym, not the SVD the plane uses).
  arma::mat centred = values;
  centred.each_col() -= arma::mean(values, 1);
  arma::vec eigenvalues;
  arma::mat eigenvectors;
  BOOST_REQUIRE(arma::eig_sym(eigenvalues, eigenvectors, arma::mat(centred * centred.t())));
  for (arma::uword j = 0; j < 2; ++j) {
    arma::vec direction = eigenvectors.col(3 - j);  // ascending eigenvalues
    if (direction(arma::index_max(arma::abs(direction))) < 0) direction *= -1.0;
    BOOST_TEST(rel(plane.samples.row(j), direction.t() * centred) < 1e-10);
    BOOST_TEST(std::abs(plane.variance[j] - eigenvalues[3 - j] / arma::accu(eigenvalues)) < 1e-12);
  }
  BOOST_TEST(plane.variance[0] > 0.85);
  BOOST_TEST(plane.class_means.n_cols == 2u);
  // The class means are those of the projected samples.
  BOOST_TEST(
      std::abs(plane.class_means(0, 1) -
               arma::mean(arma::rowvec(plane.samples.row(0)).elem(arma::find(labels == 1)))) <
      1e-12);
  BOOST_TEST(plane.distilled.n_cols == 2u);
}
