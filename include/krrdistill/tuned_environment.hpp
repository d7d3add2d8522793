// Two settings the libraries read once, as they load, so that only a
// program's environment can carry them. Libc alone: the krrdistill command's
// launcher (tools/launcher.cpp) sets them without loading the libraries, and
// restart_with_tuned_libraries (threads.hpp) where no launcher did.
#pragma once

namespace krrdistill {

// OpenBLAS starts a pool of threads when it loads, one a core, whose
// threads spin for a while before they sleep: krrdistill never gives them
// work (set_threads, threads.hpp), and on two cores they take about a tenth
// of a second from OpenMP's at the start. OPENBLAS_NUM_THREADS=1 keeps the
// pool empty; a product asked of more threads later still starts them
// (OpenBLAS's pthreads build, Debian's default).
//
// A run also fills a few hundred MB of fresh memory (the pixels, the
// feature cache, the chunks), 4 KiB a page fault by default. Where the
// kernel gives transparent huge pages to the memory that asks for them
// (its usual "madvise" setting), glibc's malloc (2.35 or later) asks for
// them under kMallocHugePages: 2 MiB a fault. On a virtual machine whose
// page faults cost about 10 µs each, a linear run went from 0.70 s to
// 0.54 s and an RFF one from 2.19 s to 1.64 s, with the populated buffers
// of memory.hpp (README, Benchmarks).
inline constexpr char kMallocHugePages[] = "glibc.malloc.hugetlb=1";  // for GLIBC_TUNABLES

// Which of the two the environment lacks. A user's own value is kept, and
// GLIBC_TUNABLES counts as present in secure mode (setuid, capabilities),
// where glibc may take it out of the environment: setting it there could
// restart a program for ever.
struct MissingTuning {
  bool blas_pool = false;
  bool malloc_pages = false;
  bool any() const { return blas_pool || malloc_pages; }
};
MissingTuning missing_tuning();

// Sets what `missing` names (OPENBLAS_NUM_THREADS=1,
// GLIBC_TUNABLES=kMallocHugePages). If a setenv fails, unsets what it set
// and returns false.
bool set_tuning(const MissingTuning& missing);

// Unsets what `missing` names: the environment as it was before set_tuning.
void unset_tuning(const MissingTuning& missing);

}  // namespace krrdistill
