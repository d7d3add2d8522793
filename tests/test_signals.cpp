// Outputs are atomic (src/output_dir.cpp, with the command line's signal
// handlers of tools/signals.cpp): `krrdistill distill` on the real
// Fashion-MNIST, interrupted by SIGINT or SIGTERM early (while loading) and
// late (while the files are being written), leaves no partial file and no
// staging folder, and an existing --out folder stays as it was (or, when the
// signal lands in the final renames, is wholly replaced: the handler defers
// it until the new folder is in place). An existing folder is replaced only
// with --force.
#define BOOST_TEST_MODULE signals
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "fixtures.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/output_dir.hpp"
#include "signals.hpp"

using namespace fixtures;
namespace bdata = boost::unit_test::data;

namespace {

using Clock = std::chrono::steady_clock;
using Snapshot = std::map<std::string, std::string>;  // file name -> bytes

// Starts the CLI with fork/exec (no shell, so the signal reaches it), with the
// termination signals at their defaults whatever the test runner set.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all{KRRDISTILL_CLI};
  all.insert(all.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

Snapshot snapshot(const std::string& dir) {
  Snapshot files;
  for (const auto& entry : fs::directory_iterator(dir))
    files[entry.path().filename().string()] = read_text(entry.path().string());
  return files;
}

// Hidden entries beside --out (staging folder, moved-aside old folder) or
// temporary files inside it.
std::vector<std::string> leftovers(const TempDir& scratch, const std::string& out) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(scratch.path)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".out", 0) == 0) found.push_back(name);
  }
  if (fs::exists(out))
    for (const auto& entry : fs::directory_iterator(out)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".tmp.") != std::string::npos) found.push_back("out/" + name);
    }
  return found;
}

std::string listed(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& n : names) text += (text.empty() ? "" : ", ") + n;
  return text;
}

// An --out folder from an earlier run (made up: its content is what matters;
// its report lists its files, so that --force may replace it).
Snapshot make_old_out(const std::string& out) {
  fs::create_directories(out);
  write_text(out + "/report.json",
             R"({"output": {"written_by": "krrdistill", "files": ["notes.txt", "report.json"]}})");
  write_bytes(out + "/notes.txt", {'o', 'l', 'd', '\n'});
  return snapshot(out);
}

bool complete_new_result(const std::string& out) {
  for (const char* name : {"distilled_X.npy", "distilled_Y.npy", "grid.png", "report.json"})
    if (!fs::exists(out + "/" + name)) return false;
  if (fs::exists(out + "/notes.txt")) return false;
  try {
    return nlohmann::json::parse(read_text(out + "/report.json")).contains("certificate");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::vector<std::string> distill_args(const std::string& out) {
  return {"distill", "--dataset", "fashion-mnist", "--data", KRRDISTILL_FASHION_MNIST, "--quiet",
          "--out",   out,         "--force"};
}

enum class When { after_300ms, staging_appears, report_staged };

const char* when_name(When w) {
  return w == When::after_300ms       ? "0.3 s after the start"
         : w == When::staging_appears ? "as soon as the staging folder appears"
                                      : "once report.json is staged";
}

// Polls every 50 µs for path while the child runs: true when it appeared;
// false when the child ended first (then *status holds how) or on timeout.
bool wait_until_exists(const std::string& path, pid_t pid, double timeout_s, int* status,
                       bool* reaped) {
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(timeout_s));
  struct stat st;
  while (Clock::now() < end) {
    if (::stat(path.c_str(), &st) == 0) return true;
    if (::waitpid(pid, status, WNOHANG) == pid) {
      *reaped = true;
      return false;
    }
    const struct timespec pause = {0, 50000};
    ::nanosleep(&pause, nullptr);
  }
  return false;
}

// How an interrupted run ended, for the message and the checks.
struct Outcome {
  bool signalled = false;  // died by the signal
  int signal = 0;
  bool old_kept = false;  // --out exactly as before
  bool replaced = false;  // --out holds a complete new result
};

Outcome interrupt_run(int signal_number, When when) {
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const Snapshot before = make_old_out(out);
  const pid_t pid = spawn_cli(distill_args(out), scratch.file("log.txt"));
  BOOST_TEST_REQUIRE(pid > 0);
  const std::string staging = scratch.file(".out.partial-" + std::to_string(pid));
  bool reaped = false;
  int status = 0;
  if (when == When::after_300ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  } else {
    const std::string target = when == When::staging_appears ? staging : staging + "/report.json";
    wait_until_exists(target, pid, 300.0, &status, &reaped);
  }
  if (!reaped) {
    ::kill(pid, signal_number);
    status = wait_for(pid);
  }
  Outcome o;
  o.signalled = WIFSIGNALED(status);
  o.signal = o.signalled ? WTERMSIG(status) : 0;
  o.old_kept = fs::exists(out) && snapshot(out) == before;
  o.replaced = fs::exists(out) && complete_new_result(out);
  BOOST_TEST_MESSAGE(strsignal(signal_number)
                     << " " << when_name(when) << ": "
                     << (o.signalled ? std::string("died by ") + strsignal(o.signal)
                                     : "exited " + std::to_string(WEXITSTATUS(status)))
                     << ", --out "
                     << (o.old_kept   ? "unchanged"
                         : o.replaced ? "replaced"
                                      : "BROKEN"));
  BOOST_TEST_CONTEXT(strsignal(signal_number) << " " << when_name(when)) {
    BOOST_TEST(leftovers(scratch, out).empty(), "left behind: " << listed(leftovers(scratch, out)));
    // Whole: the old folder as it was, or a complete new one, never a mix.
    BOOST_TEST((o.old_kept || o.replaced));
    if (o.signalled) BOOST_TEST(o.signal == signal_number);
    if (when == When::after_300ms) {
      // Loading takes longer than 0.3 s: the run must have been stopped.
      BOOST_TEST(o.signalled);
      BOOST_TEST(o.old_kept);
    }
  }
  return o;
}

}  // namespace

BOOST_DATA_TEST_CASE(interrupted_early, bdata::make({SIGINT, SIGTERM}), signal_number) {
  interrupt_run(signal_number, When::after_300ms);
}

BOOST_DATA_TEST_CASE(interrupted_while_writing, bdata::make({SIGINT, SIGTERM}), signal_number) {
  // Writing the four files (each fsync'd) takes milliseconds and we poll
  // every 50 µs, so the first signal lands while they are written and the
  // handler has to remove the staging folder; on a machine so loaded that
  // the test is descheduled past the whole window, it tries again (twice).
  // The second signal lands just before or during the final renames: either
  // way --out must be whole.
  bool cleaned_up = false;
  for (int attempt = 0; attempt < 3 && !cleaned_up; ++attempt) {
    const Outcome writing = interrupt_run(signal_number, When::staging_appears);
    cleaned_up = writing.signalled && writing.old_kept;
  }
  BOOST_TEST(cleaned_up, "no signal landed while the files were being written");
  interrupt_run(signal_number, When::report_staged);
}

BOOST_AUTO_TEST_CASE(existing_folder_replaced_only_with_force) {
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const Snapshot before = make_old_out(out);
  std::vector<std::string> args = distill_args(out);
  args.pop_back();  // no --force
  int status = wait_for(spawn_cli(args, scratch.file("log.txt")));
  const std::string log = read_text(scratch.file("log.txt"));
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) != 0);
  BOOST_TEST(log.find("error: output folder") == 0u, log);
  BOOST_TEST(log.find("--force") != std::string::npos);
  BOOST_TEST((snapshot(out) == before));
  BOOST_TEST(leftovers(scratch, out).empty());

  status = wait_for(spawn_cli(distill_args(out), scratch.file("log.txt")));
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0, read_text(scratch.file("log.txt")));
  BOOST_TEST(complete_new_result(out));
  BOOST_TEST(leftovers(scratch, out).empty());
}

// ---- StagedOutputDir itself, in a forked child ------------------------------

namespace {

// Runs body in a child process with the command line's signal handlers
// (installed after ignored_signal, if any, is set to SIG_IGN, as by nohup),
// and returns its wait status.
template <typename Body>
int in_child(Body body, int ignored_signal = 0) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
    if (ignored_signal != 0) ::signal(ignored_signal, SIG_IGN);
    krrdistill::cli::install_termination_handlers();
    body();
    ::_exit(0);
  }
  return wait_for(pid);
}

void stage(krrdistill::StagedOutputDir& out, const std::string& name) {
  write_bytes(out.path(name), {'x'});
}

}  // namespace

BOOST_AUTO_TEST_CASE(handler_removes_files_of_any_name) {
  // Temporary files of write_file_atomic and names no list could know.
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const int status = in_child([&] {
    krrdistill::StagedOutputDir dir(out, false);
    for (const char* name : {"distilled_X.npy", ".grid.png.tmp.1.0", "history.csv", "any name"})
      stage(dir, name);
    ::raise(SIGTERM);
  });
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGTERM);
  BOOST_TEST(!fs::exists(out));
  BOOST_TEST(leftovers(scratch, out).empty());
}

BOOST_AUTO_TEST_CASE(ignored_signals_stay_ignored) {
  // As under nohup: SIGHUP was ignored before, so it must not end the run.
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const int status = in_child(
      [&] {
        krrdistill::StagedOutputDir dir(out, false);
        stage(dir, "a.txt");
        ::raise(SIGHUP);
        dir.commit();
      },
      SIGHUP);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(fs::exists(out + "/a.txt"));
  BOOST_TEST(leftovers(scratch, out).empty());
}

BOOST_AUTO_TEST_CASE(after_commit_a_signal_just_ends_the_process) {
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const Snapshot old = make_old_out(out);
  const int status = in_child([&] {
    krrdistill::StagedOutputDir dir(out, true);
    stage(dir, "new.txt");
    dir.commit();
    ::raise(SIGINT);
  });
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST(fs::exists(out + "/new.txt"));
  BOOST_TEST(!fs::exists(out + "/notes.txt"));
  BOOST_TEST(leftovers(scratch, out).empty());
}

BOOST_AUTO_TEST_CASE(an_error_removes_the_staging_folder) {
  TempDir scratch("signals");
  const std::string out = scratch.file("out");
  const Snapshot old = make_old_out(out);
  const int status = in_child([&] {
    try {
      krrdistill::StagedOutputDir dir(out, true);
      stage(dir, "new.txt");
      throw std::runtime_error("failed");
    } catch (const std::runtime_error&) {
    }
  });
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST((snapshot(out) == old));
  BOOST_TEST(leftovers(scratch, out).empty());
}

BOOST_AUTO_TEST_CASE(signals_at_random_moments_never_leave_a_mix) {
  // Many short runs (stage four files as the CLI does, commit), each hit by
  // SIGTERM at a random moment from another thread: before staging, while
  // writing, during the renames of commit, or after. Whatever the moment,
  // --out is the old folder or the whole new one, and nothing else is left.
  auto write_result = [](const std::string& out) {
    krrdistill::StagedOutputDir dir(out, true);
    for (const char* name : {"distilled_X.npy", "distilled_Y.npy", "grid.png", "report.json"})
      krrdistill::write_file_atomic(dir.path(name), std::string(4096, 'n'));
    dir.commit();
  };
  // How long one run takes here (fsync makes it milliseconds): the signals
  // are spread over that time and a little beyond.
  double seconds = 0;
  {
    TempDir scratch("signals");
    make_old_out(scratch.file("out"));
    const Clock::time_point start = Clock::now();
    write_result(scratch.file("out"));
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  const int span_us = std::max(200, int(1.2e6 * seconds));
  std::mt19937 rng(7);
  int kept = 0, replaced = 0;
  for (int run = 0; run < 40; ++run) {
    TempDir scratch("signals");
    const std::string out = scratch.file("out");
    const Snapshot old = make_old_out(out);
    const int delay_us = int(rng() % unsigned(span_us));
    const int status = in_child([&] {
      std::thread killer([delay_us] {
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        ::kill(::getpid(), SIGTERM);
      });
      killer.detach();
      write_result(out);
      // Wait for the signal, so that every run ends the same way.
      for (;;) ::pause();
    });
    BOOST_TEST_CONTEXT("run " << run << ", SIGTERM after " << delay_us << " us") {
      BOOST_TEST(WIFSIGNALED(status));
      BOOST_TEST(leftovers(scratch, out).empty(),
                 "left behind: " << listed(leftovers(scratch, out)));
      const bool is_old = snapshot(out) == old;
      const Snapshot now = snapshot(out);
      const bool is_new = now.size() == 4 && now.count("report.json") == 1 &&
                          now.at("report.json") == std::string(4096, 'n');
      BOOST_TEST((is_old || is_new));
      kept += is_old;
      replaced += is_new;
    }
  }
  BOOST_TEST_MESSAGE("random signals over " << span_us << " us: " << kept
                                            << " runs kept the old folder, " << replaced
                                            << " replaced it");
}
