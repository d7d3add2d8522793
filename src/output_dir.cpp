#include "krrdistill/output_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "krrdistill/error.hpp"

namespace fs = std::filesystem;

namespace krrdistill {

namespace {

// What the signal handler sees. A signal may arrive on any thread at any
// point, so the handler only reads these lock-free atomics and the path,
// which is written before the state says it is valid.
enum State : int {
  kIdle = 0,        // nothing staged: default action (the process just dies)
  kStaging = 1,     // remove the staging folder, then die
  kCommitting = 2,  // renames in progress: defer the signal until they are done
};
std::atomic<int> g_state{kIdle};
std::atomic<int> g_deferred_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");
char g_staging[4096] = {0};

const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous[3];
bool g_installed = false;

// Removes every entry of a flat folder, then the folder, with
// async-signal-safe calls only (no opendir/malloc). The main thread may still
// be creating a file while this runs on another thread, so it rescans until
// the folder is gone (bounded, in case something else holds it).
void remove_flat_folder(const char* dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;  // already gone
    alignas(8) char buffer[4096];
    for (;;) {
      const ssize_t n = ::getdents64(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t offset = 0; offset < n;) {
        const auto* entry = reinterpret_cast<const struct dirent64*>(buffer + offset);
        const char* name = entry->d_name;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(fd, name, 0);
        offset += entry->d_reclen;
      }
    }
    ::close(fd);
    if (::rmdir(dir) == 0 || errno == ENOENT) return;
  }
}

void die_by(int signal_number) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(signal_number, &dfl, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, signal_number);
  ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  ::raise(signal_number);
}

extern "C" void on_signal(int signal_number) {
  const int saved_errno = errno;
  int state = g_state.load();
  for (;;) {
    if (state == kCommitting) {
      // During the renames of commit() the old or the new result must end up
      // whole under the final name: commit() re-raises the signal when done.
      g_deferred_signal.store(signal_number);
      errno = saved_errno;
      return;
    }
    // Claim the cleanup (commit() cannot start once it is claimed).
    if (state == kStaging && !g_state.compare_exchange_strong(state, kIdle)) continue;
    break;
  }
  if (state == kStaging) remove_flat_folder(g_staging);
  die_by(signal_number);
  errno = saved_errno;
}

void install_handlers() {
  if (g_installed) return;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // Block the other termination signals while one is handled.
  for (int s : kSignals) sigaddset(&action.sa_mask, s);
  action.sa_flags = SA_RESTART;
  for (int i = 0; i < 3; ++i) {
    ::sigaction(kSignals[i], nullptr, &g_previous[i]);
    // A signal ignored by whoever started us (nohup, a background job) stays
    // ignored, as shells do it.
    if (g_previous[i].sa_handler != SIG_IGN) ::sigaction(kSignals[i], &action, nullptr);
  }
  g_installed = true;
}

void restore_handlers() {
  if (!g_installed) return;
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
  g_installed = false;
}

bool non_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
}

}  // namespace

StagedOutputDir::StagedOutputDir(std::string final_dir, bool force)
    : final_dir_(std::move(final_dir)), force_(force) {
  if (final_dir_.empty()) throw Error("--out must not be empty");
  while (final_dir_.size() > 1 && final_dir_.back() == '/') final_dir_.pop_back();
  std::error_code ec;
  if (fs::exists(final_dir_, ec) && !fs::is_directory(final_dir_, ec))
    throw Error("--out " + final_dir_ + " exists and is not a folder");
  if (non_empty_dir(final_dir_) && !force_)
    throw Error("output folder " + final_dir_ + " already exists; use --force to replace it");
  const fs::path final_path(final_dir_);
  const fs::path parent = final_path.has_parent_path() ? final_path.parent_path() : fs::path(".");
  staging_dir_ =
      (parent / ("." + final_path.filename().string() + ".partial-" + std::to_string(getpid())))
          .string();
  if (staging_dir_.size() >= sizeof(g_staging))
    throw Error("--out " + final_dir_ + ": path too long");
}

StagedOutputDir::~StagedOutputDir() {
  if (created_ && !committed_) {
    // Still armed while removing: a signal meanwhile finishes the job.
    std::error_code ec;
    fs::remove_all(staging_dir_, ec);
    g_state.store(kIdle);
    restore_handlers();
  }
}

std::string StagedOutputDir::path(const std::string& file_name) {
  if (!created_) {
    std::error_code ec;
    const fs::path parent = fs::path(staging_dir_).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    // Armed before the folder exists, so that no signal can leave it behind.
    std::memcpy(g_staging, staging_dir_.c_str(), staging_dir_.size() + 1);
    install_handlers();
    g_state.store(kStaging);
    // A folder of the same name can only be left by a killed run of a
    // process with our pid: stale, so start afresh.
    fs::remove_all(staging_dir_, ec);
    if (!fs::create_directory(staging_dir_, ec) || ec) {
      g_state.store(kIdle);
      restore_handlers();
      throw Error("cannot create output folder beside " + final_dir_ + ": " +
                  (ec ? ec.message() : std::string("it exists")));
    }
    created_ = true;
  }
  return (fs::path(staging_dir_) / file_name).string();
}

void StagedOutputDir::commit() {
  std::error_code ec;
  if (!created_) path("");  // an empty result is still a folder
  // From here on a signal waits until the final name holds a whole result
  // (old or new); without this, a signal between the two renames below
  // would leave the old result under a hidden name and no --out at all.
  int expected = kStaging;
  if (!g_state.compare_exchange_strong(expected, kCommitting)) {
    // A signal handler on another thread is removing the staging folder and
    // is about to end the process: do not move a half-removed folder.
    for (;;) ::pause();
  }
  std::string problem;
  if (fs::exists(final_dir_, ec)) {
    // Move the old folder aside first so the final name always holds a
    // complete result, then drop the old one.
    const std::string old_dir = staging_dir_ + ".old";
    fs::remove_all(old_dir, ec);
    fs::rename(final_dir_, old_dir, ec);
    if (ec) {
      problem = "cannot replace " + final_dir_ + ": " + ec.message();
    } else {
      fs::rename(staging_dir_, final_dir_, ec);
      if (ec) {
        problem = "cannot move the results to " + final_dir_ + ": " + ec.message();
        std::error_code back;
        fs::rename(old_dir, final_dir_, back);
      } else {
        fs::remove_all(old_dir, ec);
      }
    }
  } else {
    fs::rename(staging_dir_, final_dir_, ec);
    if (ec) problem = "cannot move the results to " + final_dir_ + ": " + ec.message();
  }
  if (problem.empty()) committed_ = true;
  // Back to staging (the destructor cleans up) or idle (done).
  g_state.store(committed_ ? kIdle : kStaging);
  const int deferred = g_deferred_signal.exchange(0);
  if (deferred != 0) {
    if (!committed_) {
      g_state.store(kIdle);
      remove_flat_folder(g_staging);
    }
    die_by(deferred);
  }
  if (!problem.empty()) throw Error(problem);
  restore_handlers();
}

}  // namespace krrdistill
