// Distributed distillation (distributed.hpp). In every build: the shards and
// the single-process collectives. In a build with -DKRRDISTILL_MPI=ON also
// `mpirun -np R krrdistill distill` against the one-process run of the same
// binary, on a small fixture and on the real Fashion-MNIST: the same λ and
// validation scores, the same counts, every predicted class the same, and
// W, the distilled images and the distances equal to 1e-10 (relative).
#define BOOST_TEST_MODULE test_mpi
#include <zlib.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/distributed.hpp"
#include "krrdistill/krr.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/preprocess.hpp"
#include "krrdistill/report.hpp"
#include "krrdistill/saved_statistics.hpp"
#include "krrdistill/statistics_file.hpp"

using namespace krrdistill;
using fixtures::TempDir;
using nlohmann::json;

namespace {

constexpr bool kMpiBuild = KRRDISTILL_TEST_MPI;

int run(const std::string& command, const fixtures::fs::path& scratch, std::string& err) {
  const std::string err_file = (scratch / "stderr.txt").string();
  const int status = std::system((command + " >/dev/null 2>" + err_file).c_str());
  err = fixtures::read_text(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// mpirun as root needs its consent; set here, for the tests only.
std::string mpirun(int ranks) {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return std::string(KRRDISTILL_MPIEXEC) + " --oversubscribe -np " + std::to_string(ranks) + " ";
}

arma::mat read_matrix(const std::string& path) {
  const NpyArray a = read_npy(path);
  const std::vector<double> values = npy_as_double(a, path);
  const arma::uword records = a.shape.front();
  arma::mat out(values.size() / records, records);
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

double rel_diff(const arma::mat& a, const arma::mat& b) {
  return arma::abs(a - b).max() / std::max(arma::abs(a).max(), 1e-300);
}

json values(const json& summary) {
  return summary.is_null() ? json::array() : summary["values"];
}

void check_close(const json& a, const json& b, const std::string& what) {
  BOOST_TEST_REQUIRE(a.size() == b.size(), what);
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(
        std::abs(a[i].get<double>() - b[i].get<double>()) <= 1e-10 * std::abs(a[i].get<double>()),
        what << "[" << i << "]: " << a[i] << " vs " << b[i]);
}

// The run in many (several processes) against one (a single process).
void check_match(const std::string& one, const std::string& many, const Dataset& data) {
  const json a = json::parse(fixtures::read_text(one + "/report.json"));
  const json b = json::parse(fixtures::read_text(many + "/report.json"));
  BOOST_TEST(a["run"]["processes"].get<int>() == 1);
  BOOST_TEST(b["run"]["processes"].get<int>() > 1);
  // Seeded choices are functions of the global index: identical.
  BOOST_TEST(a["model"]["lambda"] == b["model"]["lambda"]);
  BOOST_TEST(a["model"]["lambda_grid"] == b["model"]["lambda_grid"]);
  BOOST_TEST(a["model"]["n_validation"] == b["model"]["n_validation"]);
  BOOST_TEST(a["distilled"].value("start_train_index", json()) ==
             b["distilled"].value("start_train_index", json()));
  BOOST_TEST(a["distilled"]["learned_labels"] == b["distilled"]["learned_labels"]);
  BOOST_TEST(a["dataset"]["n_train"] == b["dataset"]["n_train"]);
  BOOST_TEST(a["dataset"]["preprocessing"]["channel_mean"] ==
             b["dataset"]["preprocessing"]["channel_mean"]);
  BOOST_TEST(a["dataset"]["preprocessing"]["channel_std"] ==
             b["dataset"]["preprocessing"]["channel_std"]);
  check_close(json::array({a["dataset"]["preprocessing"]["zca_reg"]}),
              json::array({b["dataset"]["preprocessing"]["zca_reg"]}), "zca_reg");
  // Counts: exactly the same.
  const json& ca = a["certificate"];
  const json& cb = b["certificate"];
  BOOST_TEST(ca["original"] == cb["original"]);
  BOOST_TEST(ca["distilled"] == cb["distilled"]);
  BOOST_TEST(ca["test_agreement"] == cb["test_agreement"]);
  BOOST_TEST(cb["test_agreement"].get<double>() == 1.0);
  BOOST_TEST(ca["weight_rel_error"].get<double>() < 1e-8);
  BOOST_TEST(cb["weight_rel_error"].get<double>() < 1e-8);
  check_close(json::array({ca["cosine"]}), json::array({cb["cosine"]}), "cosine");
  check_close(values(ca["nearest_train_distance"]), values(cb["nearest_train_distance"]),
              "nearest_train_distance");
  check_close(values(ca["init_distance"]), values(cb["init_distance"]), "init_distance");
  check_close(json::array({a["distilled"]["lambda_s"], a["distilled"]["range_scale"]}),
              json::array({b["distilled"]["lambda_s"], b["distilled"]["range_scale"]}),
              "lambda_s, range_scale");

  // The written files, and the models they give.
  const arma::mat Xa = read_matrix(one + "/distilled_X.npy"),
                  Xb = read_matrix(many + "/distilled_X.npy");
  const arma::mat Ya = read_matrix(one + "/distilled_Y.npy"),
                  Yb = read_matrix(many + "/distilled_Y.npy");
  BOOST_TEST_REQUIRE(Xa.n_cols == Xb.n_cols);
  BOOST_TEST(rel_diff(Xa, Xb) <= 1e-10);
  BOOST_TEST(rel_diff(Ya, Yb) <= 1e-10);
  const FeatureMap map = make_feature_map(feature_spec_from_json(a), data.shape.size());
  const arma::mat Wa = refit_distilled(map, Xa, Ya, a["distilled"]["lambda_s"].get<double>());
  const arma::mat Wb = refit_distilled(map, Xb, Yb, b["distilled"]["lambda_s"].get<double>());
  const double w_diff = arma::norm(Wa - Wb, "fro") / arma::norm(Wa, "fro");
  BOOST_TEST(w_diff <= 1e-10);
  BOOST_TEST_MESSAGE(b["run"]["processes"] << " processes against 1: X differs by "
                                           << rel_diff(Xa, Xb) << ", W by " << w_diff);
  // Every test image gets the same class from both models.
  const DataSource source = data_source_from_json(a);
  const Preprocessor pre =
      fit_preprocessor(data.train.pixels, data.shape, source.zca, source.zca_reg_fraction);
  const arma::mat Phi =
      map_features(map, to_model_input(pre, data.test.pixels, 0, data.test.pixels.n_cols));
  BOOST_TEST(arma::all(predict_classes(Wa, Phi) == predict_classes(Wb, Phi)));
}

void compare_runs(const std::string& data_args, const Dataset& data, const std::string& args,
                  int ranks) {
  TempDir tmp("mpi");
  const std::string command =
      std::string(KRRDISTILL_CLI) + " distill " + data_args + " --quiet " + args;
  std::string err;
  BOOST_TEST_REQUIRE(run(command + " --out " + tmp.file("one"), tmp.path, err) == 0, err);
  BOOST_TEST_REQUIRE(
      run(mpirun(ranks) + command + " --threads 1 --out " + tmp.file("many"), tmp.path, err) == 0,
      err);
  check_match(tmp.file("one"), tmp.file("many"), data);
}

// distill on the .npy folder dir with args, by one process and by two: the
// model and the distilled inputs to rounding, and both reports.
std::pair<json, json> one_and_two_processes(const TempDir& tmp, const std::string& dir,
                                            const std::string& args) {
  const std::string command = std::string(KRRDISTILL_CLI) + " distill --dataset npy --data " + dir +
                              " --chunk 16 --quiet " + args;
  std::string err;
  const std::string one = tmp.file("one"), many = tmp.file("many");
  BOOST_TEST_REQUIRE(run(command + " --force --out " + one, tmp.path, err) == 0, err);
  BOOST_TEST_REQUIRE(
      run(mpirun(2) + command + " --threads 1 --force --out " + many, tmp.path, err) == 0, err);
  BOOST_TEST(rel_diff(read_matrix(one + "/model_W.npy"), read_matrix(many + "/model_W.npy")) <=
             1e-12);
  BOOST_TEST(rel_diff(read_matrix(one + "/distilled_X.npy"),
                      read_matrix(many + "/distilled_X.npy")) <= 1e-10);
  const json b = json::parse(fixtures::read_text(many + "/report.json"));
  BOOST_TEST(b["run"]["processes"] == 2);
  return {json::parse(fixtures::read_text(one + "/report.json")), b};
}

struct Fixture {
  TempDir tmp{"mpi_data"};
  std::string dir = tmp.file("idx");
  Fixture() { fixtures::write_idx_folder(dir, 301, 61, 6, 3); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(shards_partition_the_samples) {
  for (arma::uword block : {1u, 16u, 4096u})
    for (arma::uword n : {0u, 1u, 5u, 301u, 60000u, 60001u})
      for (int size : {1, 2, 3, 7}) {
        const arma::uword blocks = (n + block - 1) / block;
        arma::uword next = 0;
        for (int rank = 0; rank < size; ++rank) {
          const Range r = shard_range(n, Communicator{rank, size}, block);
          BOOST_TEST(r.first == next);
          // The chunks of the passes never straddle two ranks.
          BOOST_TEST((r.first % block == 0u || r.first == n));
          const arma::uword owned = (r.size() + block - 1) / block;
          BOOST_TEST(owned >= blocks / size);
          BOOST_TEST(owned <= blocks / size + 1);
          next = r.last;
        }
        BOOST_TEST(next == n);
      }
}

BOOST_AUTO_TEST_CASE(compensated_sums_do_not_depend_on_the_order) {
  // Terms of very different sizes: plain sums in two orders differ, the
  // compensated ones agree, and split in two parts (two "processes") too.
  std::mt19937_64 rng(5);
  arma::mat terms(3, 400);
  for (arma::uword j = 0; j < terms.n_cols; ++j)
    for (arma::uword i = 0; i < 3; ++i)
      terms(i, j) = std::ldexp(double(rng() % 1000003) - 500001.0, int(rng() % 80) - 40);
  CompensatedSum forward = compensated_zeros(3, 1), backward = compensated_zeros(3, 1);
  CompensatedSum half = compensated_zeros(3, 1);
  arma::vec plain_forward(3, arma::fill::zeros), plain_backward(3, arma::fill::zeros);
  for (arma::uword j = 0; j < terms.n_cols; ++j) {
    add(forward, terms.col(j));
    add(backward, terms.col(terms.n_cols - 1 - j));
    plain_forward += terms.col(j);
    plain_backward += terms.col(terms.n_cols - 1 - j);
  }
  for (arma::uword j = 0; j < terms.n_cols / 2; ++j) add(half, terms.col(j));
  BOOST_TEST(arma::any(plain_forward != plain_backward));
  BOOST_TEST(arma::all(arma::vectorise(value(forward) == value(backward))));
  BOOST_TEST(arma::all(arma::vectorise(value(half) != value(forward))));
  const Communicator one;
  allreduce_sum(one, forward);
  BOOST_TEST(arma::all(arma::vectorise(value(forward) == value(backward))));
}

BOOST_AUTO_TEST_CASE(one_process_collectives_are_the_identity) {
  const Communicator one;
  BOOST_TEST(one.root());
  arma::mat a = {{1.0, -2.0}, {3.0, 4.5}};
  const arma::mat before = a;
  allreduce_sum(one, a);
  allreduce_min(one, a);
  broadcast(one, a);
  BOOST_TEST(arma::all(arma::vectorise(a == before)));
  arma::uvec counts = {3, 4};
  allreduce_sum(one, counts);
  BOOST_TEST(counts[0] == 3u);
  double x = 2.5;
  broadcast(one, x);
  BOOST_TEST(x == 2.5);
  BOOST_TEST(mpi_available() == kMpiBuild);
}

BOOST_AUTO_TEST_CASE(fixture_ranks_match_one_process, *boost::unit_test::enable_if<kMpiBuild>()) {
  Fixture f;
  const Dataset data = load_dataset("idx", f.dir, false);
  // Chunks of 16: every rank gets a share of the 301 images.
  const std::string data_args = "--dataset idx --data " + f.dir + " --chunk 16";
  const struct {
    const char* args;
    int ranks;
  } cases[] = {
      {"--ipc 2 --init real", 2},
      {"--ipc 2 --init real", 3},
      {"--ipc 1 --init noise --lambda 0.5", 2},
      {"--ipc 2 --init real --zca", 2},
      {"--ipc 2 --init real --stream", 2},
      {"--ipc 2 --init real --stream", 3},
      {"--model rff --features 30 --ipc 1 --init noise", 2},
      {"--model rff --features 30 --ipc 2 --init real --stream", 2},
      {"--model fcnn --layers 2 --width 30 --ipc 2 --init real", 2},
  };
  for (const auto& c : cases) BOOST_TEST_CONTEXT(c.args << ", " << c.ranks << " ranks") {
      compare_runs(data_args, data, c.args, c.ranks);
    }
}

// Real targets (docs/design.md §10): G, B and the squared errors are
// compensated sums over the same chunks, so several processes fit the same
// model and certify the same scores as one.
BOOST_AUTO_TEST_CASE(real_targets_ranks_match_one_process,
                     *boost::unit_test::enable_if<kMpiBuild>()) {
  TempDir tmp("mpi_real");
  const std::string dir = tmp.file("npy");
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal;
  for (const auto& [which, n] : {std::pair<std::string, int>{"train", 301}, {"test", 61}}) {
    fixtures::Bytes pixels(std::size_t(n) * 36);
    for (auto& q : pixels) q = std::uint8_t(rng() % 256);
    std::vector<double> y(std::size_t(n) * 2);
    for (int i = 0; i < n; ++i) {
      y[2 * i] = (pixels[36 * i] - 127.5) / 100.0 + 0.1 * normal(rng);
      y[2 * i + 1] = (pixels[36 * i + 7] - pixels[36 * i + 20]) / 100.0 + 0.1 * normal(rng);
    }
    fixtures::Bytes y_bytes(y.size() * 8);
    std::memcpy(y_bytes.data(), y.data(), y_bytes.size());
    const std::string count = std::to_string(n);
    fixtures::write_plain(dir + "/x_" + which + ".npy",
                          krrdistill_fuzz::npy("|u1", "(" + count + ", 6, 6)", pixels));
    fixtures::write_plain(dir + "/y_" + which + ".npy",
                          krrdistill_fuzz::npy("<f8", "(" + count + ", 2)", y_bytes));
  }
  for (const char* args : {"--ipc 2 --init real", "--model fcnn --ipc 2 --init noise --stream"})
    BOOST_TEST_CONTEXT(args) {
      const auto [a, b] = one_and_two_processes(tmp, dir, args);
      BOOST_TEST(a["model"]["lambda"] == b["model"]["lambda"]);
      BOOST_TEST(b["certificate"]["exact"] == true);
      for (const char* model : {"original", "distilled"})
        for (const char* score : {"train_mse", "test_mse", "test_r2"}) {
          const double x = a["certificate"][model][score], z = b["certificate"][model][score];
          BOOST_TEST(std::abs(x - z) <= 1e-10 * std::abs(x), model << " " << score);
        }
    }
}

// Feature matrices (docs/design.md §11): every process reads its shard of
// the float values from the file; the standardisation and the statistics
// are compensated sums over the same chunks, so the model is one process's.
BOOST_AUTO_TEST_CASE(feature_matrix_ranks_match_one_process,
                     *boost::unit_test::enable_if<kMpiBuild>()) {
  TempDir tmp("mpi_features");
  const std::string dir = tmp.file("npy");
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(8);
  std::normal_distribution<double> normal;
  for (const auto& [which, n] : {std::pair<std::string, int>{"train", 301}, {"test", 61}}) {
    std::vector<double> x(std::size_t(n) * 10);
    fixtures::Bytes labels(n);
    for (int i = 0; i < n; ++i) {
      labels[i] = std::uint8_t(i % 3);
      for (int j = 0; j < 10; ++j) x[10 * i + j] = normal(rng) + (j % 3 == i % 3 ? 1.5 : 0.0);
    }
    fixtures::Bytes x_bytes(x.size() * 8);
    std::memcpy(x_bytes.data(), x.data(), x_bytes.size());
    const std::string count = std::to_string(n);
    fixtures::write_plain(dir + "/x_" + which + ".npy",
                          krrdistill_fuzz::npy("<f8", "(" + count + ", 10)", x_bytes));
    fixtures::write_plain(dir + "/y_" + which + ".npy",
                          krrdistill_fuzz::npy("|u1", "(" + count + ",)", labels));
  }
  for (const char* args :
       {"--ipc 2 --init real", "--model fcnn --ipc 2 --init noise --standardize"})
    BOOST_TEST_CONTEXT(args) {
      const auto [a, b] = one_and_two_processes(tmp, dir, args);
      BOOST_TEST(b["certificate"]["exact"] == true);
      BOOST_TEST(a["model"]["lambda"] == b["model"]["lambda"]);
      BOOST_TEST(a["certificate"]["original"]["test_acc"] ==
                 b["certificate"]["original"]["test_acc"]);
      BOOST_TEST(a["dataset"]["preprocessing"]["channel_std"] ==
                 b["dataset"]["preprocessing"]["channel_std"]);
    }
}

// The statistics are exact integer moments (linear) or compensated sums
// over the same chunks: a linear statistics file is the same bytes for any
// number of processes, and a nonlinear one the same preprocessing and the
// same rounded sums (the pairs' low parts may be split differently).
BOOST_AUTO_TEST_CASE(statistics_files_do_not_depend_on_the_ranks,
                     *boost::unit_test::enable_if<kMpiBuild>()) {
  Fixture f;
  TempDir tmp("mpi_stats");
  std::string err;
  const std::string data_args = " stats --dataset idx --data " + f.dir + " --chunk 16 --quiet";
  const auto same = [](const arma::mat& a, const arma::mat& b) {
    return a.n_elem == b.n_elem && std::equal(a.begin(), a.end(), b.begin());
  };
  for (const char* map : {"", " --model rff --features 30", " --model fcnn --zca"})
    BOOST_TEST_CONTEXT("map:" << map) {
      const std::string one = tmp.file("one.stats");
      BOOST_TEST(run(std::string(KRRDISTILL_CLI) + data_args + map + " --force --out " + one,
                     tmp.path, err) == 0,
                 err);
      const SavedStatistics a = read_statistics(one);
      for (int ranks : {2, 3}) {
        const std::string many = tmp.file("many.stats");
        BOOST_TEST(run(mpirun(ranks) + KRRDISTILL_CLI + data_args + map + " --force --out " + many,
                       tmp.path, err) == 0,
                   err);
        BOOST_TEST_CONTEXT(ranks << " ranks") {
          if (std::string(map).empty()) {
            BOOST_TEST(fixtures::read_bytes(one) == fixtures::read_bytes(many));
            continue;
          }
          const SavedStatistics b = read_statistics(many);
          BOOST_TEST(same(a.pre.channel_std, b.pre.channel_std));
          BOOST_TEST(same(a.pre.zca_whiten, b.pre.zca_whiten));
          BOOST_TEST(same(value(a.sums.G), value(b.sums.G)));
          BOOST_TEST(same(value(a.sums.B), value(b.sums.B)));
          BOOST_TEST(same(value(a.sums.validation_G), value(b.sums.validation_G)));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(fashion_mnist_two_ranks_match_one_process,
                     *boost::unit_test::enable_if<kMpiBuild>()) {
  const Dataset data = load_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);
  const std::string data_args =
      "--dataset fashion-mnist --data " + std::string(KRRDISTILL_FASHION_MNIST);
  for (const char* args : {"--ipc 10 --init real", "--model rff --ipc 1 --init noise"})
    BOOST_TEST_CONTEXT(args) {
      compare_runs(data_args, data, args, 2);
    }
}

BOOST_AUTO_TEST_CASE(a_failing_rank_ends_them_all, *boost::unit_test::enable_if<kMpiBuild>()) {
  // Only the second half of the training images is damaged: rank 1 alone
  // finds out, and must not leave rank 0 waiting in a collective.
  Fixture f;
  const std::string images = f.dir + "/train-images-idx3-ubyte";
  std::string bytes = fixtures::read_text(images);
  bytes.resize(bytes.size() - 36);
  {
    gzFile gz = gzopen((images + ".gz").c_str(), "wb");
    gzwrite(gz, bytes.data(), unsigned(bytes.size()));
    gzclose(gz);
  }
  fixtures::fs::remove(images);
  TempDir tmp("mpi");
  std::string err;
  const int code =
      run("timeout 300 " + mpirun(2) + KRRDISTILL_CLI + " distill --dataset idx --data " + f.dir +
              " --chunk 16 --quiet --threads 1 --out " + tmp.file("out"),
          tmp.path, err);
  BOOST_TEST(code != 0);
  BOOST_TEST(code != 124, "timed out: a rank was left waiting");
  BOOST_TEST(err.find("error: rank 1 of 2:") != std::string::npos, err);
  // The streamed reader names the fault as load_dataset does.
  BOOST_TEST(
      err.find("header says 301 images of 6x6 (10836 bytes) but the file holds 10800 bytes") !=
          std::string::npos,
      err);
  BOOST_TEST(!fixtures::fs::exists(tmp.file("out")));
}
