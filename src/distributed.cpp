// The backend (MPI or a single process) is src/distributed/{mpi,single}.cpp,
// chosen by CMake; this file holds what does not depend on it.
#include "krrdistill/distributed.hpp"

#include <algorithm>

namespace krrdistill {

Range shard_range(arma::uword n, const Communicator& comm, arma::uword block) {
  if (block == 0) block = 1;
  const arma::uword blocks = n / block + (n % block != 0 ? 1 : 0);
  const arma::uword size = arma::uword(comm.size), rank = arma::uword(comm.rank);
  const arma::uword base = blocks / size, extra = blocks % size;
  const arma::uword first = rank * base + std::min(rank, extra);
  const arma::uword last = first + base + (rank < extra ? 1 : 0);
  return Range{std::min(n, first * block), std::min(n, last * block)};
}

}  // namespace krrdistill
