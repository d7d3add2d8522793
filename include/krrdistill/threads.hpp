// Number of threads of the linear algebra (OpenBLAS).
#pragma once

namespace krrdistill {

// threads <= 0 keeps OpenBLAS's default (one per core).
void set_blas_threads(int threads);

}  // namespace krrdistill
