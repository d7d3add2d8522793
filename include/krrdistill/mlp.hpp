// A finite fully-connected ReLU network trained with Adam, the network that
// `krrdistill transfer` trains on a distilled set (docs/design.md §8).
// Samples are columns, as everywhere: X is d×n, targets and outputs k×n.
#pragma once

#include <armadillo>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace krrdistill {

enum class MlpLoss {
  mse,            // ½·mean over samples of ‖f(x) − y‖², y the labels as given
  cross_entropy,  // mean of −log softmax(f(x))[c], c = argmax of the label column
};
// "mse" or "ce"; an Error naming --option otherwise.
MlpLoss parse_mlp_loss(const std::string& name, const std::string& option = "loss");
std::string mlp_loss_name(MlpLoss loss);

// depth hidden layers of width units (ReLU, with biases), then a linear
// output layer of k units. Layer l maps h_{l-1} to W_l h_{l-1} + b_l.
struct Mlp {
  std::vector<arma::mat> weights;  // depth + 1 matrices, fan_out × fan_in
  std::vector<arma::vec> biases;   // depth + 1
};

// He-normal hidden layers (N(0, 2/fan_in), ReLU keeps the variance; the
// numbers come from the seed's transfer_init stream), a zero output layer
// (the untrained network outputs 0), zero biases.
Mlp init_mlp(arma::uword input_dim, arma::uword width, arma::uword depth, arma::uword classes,
             std::uint64_t seed);

// Outputs f(X), k×n.
arma::mat mlp_forward(const Mlp& net, const arma::mat& X);

// The loss on (X, Y) and its gradient with respect to every parameter
// (same layout as the network), by backpropagation.
struct MlpGradient {
  double loss = 0;
  std::vector<arma::mat> weights;
  std::vector<arma::vec> biases;
};
MlpGradient mlp_gradient(const Mlp& net, const arma::mat& X, const arma::mat& Y, MlpLoss loss);
double mlp_loss(const Mlp& net, const arma::mat& X, const arma::mat& Y, MlpLoss loss);

// Predicted class of each column: argmax of the outputs, ties to the lower class.
arma::uvec mlp_classes(const Mlp& net, const arma::mat& X);

struct MlpTrainOptions {
  arma::uword width = 1024;
  arma::uword depth = 1;
  arma::uword epochs = 100;
  arma::uword batch = 256;  // a set of at most batch samples is one full batch
  double lr = 1e-3;         // Adam's step size
  MlpLoss loss = MlpLoss::mse;
  std::uint64_t seed = 0;  // initial weights and minibatch order
};

// Fills X (d×count) and Y (k×count) with the training samples of the given
// indices, so that a large set can be converted batch by batch.
using MlpBatchSource = std::function<void(const arma::uvec& indices, arma::mat& X, arma::mat& Y)>;
// Called after each epoch (1-based) with the network and the mean training
// loss of the epoch's steps (each taken before its step, weighted by batch size).
using MlpEpochCallback = std::function<void(arma::uword epoch, const Mlp& net, double train_loss)>;

// One training run: init_mlp, then epochs passes over the n samples, in
// shuffled minibatches (the seed's transfer_batches stream, a new order each
// epoch) unless n <= batch, each followed by one Adam step per parameter.
// Throws Error when the loss or the weights stop being finite.
Mlp train_mlp(arma::uword input_dim, arma::uword classes, arma::uword n,
              const MlpBatchSource& samples, const MlpTrainOptions& options,
              const MlpEpochCallback& on_epoch = {});

}  // namespace krrdistill
