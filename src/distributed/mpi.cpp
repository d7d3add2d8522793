// MPI_COMM_WORLD (built with -DKRRDISTILL_MPI=ON).
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "krrdistill/distributed.hpp"
#include "krrdistill/error.hpp"

namespace krrdistill {

namespace {

// MPI counts are int: large matrices (p×p for p ≥ 46341) go in pieces.
constexpr std::size_t kPiece = std::size_t(1) << 28;

void check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw Error(std::string("MPI: ") + what + " failed");
}

// count elements of type, each width values of T.
template <typename T>
void allreduce(T* data, std::size_t count, MPI_Datatype type, MPI_Op op, std::size_t width = 1) {
  for (std::size_t done = 0; done < count; done += kPiece) {
    const int piece = int(std::min(kPiece, count - done));
    check(MPI_Allreduce(MPI_IN_PLACE, data + done * width, piece, type, op, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
}

// The MPI reduction of compensated sums (compensated_sum.hpp).
void add_pairs(void* in, void* inout, int* count, MPI_Datatype*) {
  krrdistill::add_pairs(static_cast<const double*>(in), static_cast<double*>(inout),
                        std::size_t(*count));
}

}  // namespace

bool mpi_available() {
  return true;
}

MpiSession::MpiSession() {
  int started = 0;
  MPI_Initialized(&started);
  if (!started) {
    check(MPI_Init(nullptr, nullptr), "MPI_Init");
    owner_ = true;
  }
}

MpiSession::~MpiSession() {
  int finished = 0;
  MPI_Finalized(&finished);
  if (owner_ && !finished) MPI_Finalize();
}

Communicator MpiSession::world() const {
  Communicator comm;
  MPI_Comm_rank(MPI_COMM_WORLD, &comm.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &comm.size);
  return comm;
}

void allreduce_sum(const Communicator& comm, arma::mat& values) {
  if (comm.size > 1) allreduce(values.memptr(), values.n_elem, MPI_DOUBLE, MPI_SUM);
}

void allreduce_sum(const Communicator& comm, arma::uvec& values) {
  static_assert(sizeof(arma::uword) == sizeof(std::uint64_t), "64-bit arma::uword expected");
  if (comm.size > 1) allreduce(values.memptr(), values.n_elem, MPI_UINT64_T, MPI_SUM);
}

void allreduce_sum(const Communicator& comm, CompensatedSum& sum) {
  if (comm.size == 1) return;
  MPI_Datatype pair;
  MPI_Op op;
  check(MPI_Type_contiguous(2, MPI_DOUBLE, &pair), "MPI_Type_contiguous");
  MPI_Type_commit(&pair);
  check(MPI_Op_create(&add_pairs, 1, &op), "MPI_Op_create");
  allreduce(sum.pairs.memptr(), sum.pairs.n_cols, pair, op, 2);
  MPI_Op_free(&op);
  MPI_Type_free(&pair);
}

void allreduce_min(const Communicator& comm, arma::mat& values) {
  if (comm.size > 1) allreduce(values.memptr(), values.n_elem, MPI_DOUBLE, MPI_MIN);
}

void broadcast(const Communicator& comm, arma::mat& values, int root) {
  if (comm.size == 1) return;
  std::uint64_t shape[2] = {values.n_rows, values.n_cols};
  check(MPI_Bcast(shape, 2, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  if (comm.rank != root) values.set_size(shape[0], shape[1]);
  double* data = values.memptr();
  for (std::size_t done = 0; done < values.n_elem; done += kPiece) {
    const int piece = int(std::min<std::size_t>(kPiece, values.n_elem - done));
    check(MPI_Bcast(data + done, piece, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
}

void broadcast(const Communicator& comm, double& value, int root) {
  if (comm.size > 1) check(MPI_Bcast(&value, 1, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void abort_all(const Communicator& comm, const std::string& message) {
  if (comm.size > 1)
    std::fprintf(stderr, "error: rank %d of %d: %s\n", comm.rank, comm.size, message.c_str());
  else
    std::fprintf(stderr, "error: %s\n", message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace krrdistill
