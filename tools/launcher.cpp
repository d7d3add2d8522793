// The krrdistill command: sets the settings the libraries read as they load
// (tuned_environment.hpp) and replaces itself with the program beside it,
// krrdistill-main (tools/krrdistill.cpp), so that the two stay together.
// Libc alone, so that the libraries load once a run: a program that
// restarts itself for them loads them twice, 0.018 s of processor time
// (README, Benchmarks). The program still restarts itself once where
// OpenBLAS's kernels need choosing (threads.hpp), which takes OpenBLAS
// loaded to tell.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "krrdistill/tuned_environment.hpp"

namespace {

constexpr char kProgram[] = "krrdistill-main";

// One error line (no path in it: a folder's name may hold a line break).
int refuse(const char* what, int error) {
  std::fprintf(stderr, "error: %s %s beside this launcher: %s\n", what, kProgram,
               std::strerror(error));
  return 1;
}

}  // namespace

int main(int, char** argv) {
  char path[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path);
  if (length <= 0) return refuse("cannot find", errno);
  if (std::size_t(length) >= sizeof path) return refuse("cannot find", ENAMETOOLONG);
  path[length] = '\0';
  char* const slash = std::strrchr(path, '/');
  if (slash == nullptr) return refuse("cannot find", ENOENT);
  const std::size_t directory = std::size_t(slash - path) + 1;
  if (directory + sizeof kProgram > sizeof path) return refuse("cannot find", ENAMETOOLONG);
  std::memcpy(path + directory, kProgram, sizeof kProgram);
  // A program that is this launcher (a link or a copy) would run for ever.
  struct stat self, program;
  if (stat("/proc/self/exe", &self) == 0 && stat(path, &program) == 0 &&
      self.st_dev == program.st_dev && self.st_ino == program.st_ino)
    return refuse("cannot run", ELOOP);
  // A setting left unset here (a failed setenv) the program's own restart
  // sets (threads.hpp).
  krrdistill::set_tuning(krrdistill::missing_tuning());
  execv(path, argv);
  return refuse("cannot run", errno);
}
