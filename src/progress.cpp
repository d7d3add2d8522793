#include "krrdistill/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace krrdistill {

Progress Progress::for_terminal(bool quiet) {
  return Progress(!quiet && isatty(STDERR_FILENO));
}

void Progress::update(const std::string& phase, double fraction) const {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s %3d%%", phase.c_str(), int(100.0 * fraction + 0.5));
  std::fflush(stderr);
}

void Progress::status(const std::string& line) const {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::finish() const {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace krrdistill
