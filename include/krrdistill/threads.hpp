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
// starts them (OpenBLAS's pthreads build, Debian's default).
//
// A run also fills a few hundred MB of fresh memory (the pixels, the
// feature cache, the chunks), 4 KiB a page fault by default. Where the
// kernel gives transparent huge pages to the memory that asks for them
// (its usual "madvise" setting), glibc's malloc (2.35 or later) asks for
// them under kMallocHugePages: 2 MiB a fault. On a virtual machine whose
// page faults cost about 10 µs each, a linear run went from 0.70 s to
// 0.54 s and an RFF one from 2.19 s to 1.64 s, with the populated buffers
// of memory.hpp (README, Benchmarks).
extern const char* const kMallocHugePages;  // the GLIBC_TUNABLES setting

// For a program's main, before any work: when blas_core_upgrade applies to
// this process and OPENBLAS_CORETYPE is not set, or OPENBLAS_NUM_THREADS or
// GLIBC_TUNABLES is not set, sets them (the kernels, 1 and kMallocHugePages)
// and executes the program again with the same arguments, from
// /proc/self/cmdline (the only way: both libraries read them once, when they
// load). Returns when nothing needs doing or the restart cannot be made.
// Since the restart then happens on every run, a tool that follows a process
// (valgrind, say) needs to follow its children too.
void restart_with_tuned_libraries();

}  // namespace krrdistill
