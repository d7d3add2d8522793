// An output folder that appears whole or not at all, and never at the cost
// of anything krrdistill did not write: files are written into a hidden
// staging folder beside it, which is moved into place at the end with
// renameat2 (RENAME_NOREPLACE, or RENAME_EXCHANGE for --force, so that the
// final name never goes missing). A lock file beside the folder lets one run
// at a time write it; leftovers of killed runs are removed by the next one.
// The library installs no signal handler: a program that wants an interrupted
// run to leave nothing calls clean_up_for_signal from its own (the
// krrdistill command line does, tools/signals.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace krrdistill {

// One at a time in a process (the signal cleanup above knows one folder).
class StagedOutputDir {
 public:
  // Checks, before any work, and throws Error when one fails:
  // - final_dir is not, does not contain and does not lie inside any of
  //   inputs (folders or files the run reads; symbolic links resolved, and
  //   for a folder also the targets of the links inside it);
  // - final_dir is not a file or a symbolic link;
  // - an existing non-empty final_dir is replaced only with force, and only
  //   when krrdistill wrote it (its report lists every file it holds);
  // - no other run is writing final_dir (its lock is free).
  // Then removes the staging folders of earlier runs on final_dir that were
  // killed. Nothing else is created on disk until the first path() call.
  StagedOutputDir(std::string final_dir, bool force, const std::vector<std::string>& inputs = {});
  ~StagedOutputDir();  // removes the staging folder unless committed, and the lock
  StagedOutputDir(const StagedOutputDir&) = delete;
  StagedOutputDir& operator=(const StagedOutputDir&) = delete;

  // Path of a file inside the staging folder (created on first use).
  std::string path(const std::string& file_name);

  // The "output" section of the report file named report_file: says that
  // krrdistill wrote the folder and lists its files (those staged so far
  // and report_file), so that a later --force may replace it. Call it just
  // before writing the report, after every other file.
  nlohmann::json manifest(const std::string& report_file);

  // Moves the staging folder to its final name. Without force, only onto
  // nothing (or an empty folder); with force, the old folder is swapped out
  // in one step, checked again, and only then removed.
  void commit();
  const std::string& final_dir() const { return final_dir_; }

 private:
  std::string final_dir_;  // as given, for messages
  std::string final_abs_;  // absolute, lexically normal
  std::string staging_dir_;
  std::string lock_path_;
  std::vector<std::string> staged_;
  int lock_fd_ = -1;
  bool force_ = false;
  bool created_ = false;
  bool committed_ = false;
};

// For a program's handler of a termination signal; async-signal-safe. Removes
// the staging folder and the lock of the output being written, if any, and
// returns true: the handler then lets the signal end the process. Returns
// false while commit() moves folders: the handler returns at once, and
// commit() raises the signal again once the final name holds a whole result.
bool clean_up_for_signal(int signal_number) noexcept;

// The report files an output folder of krrdistill may hold (distill, kip,
// labelsolve: report.json; compare: compare.json; transfer: transfer.json).
extern const std::vector<std::string> kReportFiles;

// Empty when dir is a folder that krrdistill wrote: one of kReportFiles has an
// "output" section written by manifest() that lists every entry of the folder,
// all of them regular files. Otherwise what is wrong, for a message.
std::string not_written_by_krrdistill(const std::string& dir);

}  // namespace krrdistill
