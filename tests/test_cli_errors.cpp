// Bad input to the command line: one "error:" line, a non-zero exit, and
// nothing written in --out (datasets/README.md).
#define BOOST_TEST_MODULE cli_errors
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

using namespace fixtures;

namespace {

struct Case {
  TempDir scratch{"cli_errors"};
  std::string data = scratch.file("data");
  std::string out = scratch.file("out");
  Case() { write_idx_folder(data, 200, 40, 8, 4); }

  // Runs distill on the fixture with extra arguments; checks the refusal
  // and that --out was not created (or, when it existed, not touched).
  void expect_refusal(const std::string& args, const std::string& message_part) {
    const bool out_existed = fs::exists(out);
    const RunResult r =
        run_cli("distill --data " + data + " --out " + out + " --quiet " + args, scratch.path);
    BOOST_TEST_CONTEXT("args: " << args << "\nstderr: " << r.err) {
      BOOST_TEST(r.exit_code != 0);
      BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
      BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      BOOST_TEST(r.err.find(message_part) != std::string::npos);
      BOOST_TEST(fs::exists(out) == out_existed);
      for (const auto& entry : fs::directory_iterator(scratch.path))
        BOOST_TEST(entry.path().filename().string().find(".partial") == std::string::npos);
    }
  }

  void corrupt(const std::string& name, const Bytes& bytes) {
    write_bytes(data + "/" + name, bytes);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(fixture_distills_cleanly) {
  Case c;
  const RunResult r =
      run_cli("distill --data " + c.data + " --out " + c.out + " --ipc 2 --quiet", c.scratch.path);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.empty());
  for (const char* name : {"distilled_X.npy", "distilled_Y.npy", "grid.png", "report.json"})
    BOOST_TEST(fs::exists(c.out + "/" + name));
  // A second run into the same folder is refused without --force, and leaves it as it was.
  const std::string before = read_text(c.out + "/report.json");
  c.expect_refusal("--ipc 2", "already exists");
  BOOST_TEST(read_text(c.out + "/report.json") == before);
}

BOOST_AUTO_TEST_CASE(missing_files) {
  Case c;
  fs::remove(c.data + "/t10k-labels-idx1-ubyte");
  c.expect_refusal("", "t10k-labels");
}

BOOST_AUTO_TEST_CASE(truncated_images) {
  Case c;
  Bytes bytes = read_bytes(c.data + "/train-images-idx3-ubyte");
  bytes.resize(bytes.size() - 100);
  c.corrupt("train-images-idx3-ubyte", bytes);
  c.expect_refusal("", "train-images-idx3-ubyte");
}

BOOST_AUTO_TEST_CASE(file_longer_than_header) {
  Case c;
  Bytes bytes = read_bytes(c.data + "/t10k-images-idx3-ubyte");
  bytes.resize(bytes.size() + 64, 7);
  c.corrupt("t10k-images-idx3-ubyte", bytes);
  c.expect_refusal("", "t10k-images-idx3-ubyte");
}

BOOST_AUTO_TEST_CASE(wrong_magic) {
  Case c;
  Bytes bytes = read_bytes(c.data + "/train-labels-idx1-ubyte");
  bytes[3] = 0x03;
  c.corrupt("train-labels-idx1-ubyte", bytes);
  c.expect_refusal("", "magic");
}

BOOST_AUTO_TEST_CASE(header_count_disagrees_with_length) {
  Case c;
  Bytes bytes = read_bytes(c.data + "/train-images-idx3-ubyte");
  bytes[7] = 0xff;  // n = 255 + 256·…: far more images than bytes
  c.corrupt("train-images-idx3-ubyte", bytes);
  c.expect_refusal("", "train-images-idx3-ubyte");
}

BOOST_AUTO_TEST_CASE(label_out_of_range) {
  Case c;
  Bytes bytes = read_bytes(c.data + "/train-labels-idx1-ubyte");
  bytes[8 + 5] = 12;  // mnist has 10 classes
  c.corrupt("train-labels-idx1-ubyte", bytes);
  c.expect_refusal("--dataset mnist", "label");
}

BOOST_AUTO_TEST_CASE(image_label_count_mismatch) {
  Case c;
  std::vector<unsigned> labels(150, 1);
  c.corrupt("train-labels-idx1-ubyte", idx_labels(labels));
  c.expect_refusal("", "train");
}

BOOST_AUTO_TEST_CASE(ipc_larger_than_a_class) {
  Case c;
  c.expect_refusal("--ipc 51 --init real", "--ipc must be between 1 and 50");
}

BOOST_AUTO_TEST_CASE(impossible_options) {
  Case c;
  c.expect_refusal("--lambda -1", "--lambda");
  c.expect_refusal("--lambda-s -0.5", "--lambda-s");
  c.expect_refusal("--lambda nan", "--lambda");
  c.expect_refusal("--ipc 0", "--ipc");
  c.expect_refusal("--init sideways", "--init");
  c.expect_refusal("--model quantum", "quantum");
  c.expect_refusal("--model rff --features 100", "injective");
  c.expect_refusal("--model fcnn --width 65", "width");
  c.expect_refusal("--model fcnn --slope 0", "slope");
  c.expect_refusal("--chunk 0", "--chunk");
  c.expect_refusal("--no-such-option", "no-such-option");
}

BOOST_AUTO_TEST_CASE(unknown_dataset) {
  Case c;
  c.expect_refusal("--dataset imagenet-21k", "imagenet-21k");
}

BOOST_AUTO_TEST_CASE(eval_refuses_bad_folders) {
  Case c;
  const RunResult missing =
      run_cli("eval --distilled " + c.scratch.file("nowhere"), c.scratch.path);
  BOOST_TEST(missing.exit_code != 0);
  BOOST_TEST(missing.err.rfind("error: ", 0) == 0u);
  BOOST_TEST(run_cli("distill --data " + c.data + " --out " + c.out + " --quiet", c.scratch.path)
                 .exit_code == 0);
  write_bytes(c.out + "/report.json", Bytes{'{', '"', 'x'});
  const RunResult broken = run_cli("eval --distilled " + c.out, c.scratch.path);
  BOOST_TEST(broken.exit_code != 0);
  BOOST_TEST(broken.err.find("report.json") != std::string::npos);
  BOOST_TEST(std::count(broken.err.begin(), broken.err.end(), '\n') == 1);
}

// A well-formed report whose fields were edited: eval refuses each with one
// line naming the field, before it builds anything from it.
BOOST_AUTO_TEST_CASE(eval_refuses_edited_reports) {
  Case c;
  BOOST_TEST(run_cli("distill --data " + c.data + " --out " + c.out + " --quiet", c.scratch.path)
                 .exit_code == 0);
  const std::string path = c.out + "/report.json";
  const std::string original = read_text(path);
  const auto report = nlohmann::json::parse(original);
  const std::vector<std::pair<nlohmann::json::json_pointer, nlohmann::json>> edits = {
      {nlohmann::json::json_pointer("/certificate/distilled/test_acc"), "high"},
      {nlohmann::json::json_pointer("/certificate/distilled/test_acc"), 2.0},
      {nlohmann::json::json_pointer("/dataset/d"), 5},
      {nlohmann::json::json_pointer("/dataset/k"), 3},
      {nlohmann::json::json_pointer("/distilled/lambda_s"), -1.0},
  };
  for (const auto& [pointer, value] : edits) {
    nlohmann::json edited = report;
    edited[pointer] = value;
    const std::string text = edited.dump();
    write_bytes(path, Bytes(text.begin(), text.end()));
    const RunResult r = run_cli("eval --distilled " + c.out, c.scratch.path);
    BOOST_TEST_CONTEXT(pointer.to_string() << " = " << value.dump() << "\nstderr: " << r.err) {
      BOOST_TEST(r.exit_code != 0);
      BOOST_TEST(r.err.rfind("error: " + path + ":", 0) == 0u);
      BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
  }
  write_bytes(path, Bytes(original.begin(), original.end()));
  BOOST_TEST(run_cli("eval --distilled " + c.out, c.scratch.path).exit_code == 0);
}

BOOST_AUTO_TEST_CASE(every_model_on_the_fixture_is_exact_and_eval_agrees) {
  Case c;
  for (const std::string model : {"linear", "rff", "fcnn"}) {
    for (const std::string init : {"noise", "real"}) {
      const std::string out = c.scratch.file("out_" + model + "_" + init);
      const RunResult r =
          run_cli("distill --data " + c.data + " --out " + out + " --quiet --ipc 3 --model " +
                      model + " --init " + init + " --lambda-s 1e-4",
                  c.scratch.path);
      BOOST_TEST_CONTEXT(model << " " << init) {
        BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
        const auto report = nlohmann::json::parse(read_text(out + "/report.json"));
        BOOST_TEST(report["certificate"]["weight_rel_error"].get<double>() < 1e-8);
        BOOST_TEST(report["certificate"]["test_agreement"].get<double>() == 1.0);
        const RunResult e = run_cli("eval --distilled " + out, c.scratch.path);
        BOOST_TEST_REQUIRE(e.exit_code == 0, e.err);
        const auto eval = nlohmann::json::parse(e.out);
        BOOST_TEST(eval["test_acc"].get<double>() ==
                   report["certificate"]["distilled"]["test_acc"].get<double>());
      }
    }
  }
}
