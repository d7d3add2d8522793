// Feature matrices from the command line (docs/design.md §11): a .npy
// folder with float x files distils, certifies and passes eval; the output
// (distilled_X.npy of shape (m, p), principal_plane.png, no grid) is the
// same bytes for any thread count and when streamed; what needs images
// refuses with one "error:" line.
#define BOOST_TEST_MODULE cli_feature_matrix
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "../fuzz/harness.hpp"
#define FIXTURES_READ_PNG
#include "fixtures.hpp"

using namespace fixtures;

namespace {

// Three classes of 12 float64 features: class means apart, unit noise.
struct Case {
  TempDir scratch{"cli_feature_matrix"};
  std::string data = scratch.file("data");
  Case() {
    fs::create_directories(data);
    std::mt19937_64 rng(5);
    std::normal_distribution<double> normal;
    const auto write_split = [&](const std::string& which, unsigned n) {
      std::vector<double> x(n * 12);
      std::vector<std::uint8_t> y(n);
      for (unsigned i = 0; i < n; ++i) {
        y[i] = std::uint8_t(i % 3);
        for (unsigned j = 0; j < 12; ++j) x[i * 12 + j] = normal(rng) + (j % 3 == y[i] ? 2.0 : 0.0);
      }
      write_plain(data + "/x_" + which + ".npy",
                  krrdistill_fuzz::npy("<f8", "(" + std::to_string(n) + ", 12)", le_bytes(x)));
      write_plain(data + "/y_" + which + ".npy",
                  krrdistill_fuzz::npy("|u1", "(" + std::to_string(n) + ",)", le_bytes(y)));
    };
    write_split("train", 300);
    write_split("test", 90);
  }

  RunResult run(const std::string& args) { return run_cli(args + " --quiet", scratch.path); }

  nlohmann::json distill(const std::string& out, const std::string& options) {
    const RunResult r =
        run("distill --dataset npy --data " + data + " --chunk 64 --out " + out + " " + options);
    BOOST_TEST(r.exit_code == 0, r.err);
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
    for (const std::string options : {"--init noise", "--init real --standardize"}) {
      BOOST_TEST_CONTEXT(model << " " << options) {
        const std::string out = c.scratch.file(model + (options.size() > 12 ? "-std" : ""));
        const nlohmann::json report = c.distill(out, "--model " + model + " --ipc 2 " + options);
        BOOST_TEST(report["dataset"]["inputs"] == "features");
        BOOST_TEST(report["dataset"]["d"] == 12);
        BOOST_TEST(report["dataset"]["preprocessing"]["standardize"] == (options.size() > 12));
        BOOST_TEST(report["certificate"]["exact"] == true);
        BOOST_TEST(report["certificate"]["original"]["test_acc"].get<double>() > 0.8);
        BOOST_TEST(report["distilled"]["files"]["principal_plane"] == "principal_plane.png");
        BOOST_TEST(!report["distilled"]["files"].contains("grid"));
        BOOST_TEST(!fs::exists(out + "/grid.png"));
        const PngPixels plane = decode_png(out + "/principal_plane.png");
        BOOST_TEST(plane.width == 960);
        // distilled_X.npy is (m, p): 6 points of 12 features.
        const std::string x = read_text(out + "/distilled_X.npy");
        BOOST_TEST(contains(x, "'shape': (6, 12)"));
        const RunResult eval =
            run_cli("eval --distilled " + out + " --refit-original", c.scratch.path);
        BOOST_TEST(eval.exit_code == 0, eval.err);
      }
    }
}

// Features and real targets together: a regression on embeddings.
BOOST_AUTO_TEST_CASE(features_with_real_targets) {
  Case c;
  // y = feature 0 − feature 4 of each sample, read back from x_*.npy.
  for (const std::string which : {"train", "test"}) {
    const Bytes x = read_bytes(c.data + "/x_" + which + ".npy");
    const unsigned n = which == "train" ? 300 : 90;
    std::vector<double> values(n * 12), y(n);
    std::memcpy(values.data(), x.data() + (x.size() - values.size() * 8), values.size() * 8);
    for (unsigned i = 0; i < n; ++i) y[i] = values[i * 12] - values[i * 12 + 4];
    write_plain(c.data + "/y_" + which + ".npy",
                krrdistill_fuzz::npy("<f8", "(" + std::to_string(n) + ",)", le_bytes(y)));
  }
  const std::string out = c.scratch.file("reg");
  const nlohmann::json report = c.distill(out, "--model fcnn --init real --ipc 3 --standardize");
  BOOST_TEST(report["dataset"]["inputs"] == "features");
  BOOST_TEST(report["dataset"]["targets"] == "regression");
  BOOST_TEST(report["certificate"]["exact"] == true);
  BOOST_TEST(report["certificate"]["original"]["test_r2"].get<double>() > 0.5);
  BOOST_TEST(decode_png(out + "/principal_plane.png").width == 960);
  const RunResult eval = run_cli("eval --distilled " + out, c.scratch.path);
  BOOST_TEST(eval.exit_code == 0, eval.err);
}

BOOST_AUTO_TEST_CASE(summary_names_the_picture) {
  Case c;
  const RunResult r = run_cli(
      "distill --dataset npy --data " + c.data + " --out " + c.scratch.file("o"), c.scratch.path);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "principal_plane.png"), r.out);
  BOOST_TEST(!contains(r.out, "grid.png"), r.out);
}

BOOST_AUTO_TEST_CASE(same_bytes_for_threads_and_streaming) {
  Case c;
  const std::string options = "--model fcnn --init real --ipc 3 --seed 4 --standardize";
  c.distill(c.scratch.file("one"), options + " --threads 1");
  c.distill(c.scratch.file("two"), options + " --threads 2");
  c.distill(c.scratch.file("stream"), options + " --stream");
  for (const std::string file :
       {"distilled_X.npy", "distilled_Y.npy", "model_W.npy", "principal_plane.png"}) {
    BOOST_TEST(read_bytes(c.scratch.file("one/" + file)) ==
               read_bytes(c.scratch.file("two/" + file)));
    BOOST_TEST(read_bytes(c.scratch.file("one/" + file)) ==
               read_bytes(c.scratch.file("stream/" + file)));
  }
}

BOOST_AUTO_TEST_CASE(what_needs_images_refuses) {
  Case c;
  const std::string source = "--dataset npy --data " + c.data;
  c.expect_refusal("kip " + source + " --out " + c.scratch.file("kip"), "feature matrix");
  c.expect_refusal("labelsolve " + source + " --out " + c.scratch.file("ls"), "feature matrix");
  c.expect_refusal("compare " + source + " --out " + c.scratch.file("cmp"), "feature matrix");
  c.expect_refusal("stats " + source + " --out " + c.scratch.file("s.stats"), "feature matrix");
  c.expect_refusal("distill " + source + " --zca --out " + c.scratch.file("z"),
                   "--zca whitens images; a feature matrix takes --standardize");
  const std::string set = c.scratch.file("set");
  c.distill(set, "--ipc 1");
  c.expect_refusal("transfer --distilled " + set + " --out " + c.scratch.file("tr"),
                   "feature matrix");
  BOOST_TEST(!fs::exists(c.scratch.file("kip")));
  BOOST_TEST(!fs::exists(c.scratch.file("z")));
  // --standardize is for feature matrices.
  const std::string images = c.scratch.file("images");
  write_idx_folder(images, 60, 20, 6, 3);
  c.expect_refusal(
      "distill --dataset idx --data " + images + " --standardize --out " + c.scratch.file("s"),
      "--standardize is for feature matrices");
  // A feature that does not vary cannot be standardised.
  std::vector<double> flat(300 * 12, 0.1);  // not a double: a mean that misses by ulps
  write_plain(c.data + "/x_train.npy", krrdistill_fuzz::npy("<f8", "(300, 12)", le_bytes(flat)));
  c.expect_refusal("distill " + source + " --standardize --out " + c.scratch.file("flat"),
                   "feature 0 is constant over the training samples");
}
