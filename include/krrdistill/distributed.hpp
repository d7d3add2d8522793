// Processes that share one run. G, B and every count of a pass are sums over
// samples (docs/design.md §2), so each process passes over its own shard of the
// samples and the pieces are summed. Built with -DKRRDISTILL_MPI=ON this is
// MPI_COMM_WORLD; otherwise a single process, for which every collective is
// the identity. Nothing else in krrdistill knows whether MPI is there.
#pragma once

#include <armadillo>
#include <string>

#include "krrdistill/compensated_sum.hpp"

namespace krrdistill {

struct Communicator {
  int rank = 0;
  int size = 1;
  bool root() const { return rank == 0; }
};

// Whether this build talks MPI (-DKRRDISTILL_MPI=ON).
bool mpi_available();

// Starts MPI for its lifetime (when built with it and not already started)
// and finalises it at the end.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  Communicator world() const;

 private:
  [[maybe_unused]] bool owner_ = false;  // used by the MPI backend only
};

// Collectives: every process calls them in the same order, with the same
// shapes (broadcast: the root's shape is sent first).
void allreduce_sum(const Communicator& comm, arma::mat& values);
void allreduce_sum(const Communicator& comm, arma::uvec& values);
void allreduce_min(const Communicator& comm, arma::mat& values);
void broadcast(const Communicator& comm, arma::mat& values, int root = 0);
void broadcast(const Communicator& comm, double& value, int root = 0);

// Prints "error: message" (naming the rank when there are several) and ends
// every process with exit code 1: a rank that fails alone must not leave the
// others waiting in a collective.
[[noreturn]] void abort_all(const Communicator& comm, const std::string& message);

// Samples [first, last).
struct Range {
  arma::uword first = 0;
  arma::uword last = 0;
  arma::uword size() const { return last - first; }
};

// The contiguous samples that a process owns: whole blocks of `block`
// samples (the last block may be short), the counts of blocks differing by
// at most one, rank order following sample order. With block = the chunk of
// the passes, every chunk is the same set of samples whatever the number of
// processes, and so is its contribution to the statistics.
Range shard_range(arma::uword n, const Communicator& comm, arma::uword block = 1);

// Double-double addition across processes.
void allreduce_sum(const Communicator& comm, CompensatedSum& sum);

}  // namespace krrdistill
