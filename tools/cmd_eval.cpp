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
  const nlohmann::json report = read_json_file(dir + "/report.json");
  const DataSource source = data_source_from_json(report);
  const FeatureMapSpec spec = feature_spec_from_json(report);
  double lambda_s = 0;
  try {
    lambda_s = report.at("distilled").at("lambda_s").get<double>();
  } catch (const nlohmann::json::exception&) {
    throw Error(dir + "/report.json: missing or invalid distilled.lambda_s");
  }
  if (!(lambda_s >= 0) || !std::isfinite(lambda_s))
    throw Error(dir + "/report.json: distilled.lambda_s must be finite and >= 0");

  const Dataset data = load(source);
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
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
  if (report.contains("certificate")) {
    const double reported = report["certificate"]["distilled"]["test_acc"].get<double>();
    out["report_test_acc"] = reported;
    out["matches_report"] = reported == acc;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace krrdistill::cli
