// Number of threads of the elementwise work (OpenMP). The linear algebra
// (OpenBLAS) always runs on one thread, so that results do not depend on the
// thread count: OpenBLAS splits GEMM, GEMV, DOT and its LAPACK routines
// (Cholesky, the eigen and singular value solvers) differently for different
// thread counts, which changes the order of the floating-point sums, so
// --threads 1 and --threads 2 would write different bits.
#pragma once
#include <string>

namespace krrdistill {

// OpenBLAS to one thread; OpenMP to `threads` (0: one per core); refuses
// values outside 0..kMaxThreads (limits.hpp).
void set_threads(int threads);

// OpenBLAS picks its kernels from the CPU model when it loads. A model newer
// than the library (a recent Xeon under Debian 12's 0.3.21) gets the generic
// SSE3 "Prescott" kernels, about four times slower than the AVX-512 ones on
// the same machine (README, Benchmarks). The kernels to name in
// OPENBLAS_CORETYPE when the chosen ones predate AVX2 but the CPU has it:
// "SkylakeX" with AVX-512 F/CD/BW/DQ/VL, "Haswell" with AVX2 and FMA; else "".
std::string blas_core_upgrade(const std::string& chosen, bool avx2_fma, bool avx512);

// OpenBLAS also starts a pool of threads when it loads, one a core, whose
// threads spin for a while before they sleep: krrdistill never gives them
// work (set_threads), and on two cores they take about a tenth of a second
// from OpenMP's at the start. A product asked of more threads later still
// starts them (OpenBLAS's pthreads build, Debian's default). Since the
// restart below then happens on every run, a tool that follows a process
// (valgrind, say) needs to follow its children too.
//
// For a program's main, before any work: when blas_core_upgrade applies to
// this process and OPENBLAS_CORETYPE is not set, or OPENBLAS_NUM_THREADS is
// not set, sets them (the kernels, and 1) and executes the program again
// with the same arguments, from /proc/self/cmdline (the only way: OpenBLAS
// reads them once, when it loads). Returns when nothing needs doing or the
// restart cannot be made.
void restart_with_fitting_blas();

}  // namespace krrdistill
