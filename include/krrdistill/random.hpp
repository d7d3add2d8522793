// Seeded random numbers. Every random choice of a run derives from --seed and
// a named stream, so that changing one part never shifts another's numbers,
// and the same seed gives byte-identical output.
#pragma once

#include <armadillo>
#include <cstdint>
#include <random>

namespace krrdistill {

// Independent streams of one run.
enum class RngStream : std::uint64_t {
  validation_split = 1,
  feature_map = 2,
  noise_init = 3,
  real_init = 4,
  kip_batches = 5,
  kip_init = 6,
  transfer_init = 7,     // weights of a finite network (transfer.hpp)
  transfer_batches = 8,  // its minibatch order
  transfer_subset = 9,   // the real images it is compared with
};

// A generator for (seed, stream): splitmix64 of both, fed to mt19937_64.
std::mt19937_64 make_rng(std::uint64_t seed, RngStream stream);

// rows×cols of i.i.d. N(0, stddev²), filled column by column.
arma::mat gaussian_matrix(arma::uword rows, arma::uword cols, double stddev, std::mt19937_64& rng);

// n values uniform on [low, high).
arma::vec uniform_vector(arma::uword n, double low, double high, std::mt19937_64& rng);

}  // namespace krrdistill
