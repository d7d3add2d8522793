// The certificate fails closed: distill and compare refuse a distilled set
// that does not reproduce the model (unless --allow-inexact), RFF bandwidths
// that cannot certify are refused up front, and eval checks a written set
// itself (weights against model_W.npy, every test prediction against the
// recorded digest), refusing any edit of it.
#define BOOST_TEST_MODULE cli_certificate
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/npy.hpp"

using namespace fixtures;
using nlohmann::json;

namespace {

// Deep and flat: inverting 8 layers of slope 0.02 amplifies rounding far
// past any tolerance on the fixture (|Ws-W|/|W| ≈ 1, most predictions change).
const std::string kFailingFcnn = " --model fcnn --layers 8 --slope 0.02";

struct Case {
  TempDir scratch{"cli_certificate"};
  std::string data = scratch.file("data");
  std::string out = scratch.file("out");
  Case() { write_idx_folder(data, 200, 40, 8, 4); }

  RunResult distill(const std::string& args, const std::string& to) const {
    return run_cli("distill --data " + data + " --out " + to + " --quiet --ipc 2" + args,
                   scratch.path);
  }
  RunResult eval(const std::string& dir, const std::string& args = "") const {
    return run_cli("eval --distilled " + dir + args, scratch.path);
  }
};

std::size_t lines(const std::string& text) {
  return std::size_t(std::count(text.begin(), text.end(), '\n'));
}

void expect_one_error(const RunResult& r, const std::string& part) {
  BOOST_TEST_CONTEXT("stderr: " << r.err) {
    BOOST_TEST(r.exit_code != 0);
    BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
    BOOST_TEST(lines(r.err) == 1u);
    BOOST_TEST(contains(r.err, part));
  }
}

void expect_nothing_published(const Case& c, const std::string& out) {
  BOOST_TEST(!fs::exists(out));
  for (const auto& entry : fs::directory_iterator(c.scratch.path))
    BOOST_TEST(!contains(entry.path().filename().string(), ".partial"));
}

// A float64 .npy as its values, edited, and written back with its shape.
void edit_npy(const std::string& path, const std::function<void(std::vector<double>&)>& change) {
  const krrdistill::NpyArray array = krrdistill::read_npy(path);
  std::vector<double> values = krrdistill::npy_as_double(array, path);
  change(values);
  krrdistill::write_npy(path, array.shape, values.data());
}

void copy_folder(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

}  // namespace

BOOST_AUTO_TEST_CASE(tolerances_and_problems) {
  BOOST_TEST(krrdistill::certificate_tolerance("linear") == 1e-8);
  BOOST_TEST(krrdistill::certificate_tolerance("rff") == 1e-6);
  BOOST_TEST(krrdistill::certificate_tolerance("fcnn") == 1e-6);
  BOOST_TEST(krrdistill::certificate_problem("linear", 9e-9, 0, 100).empty());
  BOOST_TEST(krrdistill::certificate_problem("fcnn", 9e-7, 0, 100).empty());
  const std::string weights = krrdistill::certificate_problem("linear", 2e-8, 0, 100);
  BOOST_TEST(contains(weights, "|Ws-W|/|W| = 2e-08 > 1e-08 (linear)"));
  BOOST_TEST(contains(weights, "all 100 test predictions agree"));
  const std::string both = krrdistill::certificate_problem("fcnn", 0.99, 3912, 10000);
  BOOST_TEST(contains(both, "0.99 > 1e-06 (fcnn) and 3912 of 10000 test predictions differ"));
  BOOST_TEST(contains(both, "--layers"));
  // Exact weights are not enough: one changed prediction fails.
  BOOST_TEST(contains(krrdistill::certificate_problem("rff", 1e-12, 1, 10),
                      "<= 1e-06 (rff) but 1 of 10 test predictions differ"));
  BOOST_TEST(!krrdistill::certificate_problem("rff", std::nan(""), 0, 10).empty());
}

BOOST_AUTO_TEST_CASE(prediction_digest_is_crc32_of_uint32le_classes) {
  // zlib.crc32(struct.pack('<5I', 0, 1, 2, 3, 9)) in Python.
  const krrdistill::PredictionDigest d = krrdistill::prediction_digest({0, 1, 2, 3, 9});
  BOOST_TEST(d.count == 5u);
  BOOST_TEST(d.crc32 == 3187793130u);
  BOOST_TEST((krrdistill::prediction_digest({0, 1, 2, 3, 8}) != d));
}

BOOST_AUTO_TEST_CASE(exact_run_records_what_eval_checks) {
  Case c;
  const RunResult r = c.distill("", c.out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.empty());
  const json report = json::parse(read_text(c.out + "/report.json"));
  BOOST_TEST(report["certificate"]["exact"].get<bool>());
  BOOST_TEST(report["certificate"]["tolerance"].get<double>() == 1e-8);
  BOOST_TEST(report["certificate"]["test_disagreements"].get<unsigned>() == 0u);
  BOOST_TEST(!report["distilled"]["allow_inexact"].get<bool>());
  BOOST_TEST(report["certificate"]["original"]["test_predictions"]["count"].get<unsigned>() == 40u);
  BOOST_TEST(report["certificate"]["original"]["test_predictions"]["crc32"] ==
             report["certificate"]["distilled"]["test_predictions"]["crc32"]);
  BOOST_TEST(fs::path(report["dataset"]["dir"].get<std::string>()).is_absolute());
  const krrdistill::NpyArray W = krrdistill::read_npy(c.out + "/model_W.npy");
  BOOST_TEST((W.shape == std::vector<std::uint64_t>{4, 64}));
  BOOST_TEST(W.dtype == "<f8");
}

BOOST_AUTO_TEST_CASE(failing_certificate_publishes_nothing) {
  Case c;
  const RunResult r = c.distill(kFailingFcnn, c.out);
  expect_one_error(r, "the distilled set does not reproduce the model: |Ws-W|/|W| = ");
  BOOST_TEST(contains(r.err, "> 1e-06 (fcnn)"));
  BOOST_TEST(contains(r.err, "--allow-inexact"));
  expect_nothing_published(c, c.out);
}

BOOST_AUTO_TEST_CASE(allow_inexact_publishes_and_says_so) {
  Case c;
  const RunResult r = c.distill(kFailingFcnn + " --allow-inexact", c.out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.rfind("warning: ", 0) == 0u);
  BOOST_TEST(lines(r.err) == 1u);
  const json report = json::parse(read_text(c.out + "/report.json"));
  BOOST_TEST(!report["certificate"]["exact"].get<bool>());
  BOOST_TEST(report["certificate"]["tolerance"].get<double>() == 1e-6);
  BOOST_TEST(report["certificate"]["weight_rel_error"].get<double>() > 1e-6);
  BOOST_TEST(report["distilled"]["allow_inexact"].get<bool>());
  // eval holds the set to the same standard.
  const RunResult e = c.eval(c.out);
  expect_one_error(e, "published with --allow-inexact");
  BOOST_TEST(!json::parse(e.out)["pass"].get<bool>());
}

BOOST_AUTO_TEST_CASE(rff_bandwidths_that_cannot_certify_are_refused_up_front) {
  Case c;
  expect_one_error(c.distill(" --model rff --rff-sigma 1e-300", c.out), "is too small");
  expect_nothing_published(c, c.out);
  expect_one_error(c.distill(" --model rff --rff-sigma 1e300", c.out), "is too large");
  expect_nothing_published(c, c.out);
  expect_one_error(c.distill(" --model rff --rff-sigma 1e-310", c.out), "overflow");
  expect_nothing_published(c, c.out);
}

BOOST_AUTO_TEST_CASE(eval_passes_an_untouched_set) {
  Case c;
  for (const std::string model : {"linear", "rff", "fcnn"}) {
    const std::string out = c.scratch.file("out_" + model);
    BOOST_TEST_CONTEXT(model) {
      const RunResult r = c.distill(" --model " + model, out);
      BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
      const RunResult e = c.eval(out, " --refit-original");
      BOOST_TEST_REQUIRE(e.exit_code == 0, e.err);
      BOOST_TEST(e.err.empty());
      const json j = json::parse(e.out);
      BOOST_TEST(j["pass"].get<bool>());
      for (const char* check : {"model_weight_norm", "weight_rel_error", "test_predictions",
                                "original_test_predictions", "test_acc", "refit_original"})
        BOOST_TEST(j["checks"][check]["pass"].get<bool>(), check);
      BOOST_TEST(j["checks"]["test_predictions"]["differ_from_model_W"].get<unsigned>() == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(eval_refuses_edited_sets) {
  Case c;
  BOOST_TEST_REQUIRE(c.distill("", c.out).exit_code == 0);
  const std::string edited = c.scratch.file("edited");
  const std::vector<std::pair<std::string, std::function<void()>>> edits = {
      {"labels times 2",
       [&] {
         edit_npy(edited + "/distilled_Y.npy", [](auto& v) {
           for (double& x : v) x *= 2;
         });
       }},
      {"labels plus 0.3",
       [&] {
         edit_npy(edited + "/distilled_Y.npy", [](auto& v) {
           for (double& x : v) x += 0.3;
         });
       }},
      {"one label nudged",
       [&] { edit_npy(edited + "/distilled_Y.npy", [](auto& v) { v[5] += 1e-3; }); }},
      {"one pixel nudged",
       [&] { edit_npy(edited + "/distilled_X.npy", [](auto& v) { v[17] += 1e-3; }); }},
      {"model_W nudged", [&] { edit_npy(edited + "/model_W.npy", [](auto& v) { v[3] += 1e-3; }); }},
  };
  for (const auto& [what, edit] : edits) {
    copy_folder(c.out, edited);
    edit();
    const RunResult e = c.eval(edited);
    BOOST_TEST_CONTEXT(what) {
      expect_one_error(e, "the distilled set does not reproduce the model");
      BOOST_TEST(!json::parse(e.out)["pass"].get<bool>());
    }
  }
  // The untouched copy passes.
  copy_folder(c.out, edited);
  BOOST_TEST(c.eval(edited).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(eval_works_from_another_folder) {
  // Distilled with a relative --data; eval from elsewhere finds the dataset
  // through the absolute path in the report.
  Case c;
  const RunResult r =
      run_cli("distill --data data --out out --quiet", c.scratch.path, c.scratch.dir());
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const std::string elsewhere = c.scratch.file("elsewhere");
  fs::create_directories(elsewhere);
  const RunResult e = run_cli("eval --distilled ../out", c.scratch.path, elsewhere);
  BOOST_TEST(e.exit_code == 0, e.err);
  BOOST_TEST(json::parse(e.out)["pass"].get<bool>());
}

BOOST_AUTO_TEST_CASE(eval_reproduces_zca_exactly) {
  // eval fits the preprocessing as distill does (streamed, compensated), so
  // the whitening, and with it every figure, is the same.
  Case c;
  for (const std::string model : {"linear", "fcnn"}) {
    const std::string out = c.scratch.file("zca_" + model);
    BOOST_TEST_CONTEXT(model) {
      BOOST_TEST_REQUIRE(c.distill(" --zca --model " + model, out).exit_code == 0);
      const RunResult e = c.eval(out, " --refit-original");
      BOOST_TEST(e.exit_code == 0, e.err);
      const json j = json::parse(e.out);
      BOOST_TEST(j["checks"]["refit_original"]["rel_error_to_model_W"].get<double>() == 0.0);
      BOOST_TEST(j["checks"]["original_test_predictions"]["pass"].get<bool>());
    }
  }
}

BOOST_AUTO_TEST_CASE(compare_checks_its_analytic_rows) {
  Case c;
  const std::string args =
      "compare --data " + c.data + " --quiet --ipc 1,2 --kip-steps 2" + kFailingFcnn + " --out ";
  expect_one_error(run_cli(args + c.out, c.scratch.path), "analytic ipc 1: the distilled set");
  expect_nothing_published(c, c.out);
  const RunResult kept = run_cli(args + c.out + " --allow-inexact", c.scratch.path);
  BOOST_TEST_REQUIRE(kept.exit_code == 0, kept.err);
  BOOST_TEST(lines(kept.err) == 2u);  // one warning a row
  const json report = json::parse(read_text(c.out + "/compare.json"));
  BOOST_TEST(report["settings"]["allow_inexact"].get<bool>());
  for (const json& row : report["rows"])
    if (row["method"] == "analytic") BOOST_TEST(!row["certificate"]["exact"].get<bool>());

  const std::string exact = c.scratch.file("exact");
  const RunResult ok = run_cli(
      "compare --data " + c.data + " --quiet --ipc 1,2 --kip-steps 2 --model rff --out " + exact,
      c.scratch.path);
  BOOST_TEST_REQUIRE(ok.exit_code == 0, ok.err);
  const json compare = json::parse(read_text(exact + "/compare.json"));
  for (const json& row : compare["rows"])
    if (row["method"] == "analytic") {
      BOOST_TEST(row["certificate"]["exact"].get<bool>());
      BOOST_TEST(row["certificate"]["test_disagreements"].get<unsigned>() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(eval_checks_kip_and_labelsolve_sets) {
  // No exact original model: eval checks what they recorded, every test
  // prediction of the KRR fit on their support.
  Case c;
  const std::vector<std::string> runs = {"kip --model ntk --steps 5 --batch 40 --eval-every 5",
                                         "kip --model rff --steps 5", "labelsolve --model linear",
                                         "labelsolve --model rbf"};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const std::string out = c.scratch.file("support_" + std::to_string(i));
    BOOST_TEST_CONTEXT(runs[i]) {
      const RunResult r = run_cli(
          runs[i] + " --data " + c.data + " --out " + out + " --quiet --ipc 2", c.scratch.path);
      BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
      const RunResult e = c.eval(out);
      BOOST_TEST_REQUIRE(e.exit_code == 0, e.err);
      BOOST_TEST(json::parse(e.out)["checks"]["test_predictions"]["pass"].get<bool>());
      expect_one_error(c.eval(out, " --refit-original"),
                       "--refit-original needs a set written by distill");
      // Swapping the labels of classes 0 and 1 swaps those predictions.
      edit_npy(out + "/distilled_Y.npy", [](std::vector<double>& v) {
        for (std::size_t row = 0; row + 4 <= v.size(); row += 4) std::swap(v[row], v[row + 1]);
      });
      const RunResult bad = c.eval(out);
      expect_one_error(bad, "the set no longer gives what");
      BOOST_TEST(!json::parse(bad.out)["pass"].get<bool>());
    }
  }
}
