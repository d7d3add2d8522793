// Numbers that cannot be trusted are refused, not used: NaN or Inf in options
// and in the float files eval reads, a rank-deficient Ys, a feature map that
// is not surjective; a λs clamped away from what was asked is said out loud
// (a "warning:" line) and recorded in report.json.
#define BOOST_TEST_MODULE numerics
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/features.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/random.hpp"

using namespace fixtures;

namespace {

struct Fixture {
  TempDir scratch{"numerics"};
  std::string data = scratch.file("data");
  Fixture() { write_idx_folder(data, 200, 40, 8, 4); }

  RunResult distill(const std::string& out, const std::string& args) const {
    return run_cli("distill --data " + data + " --out " + out + " --quiet " + args, scratch.path);
  }
};

std::size_t lines(const std::string& text) {
  return std::size_t(std::count(text.begin(), text.end(), '\n'));
}

void expect_error(const RunResult& r, const std::string& part) {
  BOOST_TEST_CONTEXT("stderr: " << r.err) {
    BOOST_TEST(r.exit_code != 0);
    BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
    BOOST_TEST(lines(r.err) == 1u);
    BOOST_TEST(r.err.find(part) != std::string::npos);
  }
}

// Rewrites one value of a float64 .npy written by distill.
void poison(const std::string& path, std::size_t index, double value) {
  const krrdistill::NpyArray array = krrdistill::read_npy(path);
  std::vector<double> values = krrdistill::npy_as_double(array, path);
  BOOST_TEST_REQUIRE(index < values.size());
  values[index] = value;
  krrdistill::write_npy(path, array.shape, values.data());
}

struct Trained {
  krrdistill::FeatureMap map;
  arma::mat X;
  arma::uvec labels;
  arma::mat W;
};

Trained train(const std::string& kind, arma::uword d, arma::uword p, arma::uword k) {
  krrdistill::FeatureMapSpec spec;
  spec.kind = kind;
  spec.features = p;
  spec.width = p;
  spec.seed = 4;
  Trained t{krrdistill::make_feature_map(spec, d), {}, {}, {}};
  std::mt19937_64 rng = krrdistill::make_rng(9, krrdistill::RngStream::noise_init);
  t.X = krrdistill::gaussian_matrix(d, 60, 1.0, rng);
  t.labels.set_size(60);
  for (arma::uword i = 0; i < 60; ++i) t.labels[i] = i % k;
  t.W = krrdistill::fit_krr(krrdistill::map_features(t.map, t.X), krrdistill::one_hot(t.labels, k),
                            1e-2);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_CASE(non_finite_options_are_refused) {
  Fixture f;
  const std::string out = f.scratch.file("out");
  const std::pair<const char*, const char*> cases[] = {
      {"--lambda-s nan", "--lambda-s"},   {"--lambda-s inf", "--lambda-s"},
      {"--lambda inf", "--lambda"},       {"--lambda -inf", "--lambda"},
      {"--rff-sigma nan", "--rff-sigma"}, {"--zca --zca-reg inf", "--zca-reg"},
      {"--slope nan", "--slope"},         {"--lambda 1e999", "--lambda"},
  };
  for (const auto& [args, part] : cases) {
    BOOST_TEST_CONTEXT(args) {
      expect_error(f.distill(out, args), part);
      BOOST_TEST(!fs::exists(out));
    }
  }
}

BOOST_AUTO_TEST_CASE(eval_refuses_nan_and_inf_in_the_distilled_files) {
  Fixture f;
  const std::string out = f.scratch.file("out");
  BOOST_TEST_REQUIRE(f.distill(out, "--ipc 2").exit_code == 0);
  const std::string x = out + "/distilled_X.npy", y = out + "/distilled_Y.npy";
  const std::string x_clean = read_text(x), y_clean = read_text(y);
  BOOST_TEST_REQUIRE(run_cli("eval --distilled " + out, f.scratch.path).exit_code == 0);

  poison(x, 5, std::numeric_limits<double>::quiet_NaN());
  expect_error(run_cli("eval --distilled " + out, f.scratch.path),
               "distilled_X.npy: holds NaN or Inf");
  write_bytes(x, Bytes(x_clean.begin(), x_clean.end()));
  poison(y, 0, std::numeric_limits<double>::infinity());
  expect_error(run_cli("eval --distilled " + out, f.scratch.path),
               "distilled_Y.npy: holds NaN or Inf");
  poison(y, 0, -std::numeric_limits<double>::infinity());
  expect_error(run_cli("eval --distilled " + out, f.scratch.path),
               "distilled_Y.npy: holds NaN or Inf");
  write_bytes(y, Bytes(y_clean.begin(), y_clean.end()));
  BOOST_TEST(run_cli("eval --distilled " + out, f.scratch.path).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(clamped_lambda_s_is_warned_and_recorded) {
  Fixture f;
  const std::string out = f.scratch.file("out");
  // Noise init: with real init and learned labels D = Phi0⁺_λs, whose
  // singular values s/(s²+λs) never exceed 1/(2 sqrt(λs)), so no clamp is needed.
  const RunResult r = f.distill(out, "--ipc 2 --init noise --lambda-s 1e12");
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  // One warning line, nothing else.
  BOOST_TEST(r.err.rfind("warning: --lambda-s 1e+12 clamped to ", 0) == 0u, r.err);
  BOOST_TEST(lines(r.err) == 1u);
  const auto report = nlohmann::json::parse(read_text(out + "/report.json"));
  const auto& distilled = report["distilled"];
  BOOST_TEST(distilled["lambda_s_requested"].get<double>() == 1e12);
  BOOST_TEST(distilled["lambda_s_clamped"].get<bool>());
  const double used = distilled["lambda_s"].get<double>();
  BOOST_TEST(used > 0.0);
  BOOST_TEST(used < 1e12);
  // Still exact at the λs actually used, and eval refits with that one.
  BOOST_TEST(report["certificate"]["weight_rel_error"].get<double>() < 1e-8);
  const RunResult e = run_cli("eval --distilled " + out, f.scratch.path);
  BOOST_TEST_REQUIRE(e.exit_code == 0, e.err);
  BOOST_TEST(nlohmann::json::parse(e.out)["lambda_s"].get<double>() == used);

  // A λs within the bound: no warning, not clamped.
  const std::string out2 = f.scratch.file("out2");
  const RunResult quiet = f.distill(out2, "--ipc 2 --init noise --lambda-s 1e-6");
  BOOST_TEST_REQUIRE(quiet.exit_code == 0, quiet.err);
  BOOST_TEST(quiet.err.empty());
  const auto report2 = nlohmann::json::parse(read_text(out2 + "/report.json"));
  BOOST_TEST(!report2["distilled"]["lambda_s_clamped"].get<bool>());
  BOOST_TEST(report2["distilled"]["lambda_s_requested"].get<double>() == 1e-6);
}

BOOST_AUTO_TEST_CASE(rank_deficient_learned_labels_are_never_used) {
  // Two identical classes in W: the learned labels W (Phi0⁺)⁺ have rank < k,
  // so the distillation must keep the one-hot labels (full row rank) and
  // still reproduce W exactly.
  Trained t = train("linear", 12, 12, 3);
  t.W.row(2) = t.W.row(1);
  krrdistill::AnalyticOptions options;
  options.ipc = 2;
  options.init = krrdistill::Init::real;
  options.seed = 1;
  const arma::mat X0 = t.X.cols(krrdistill::choose_real_images(t.labels, 3, 2, 1));
  const krrdistill::DistilledSet ds = krrdistill::distill_analytic(t.map, t.W, X0, options);
  BOOST_TEST(!ds.learned_labels);
  BOOST_TEST(arma::rank(ds.Ys) == 3u);
  BOOST_TEST(arma::approx_equal(ds.Ys, krrdistill::distilled_one_hot(3, 2), "absdiff", 0.0));
  const arma::mat Ws = krrdistill::refit_distilled(t.map, ds.Xs, ds.Ys, ds.lambda_s);
  BOOST_TEST(arma::norm(Ws - t.W, "fro") / arma::norm(t.W, "fro") < 1e-10);

  // With distinct classes the learned labels have full rank and are used.
  const Trained u = train("linear", 12, 12, 3);
  const arma::mat U0 = u.X.cols(krrdistill::choose_real_images(u.labels, 3, 2, 1));
  const krrdistill::DistilledSet learned = krrdistill::distill_analytic(u.map, u.W, U0, options);
  BOOST_TEST(learned.learned_labels);
  BOOST_TEST(arma::rank(learned.Ys) == 3u);
}

BOOST_AUTO_TEST_CASE(non_finite_weights_are_refused) {
  Trained t = train("linear", 12, 12, 3);
  t.W(1, 4) = std::numeric_limits<double>::quiet_NaN();
  krrdistill::AnalyticOptions options;
  const std::string message =
      error_of([&] { krrdistill::distill_analytic(t.map, t.W, arma::mat(), options); });
  BOOST_TEST(message.find("not finite") != std::string::npos, message);
  options.lambda_s = std::numeric_limits<double>::infinity();
  t.W(1, 4) = 0.0;
  BOOST_TEST(error_of([&] {
               krrdistill::distill_analytic(t.map, t.W, arma::mat(), options);
             }).find("--lambda-s") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(non_surjective_maps_are_refused) {
  // p > d (RFF) and a hidden layer wider than its input (FCNN) are injective:
  // refused before any work, by the library and by the command line.
  for (const std::string kind : {"rff", "fcnn"}) {
    BOOST_TEST_CONTEXT(kind) {
      const Trained t = train(kind, 8, 11, 3);
      BOOST_TEST(!krrdistill::surjectivity_problem(t.map).empty());
      const std::string message =
          error_of([&] { krrdistill::distill_analytic(t.map, t.W, arma::mat(), {}); });
      BOOST_TEST(message == krrdistill::surjectivity_problem(t.map));
      const Trained ok = train(kind, 8, 8, 3);
      BOOST_TEST(krrdistill::surjectivity_problem(ok.map).empty());
    }
  }
  Fixture f;
  const std::string out = f.scratch.file("out");
  expect_error(f.distill(out, "--model rff --features 65"), "injective");
  expect_error(f.distill(out, "--model fcnn --width 65"), "width");
  BOOST_TEST(!fs::exists(out));
}
