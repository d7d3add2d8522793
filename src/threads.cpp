#include "krrdistill/threads.hpp"

#include <cblas.h>
#include <omp.h>

namespace krrdistill {

void set_threads(int threads) {
  if (threads <= 0) return;
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
}

}  // namespace krrdistill
