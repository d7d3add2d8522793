// krrdistill stats and distill --stats from the command line: the files of
// two parts distil to the concatenated data's set, and every refusal is one
// "error:" line that leaves the user's files alone.
#define BOOST_TEST_MODULE cli_stats
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/npy.hpp"

using namespace fixtures;

namespace {

struct Case {
  TempDir scratch{"cli_stats"};
  std::string all = scratch.file("all");
  std::string first = scratch.file("first");
  std::string second = scratch.file("second");
  Case() {
    write_idx_folder(all, 300, 60, 8, 4);
    // The same samples in two folders: the first 128 and the other 172.
    const krrdistill::Dataset data = krrdistill::load_dataset("idx", all, false);
    const auto write_part = [&](const std::string& dir, arma::uword from, arma::uword to) {
      fs::create_directories(dir);
      const krrdistill::PixelMatrix pixels = data.train.pixels.cols(from, to - 1);
      std::vector<unsigned> labels;
      for (arma::uword i = from; i < to; ++i) labels.push_back(unsigned(data.train.labels[i]));
      write_bytes(dir + "/train-images-idx3-ubyte",
                  idx_images(std::uint32_t(to - from), 8, 8, Bytes(pixels.begin(), pixels.end())));
      write_bytes(dir + "/train-labels-idx1-ubyte", idx_labels(labels));
      fs::copy_file(all + "/t10k-images-idx3-ubyte", dir + "/t10k-images-idx3-ubyte");
      fs::copy_file(all + "/t10k-labels-idx1-ubyte", dir + "/t10k-labels-idx1-ubyte");
    };
    write_part(first, 0, 128);
    write_part(second, 128, 300);
  }

  RunResult run(const std::string& args) { return run_cli(args + " --quiet", scratch.path); }

  void expect_refusal(const std::string& args, const std::string& message_part) {
    const RunResult r = run(args);
    BOOST_TEST_CONTEXT("args: " << args << "\nstderr: " << r.err) {
      check_refusal(r, message_part);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(two_parts_distil_to_the_concatenated_data) {
  Case c;
  const std::string a = c.scratch.file("a.stats"), b = c.scratch.file("b.stats");
  const std::string map = " --model fcnn --seed 3 --chunk 64";
  BOOST_TEST(c.run("stats --data " + c.first + map + " --out " + a).exit_code == 0);
  // The second part under the first part's preprocessing, so that the sums add.
  const RunResult second =
      c.run("stats --data " + c.second + map + " --preprocessing " + a + " --out " + b);
  BOOST_TEST(second.exit_code == 0, second.err);
  const std::string merged = c.scratch.file("merged");
  const RunResult r = c.run("distill --stats " + a + " --stats " + b + " --data " + c.all +
                            " --seed 3 --lambda 0.5 --chunk 64 --ipc 2 --out " + merged);
  BOOST_TEST(r.exit_code == 0, r.err);
  const nlohmann::json report = nlohmann::json::parse(read_text(merged + "/report.json"));
  BOOST_TEST(report["statistics"]["parts"].size() == 2u);
  BOOST_TEST(report["statistics"]["parts"][0]["preprocessing"] == "fitted");
  BOOST_TEST(report["statistics"]["parts"][1]["preprocessing"] == "from " + a);
  BOOST_TEST(contains(report["statistics"]["preprocessing"].get<std::string>(), c.first));
  BOOST_TEST(report["dataset"]["n_train"] == 300);
  BOOST_TEST(report["certificate"]["exact"] == true);
  BOOST_TEST(report["certificate"]["original"]["train_acc"].is_null());
  BOOST_TEST(report["model"]["kind"] == "fcnn");
  // eval checks the weights from the written files alone (no dataset to
  // score test images with), and finds a changed image.
  const RunResult eval = run_cli("eval --distilled " + merged, c.scratch.path);
  BOOST_TEST(eval.exit_code == 0, eval.err);
  const nlohmann::json checks = nlohmann::json::parse(eval.out)["checks"];
  BOOST_TEST(checks["weight_rel_error"]["pass"] == true);
  BOOST_TEST(checks["model_weight_norm"]["pass"] == true);
  BOOST_TEST(checks["test_predictions"].contains("skipped"));
  BOOST_TEST(
      contains(run_cli("eval --distilled " + merged + " --refit-original", c.scratch.path).err,
               "statistics files"));
  BOOST_TEST(
      contains(run_cli("transfer --distilled " + merged + " --out " + c.scratch.file("transfer"),
                       c.scratch.path)
                   .err,
               "statistics files"));
  std::vector<double> xs = krrdistill::npy_as_double(
      krrdistill::read_npy(merged + "/distilled_X.npy"), merged + "/distilled_X.npy");
  xs[5] += 1e-3;
  const krrdistill::NpyArray original = krrdistill::read_npy(merged + "/distilled_X.npy");
  krrdistill::write_npy(merged + "/distilled_X.npy", original.shape, xs.data());
  const RunResult changed = run_cli("eval --distilled " + merged, c.scratch.path);
  BOOST_TEST(changed.exit_code != 0);
  BOOST_TEST(contains(changed.err, "|Ws-W|/|W|"));

  // A linear map needs no fixed preprocessing, and gives the same files as
  // distilling the concatenated data.
  const std::string la = c.scratch.file("la.stats"), lb = c.scratch.file("lb.stats");
  BOOST_TEST(c.run("stats --data " + c.first + " --out " + la).exit_code == 0);
  BOOST_TEST(c.run("stats --data " + c.second + " --out " + lb).exit_code == 0);
  const std::string from_stats = c.scratch.file("from_stats"), direct = c.scratch.file("direct");
  BOOST_TEST(c.run("distill --stats " + la + " --stats " + lb + " --lambda 0.5 --ipc 2 --out " +
                   from_stats)
                 .exit_code == 0);
  BOOST_TEST(c.run("distill --data " + c.all + " --init noise --lambda 0.5 --ipc 2 --out " + direct)
                 .exit_code == 0);
  for (const char* file : {"distilled_X.npy", "distilled_Y.npy", "model_W.npy"})
    BOOST_TEST(read_bytes(from_stats + "/" + file) == read_bytes(direct + "/" + file), file);
}

// The same data, map and seed give the same file, byte for byte, on any
// number of threads.
BOOST_AUTO_TEST_CASE(files_do_not_depend_on_the_threads) {
  Case c;
  for (const char* map : {"", " --model rff", " --model fcnn --zca"}) {
    const std::string one = c.scratch.file("one.stats"), two = c.scratch.file("two.stats");
    const std::string args = "stats --data " + c.all + map + " --chunk 64 --force --out ";
    BOOST_TEST(c.run(args + one + " --threads 1").exit_code == 0);
    BOOST_TEST(c.run(args + two + " --threads 2").exit_code == 0);
    BOOST_TEST(read_bytes(one) == read_bytes(two), map);
  }
}

BOOST_AUTO_TEST_CASE(refusals_are_one_line_and_touch_nothing) {
  Case c;
  const std::string good = c.scratch.file("good.stats");
  BOOST_TEST(c.run("stats --data " + c.all + " --out " + good).exit_code == 0);
  const std::string out = c.scratch.file("out");
  c.expect_refusal("distill --stats " + good + " --model rff --out " + out,
                   "fixed by the statistics");
  c.expect_refusal("distill --stats " + good + " --init real --out " + out, "--init noise");
  c.expect_refusal("distill --stats " + good + " --ipc 1000 --out " + out, "ipc");
  c.expect_refusal("distill --stats " + good + " --stats " + good + " --out " + out, "twice");
  Bytes damaged = read_bytes(good);
  damaged[damaged.size() / 2] ^= 4;
  const std::string bad = c.scratch.file("bad.stats");
  write_bytes(bad, damaged);
  c.expect_refusal("distill --stats " + bad + " --out " + out, "checksum");
  c.expect_refusal("distill --stats " + c.all + "/train-images-idx3-ubyte --out " + out,
                   "not a krrdistill statistics file");
  BOOST_TEST(!fs::exists(out));
  // A linear file does not fix a preprocessing; a file of other images cannot.
  c.expect_refusal("stats --data " + c.all + " --model rff --preprocessing " + good + " --out " +
                       c.scratch.file("x.stats"),
                   "fix no preprocessing");
  // The output file: never a user's file, an existing one only with --force.
  const std::string notes = c.scratch.file("notes.txt");
  write_text(notes, "keep me");
  c.expect_refusal("stats --data " + c.all + " --out " + notes + " --force", "not a statistics");
  BOOST_TEST(read_text(notes) == "keep me");
  c.expect_refusal("stats --data " + c.all + " --out " + good, "--force");
  BOOST_TEST(c.run("stats --data " + c.all + " --out " + good + " --force").exit_code == 0);
  c.expect_refusal("stats --data " + c.all + " --lambda 1 --out " + good + " --force", "--lambda");
  // Never over the file that fixes the preprocessing.
  const std::string fixing = c.scratch.file("fixing.stats");
  BOOST_TEST(c.run("stats --data " + c.first + " --model rff --out " + fixing).exit_code == 0);
  const Bytes fixing_bytes = read_bytes(fixing);
  c.expect_refusal("stats --data " + c.second + " --model rff --preprocessing " + fixing +
                       " --out " + fixing + " --force",
                   "is the --preprocessing file");
  BOOST_TEST(read_bytes(fixing) == fixing_bytes);
  // A report of a set distilled from data is not switched to the
  // weights-only check by a stray key.
  const std::string data_set = c.scratch.file("from_data");
  BOOST_TEST(c.run("distill --data " + c.all + " --out " + data_set).exit_code == 0);
  nlohmann::json report = nlohmann::json::parse(read_text(data_set + "/report.json"));
  report["statistics"] = nlohmann::json::object();
  write_text(data_set + "/report.json", report.dump());
  const RunResult eval = run_cli("eval --distilled " + data_set, c.scratch.path);
  BOOST_TEST(eval.exit_code != 0);
  BOOST_TEST(contains(eval.err, "\"files\" in statistics"), eval.err);
}
