#include "krrdistill/output_dir.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "krrdistill/error.hpp"

namespace fs = std::filesystem;

namespace krrdistill {

namespace {

// The staging folder being written, for the signal handler: on SIGINT or
// SIGTERM it is removed so an interrupted run leaves nothing behind.
char g_staging[4096] = {0};

void remove_staging_and_exit(int signal_number) {
  if (g_staging[0] != 0) {
    // Only async-signal-safe calls here: the staged files are few and flat.
    static const char* const names[] = {"distilled_X.npy", "distilled_Y.npy", "grid.png",
                                        "report.json",     "history.csv",     "compare.json",
                                        "compare.png"};
    char path[4200];
    for (const char* name : names) {
      std::size_t n = std::strlen(g_staging);
      std::memcpy(path, g_staging, n);
      path[n] = '/';
      std::strcpy(path + n + 1, name);
      unlink(path);
    }
    rmdir(g_staging);
  }
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
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
}

StagedOutputDir::~StagedOutputDir() {
  if (created_ && !committed_) {
    std::error_code ec;
    fs::remove_all(staging_dir_, ec);
    g_staging[0] = 0;
  }
}

std::string StagedOutputDir::path(const std::string& file_name) {
  if (!created_) {
    std::error_code ec;
    const fs::path parent = fs::path(staging_dir_).parent_path();
    fs::create_directories(parent, ec);
    if (!fs::create_directory(staging_dir_, ec) || ec)
      throw Error("cannot create output folder beside " + final_dir_ + ": " + ec.message());
    created_ = true;
    if (staging_dir_.size() < sizeof(g_staging)) {
      std::strcpy(g_staging, staging_dir_.c_str());
      std::signal(SIGINT, remove_staging_and_exit);
      std::signal(SIGTERM, remove_staging_and_exit);
    }
  }
  return (fs::path(staging_dir_) / file_name).string();
}

void StagedOutputDir::commit() {
  std::error_code ec;
  if (!created_) path("");  // an empty result is still a folder
  if (fs::exists(final_dir_, ec)) {
    // Move the old folder aside first so the final name always holds a
    // complete result, then drop the old one.
    const std::string old_dir = staging_dir_ + ".old";
    fs::rename(final_dir_, old_dir, ec);
    if (ec) throw Error("cannot replace " + final_dir_ + ": " + ec.message());
    fs::rename(staging_dir_, final_dir_, ec);
    if (ec) {
      fs::rename(old_dir, final_dir_);
      throw Error("cannot move the results to " + final_dir_ + ": " + ec.message());
    }
    fs::remove_all(old_dir, ec);
  } else {
    fs::rename(staging_dir_, final_dir_, ec);
    if (ec) throw Error("cannot move the results to " + final_dir_ + ": " + ec.message());
  }
  committed_ = true;
  g_staging[0] = 0;
}

}  // namespace krrdistill
