// krrdistill transfer (docs/design.md §8) on sets that distill and kip wrote
// for a small fixture: its outputs agree with each other, they do not depend
// on --threads, and bad folders or options leave one error line and nothing.
#define BOOST_TEST_MODULE cli_transfer
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixtures.hpp"

using namespace fixtures;
using nlohmann::json;

namespace {

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.push_back("");
  return fields;
}

// A fixture dataset and a distilled set of it (ipc 2, 4 classes).
struct Case {
  TempDir scratch{"cli_transfer"};
  std::string data = scratch.file("data"), set = scratch.file("set"), out = scratch.file("out");
  Case() {
    write_idx_folder(data, 200, 40, 8, 4);
    const RunResult r =
        run_cli("distill --data " + data + " --out " + set + " --quiet --ipc 2", scratch.path);
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  }
  RunResult transfer(const std::string& args, const std::string& out_dir) const {
    return run_cli("transfer --distilled " + set + " --out " + out_dir +
                       " --quiet --width 32 --epochs 30 --eval-every 10 --subsets 3 " + args,
                   scratch.path);
  }
  void expect_refusal(const std::string& args, const std::string& message) const {
    const RunResult r = run_cli("transfer --out " + out + " --quiet " + args, scratch.path);
    BOOST_TEST(r.exit_code != 0, args);
    BOOST_TEST(r.err.rfind("error: ", 0) == 0u, args << ": " << r.err);
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, args << ": " << r.err);
    BOOST_TEST(contains(r.err, message), args << ": " << r.err);
    BOOST_TEST(!fs::exists(out), args);
  }
};

// transfer.json without what depends on the clock.
json without_timings(json j) {
  j.erase("timings_s");
  j["distilled"].erase("seconds");
  for (json& seed : j["random_subset"]["seeds"]) seed.erase("seconds");
  if (!j["whole"].is_null()) j["whole"].erase("seconds");
  return j;
}

}  // namespace

BOOST_AUTO_TEST_CASE(transfer_report_agrees_with_its_history) {
  Case c;
  const RunResult r = c.transfer("--threads 1", c.out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  for (const char* name : {"transfer.json", "transfer_history.csv", "transfer.png"})
    BOOST_TEST(fs::exists(c.out + "/" + name), name);
  const json report = json::parse(read_text(c.out + "/transfer.json"));
  BOOST_TEST(report["command"].get<std::string>() == "transfer");
  BOOST_TEST(report["distilled_set"]["command"].get<std::string>() == "distill");
  BOOST_TEST(report["distilled_set"]["m"].get<int>() == 8);
  BOOST_TEST(report["network"]["width"].get<int>() == 32);
  BOOST_TEST(report["training"]["loss"].get<std::string>() == "mse");
  BOOST_TEST(report["output"]["written_by"].get<std::string>() == "krrdistill");
  const json& seeds = report["random_subset"]["seeds"];
  BOOST_TEST_REQUIRE(seeds.size() == 3u);
  double sum = 0;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    BOOST_TEST(seeds[i]["seed"].get<int>() == int(i) + 1);
    sum += seeds[i]["test_acc"].get<double>();
  }
  BOOST_TEST(std::abs(report["random_subset"]["test_acc"].get<double>() - sum / 3) < 1e-15);

  // One row per epoch and set; the final rows carry the reported figures.
  const auto lines = lines_of(read_text(c.out + "/transfer_history.csv"));
  BOOST_TEST_REQUIRE(lines.size() == 1u + 4u * 30u);
  BOOST_TEST(lines[0] == "epoch,set,train_loss,test_acc");
  auto final_acc = [&](const std::string& set) {
    for (const std::string& line : lines) {
      const auto f = fields_of(line);
      if (f.size() == 4 && f[0] == "30" && f[1] == set) return std::stod(f[3]);
    }
    BOOST_FAIL("no final row of " << set);
    return -1.0;
  };
  BOOST_TEST(final_acc("distilled") == report["distilled"]["test_acc"].get<double>());
  for (const json& seed : seeds)
    BOOST_TEST(final_acc("random_subset_seed_" + std::to_string(seed["seed"].get<int>())) ==
               seed["test_acc"].get<double>());
  BOOST_TEST(fields_of(lines[10])[3] != "");  // epoch 10 is evaluated
  BOOST_TEST(fields_of(lines[9])[3] == "");   // epoch 9 is not
  // An easy fixture: both the distilled set and real images teach the network.
  BOOST_TEST(report["distilled"]["test_acc"].get<double>() > 0.6);
  BOOST_TEST(report["random_subset"]["test_acc"].get<double>() > 0.6);
  BOOST_TEST(report["distilled"]["best_test_acc"].get<double>() >=
             report["distilled"]["test_acc"].get<double>());
}

BOOST_AUTO_TEST_CASE(same_outputs_for_any_thread_count) {
  Case c;
  const std::string one = c.scratch.file("one"), two = c.scratch.file("two");
  for (const auto& [dir, threads] : {std::pair{one, "1"}, std::pair{two, "2"}}) {
    // Width 1100: the first layer's 64×1100 weights take Adam's threaded branch.
    const RunResult r =
        c.transfer("--loss ce --batch 4 --width 1100 --threads " + std::string(threads), dir);
    BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  }
  BOOST_TEST(read_bytes(one + "/transfer_history.csv") ==
             read_bytes(two + "/transfer_history.csv"));
  json a = without_timings(json::parse(read_text(one + "/transfer.json")));
  json b = without_timings(json::parse(read_text(two + "/transfer.json")));
  BOOST_TEST(a["training"]["loss"].get<std::string>() == "ce");
  a.erase("output");
  b.erase("output");
  BOOST_TEST(a == b);
  // A different seed gives different networks.
  const std::string other = c.scratch.file("other");
  BOOST_TEST_REQUIRE(c.transfer("--loss ce --batch 4 --width 1100 --seed 7", other).exit_code == 0);
  BOOST_TEST(read_bytes(other + "/transfer_history.csv") !=
             read_bytes(one + "/transfer_history.csv"));
}

BOOST_AUTO_TEST_CASE(whole_training_set_and_force) {
  Case c;
  RunResult r = c.transfer("--whole --whole-epochs 20", c.out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const json report = json::parse(read_text(c.out + "/transfer.json"));
  BOOST_TEST(report["whole"]["m"].get<int>() == 200);
  BOOST_TEST(report["whole"]["epochs"].get<int>() == 20);
  BOOST_TEST(report["whole"]["test_acc"].get<double>() > 0.9);  // 200 easy images
  const auto lines = lines_of(read_text(c.out + "/transfer_history.csv"));
  BOOST_TEST(lines.size() == 1u + 4u * 30u + 20u);
  BOOST_TEST(lines.back().rfind("20,whole,", 0) == 0u);
  BOOST_TEST(fields_of(lines[1u + 4u * 30u])[3] !=
             "");  // every epoch of the whole set is evaluated
  // A transfer folder is krrdistill's: replaced with --force only.
  r = c.transfer("", c.out);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(fs::exists(c.out + "/transfer.json"));
  r = c.transfer("--force --epochs 10", c.out);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(json::parse(read_text(c.out + "/transfer.json"))["whole"].is_null());
}

// Sets of kip and labelsolve, and of distill with ZCA whitening (the other
// preprocessing branch of the report reader): each is read with its own
// preprocessing, so real images mapped the same way teach the network as well.
BOOST_AUTO_TEST_CASE(transfer_reads_kip_labelsolve_and_zca_sets) {
  Case c;
  const std::vector<std::pair<std::string, std::string>> writers = {
      {"kip", "kip --ipc 1 --steps 3 --batch 40 --eval-every 3"},
      {"labelsolve", "labelsolve --ipc 1"},
      {"distill", "distill --ipc 1 --zca"}};
  for (const auto& [command, args] : writers) {
    const std::string set = c.scratch.file("set_" + command),
                      out = c.scratch.file("out_" + command);
    RunResult r =
        run_cli(args + " --data " + c.data + " --out " + set + " --quiet", c.scratch.path);
    BOOST_TEST_REQUIRE(r.exit_code == 0, command << ": " << r.err);
    r = run_cli("transfer --distilled " + set + " --out " + out +
                    " --quiet --width 16 --epochs 20 --subsets 2",
                c.scratch.path);
    BOOST_TEST_REQUIRE(r.exit_code == 0, command << ": " << r.err);
    const json report = json::parse(read_text(out + "/transfer.json"));
    BOOST_TEST(report["distilled_set"]["command"].get<std::string>() == command);
    BOOST_TEST(report["distilled_set"]["m"].get<int>() == 4);
    BOOST_TEST(report["random_subset"]["seeds"].size() == 2u);
    // Test images preprocessed as the set was: the set teaches the network
    // (chance is 0.25; a wrong preprocessing of the test images is near it).
    BOOST_TEST(report["distilled"]["test_acc"].get<double>() > 0.5, command);
  }
}

// A rate that makes the network diverge is an error, not a figure.
BOOST_AUTO_TEST_CASE(divergence_is_an_error) {
  Case c;
  const RunResult r = c.transfer("--lr 1e200", c.out);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.rfind("error: the network diverged at epoch ", 0) == 0u, r.err);
  BOOST_TEST(contains(r.err, "lower its learning rate"));
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  BOOST_TEST(!fs::exists(c.out));
}

BOOST_AUTO_TEST_CASE(bad_folders_and_options_are_one_line) {
  Case c;
  const std::string empty = c.scratch.file("empty");
  fs::create_directories(empty);
  c.expect_refusal("", "transfer needs --distilled DIR");
  c.expect_refusal("--distilled " + c.scratch.file("missing"), "report.json");
  c.expect_refusal("--distilled " + empty, "report.json");
  // A folder of transfer itself (transfer.json, no report.json).
  const std::string done = c.scratch.file("done");
  BOOST_TEST_REQUIRE(c.transfer("--epochs 2", done).exit_code == 0);
  c.expect_refusal("--distilled " + done, "report.json");
  // Labels of another set: 3 images against 8.
  const std::string mixed = c.scratch.file("mixed");
  const RunResult r =
      run_cli("distill --data " + c.data + " --out " + mixed + " --quiet --ipc 1", c.scratch.path);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  fs::copy_file(c.set + "/distilled_Y.npy", mixed + "/distilled_Y.npy",
                fs::copy_options::overwrite_existing);
  c.expect_refusal("--distilled " + mixed, "different numbers of images");
  const std::string set = "--distilled " + c.set;
  c.expect_refusal(set + " --width 0", "--width must be between 1 and 65536");
  c.expect_refusal(set + " --depth 101", "--depth must be between 1 and 100");
  c.expect_refusal(set + " --epochs 0", "--epochs must be between 1");
  c.expect_refusal(set + " --batch 0", "--batch must be between 1");
  c.expect_refusal(set + " --subsets 0", "--subsets must be between 1 and 1000");
  c.expect_refusal(set + " --eval-every 0", "--eval-every must be between 1");
  c.expect_refusal(set + " --whole-epochs 0", "--whole-epochs must be between 1");
  c.expect_refusal(set + " --lr -1", "--lr must be a positive number");
  c.expect_refusal(set + " --lr nan", "--lr must be a finite number");
  c.expect_refusal(set + " --loss hinge", "--loss must be mse or ce");
  // 99 hidden layers of 65536² weights, each with its gradient and Adam's moments.
  c.expect_refusal(
      set + " --width 65536 --depth 100",
      "error: transfer needs about 13.8 TB (network (weights, gradients, Adam moments) 13.6 TB");
  c.expect_refusal(set + " --threads 300", "--threads must be 0");
}

// compare --transfer trains the same network on each method's set and on
// random real subsets: its analytic row is what transfer gives for the set
// distill writes with the same options (the same bits), and every row and
// seed is reported.
BOOST_AUTO_TEST_CASE(compare_transfer_agrees_with_transfer) {
  Case c;
  const std::string network = "width 32 --{}epochs 30 --{}eval-every 10 --{}subsets 3";
  auto with_prefix = [&](const std::string& prefix) {
    std::string args = "--" + prefix + network;
    for (std::size_t at; (at = args.find("{}")) != std::string::npos;) args.replace(at, 2, prefix);
    return args;
  };
  const std::string compared = c.scratch.file("compared"), real_set = c.scratch.file("real_set");
  const RunResult r = run_cli("compare --data " + c.data + " --out " + compared +
                                  " --quiet --ipc 2 --kip-steps 5 --batch 40 --eval-every 5 "
                                  "--transfer " +
                                  with_prefix("transfer-"),
                              c.scratch.path);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  BOOST_TEST(contains(r.out, "net_acc"));
  BOOST_TEST(contains(r.out, "random_subset"));
  BOOST_TEST_REQUIRE(
      run_cli("distill --data " + c.data + " --out " + real_set + " --quiet --ipc 2 --init real",
              c.scratch.path)
          .exit_code == 0);
  const RunResult t = run_cli(
      "transfer --distilled " + real_set + " --out " + c.out + " --quiet " + with_prefix(""),
      c.scratch.path);
  BOOST_TEST_REQUIRE(t.exit_code == 0, t.err);
  const json report = json::parse(read_text(compared + "/compare.json"));
  const json single = json::parse(read_text(c.out + "/transfer.json"));
  BOOST_TEST(report["transfer"]["network"] == single["network"]);
  int seen = 0;
  for (const json& row : report["rows"]) {
    if (row["method"] == "analytic") {
      ++seen;
      BOOST_TEST(row["transfer_test_acc"] == single["distilled"]["test_acc"]);
      BOOST_TEST(row["transfer"]["final_train_loss"] == single["distilled"]["final_train_loss"]);
    } else if (row["method"] == "random_subset") {
      ++seen;
      BOOST_TEST(row["ipc"] == 2);
      BOOST_TEST(row["transfer_test_acc"] == single["random_subset"]["test_acc"]);
      BOOST_TEST_REQUIRE(row["seeds"].size() == 3u);
      for (std::size_t s = 0; s < 3; ++s)
        BOOST_TEST(row["seeds"][s]["final_train_loss"] ==
                   single["random_subset"]["seeds"][s]["final_train_loss"]);
    } else {
      ++seen;
      BOOST_TEST(row["method"] == "kip");
      BOOST_TEST(row["transfer"]["m"] == 8);
      BOOST_TEST(row["transfer_test_acc"] == row["transfer"]["test_acc"]);
      // Trained on KIP's own set, not the analytic one.
      BOOST_TEST(row["transfer"]["final_train_loss"] != single["distilled"]["final_train_loss"]);
    }
  }
  BOOST_TEST(seen == 3);

  // Its options are checked under their own names, before any work.
  const RunResult bad = run_cli("compare --data " + c.data + " --out " + compared +
                                    "_bad --quiet --transfer --transfer-width 0",
                                c.scratch.path);
  BOOST_TEST(bad.exit_code != 0);
  BOOST_TEST(contains(bad.err, "error: --transfer-width must be between 1 and 65536"));
  BOOST_TEST(!fs::exists(compared + "_bad"));
  // Also without --transfer: a bad value is a mistake either way.
  const RunResult unused = run_cli(
      "compare --data " + c.data + " --out " + compared + "_bad --quiet --transfer-loss hinge",
      c.scratch.path);
  BOOST_TEST(unused.exit_code != 0);
  BOOST_TEST(contains(unused.err, "error: --transfer-loss must be mse or ce, got 'hinge'"));
  BOOST_TEST(!fs::exists(compared + "_bad"));
}
