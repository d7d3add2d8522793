// End to end on the real Fashion-MNIST (60,000 / 10,000) from Debian's
// dataset-fashion-mnist: the distilled model must equal the original one,
// and `eval` must reproduce the distilled test accuracy from the files alone.
#define BOOST_TEST_MODULE e2e_fashion_mnist
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

using namespace fixtures;
namespace bdata = boost::unit_test::data;

namespace {

struct Run {
  std::string args;
  double max_weight_error;
};

nlohmann::json distill_and_check(const std::string& args, double max_weight_error) {
  TempDir scratch("e2e");
  const std::string out = scratch.file("out");
  const RunResult r =
      run_cli("distill --dataset fashion-mnist --data " + std::string(KRRDISTILL_FASHION_MNIST) +
                  " --quiet --out " + out + " " + args,
              scratch.path);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto report = nlohmann::json::parse(read_text(out + "/report.json"));
  const auto& cert = report["certificate"];
  BOOST_TEST_MESSAGE(args << ": weight_rel_error " << cert["weight_rel_error"] << ", original test "
                          << cert["original"]["test_acc"] << ", distilled test "
                          << cert["distilled"]["test_acc"] << ", total "
                          << report["timings_s"]["total"] << " s");
  BOOST_TEST(report["dataset"]["n_train"].get<int>() == 60000);
  BOOST_TEST(report["dataset"]["n_test"].get<int>() == 10000);
  BOOST_TEST(cert["weight_rel_error"].get<double>() < max_weight_error);
  BOOST_TEST(cert["cosine"].get<double>() > 1.0 - 1e-10);
  BOOST_TEST(cert["test_agreement"].get<double>() == 1.0);
  BOOST_TEST(cert["distilled"]["test_acc"].get<double>() ==
             cert["original"]["test_acc"].get<double>());
  BOOST_TEST(cert["distilled"]["train_acc"].get<double>() ==
             cert["original"]["train_acc"].get<double>());
  BOOST_TEST(cert["nearest_train_distance"]["values"].size() ==
             report["distilled"]["m"].get<std::size_t>());

  // The sceptic's check: refit from the written files only.
  const RunResult e = run_cli("eval --distilled " + out, scratch.path);
  BOOST_TEST_REQUIRE(e.exit_code == 0, e.err);
  const auto eval = nlohmann::json::parse(e.out);
  BOOST_TEST(eval["test_acc"].get<double>() == cert["distilled"]["test_acc"].get<double>());
  BOOST_TEST(eval["matches_report"].get<bool>());
  return report;
}

}  // namespace

BOOST_AUTO_TEST_CASE(linear_ipc1_noise) {
  const auto report = distill_and_check("--ipc 1 --init noise", 1e-8);
  // Linear ridge regression on standardised pixels: about 0.80–0.85.
  const double acc = report["certificate"]["original"]["test_acc"].get<double>();
  BOOST_TEST(acc > 0.80);
  BOOST_TEST(acc < 0.86);
  BOOST_TEST(report["model"]["lambda_grid"].size() == 24u);
  BOOST_TEST(report["distilled"]["m"].get<int>() == 10);
}

BOOST_AUTO_TEST_CASE(linear_ipc10_real) {
  const auto report = distill_and_check("--ipc 10 --init real", 1e-8);
  BOOST_TEST(report["distilled"]["learned_labels"].get<bool>());
  // Started from real images, the distilled ones stay close to them.
  BOOST_TEST(report["certificate"]["init_relative_distance"]["median"].get<double>() < 1.0);
}

BOOST_AUTO_TEST_CASE(linear_ipc50_real) {
  distill_and_check("--ipc 50 --init real", 1e-8);
}

BOOST_AUTO_TEST_CASE(linear_lambda_s_positive) {
  const auto report = distill_and_check("--ipc 10 --init real --lambda-s 1e-2", 1e-8);
  BOOST_TEST(report["distilled"]["lambda_s"].get<double>() > 0.0);
}

BOOST_DATA_TEST_CASE(nonlinear_models, bdata::make({"rff", "fcnn"}) * bdata::make({0, 1}), model,
                     real) {
  const std::string init = real ? "--ipc 10 --init real" : "--ipc 1 --init noise";
  const auto report = distill_and_check(std::string("--model ") + model + " " + init, 1e-6);
  const nlohmann::json& cert = report["certificate"];
  BOOST_TEST(double(cert["feature_rel_error"]) < 1e-8);
  BOOST_TEST(double(cert["original"]["test_acc"]) > 0.80);
}
