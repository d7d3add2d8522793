// Number of threads of the elementwise work (OpenMP). The linear algebra
// (OpenBLAS) always runs on one thread, so that results do not depend on the
// thread count: OpenBLAS splits GEMM, GEMV, DOT and its LAPACK routines
// (Cholesky, the eigen and singular value solvers) differently for different
// thread counts, which changes the order of the floating-point sums, so
// --threads 1 and --threads 2 would write different bits.
#pragma once

namespace krrdistill {

// OpenBLAS to one thread; OpenMP to `threads` (0: one per core); refuses
// values outside 0..kMaxThreads (limits.hpp).
void set_threads(int threads);

}  // namespace krrdistill
