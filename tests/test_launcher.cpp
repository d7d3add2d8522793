// The krrdistill command's launcher (tools/launcher.cpp): it hands its
// arguments to krrdistill-main beside it with the library settings of
// tuned_environment.hpp set, keeps a user's own values, and without the
// program, or with itself in its place, refuses in one line. A stand-in
// program (a shell script) prints what it received.
#define BOOST_TEST_MODULE launcher
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"
#include "krrdistill/tuned_environment.hpp"

using namespace fixtures;

namespace {

struct Launcher {
  TempDir scratch{"launcher"};
  std::string launcher = scratch.file("krrdistill");
  Launcher() {
    fs::copy_file(KRRDISTILL_CLI, launcher);
    fs::permissions(launcher, fs::perms::owner_exec, fs::perm_options::add);
  }
  void add_program() const {
    const std::string program = scratch.file("krrdistill-main");
    write_text(program,
               "#!/bin/sh\n"
               "for arg in \"$@\"; do echo \"arg: $arg\"; done\n"
               "echo \"pool: ${OPENBLAS_NUM_THREADS-unset}\"\n"
               "echo \"tunables: ${GLIBC_TUNABLES-unset}\"\n");
    fs::permissions(program, fs::perms::owner_exec, fs::perm_options::add);
  }
  // Runs the launcher under `environment` (env's arguments) with arguments.
  RunResult run(const std::string& environment) const {
    const std::string out = scratch.file("stdout.txt"), err = scratch.file("stderr.txt");
    const int status = std::system(("env " + environment + " '" + launcher +
                                    "' distill 'two words' --quiet >'" + out + "' 2>'" + err + "'")
                                       .c_str());
    return RunResult{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_launcher_sets_what_is_missing_and_passes_the_arguments) {
  Launcher l;
  l.add_program();
  const RunResult r = l.run("-u OPENBLAS_NUM_THREADS -u GLIBC_TUNABLES");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.err == "");
  BOOST_TEST(r.out == std::string("arg: distill\narg: two words\narg: --quiet\npool: 1\n"
                                  "tunables: ") +
                          krrdistill::kMallocHugePages + "\n");
}

BOOST_AUTO_TEST_CASE(the_launcher_keeps_a_users_own_settings) {
  Launcher l;
  l.add_program();
  const RunResult r = l.run("OPENBLAS_NUM_THREADS=3 GLIBC_TUNABLES=glibc.malloc.check=0");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == "arg: distill\narg: two words\narg: --quiet\npool: 3\n"
                      "tunables: glibc.malloc.check=0\n");
}

BOOST_AUTO_TEST_CASE(a_launcher_without_its_program_refuses_in_one_line) {
  Launcher l;
  check_refusal(l.run(""), "krrdistill-main");
}

// A program beside it that is the launcher itself (a link) would run for ever.
BOOST_AUTO_TEST_CASE(a_launcher_that_would_run_itself_refuses_in_one_line) {
  Launcher l;
  fs::create_symlink("krrdistill", l.scratch.file("krrdistill-main"));
  check_refusal(l.run(""), "krrdistill-main");
}
