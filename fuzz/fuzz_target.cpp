// One libFuzzer target per reader, chosen at compile time with
// KRRDISTILL_FUZZ_TARGET (idx, cifar10, cifar100, npy, report, statistics);
// see harness.hpp for the input layout and fuzz/CMakeLists.txt for the build.
//
//   fuzz_idx --write-seeds=DIR   writes the seed corpus (valid inputs) and exits
//   fuzz_idx [libFuzzer flags] CORPUS...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness.hpp"

namespace {

using krrdistill_fuzz::Harness;
using krrdistill_fuzz::Target;

constexpr Target kTarget = Target::KRRDISTILL_FUZZ_TARGET;

std::filesystem::path scratch_base() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? std::filesystem::path(tmp)
                                        : std::filesystem::path("/tmp");
}

Harness& harness() {
  static Harness h(kTarget, scratch_base());
  return h;
}

// Seeds are generated rather than committed: they follow the fixtures in
// harness.hpp and stay valid when those change.
void write_seeds(const std::string& dir) {
  std::filesystem::create_directories(dir);
  int i = 0;
  for (const auto& seed : harness().seeds()) {
    const std::string path = dir + "/seed-" + std::to_string(i++);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(seed.data()), std::streamsize(seed.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      std::exit(1);
    }
  }
  std::printf("%d seeds for %s in %s\n", i, krrdistill_fuzz::target_name(kTarget), dir.c_str());
}

}  // namespace

// libFuzzer leaves flags starting with "--" to the target.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const char* flag = "--write-seeds=";
  for (int i = 1; i < *argc; ++i)
    if (std::strncmp((*argv)[i], flag, std::strlen(flag)) == 0) {
      write_seeds((*argv)[i] + std::strlen(flag));
      std::exit(0);
    }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A krrdistill::Error is the expected refusal; any other exception is a
  // finding, reported by letting it end the process.
  try {
    harness().run(data, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uncaught exception (not krrdistill::Error): %s\n", e.what());
    std::abort();
  }
  return 0;
}
