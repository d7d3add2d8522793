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

// For a program's main, before any work: when blas_core_upgrade applies to
// this process and OPENBLAS_CORETYPE is not set, or the settings of
// tuned_environment.hpp are missing, sets them and executes the program
// again with the same arguments, from /proc/self/cmdline (the only way: the
// libraries read them once, when they load). Returns when nothing needs
// doing or the restart cannot be made. The krrdistill command's launcher
// sets the latter first, so that its program restarts only for the kernels;
// a tool that follows a process (valgrind, say) needs to follow its
// children too.
void restart_with_tuned_libraries();

}  // namespace krrdistill
