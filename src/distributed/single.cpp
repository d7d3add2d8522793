// One process (built without MPI): every collective is the identity.
#include <cstdio>
#include <cstdlib>

#include "krrdistill/distributed.hpp"

namespace krrdistill {

bool mpi_available() {
  return false;
}

MpiSession::MpiSession() = default;
MpiSession::~MpiSession() = default;
Communicator MpiSession::world() const {
  return Communicator{};
}

void allreduce_sum(const Communicator&, arma::mat&) {}
void allreduce_sum(const Communicator&, arma::uvec&) {}
void allreduce_min(const Communicator&, arma::mat&) {}
void allreduce_sum(const Communicator&, CompensatedSum&) {}
void broadcast(const Communicator&, arma::mat&, int) {}
void broadcast(const Communicator&, double&, int) {}

void abort_all(const Communicator&, const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

}  // namespace krrdistill
