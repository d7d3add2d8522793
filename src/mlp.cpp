#include "krrdistill/mlp.hpp"

#include <cmath>
#include <utility>

#include "krrdistill/adam.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/products.hpp"
#include "krrdistill/random.hpp"

namespace krrdistill {

namespace {

// W A + b. multiply() gives the same bits for any thread count.
arma::mat affine(const arma::mat& W, const arma::vec& b, const arma::mat& A) {
  arma::mat Z = multiply(W, A);
  Z.each_col() += b;
  return Z;
}

void check_shapes(const Mlp& net, const arma::mat& X, const arma::mat* Y) {
  if (net.weights.empty() || net.weights.size() != net.biases.size())
    throw Error("mlp: the network has no layers");
  if (X.n_rows != net.weights.front().n_cols)
    throw Error("mlp: inputs of " + std::to_string(X.n_rows) + " values, the network takes " +
                std::to_string(net.weights.front().n_cols));
  if (Y != nullptr && (Y->n_rows != net.weights.back().n_rows || Y->n_cols != X.n_cols))
    throw Error("mlp: targets do not match the outputs and the inputs");
}

// The loss of outputs F against targets Y, and dLoss/dF when dF is given.
// Serial sums, so the value does not depend on the thread count.
double output_loss(const arma::mat& F, const arma::mat& Y, MlpLoss loss, arma::mat* dF) {
  const arma::uword k = F.n_rows, n = F.n_cols;
  if (n == 0) throw Error("mlp: no samples");
  const double inv_n = 1.0 / double(n);
  double total = 0;
  if (dF) dF->set_size(k, n);
  for (arma::uword j = 0; j < n; ++j) {
    const double* f = F.colptr(j);
    const double* y = Y.colptr(j);
    if (loss == MlpLoss::mse) {
      for (arma::uword i = 0; i < k; ++i) {
        const double r = f[i] - y[i];
        total += 0.5 * r * r;
        if (dF) (*dF)(i, j) = r * inv_n;
      }
      continue;
    }
    // Softmax cross-entropy against the column's class, shifted by the
    // largest output so that exp cannot overflow.
    arma::uword target = 0, top = 0;
    for (arma::uword i = 1; i < k; ++i) {
      if (y[i] > y[target]) target = i;
      if (f[i] > f[top]) top = i;
    }
    double sum = 0;
    for (arma::uword i = 0; i < k; ++i) sum += std::exp(f[i] - f[top]);
    total += std::log(sum) - (f[target] - f[top]);
    if (dF)
      for (arma::uword i = 0; i < k; ++i)
        (*dF)(i, j) = (std::exp(f[i] - f[top]) / sum - (i == target ? 1.0 : 0.0)) * inv_n;
  }
  return total * inv_n;
}

}  // namespace

MlpLoss parse_mlp_loss(const std::string& name, const std::string& option) {
  if (name == "mse") return MlpLoss::mse;
  if (name == "ce") return MlpLoss::cross_entropy;
  throw Error("--" + option + " must be mse or ce, got '" + name + "'");
}

std::string mlp_loss_name(MlpLoss loss) {
  return loss == MlpLoss::mse ? "mse" : "ce";
}

Mlp init_mlp(arma::uword input_dim, arma::uword width, arma::uword depth, arma::uword classes,
             std::uint64_t seed) {
  if (input_dim == 0 || width == 0 || classes == 0)
    throw Error("mlp: every layer needs at least one unit");
  std::mt19937_64 rng = make_rng(seed, RngStream::transfer_init);
  Mlp net;
  arma::uword fan_in = input_dim;
  for (arma::uword l = 0; l < depth; ++l) {
    net.weights.push_back(gaussian_matrix(width, fan_in, std::sqrt(2.0 / double(fan_in)), rng));
    net.biases.push_back(arma::zeros<arma::vec>(width));
    fan_in = width;
  }
  // A zero read-out, so the untrained network is 0 everywhere: a random one
  // adds a random function that a few training images cannot remove from
  // the test predictions (docs/design.md §8).
  net.weights.push_back(arma::zeros<arma::mat>(classes, fan_in));
  net.biases.push_back(arma::zeros<arma::vec>(classes));
  return net;
}

arma::mat mlp_forward(const Mlp& net, const arma::mat& X) {
  check_shapes(net, X, nullptr);
  arma::mat A = X;
  const std::size_t L = net.weights.size() - 1;
  for (std::size_t l = 0; l < L; ++l)
    A = arma::clamp(affine(net.weights[l], net.biases[l], A), 0.0, arma::datum::inf);
  return affine(net.weights[L], net.biases[L], A);
}

MlpGradient mlp_gradient(const Mlp& net, const arma::mat& X, const arma::mat& Y, MlpLoss loss) {
  check_shapes(net, X, &Y);
  const std::size_t L = net.weights.size() - 1;
  // activations[l] is the input of layer l (activations[0] = X).
  std::vector<arma::mat> activations;
  activations.reserve(L + 1);
  activations.push_back(X);
  for (std::size_t l = 0; l < L; ++l)
    activations.push_back(
        arma::clamp(affine(net.weights[l], net.biases[l], activations[l]), 0.0, arma::datum::inf));
  const arma::mat F = affine(net.weights[L], net.biases[L], activations[L]);
  MlpGradient grad;
  arma::mat dZ;
  grad.loss = output_loss(F, Y, loss, &dZ);
  grad.weights.resize(L + 1);
  grad.biases.resize(L + 1);
  for (std::size_t l = L + 1; l-- > 0;) {
    // dW = dZ Aᵀ: one single-threaded BLAS call (threads.hpp), the same bits
    // for any thread count, without transposed copies of A or of the result.
    grad.weights[l] = dZ * activations[l].t();
    grad.biases[l] = arma::sum(dZ, 1);
    if (l == 0) break;
    arma::mat dA = multiply_transposed(net.weights[l], dZ);
    // ReLU passes the gradient where its input was positive, i.e. where its output is.
    dA.elem(arma::find(activations[l] <= 0)).zeros();
    dZ = std::move(dA);
  }
  return grad;
}

double mlp_loss(const Mlp& net, const arma::mat& X, const arma::mat& Y, MlpLoss loss) {
  check_shapes(net, X, &Y);
  return output_loss(mlp_forward(net, X), Y, loss, nullptr);
}

arma::uvec mlp_classes(const Mlp& net, const arma::mat& X) {
  const arma::mat F = mlp_forward(net, X);
  arma::uvec classes(F.n_cols);
  for (arma::uword j = 0; j < F.n_cols; ++j) classes[j] = F.col(j).index_max();
  return classes;
}

Mlp train_mlp(arma::uword input_dim, arma::uword classes, arma::uword n,
              const MlpBatchSource& samples, const MlpTrainOptions& options,
              const MlpEpochCallback& on_epoch) {
  if (n == 0) throw Error("mlp: no training samples");
  if (options.batch == 0) throw Error("mlp: the batch size must be at least 1");
  Mlp net = init_mlp(input_dim, options.width, options.depth, classes, options.seed);
  std::mt19937_64 rng = make_rng(options.seed, RngStream::transfer_batches);
  const std::size_t layers = net.weights.size();
  std::vector<Adam> adam_w(layers), adam_b(layers);
  for (std::size_t l = 0; l < layers; ++l) adam_w[l].lr = adam_b[l].lr = options.lr;
  arma::uvec order = arma::regspace<arma::uvec>(0, n - 1);
  arma::mat X, Y;
  for (arma::uword epoch = 1; epoch <= options.epochs; ++epoch) {
    if (n > options.batch)
      // Fisher–Yates with our own index draws (the same on every platform).
      for (arma::uword i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    double loss_sum = 0;
    for (arma::uword first = 0; first < n; first += options.batch) {
      const arma::uword count = std::min(options.batch, n - first);
      samples(order.subvec(first, first + count - 1), X, Y);
      const MlpGradient grad = mlp_gradient(net, X, Y, options.loss);
      if (!std::isfinite(grad.loss))
        throw Error("the network diverged at epoch " + std::to_string(epoch) +
                    " (non-finite loss); lower its learning rate");
      loss_sum += grad.loss * double(count);
      for (std::size_t l = 0; l < layers; ++l) {
        adam_step(adam_w[l], net.weights[l], grad.weights[l]);
        adam_step(adam_b[l], net.biases[l], grad.biases[l]);
      }
    }
    // A last step can still overflow the weights without a loss to show it.
    for (const arma::mat& W : net.weights)
      if (!W.is_finite())
        throw Error("the network diverged at epoch " + std::to_string(epoch) +
                    " (non-finite weights); lower its learning rate");
    if (on_epoch) on_epoch(epoch, net, loss_sum / double(n));
  }
  return net;
}

}  // namespace krrdistill
