// Real targets from the command line (docs/design.md §10): a .npy folder
// with float y files distils, certifies and passes eval; the output is the
// same bytes for any thread count and when streamed; eval catches a changed
// file; what needs classes refuses with one "error:" line.
#define BOOST_TEST_MODULE cli_regression
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"

using namespace fixtures;

namespace {

struct Case {
  TempDir scratch{"cli_regression"};
  std::string data = scratch.file("data");
  Case() {
    fs::create_directories(data);
    std::mt19937_64 rng(9);
    std::normal_distribution<double> normal;
    const unsigned d = 36, k = 2;
    std::vector<double> a(k * d);
    for (double& v : a) v = normal(rng);
    const auto write_split = [&](const std::string& which, unsigned n) {
      Bytes pixels(n * d);
      for (auto& q : pixels) q = std::uint8_t(rng() % 256);
      // Targets a linear function of the centred pixels, plus noise.
      std::vector<double> y(n * k);
      for (unsigned i = 0; i < n; ++i)
        for (unsigned j = 0; j < k; ++j) {
          double v = 0.1 * normal(rng);
          for (unsigned l = 0; l < d; ++l) v += a[j * d + l] * (pixels[i * d + l] / 255.0 - 0.5);
          y[i * k + j] = v;
        }
      write_plain(data + "/x_" + which + ".npy",
                  krrdistill_fuzz::npy("|u1", "(" + std::to_string(n) + ", 6, 6)", pixels));
      write_plain(data + "/y_" + which + ".npy",
                  krrdistill_fuzz::npy("<f8", "(" + std::to_string(n) + ", 2)", le_bytes(y)));
    };
    write_split("train", 300);
    write_split("test", 80);
  }

  RunResult run(const std::string& args) { return run_cli(args + " --quiet", scratch.path); }

  nlohmann::json distill(const std::string& out, const std::string& options) {
    const RunResult r =
        run("distill --dataset npy --data " + data + " --chunk 64 --out " + out + " " + options);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.err.empty(), r.err);  // centred targets: no intercept warning
    return nlohmann::json::parse(read_text(out + "/report.json"));
  }

  void expect_refusal(const std::string& args, const std::string& message_part) {
    const RunResult r = run(args);
    BOOST_TEST_CONTEXT("args: " << args << "\nstderr: " << r.err) {
      check_refusal(r, message_part);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(distils_certifies_and_passes_eval) {
  Case c;
  for (const std::string model : {"linear", "rff", "fcnn"})
    for (const std::string init : {"noise", "real"}) {
      BOOST_TEST_CONTEXT(model << " " << init) {
        const std::string out = c.scratch.file(model + "-" + init);
        const nlohmann::json report =
            c.distill(out, "--model " + model + " --init " + init + " --ipc 2");
        BOOST_TEST(report["dataset"]["targets"] == "regression");
        BOOST_TEST(report["dataset"]["k"] == 2);
        BOOST_TEST(report["model"]["lambda_grid"][0]["val_acc"].is_null());
        const nlohmann::json& cert = report["certificate"];
        BOOST_TEST(cert["exact"] == true);
        BOOST_TEST(cert["weight_rel_error"].get<double>() < 1e-9);
        BOOST_TEST(cert["original"]["test_r2"].get<double>() > 0.3);
        BOOST_TEST(std::abs(cert["original"]["test_mse"].get<double>() -
                            cert["distilled"]["test_mse"].get<double>()) < 1e-9);
        BOOST_TEST(!cert.contains("test_agreement"));
        const RunResult eval =
            run_cli("eval --distilled " + out + " --refit-original", c.scratch.path);
        BOOST_TEST(eval.exit_code == 0, eval.err);
        const nlohmann::json checks = nlohmann::json::parse(eval.out)["checks"];
        BOOST_TEST(checks["test_mse"]["pass"] == true);
        BOOST_TEST(checks["original_test_mse"]["pass"] == true);
        BOOST_TEST(checks["refit_original"]["pass"] == true);
      }
    }
}

BOOST_AUTO_TEST_CASE(same_bytes_for_threads_and_streaming) {
  Case c;
  const std::string options = "--model fcnn --init real --ipc 3 --seed 4";
  c.distill(c.scratch.file("one"), options + " --threads 1");
  c.distill(c.scratch.file("two"), options + " --threads 2");
  c.distill(c.scratch.file("stream"), options + " --stream");
  for (const std::string file : {"distilled_X.npy", "distilled_Y.npy", "model_W.npy"}) {
    BOOST_TEST(read_bytes(c.scratch.file("one/" + file)) ==
               read_bytes(c.scratch.file("two/" + file)));
    BOOST_TEST(read_bytes(c.scratch.file("one/" + file)) ==
               read_bytes(c.scratch.file("stream/" + file)));
  }
}

BOOST_AUTO_TEST_CASE(eval_catches_a_changed_file) {
  Case c;
  const std::string out = c.scratch.file("set");
  c.distill(out, "--ipc 1");
  // The last value of model_W.npy and then of distilled_Y.npy, changed.
  for (const std::string file : {"model_W.npy", "distilled_Y.npy"}) {
    const std::string path = out + "/" + file;
    const Bytes original = read_bytes(path);
    Bytes changed = original;
    changed[changed.size() - 2] ^= 0x10;
    write_plain(path, changed);
    const RunResult eval = run_cli("eval --distilled " + out, c.scratch.path);
    BOOST_TEST(eval.exit_code == 1, file << ": " << eval.err);
    write_plain(path, original);
  }
  BOOST_TEST(run_cli("eval --distilled " + out, c.scratch.path).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(what_needs_classes_refuses) {
  Case c;
  const std::string source = "--dataset npy --data " + c.data;
  c.expect_refusal("kip " + source + " --out " + c.scratch.file("kip"), "real targets");
  c.expect_refusal("labelsolve " + source + " --out " + c.scratch.file("ls"), "real targets");
  c.expect_refusal("compare " + source + " --out " + c.scratch.file("cmp"), "real targets");
  c.expect_refusal("stats " + source + " --out " + c.scratch.file("s.stats"), "real targets");
  const std::string set = c.scratch.file("set");
  c.distill(set, "--ipc 1");
  c.expect_refusal("transfer --distilled " + set + " --out " + c.scratch.file("tr"),
                   "real targets");
  c.expect_refusal("distill " + source + " --ipc 151 --out " + c.scratch.file("big"),
                   "--ipc must be between 1 and 150");
  BOOST_TEST(!fs::exists(c.scratch.file("kip")));
  BOOST_TEST(!fs::exists(c.scratch.file("big")));
  // Targets far from zero: fitted, with a warning about the missing intercept.
  const Bytes y = read_bytes(c.data + "/y_train.npy");
  std::vector<double> shifted(300 * 2);
  const std::size_t header = y.size() - shifted.size() * 8;
  std::memcpy(shifted.data(), y.data() + header, shifted.size() * 8);
  for (double& v : shifted) v += 100.0;
  write_plain(c.data + "/y_train.npy", krrdistill_fuzz::npy("<f8", "(300, 2)", le_bytes(shifted)));
  const RunResult r = c.run("distill " + source + " --ipc 1 --out " + c.scratch.file("shifted"));
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.rfind("warning: target y0 has training mean", 0) == 0u, r.err);
  // A refused run prints its one error line, no warning before it.
  c.expect_refusal(
      "distill " + source + " --model rff --features 100 --out " + c.scratch.file("refused"),
      "random Fourier features with p = 100");
  // The summary gives the regression scores.
  const RunResult summary =
      run_cli("distill " + source + " --out " + c.scratch.file("summary"), c.scratch.path);
  BOOST_TEST(contains(summary.out, "test MSE original"), summary.out);
}
