#include "krrdistill/threads.hpp"

#include <cblas.h>

namespace krrdistill {

void set_blas_threads(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
}

}  // namespace krrdistill
