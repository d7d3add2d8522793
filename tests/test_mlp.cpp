// The finite ReLU network of transfer (docs/design.md §8): its gradients by
// finite differences, and that training it learns a real task.
#define BOOST_TEST_MODULE mlp
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/mlp.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

using namespace krrdistill;
using namespace fixtures;

namespace {

// Random inputs and targets: one-hot (ce reads the class) or arbitrary
// real labels (mse uses them as given, like learned distilled labels).
struct Problem {
  arma::mat X, Y;
};

Problem small_problem(arma::uword d, arma::uword k, arma::uword n, std::uint64_t seed) {
  std::mt19937_64 rng = make_rng(seed, RngStream::noise_init);
  Problem p{gaussian_matrix(d, n, 1.0, rng), gaussian_matrix(k, n, 1.0, rng)};
  return p;
}

void check_gradient(arma::uword depth, MlpLoss loss) {
  const arma::uword d = 5, width = 7, k = 3, n = 6;
  const Problem p = small_problem(d, k, n, 11 + depth);
  Mlp net = init_mlp(d, width, depth, k, 3);
  // A non-zero output layer and biases, so that every gradient is tested
  // away from the start (with the zero read-out, the hidden layers' are 0).
  std::mt19937_64 rng = make_rng(5, RngStream::noise_init);
  net.weights.back() = gaussian_matrix(k, width, 0.5, rng);
  for (arma::vec& b : net.biases) b = gaussian_matrix(b.n_elem, 1, 0.3, rng);
  const MlpGradient grad = mlp_gradient(net, p.X, p.Y, loss);
  BOOST_TEST(grad.loss == mlp_loss(net, p.X, p.Y, loss));
  for (std::size_t l = 0; l < net.weights.size(); ++l) {
    const arma::mat dW = numeric_gradient(
        [&](const arma::mat& W) {
          Mlp moved = net;
          moved.weights[l] = W;
          return mlp_loss(moved, p.X, p.Y, loss);
        },
        net.weights[l], 1e-6);
    BOOST_TEST(relative_error(grad.weights[l], dW) < 1e-6, "weights of layer " << l);
    const arma::mat db = numeric_gradient(
        [&](const arma::mat& b) {
          Mlp moved = net;
          moved.biases[l] = arma::vectorise(b);
          return mlp_loss(moved, p.X, p.Y, loss);
        },
        arma::mat(net.biases[l]), 1e-6);
    BOOST_TEST(relative_error(arma::mat(grad.biases[l]), db) < 1e-6, "biases of layer " << l);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (arma::uword depth : {1u, 2u}) {
    check_gradient(depth, MlpLoss::mse);
    check_gradient(depth, MlpLoss::cross_entropy);
  }
}

BOOST_AUTO_TEST_CASE(losses_are_the_documented_ones) {
  // One layer, zero weights and biases: outputs 0.
  Mlp net = init_mlp(2, 3, 1, 2, 0);
  for (arma::mat& W : net.weights) W.zeros();
  const arma::mat X = {{1.0, 2.0}, {3.0, 4.0}};
  const arma::mat Y = {{1.0, 0.0}, {2.0, 1.0}};
  // ½·mean‖0 − y‖² = ½·(5 + 1)/2; ce: log 2 for each sample (uniform softmax).
  BOOST_TEST(mlp_loss(net, X, Y, MlpLoss::mse) == 1.5);
  BOOST_TEST(std::abs(mlp_loss(net, X, Y, MlpLoss::cross_entropy) - std::log(2.0)) < 1e-15);
  // ce takes the class from the label column's largest entry.
  net.biases.back() = {0.0, 1.0};
  const double ce = mlp_loss(net, X, Y, MlpLoss::cross_entropy);
  BOOST_TEST(std::abs(ce - std::log(1.0 + std::exp(-1.0))) < 1e-15);
  BOOST_TEST((parse_mlp_loss("ce") == MlpLoss::cross_entropy));
  BOOST_TEST(contains(error_of([] { parse_mlp_loss("hinge"); }), "--loss must be mse or ce"));
}

BOOST_AUTO_TEST_CASE(init_has_the_documented_scale) {
  const Mlp net = init_mlp(400, 500, 2, 10, 1);
  BOOST_TEST(net.weights.size() == 3u);
  BOOST_TEST(net.weights[0].n_rows == 500u);
  BOOST_TEST(net.weights[1].n_cols == 500u);
  BOOST_TEST(net.weights[2].n_rows == 10u);
  BOOST_TEST(std::abs(arma::stddev(arma::vectorise(net.weights[0])) - std::sqrt(2.0 / 400)) < 2e-3);
  BOOST_TEST(std::abs(arma::stddev(arma::vectorise(net.weights[1])) - std::sqrt(2.0 / 500)) < 2e-3);
  BOOST_TEST(net.weights[2].n_cols == 500u);
  BOOST_TEST(net.weights[2].is_zero());  // the read-out starts at 0
  BOOST_TEST(arma::norm(mlp_forward(net, arma::ones(400, 3)), "inf") == 0.0);
  BOOST_TEST(
      arma::approx_equal(init_mlp(400, 500, 2, 10, 1).weights[1], net.weights[1], "absdiff", 0.0));
  BOOST_TEST(
      !arma::approx_equal(init_mlp(400, 500, 2, 10, 2).weights[1], net.weights[1], "absdiff", 0.0));
}

// The trainer is known to work before it judges a distilled set: 2000
// Fashion-MNIST training images give well above 0.7 on 1000 test images
// (about 0.8; a network that does not learn stays near 0.1).
BOOST_AUTO_TEST_CASE(training_learns_fashion_mnist) {
  const Dataset data = load_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, false, 0.1);
  const arma::mat X = to_model_input(pre, data.train.pixels, 0, 2000);
  const arma::mat Y = one_hot(data.train.labels.head(2000), data.num_classes);
  const arma::mat X_test = to_model_input(pre, data.test.pixels, 0, 1000);
  const arma::uvec truth = data.test.labels.head(1000);
  auto train = [&](MlpLoss loss, int threads, std::vector<double>* losses) {
    set_threads(threads);
    MlpTrainOptions options;
    options.width = 256;
    options.epochs = 10;
    options.batch = 100;
    options.loss = loss;
    options.seed = 4;
    return train_mlp(
        X.n_rows, data.num_classes, X.n_cols,
        [&](const arma::uvec& idx, arma::mat& Xb, arma::mat& Yb) {
          Xb = X.cols(idx);
          Yb = Y.cols(idx);
        },
        options, [&](arma::uword, const Mlp&, double l) { losses->push_back(l); });
  };
  for (MlpLoss loss : {MlpLoss::mse, MlpLoss::cross_entropy}) {
    std::vector<double> losses;
    const Mlp net = train(loss, 2, &losses);
    const double acc = double(arma::accu(mlp_classes(net, X_test) == truth)) / truth.n_elem;
    BOOST_TEST_MESSAGE(mlp_loss_name(loss) << " test accuracy " << acc);
    BOOST_TEST(acc > 0.72, mlp_loss_name(loss) << " " << acc);
    BOOST_TEST_REQUIRE(losses.size() == 10u);
    BOOST_TEST(losses.back() < 0.5 * losses.front());
    // The same bits on one thread.
    std::vector<double> losses_one;
    const Mlp one = train(loss, 1, &losses_one);
    BOOST_TEST(losses_one == losses);
    for (std::size_t l = 0; l < net.weights.size(); ++l)
      BOOST_TEST(arma::approx_equal(one.weights[l], net.weights[l], "absdiff", 0.0));
  }
}
