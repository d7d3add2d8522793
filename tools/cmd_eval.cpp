// krrdistill eval: refit KRR on the written distilled set only.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/output_dir.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/progress.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

int run_eval(int argc, char** argv) {
  cxxopts::Options options("krrdistill eval",
                           "Refit KRR on a distilled set (distilled_X.npy, distilled_Y.npy) and "
                           "print its test accuracy as JSON");
  options.add_options()("distilled", "folder written by 'krrdistill distill'",
                        cxxopts::value<std::string>())("threads", "threads of the linear algebra",
                                                       cxxopts::value<int>()->default_value("0"))(
      "h,help", "this help");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  if (!result.count("distilled")) throw Error("eval needs --distilled DIR");
  set_threads(result["threads"].as<int>());
  const std::string dir = result["distilled"].as<std::string>();
  // Every field checked (types, ranges, p and width <= d) before anything is
  // built from it; each problem is one Error naming the file.
  const std::string report_path = dir + "/report.json";
  const EvalReport report = read_eval_report(report_path);
  const FeatureMapSpec& spec = report.spec;
  const double lambda_s = report.lambda_s;

  const Dataset data = load(report.source);
  // The report's d and k against the data found, before the map is sized.
  check_report_matches(report, data, report_path);
  const Preprocessor pre = fit_preprocessor(data.train.pixels, data.shape, report.source.zca,
                                            report.source.zca_reg_fraction);
  const FeatureMap map = make_feature_map(spec, data.shape.size());
  const arma::mat Xs = read_records(dir + "/distilled_X.npy", data.shape.size());
  const arma::mat Ys = read_records(dir + "/distilled_Y.npy", data.num_classes).eval();
  if (Xs.n_cols != Ys.n_cols)
    throw Error(dir + ": distilled_X.npy and distilled_Y.npy hold different numbers of images");
  const arma::mat Ws = refit_distilled(map, Xs, Ys, lambda_s);
  const double acc = test_accuracy(data, pre, map, Ws, kDefaultChunk);

  nlohmann::json out = {{"distilled", dir},
                        {"m", Xs.n_cols},
                        {"model", spec.kind},
                        {"lambda_s", lambda_s},
                        {"n_test", data.test.pixels.n_cols},
                        {"test_acc", acc}};
  if (report.has_reported_test_acc) {
    out["report_test_acc"] = report.reported_test_acc;
    out["matches_report"] = report.reported_test_acc == acc;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace krrdistill::cli
