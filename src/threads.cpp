#include "krrdistill/threads.hpp"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "krrdistill/limits.hpp"
#include "krrdistill/tuned_environment.hpp"

namespace krrdistill {

void set_threads(int threads) {
  check_threads(threads);  // before any OpenMP team is sized from it
  // One BLAS thread also keeps OpenBLAS's pool from competing with OpenMP's.
  openblas_set_num_threads(1);
  omp_set_num_threads(threads > 0 ? threads : std::min(omp_get_num_procs(), kMaxThreads));
}

std::string blas_core_upgrade(const std::string& chosen, bool avx2_fma, bool avx512) {
  // OpenBLAS's x86 cores without AVX2 kernels (its names, lower-cased).
  static const char* const kOlder[] = {
      "unknown",   "katmai",       "coppermine",  "northwood",  "prescott",    "banias",
      "atom",      "core2",        "penryn",      "dunnington", "nehalem",     "athlon",
      "opteron",   "opteron_sse3", "barcelona",   "nano",       "sandybridge", "bobcat",
      "bulldozer", "piledriver",   "steamroller", "excavator"};
  std::string name;
  for (char c : chosen) name += char(std::tolower(static_cast<unsigned char>(c)));
  bool older = false;
  for (const char* core : kOlder) older = older || name == core;
  if (!older) return "";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

void restart_with_tuned_libraries() {
  // Each variable set is the user's choice, or a launch or restart that set it.
  const MissingTuning missing = missing_tuning();
  std::string core;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    __builtin_cpu_init();
    const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
    const char* chosen = openblas_get_corename();
    core = blas_core_upgrade(chosen != nullptr ? chosen : "", avx2_fma, avx512);
  }
  if (!missing.any() && core.empty()) return;
  std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(cmdline)),
                         std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\0', at), text.size());
    args.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  if (args.empty()) return;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Either failing (a setenv or the exec): carry on with the kernels and
  // the pool there are, the environment as it was.
  if ((core.empty() || setenv("OPENBLAS_CORETYPE", core.c_str(), 1) == 0) && set_tuning(missing)) {
    execv("/proc/self/exe", argv.data());
    unset_tuning(missing);
  }
  if (!core.empty()) unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace krrdistill
