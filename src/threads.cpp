#include "krrdistill/threads.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "krrdistill/limits.hpp"

namespace krrdistill {

void set_threads(int threads) {
  check_threads(threads);  // before any OpenMP team is sized from it
  // One BLAS thread also keeps OpenBLAS's pool from competing with OpenMP's.
  openblas_set_num_threads(1);
  omp_set_num_threads(threads > 0 ? threads : std::min(omp_get_num_procs(), kMaxThreads));
}

}  // namespace krrdistill
