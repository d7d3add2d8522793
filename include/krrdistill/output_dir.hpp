// An output folder that appears whole or not at all: files are written into
// a hidden staging folder beside it, which is renamed into place at the end.
// An existing folder is replaced only with --force, and never half overwritten.
#pragma once

#include <string>

namespace krrdistill {

class StagedOutputDir {
 public:
  // Refuses an existing non-empty folder unless force. Nothing is created
  // on disk until the first path() call.
  StagedOutputDir(std::string final_dir, bool force);
  ~StagedOutputDir();  // removes the staging folder unless committed
  StagedOutputDir(const StagedOutputDir&) = delete;
  StagedOutputDir& operator=(const StagedOutputDir&) = delete;

  // Path of a file inside the staging folder (created on first use).
  std::string path(const std::string& file_name);
  // Moves the staging folder to its final name (replacing the old folder).
  void commit();
  const std::string& final_dir() const { return final_dir_; }

 private:
  std::string final_dir_;
  std::string staging_dir_;
  bool force_ = false;
  bool created_ = false;
  bool committed_ = false;
};

}  // namespace krrdistill
