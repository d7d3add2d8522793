#include "krrdistill/threads.hpp"

#include <cblas.h>
#include <omp.h>

namespace krrdistill {

void set_threads(int threads) {
  // One BLAS thread also keeps OpenBLAS's pool from competing with OpenMP's.
  openblas_set_num_threads(1);
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
}

}  // namespace krrdistill
