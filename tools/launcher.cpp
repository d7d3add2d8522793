// The krrdistill command: sets the settings the libraries read as they load
// (tuned_environment.hpp) and replaces itself with the program beside it,
// krrdistill-main (tools/krrdistill.cpp). Libc alone, so that the libraries
// load once a run: a program that restarts itself for them loads them twice,
// about 15 ms of a 0.4 s linear run (README, Benchmarks).
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "krrdistill/tuned_environment.hpp"

int main(int, char** argv) {
  static const char kProgram[] = "krrdistill-main";
  char path[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length > 0) path[length] = '\0';
  const char* slash = length > 0 ? std::strrchr(path, '/') : nullptr;
  const std::size_t directory = slash != nullptr ? std::size_t(slash - path) + 1 : 0;
  if (directory == 0 || directory + sizeof kProgram > sizeof path) {
    std::fputs("error: cannot find the krrdistill program beside this launcher\n", stderr);
    return 1;
  }
  std::memcpy(path + directory, kProgram, sizeof kProgram);
  // A setting left unset here (a failed setenv) the program's own restart
  // sets (threads.hpp).
  krrdistill::set_tuning(krrdistill::missing_tuning());
  execv(path, argv);
  std::fprintf(stderr, "error: cannot run %s: %s\n", path, std::strerror(errno));
  return 1;
}
