#include "krrdistill/tuned_environment.hpp"

#include <sys/auxv.h>

#include <cstdlib>

namespace krrdistill {

MissingTuning missing_tuning() {
  MissingTuning missing;
  missing.blas_pool = std::getenv("OPENBLAS_NUM_THREADS") == nullptr;
  missing.malloc_pages = std::getenv("GLIBC_TUNABLES") == nullptr && getauxval(AT_SECURE) == 0;
  return missing;
}

bool set_tuning(const MissingTuning& missing) {
  const bool pool = !missing.blas_pool || setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0;
  const bool pages = !missing.malloc_pages || setenv("GLIBC_TUNABLES", kMallocHugePages, 1) == 0;
  if (pool && pages) return true;
  unset_tuning(missing);
  return false;
}

void unset_tuning(const MissingTuning& missing) {
  if (missing.blas_pool) unsetenv("OPENBLAS_NUM_THREADS");
  if (missing.malloc_pages) unsetenv("GLIBC_TUNABLES");
}

}  // namespace krrdistill
