// The krrdistill command line: load -> preprocess -> features -> statistics
// -> fit -> distill -> invert -> certify -> write (docs/design.md §5). One file per
// command (cmd_*.cpp); this one dispatches and turns errors into one line.
#include <cstdio>
#include <cxxopts.hpp>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <exception>
#include <new>
#include <string>

#include "cli_common.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/threads.hpp"
#include "signals.hpp"

using namespace krrdistill;
using namespace krrdistill::cli;

namespace {

const char* kUsage =
    "usage: krrdistill <command> [options]\n"
    "\n"
    "commands:\n"
    "  distill   exact analytic distillation of a KRR model, with a certificate\n"
    "  stats     a dataset's sufficient statistics to one file, for distill --stats\n"
    "  eval      refit KRR on a distilled set and print its test accuracy\n"
    "  kip       the iterative baseline: Kernel Inducing Points (Adam)\n"
    "  labelsolve closed-form labels for a real class-balanced subset\n"
    "  compare   analytic and KIP side by side: table, compare.json, compare.png\n"
    "  transfer  train a finite ReLU network on a distilled set against real subsets\n"
    "\n"
    "Run 'krrdistill <command> --help' for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  restart_with_tuned_libraries();
#ifdef __GLIBC__
  // The passes allocate and free chunk-sized matrices (tens of MB) each
  // chunk; by default glibc maps each afresh and returns it at once, and the
  // page faults cost about a tenth of an FCNN run. Keep them in the heap.
  // A fixed trim threshold also fixes the mmap one, so only together. Not
  // above 128 MB: the feature cache (188 MB on Fashion-MNIST) is mapped
  // apart, so the matrices allocated after it reuse what the fit pass freed
  // in the heap instead of stacking above the cache.
  if (mallopt(M_MMAP_THRESHOLD, 128 << 20) == 1) mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  const std::string command = argv[1];
  install_termination_handlers();
  try {
    // The command's own options follow it; cxxopts sees "krrdistill <command> ...".
    if (command == "distill") return run_distill(argc - 1, argv + 1);
    if (command == "stats") return run_stats(argc - 1, argv + 1);
    if (command == "eval") return run_eval(argc - 1, argv + 1);
    if (command == "kip") return run_kip_command(argc - 1, argv + 1);
    if (command == "labelsolve") return run_labelsolve(argc - 1, argv + 1);
    if (command == "compare") return run_compare(argc - 1, argv + 1);
    if (command == "transfer") return run_transfer_command(argc - 1, argv + 1);
    if (command == "-h" || command == "--help" || command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    // One line, as for every other bad input.
    std::fprintf(
        stderr,
        "error: unknown command '%s'; commands: distill, stats, eval, kip, labelsolve, compare, "
        "transfer "
        "(krrdistill --help)\n",
        printable(command).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
  } catch (const std::exception& e) {
    // Errors, cxxopts' and the library's: whole and on one line.
    std::fprintf(stderr, "error: %s\n", error_text(e).c_str());
  }
  return 1;
}
