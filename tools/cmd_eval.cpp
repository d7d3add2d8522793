// krrdistill eval: the options of the check of a written distilled set
// (check_set.hpp); prints the checks as JSON and exits 1 on any mismatch.
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "krrdistill/check_set.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/threads.hpp"

namespace krrdistill::cli {

int run_eval(int argc, char** argv) {
  cxxopts::Options options(
      "krrdistill eval",
      "Check a distilled set (distilled_X.npy, distilled_Y.npy) against the model it was "
      "distilled from: refit KRR on it, compare the weights with model_W.npy and every test "
      "prediction with the report's; print the checks as JSON, exit 1 on any mismatch");
  options.add_options()("distilled", "folder written by 'krrdistill distill'",
                        cxxopts::value<std::string>())(
      "refit-original",
      "also fit the original model again from the dataset (same preprocessing, map, seed, "
      "lambda and chunk) and compare it with model_W.npy and the refit")(
      "threads", "threads of the linear algebra", cxxopts::value<int>()->default_value("0"))(
      "h,help", "this help");
  const cxxopts::ParseResult result = parse(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  if (!result.count("distilled")) throw Error("eval needs --distilled DIR");
  set_threads(result["threads"].as<int>());
  const SetCheck check = check_distilled_set(result["distilled"].as<std::string>(),
                                             result.count("refit-original") > 0);
  std::cout << check.result.dump(2) << "\n";
  if (!check.failure.empty()) throw Error(check.failure);
  return 0;
}

}  // namespace krrdistill::cli
