// Number of threads of the linear algebra (OpenBLAS) and of the elementwise
// work (OpenMP).
#pragma once

namespace krrdistill {

// threads <= 0 keeps the defaults (one per core).
void set_threads(int threads);

}  // namespace krrdistill
