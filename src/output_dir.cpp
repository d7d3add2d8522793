#include "krrdistill/output_dir.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "output_lock.hpp"

namespace fs = std::filesystem;

namespace krrdistill {

const std::vector<std::string> kReportFiles = {"report.json", "compare.json", "transfer.json"};

namespace {

using detail::acquire_lock;
using detail::release_lock;
using detail::remove_flat_folder;
using detail::remove_leftovers;

// What a signal handler sees through clean_up_for_signal. A signal may arrive
// on any thread at any point, so only these lock-free atomics and the paths
// are read, and the paths are written before the state says they are valid.
enum State : int {
  kIdle = 0,   // nothing held: the process may just die
  kArmed = 1,  // remove the staging folder and the lock file, then die
  kBusy = 2,   // taking or dropping the lock, or moving folders: defer the
               // signal until done, so that nothing is left half done
};
std::atomic<int> g_state{kIdle};
std::atomic<int> g_deferred_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");
char g_staging[4096] = {0};
char g_lock[4096] = {0};

bool g_in_use = false;  // one output folder at a time: the state above is global

// Enters kBusy from `from`. A failure means a handler on another thread
// has claimed the cleanup and is about to end the process: wait for it.
void begin_deferral(int from) {
  int expected = from;
  if (!g_state.compare_exchange_strong(expected, kBusy))
    for (;;) ::pause();
}

// Leaves kBusy for `to` and delivers a signal that came meanwhile: the
// program's handler then finds the state `to` (kArmed: it cleans up).
void end_deferral(int to) {
  g_state.store(to);
  const int deferred = g_deferred_signal.exchange(0);
  if (deferred != 0) ::raise(deferred);
}

// A report is kilobytes; the bound keeps a gzip bomb named report.json from
// filling memory while --force looks at it.
constexpr std::size_t kMaxReportBytes = std::size_t(64) << 20;

std::string errno_text(int err) {
  return std::strerror(err);
}

void copy_path(char (&into)[4096], const std::string& path) {
  std::memcpy(into, path.c_str(), path.size() + 1);
}

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i)
    if (i == inner.end() || *i != *o) return false;
  return true;
}

fs::path resolved(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(path), ec);
  return ec ? fs::absolute(path).lexically_normal() : out;
}

// The input paths themselves, and for a folder the targets of the entries
// in it and in its subfolders (a dataset folder of links to the real files,
// CIFAR's unpacked subfolder), resolved.
std::vector<fs::path> input_paths(const std::vector<std::string>& inputs) {
  std::vector<fs::path> paths;
  for (const std::string& input : inputs) {
    if (input.empty()) continue;
    const fs::path root = resolved(input);
    paths.push_back(root);
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    std::size_t seen = 0;
    for (; !ec && it != fs::recursive_directory_iterator() && seen < 10000; it.increment(ec)) {
      ++seen;
      if (it.depth() >= 1) it.disable_recursion_pending();
      if (it->is_symlink(ec)) paths.push_back(resolved(it->path()));
    }
  }
  return paths;
}

std::string overlap_problem(const std::string& out_text, const fs::path& out,
                            const std::vector<std::string>& inputs) {
  const fs::path target = resolved(out);
  for (const fs::path& input : input_paths(inputs)) {
    std::string how;
    if (target == input)
      how = "is";
    else if (is_within(target, input))
      how = "lies inside";
    else if (is_within(input, target))
      how = "contains";
    else
      continue;
    return "--out " + out_text + " " + how + " the input " + input.string() +
           "; write the results somewhere else";
  }
  return "";
}

// The names listed by the report's "output" section when dir is a folder
// krrdistill wrote (see not_written_by_krrdistill); otherwise *problem says why.
std::vector<std::string> owned_files(const std::string& dir, std::string* problem) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *problem = "it is not a folder";
    return {};
  }
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.is_symlink()) {
      *problem = "it holds " + name + ", which is not a regular file";
      return {};
    }
    entries.push_back(name);
  }
  std::string report;
  for (const std::string& name : kReportFiles)
    if (std::find(entries.begin(), entries.end(), name) != entries.end()) report = name;
  if (report.empty()) {
    *problem = "it holds no report.json, compare.json or transfer.json";
    return {};
  }
  std::set<std::string> listed;
  try {
    bool longer = false;
    const std::vector<unsigned char> bytes =
        read_file_bytes(dir + "/" + report, kMaxReportBytes, &longer);
    const nlohmann::json j =
        longer ? nlohmann::json() : nlohmann::json::parse(bytes, nullptr, false);
    const nlohmann::json* output =
        j.is_object() && j.contains("output") ? &j.at("output") : nullptr;
    if (output != nullptr && output->is_object() &&
        output->value("written_by", "") == "krrdistill" && output->contains("files") &&
        output->at("files").is_array())
      for (const nlohmann::json& f : output->at("files"))
        if (f.is_string()) listed.insert(f.get<std::string>());
  } catch (const std::exception&) {
    listed.clear();
  }
  if (listed.empty()) {
    *problem = "its " + report + " does not say that krrdistill wrote it";
    return {};
  }
  for (const std::string& name : entries)
    if (!listed.count(name)) {
      *problem = "it holds " + name + ", which krrdistill did not write";
      return {};
    }
  problem->clear();
  return entries;
}

bool empty_folder(const std::string& dir) {
  std::error_code ec;
  return fs::is_empty(dir, ec) && !ec;
}

int rename_noreplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // A file system without RENAME_NOREPLACE: claim the name with mkdir (which
  // fails on anything already there), then rename onto that empty folder;
  // rename refuses a folder that is no longer empty.
  if (::mkdir(to.c_str(), 0755) != 0) return -1;
  if (::rename(from.c_str(), to.c_str()) == 0) return 0;
  const int err = errno;
  ::rmdir(to.c_str());
  errno = err;
  return -1;
}

}  // namespace

std::string not_written_by_krrdistill(const std::string& dir) {
  std::string problem;
  owned_files(dir, &problem);
  return problem;
}

StagedOutputDir::StagedOutputDir(std::string final_dir, bool force,
                                 const std::vector<std::string>& inputs)
    : final_dir_(std::move(final_dir)), force_(force) {
  if (final_dir_.empty()) throw Error("--out must not be empty");
  if (g_in_use) throw Error("one output folder at a time");
  fs::path abs = fs::absolute(final_dir_).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();  // a trailing slash
  const std::string name = abs.filename().string();
  if (name.empty() || name == "." || name == ".." || abs == abs.root_path())
    throw Error("--out " + final_dir_ + " does not name a folder");
  final_abs_ = abs.string();

  struct stat st;
  const bool exists = ::lstat(final_abs_.c_str(), &st) == 0;
  if (exists && S_ISLNK(st.st_mode))
    throw Error("--out " + final_dir_ + " is a symbolic link; give the folder it points to");
  if (exists && !S_ISDIR(st.st_mode))
    throw Error("--out " + final_dir_ + " exists and is not a folder");
  if (const std::string problem = overlap_problem(final_dir_, abs, inputs); !problem.empty())
    throw Error(problem);
  if (exists && !empty_folder(final_abs_)) {
    if (!force_)
      throw Error("output folder " + final_dir_ + " already exists; use --force to replace it");
    if (const std::string problem = not_written_by_krrdistill(final_abs_); !problem.empty())
      throw Error("--force replaces only a folder that krrdistill wrote, and " + final_dir_ +
                  " is not one: " + problem + "; move it away yourself or choose another --out");
  }

  const fs::path parent = abs.parent_path();
  staging_dir_ = (parent / (detail::staging_prefix(name) + std::to_string(::getpid()))).string();
  lock_path_ = (parent / detail::lock_file_name(name)).string();
  if (staging_dir_.size() >= sizeof(g_staging) || lock_path_.size() >= sizeof(g_lock))
    throw Error("--out " + final_dir_ + ": path too long");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error("cannot create " + parent.string() + ": " + ec.message());
  // Signals wait while the lock is taken, so that none lands between
  // creating the lock file and arming its removal.
  begin_deferral(kIdle);
  try {
    lock_fd_ = acquire_lock(lock_path_, final_dir_);
  } catch (...) {
    end_deferral(kIdle);
    throw;
  }
  // Armed from here: a signal removes the staging folder and the lock file.
  copy_path(g_staging, staging_dir_);
  copy_path(g_lock, lock_path_);
  g_in_use = true;
  end_deferral(kArmed);
  try {
    remove_leftovers(parent, name);
  } catch (...) {
    begin_deferral(kArmed);
    release_lock(lock_path_.c_str(), lock_fd_);
    g_in_use = false;
    end_deferral(kIdle);
    throw;
  }
}

StagedOutputDir::~StagedOutputDir() {
  if (lock_fd_ >= 0) {
    // Signals wait until the staging folder and the lock file are gone.
    begin_deferral(kArmed);
    if (created_ && !committed_) remove_flat_folder(staging_dir_.c_str());
    release_lock(lock_path_.c_str(), lock_fd_);
    end_deferral(kIdle);
  }
  g_in_use = false;
}

std::string StagedOutputDir::path(const std::string& file_name) {
  if (!created_) {
    // A folder of the same name can only be left by a killed run of a
    // process with our pid: stale, so start afresh.
    remove_flat_folder(staging_dir_.c_str());
    if (::mkdir(staging_dir_.c_str(), 0755) != 0)
      throw Error("cannot create output folder beside " + final_dir_ + ": " + errno_text(errno));
    created_ = true;
  }
  if (!file_name.empty() && std::find(staged_.begin(), staged_.end(), file_name) == staged_.end())
    staged_.push_back(file_name);
  return (fs::path(staging_dir_) / file_name).string();
}

nlohmann::json StagedOutputDir::manifest(const std::string& report_file) {
  std::vector<std::string> files = staged_;
  if (std::find(files.begin(), files.end(), report_file) == files.end())
    files.push_back(report_file);
  std::sort(files.begin(), files.end());
  return {{"written_by", "krrdistill"}, {"files", files}};
}

namespace {

// Puts the staging folder under the final name; "" or what went wrong. Only
// onto nothing or an empty folder, unless force and the folder there is one
// krrdistill wrote: that one is swapped out in one step (the final name never
// goes missing), checked again where it now lies, and only then removed.
std::string publish(const std::string& staging, const std::string& final_abs,
                    const std::string& final_text, bool force) {
  const std::string not_published = "; the results were not published";
  struct stat st;
  if (::lstat(final_abs.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return final_text + " appeared as a file or link while this run was working" + not_published;
    if (::rmdir(final_abs.c_str()) != 0) {
      if (errno != ENOTEMPTY && errno != EEXIST)
        return "cannot replace the empty folder " + final_text + ": " + errno_text(errno);
      if (!force)
        return "output folder " + final_text + " appeared while this run was working" +
               not_published + " (choose another --out)";
      if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, final_abs.c_str(), RENAME_EXCHANGE) != 0)
        return "cannot swap the results into " + final_text + ": " + errno_text(errno) +
               (errno == EINVAL ? " (the file system cannot swap folders; move the old one away)"
                                : "") +
               not_published;
      std::string problem;
      const std::vector<std::string> old_files = owned_files(staging, &problem);
      if (!problem.empty()) {
        // Changed since the check at the start: put it back as it was.
        ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, final_abs.c_str(), RENAME_EXCHANGE);
        return "--force replaces only a folder that krrdistill wrote, and " + final_text +
               " changed while this run was working: " + problem + not_published;
      }
      const int dir_fd = ::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (dir_fd >= 0) {
        for (const std::string& name : old_files) ::unlinkat(dir_fd, name.c_str(), 0);
        ::close(dir_fd);
      }
      ::rmdir(staging.c_str());  // a file that slipped in since stays, for the next run to name
      return "";
    }
  }
  if (rename_noreplace(staging, final_abs) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY)
      return "output folder " + final_text + " appeared while this run was working" +
             not_published + " (choose another --out)";
    return "cannot move the results to " + final_text + ": " + errno_text(errno);
  }
  return "";
}

}  // namespace

void StagedOutputDir::commit() {
  if (!created_) path("");  // an empty result is still a folder
  // From here on a signal waits until the final name holds a whole result
  // (old or new) and the old one is gone.
  begin_deferral(kArmed);
  const std::string problem = publish(staging_dir_, final_abs_, final_dir_, force_);
  if (problem.empty()) {
    committed_ = true;
    release_lock(lock_path_.c_str(), lock_fd_);
    lock_fd_ = -1;
  }
  // Idle when done; otherwise armed, and the destructor cleans up.
  end_deferral(committed_ ? kIdle : kArmed);
  if (!problem.empty()) throw Error(problem);
}

bool clean_up_for_signal(int signal_number) noexcept {
  int state = g_state.load();
  for (;;) {
    if (state == kBusy) {
      // While the lock is taken or dropped, or commit() moves folders:
      // the signal is raised again when that is done.
      g_deferred_signal.store(signal_number);
      return false;
    }
    // Claim the cleanup (commit() cannot start once it is claimed).
    if (state == kArmed && !g_state.compare_exchange_strong(state, kIdle)) continue;
    break;
  }
  if (state == kArmed) {
    remove_flat_folder(g_staging);
    ::unlink(g_lock);
  }
  return true;
}

}  // namespace krrdistill
