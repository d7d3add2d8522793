#include "krrdistill/transfer_pipeline.hpp"

#include "krrdistill/check_set.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/pipeline_support.hpp"
#include "krrdistill/plot.hpp"
#include "krrdistill/report.hpp"

namespace krrdistill {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

TransferRun run_transfer(const TransferConfig& config, const Progress& progress) {
  TransferRun run;
  run.config = config;
  run.started = Clock::now();
  check_transfer_options(config.options);
  progress.status("transfer: reading " + config.distilled_dir);
  WrittenSet set = read_set_data(config.distilled_dir);
  const arma::uword d = set.data.shape.size(), k = set.data.num_classes;
  require_images_with_classes(set.data.regression(), set.data.feature_matrix(), set.data.name,
                              "transfer");
  check_memory("transfer", transfer_memory(d, k, set.data.test.labels.n_elem, config.options));
  read_set_arrays(config.distilled_dir, set);
  run.command = set.report.command;
  run.dataset = dataset_json(set.data, set.report.source, set.pre);
  run.load_seconds = seconds_since(run.started);
  run.result = transfer_set(set.Xs, set.Ys, set.data, set.pre, config.options, progress);
  return run;
}

void write_transfer_result(const TransferRun& run, StagedOutputDir& out) {
  const Clock::time_point write_start = Clock::now();
  const TransferResult& result = run.result;
  write_file_atomic(out.path("transfer_history.csv"), transfer_history_csv(result));

  // Test accuracy against epochs: the distilled set, the subsets' mean, the whole set.
  auto evaluated = [](const TransferCurve& curve, PlotSeries& series) {
    for (const TransferEpoch& row : curve.history)
      if (row.test_acc) {
        series.x.push_back(double(row.epoch));
        series.y.push_back(*row.test_acc);
      }
  };
  PlotSpec plot;
  plot.title = "Finite " + std::to_string(result.options.net.depth) +
               "-hidden-layer ReLU network (width " + std::to_string(result.options.net.width) +
               ") trained on " + std::to_string(result.distilled.m) + " images";
  plot.x_label = "epoch";
  plot.y_label = "test accuracy";
  PlotSeries distilled{"distilled set (" + run.command + ")", {}, {}, false};
  evaluated(result.distilled, distilled);
  PlotSeries subsets{
      "random real subsets (mean of " + std::to_string(result.subsets.size()) + ")", {}, {}, false};
  // Every subset is evaluated at the same epochs.
  for (const TransferCurve& curve : result.subsets) {
    PlotSeries one;
    evaluated(curve, one);
    if (subsets.x.empty()) {
      subsets.x = one.x;
      subsets.y.assign(one.y.size(), 0.0);
    }
    for (std::size_t i = 0; i < one.y.size(); ++i)
      subsets.y[i] += one.y[i] / double(result.subsets.size());
  }
  plot.series = {distilled, subsets};
  if (result.whole) {
    PlotSeries whole{"whole training set", {}, {}, false};
    evaluated(*result.whole, whole);
    plot.series.push_back(whole);
  }
  write_plot_png(out.path("transfer.png"), plot);

  nlohmann::json report = transfer_json(result);
  report["command"] = "transfer";
  report["distilled_set"] = {{"dir", run.config.distilled_dir},
                             {"command", run.command},
                             {"m", result.distilled.m},
                             {"ipc", result.ipc}};
  report["dataset"] = run.dataset;
  report["files"] = {{"history", "transfer_history.csv"}, {"plot", "transfer.png"}};
  // One reading of the clock, so that the parts add up to the total.
  const Clock::time_point now = Clock::now();
  const double total = std::chrono::duration<double>(now - run.started).count();
  const double write = std::chrono::duration<double>(now - write_start).count();
  report["timings_s"] = {{"load", run.load_seconds},
                         {"train", total - run.load_seconds - write},
                         {"write", write},
                         {"total", total}};
  report["output"] = out.manifest("transfer.json");
  write_json_file(out.path("transfer.json"), report);
  out.commit();
}

}  // namespace krrdistill
