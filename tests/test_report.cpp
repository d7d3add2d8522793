// report.json as `krrdistill eval` reads it (read_eval_report): every field
// is checked for type and range, and the sizes it gives are checked against
// each other and the dataset before anything is built from them. Each bad
// report gets one Error naming the file (datasets/README.md lists them).
#define BOOST_TEST_MODULE report
#include <boost/test/unit_test.hpp>
#include <functional>
#include <nlohmann/json.hpp>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/report.hpp"

using namespace fixtures;
using krrdistill::Error;
using nlohmann::json;

namespace {

json valid(const std::string& kind) {
  return json::parse(krrdistill_fuzz::report_json(kind));
}

std::string error_of(const std::string& path) {
  try {
    krrdistill::read_eval_report(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Case {
  std::string kind;                   // model kind of the starting report
  std::function<void(json&)> change;  // what is wrong
  std::string message;                // exact message after "PATH: "
};

}  // namespace

BOOST_AUTO_TEST_CASE(valid_reports_are_read) {
  TempDir scratch("report");
  const std::string path = scratch.file("report.json");
  write_bytes(path, krrdistill_fuzz::text_bytes(valid("fcnn").dump()));
  const krrdistill::EvalReport r = krrdistill::read_eval_report(path);
  BOOST_TEST(r.source.dataset == "idx");
  BOOST_TEST(r.source.dir == "data");
  BOOST_TEST(!r.source.coarse);
  BOOST_TEST(r.source.zca_reg_fraction == 0.1);
  BOOST_TEST(r.spec.kind == "fcnn");
  BOOST_TEST(r.spec.layers == 2u);
  BOOST_TEST(r.spec.width == 4u);
  BOOST_TEST(r.spec.slope == 0.1);
  BOOST_TEST(r.spec.seed == 3u);
  BOOST_TEST(r.d == 4u);
  BOOST_TEST(r.k == 3u);
  BOOST_TEST(r.lambda_s == 0.001);
  BOOST_TEST(r.has_reported_test_acc);
  BOOST_TEST(r.reported_test_acc == 0.5);

  json rff = valid("rff");
  rff.erase("certificate");  // optional
  write_bytes(path, krrdistill_fuzz::text_bytes(rff.dump()));
  const krrdistill::EvalReport s = krrdistill::read_eval_report(path);
  BOOST_TEST(s.spec.kind == "rff");
  BOOST_TEST(s.spec.features == 4u);
  BOOST_TEST(s.spec.rff_sigma == 2.0);
  BOOST_TEST(!s.has_reported_test_acc);
}

BOOST_AUTO_TEST_CASE(bad_reports_are_refused_with_the_file_named) {
  TempDir scratch("report");
  const std::string path = scratch.file("report.json");
  const std::vector<Case> cases = {
      {"linear", [](json& j) { j = json::array(); }, "expected a JSON object at the top level"},
      {"linear", [](json& j) { j.erase("dataset"); }, "missing section \"dataset\""},
      {"linear", [](json& j) { j["model"] = 3; }, "missing section \"model\""},
      {"linear", [](json& j) { j["dataset"].erase("source"); }, "missing \"source\" in dataset"},
      {"linear", [](json& j) { j["dataset"]["dir"] = 7; }, "\"dir\" in dataset must be a string"},
      {"linear", [](json& j) { j["dataset"]["coarse"] = "no"; },
       "\"coarse\" in dataset must be true or false"},
      {"linear", [](json& j) { j["dataset"]["preprocessing"] = "x/255"; },
       "\"preprocessing\" in dataset must be an object"},
      {"linear", [](json& j) { j["dataset"]["preprocessing"]["zca_reg_fraction"] = -1; },
       "\"zca_reg_fraction\" in dataset.preprocessing must be positive"},
      {"linear", [](json& j) { j["dataset"]["preprocessing"]["zca_reg_fraction"] = "0.1"; },
       "\"zca_reg_fraction\" in dataset.preprocessing must be a number"},
      {"linear",
       [](json& j) {
         j["dataset"]["shape"] = {1, 2};
       },
       "\"shape\" in dataset must be [channels, height, width]"},
      {"linear",
       [](json& j) {
         j["dataset"]["shape"] = {1, 0, 2};
       },
       "\"shape\" in dataset must hold three positive integers"},
      {"linear",
       [](json& j) {
         j["dataset"]["shape"] = {1, -2, 2};
       },
       "\"shape\" in dataset must hold three positive integers"},
      {"linear",
       [](json& j) {
         j["dataset"]["shape"] = {4294967296ull, 4294967296ull, 2};
       },
       "\"shape\" in dataset is too large"},
      {"linear", [](json& j) { j["dataset"]["d"] = 5; },
       "\"d\" in dataset is not the product of \"shape\" (4)"},
      {"linear", [](json& j) { j["dataset"]["k"] = 0; }, "\"k\" in dataset must be at least 1"},
      {"linear", [](json& j) { j["dataset"]["k"] = 2.5; },
       "\"k\" in dataset must be a non-negative integer"},
      {"linear", [](json& j) { j["model"]["kind"] = "svm"; },
       "unknown model kind \"svm\" (expected linear, rff or fcnn)"},
      {"linear", [](json& j) { j["model"]["seed"] = -1; },
       "\"seed\" in model must be a non-negative integer"},
      {"rff", [](json& j) { j["model"]["p"] = 0; }, "\"p\" in model must be at least 1"},
      {"rff", [](json& j) { j["model"]["p"] = 1000000000000ull; },
       "\"p\" in model is larger than the image size d = 4"},
      {"rff", [](json& j) { j["model"]["rff_sigma"] = 0; },
       "\"rff_sigma\" in model must be positive"},
      {"fcnn", [](json& j) { j["model"]["layers"] = 4000000000ull; },
       "\"layers\" in model must be between 1 and 100"},
      {"fcnn", [](json& j) { j["model"]["width"] = 5; },
       "\"width\" in model is larger than the image size d = 4"},
      {"fcnn", [](json& j) { j["model"]["slope"] = -0.1; }, "\"slope\" in model must be positive"},
      {"linear", [](json& j) { j["distilled"].erase("lambda_s"); },
       "missing \"lambda_s\" in distilled"},
      {"linear", [](json& j) { j["distilled"]["lambda_s"] = -1e-3; },
       "\"lambda_s\" in distilled must be >= 0"},
      {"linear", [](json& j) { j["distilled"]["lambda_s"] = nullptr; },
       "\"lambda_s\" in distilled must be a number"},
      {"linear", [](json& j) { j["certificate"] = 1; }, "missing section \"certificate\""},
      {"linear", [](json& j) { j["certificate"].erase("distilled"); },
       "missing \"distilled\" in certificate"},
      {"linear", [](json& j) { j["certificate"]["distilled"]["test_acc"] = 1.5; },
       "\"test_acc\" in certificate.distilled must lie in [0, 1]"},
  };
  for (const Case& c : cases) {
    json report = valid(c.kind);
    c.change(report);
    write_bytes(path, krrdistill_fuzz::text_bytes(report.dump()));
    const std::string message = error_of(path);
    BOOST_TEST(message == path + ": " + c.message);
  }
}

BOOST_AUTO_TEST_CASE(unreadable_reports) {
  TempDir scratch("report");
  const std::string path = scratch.file("report.json");
  BOOST_TEST(error_of(path) == path + ": no such file");
  fs::create_directories(path);
  BOOST_TEST(error_of(path) == path + ": is a directory, expected a file");
  fs::remove(path);
  write_bytes(path, {'{', '"', 'x'});
  BOOST_TEST(error_of(path).rfind(path + ": not valid JSON (", 0) == 0u);
  // Numbers beyond double are a parse error, not an infinity.
  write_bytes(path, krrdistill_fuzz::text_bytes("{\"distilled\": {\"lambda_s\": 1e999}}"));
  BOOST_TEST(error_of(path).rfind(path + ": not valid JSON (", 0) == 0u);
  write_bytes(path, {});
  BOOST_TEST(error_of(path).rfind(path + ": not valid JSON (", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(report_must_match_the_dataset) {
  TempDir scratch("report");
  const std::string path = scratch.file("report.json");
  write_bytes(path, krrdistill_fuzz::text_bytes(valid("linear").dump()));
  const krrdistill::EvalReport r = krrdistill::read_eval_report(path);
  krrdistill::Dataset data;
  data.shape = krrdistill::ImageShape{1, 2, 2};
  data.num_classes = 3;
  BOOST_CHECK_NO_THROW(krrdistill::check_report_matches(r, data, path));
  data.shape = krrdistill::ImageShape{1, 28, 28};
  try {
    krrdistill::check_report_matches(r, data, path);
    BOOST_ERROR("expected an Error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()) ==
               path + ": made for images of 4 values, but the dataset's images have 784");
  }
  data.shape = krrdistill::ImageShape{1, 2, 2};
  data.num_classes = 10;
  try {
    krrdistill::check_report_matches(r, data, path);
    BOOST_ERROR("expected an Error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()) == path + ": made for 3 classes, but the dataset has 10");
  }
}

BOOST_AUTO_TEST_CASE(old_entry_points_name_the_file_too) {
  json report = valid("linear");
  report["dataset"].erase("dir");
  try {
    krrdistill::data_source_from_json(report, "X/report.json");
    BOOST_ERROR("expected an Error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()) == "X/report.json: missing \"dir\" in dataset");
  }
  report = valid("rff");
  report["model"]["p"] = "4";
  try {
    krrdistill::feature_spec_from_json(report);
    BOOST_ERROR("expected an Error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()) ==
               "report.json: \"p\" in model must be a non-negative integer");
  }
}

BOOST_AUTO_TEST_CASE(eval_refuses_bad_reports_with_one_line) {
  // The command line on a real distilled folder whose report.json is then
  // damaged: one "error:" line naming report.json, exit 1, no allocation
  // sized from the damaged fields.
  TempDir scratch("report");
  const std::string data = scratch.file("data"), out = scratch.file("out");
  write_idx_folder(data, 120, 30, 8, 3);
  const RunResult ok = run_cli(
      "distill --data " + data + " --out " + out + " --quiet --model rff --features 20 --ipc 2",
      scratch.path);
  BOOST_TEST_REQUIRE(ok.exit_code == 0, ok.err);
  const std::string path = out + "/report.json";
  const json good = json::parse(read_text(path));
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j["model"]["p"] = 1000000000000ull; }, "\"p\" in model is larger than"},
      {[](json& j) { j["model"]["p"] = -3; }, "\"p\" in model must be a non-negative integer"},
      {[](json& j) { j["model"]["kind"] = "svm"; }, "unknown model kind \"svm\""},
      {[](json& j) { j["model"]["rff_sigma"] = "wide"; },
       "\"rff_sigma\" in model must be a number"},
      {[](json& j) { j["dataset"]["preprocessing"]["zca_reg_fraction"] = 0; },
       "\"zca_reg_fraction\" in dataset.preprocessing must be positive"},
      {[](json& j) {
         j["dataset"]["shape"] = {1, 1000000, 1000000};
       },
       "\"d\" in dataset is not"},
      {[](json& j) { j.erase("model"); }, "missing section \"model\""},
      {[](json& j) { j["distilled"]["lambda_s"] = -1; }, "lambda_s"},
  };
  for (const auto& [change, part] : cases) {
    json report = good;
    change(report);
    write_bytes(path, krrdistill_fuzz::text_bytes(report.dump()));
    const RunResult r = run_cli("eval --distilled " + out, scratch.path);
    BOOST_TEST_CONTEXT(part << "\nstderr: " << r.err) {
      BOOST_TEST(r.exit_code == 1);
      BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
      BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      BOOST_TEST(r.err.find("report.json") != std::string::npos);
      BOOST_TEST(r.err.find(part) != std::string::npos);
    }
  }
  write_bytes(path, krrdistill_fuzz::text_bytes(good.dump()));
  const RunResult again = run_cli("eval --distilled " + out, scratch.path);
  BOOST_TEST(again.exit_code == 0, again.err);
}
