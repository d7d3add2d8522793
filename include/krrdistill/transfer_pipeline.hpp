// krrdistill transfer as one call: a written distilled set (any output
// folder of distill, kip or labelsolve, read as eval reads it) trained into
// the finite network of transfer.hpp against random real subsets, and the
// writer of its folder (docs/design.md §8).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "krrdistill/output_dir.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/transfer.hpp"

namespace krrdistill {

struct TransferConfig {
  std::string distilled_dir;
  TransferOptions options;
};

struct TransferRun {
  TransferConfig config;
  std::chrono::steady_clock::time_point started;
  double load_seconds = 0;
  std::string command;  // of the set's report: distill, kip or labelsolve
  nlohmann::json dataset;
  TransferResult result;
};

// Checks the options, reads the folder as eval does (check_set.hpp), checks
// the memory before reading the set, trains.
TransferRun run_transfer(const TransferConfig& config,
                         const Progress& progress = Progress::silent());
// transfer.json, transfer_history.csv and transfer.png; commits.
void write_transfer_result(const TransferRun& run, StagedOutputDir& out);

}  // namespace krrdistill
