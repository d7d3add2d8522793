// Every size a user controls has a range (limits.hpp), refused before any
// work with one "error:" line; the large allocations are estimated against
// the machine's memory first (memory.hpp), and pages populated ahead keep
// their contents; messages quoting file contents stay whole and on one line;
// --lambda-s follows one rule for every init.
#define BOOST_TEST_MODULE cli_bounds
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/limits.hpp"
#include "krrdistill/memory.hpp"
#include "krrdistill/pixel_moments.hpp"

using namespace fixtures;

namespace {

// 4 classes of 50 training images, 8×8 (tests/fixtures.hpp).
struct Case {
  TempDir scratch{"cli_bounds"};
  std::string data = scratch.file("data");
  std::string out = scratch.file("out");
  Case() { write_idx_folder(data, 200, 40, 8, 4); }

  // One "error:" line holding message_part, a non-zero exit, no --out.
  void expect_refusal(const std::string& command, const std::string& args,
                      const std::string& message_part) const {
    const RunResult r =
        run_cli(command + " --data " + data + " --out " + out + " --quiet " + args, scratch.path);
    check_refusal(r, command + " " + args, message_part);
  }

  void check_refusal(const RunResult& r, const std::string& what,
                     const std::string& message_part) const {
    BOOST_TEST_CONTEXT(what << "\nstderr: " << r.err) {
      BOOST_TEST(r.exit_code != 0);
      BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
      BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      BOOST_TEST(r.err.find(message_part) != std::string::npos);
      BOOST_TEST(!fs::exists(out));
    }
  }
};

// An .npy dataset folder: n_train images of shape (c, h, w) with the given
// training labels, and two test images of class 0.
void write_npy_dataset(const std::string& dir, unsigned c, unsigned h, unsigned w,
                       const std::vector<std::int64_t>& train_labels) {
  fs::create_directories(dir);
  const std::size_t d = std::size_t(c) * h * w, n = train_labels.size();
  const std::string dims = std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w);
  Bytes train(n * d), test(2 * d);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = static_cast<unsigned char>(i * 7919);
  for (std::size_t i = 0; i < test.size(); ++i) test[i] = static_cast<unsigned char>(i * 104729);
  write_bytes(dir + "/x_train.npy",
              krrdistill_fuzz::npy("|u1", "(" + std::to_string(n) + ", " + dims + ")", train));
  write_bytes(dir + "/x_test.npy", krrdistill_fuzz::npy("|u1", "(2, " + dims + ")", test));
  write_bytes(dir + "/y_train.npy", krrdistill_fuzz::npy("<i8", "(" + std::to_string(n) + ",)",
                                                         krrdistill_fuzz::le64(train_labels)));
  write_bytes(dir + "/y_test.npy",
              krrdistill_fuzz::npy("<i8", "(2,)", krrdistill_fuzz::le64({0, 0})));
}

std::vector<std::int64_t> cycling_labels(std::size_t n, std::int64_t k) {
  std::vector<std::int64_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = std::int64_t(i) % k;
  return labels;
}

}  // namespace

BOOST_AUTO_TEST_CASE(unknown_command_is_one_line) {
  TempDir scratch("cli_bounds");
  const RunResult r = run_cli("frobnicate", scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(
      r.err ==
      "error: unknown command 'frobnicate'; commands: distill, stats, eval, kip, labelsolve, "
      "compare, transfer (krrdistill --help)\n");
}

BOOST_AUTO_TEST_CASE(threads_range) {
  Case c;
  for (const std::string value : {"-1", "257", "32768", "65536", "100000"}) {
    c.expect_refusal("distill", "--threads " + value, "--threads must be 0 (one per core)");
    c.expect_refusal("kip", "--threads " + value, "--threads");
    c.expect_refusal("labelsolve", "--threads " + value, "--threads");
    c.expect_refusal("compare", "--threads " + value, "--threads");
  }
  const RunResult eval = run_cli("eval --threads -1 --distilled " + c.out, c.scratch.path);
  c.check_refusal(eval, "eval --threads -1", "--threads");
  // The bounds themselves are accepted.
  const RunResult r = run_cli(
      "distill --data " + c.data + " --out " + c.out + " --quiet --threads 256", c.scratch.path);
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(layers_range_in_every_command) {
  Case c;
  for (const std::string value : {"0", "101", "1001", "100000"})
    for (const std::string command : {"distill", "kip", "labelsolve", "compare"})
      c.expect_refusal(command, "--model fcnn --layers " + value,
                       "--layers must be between 1 and 100");
}

namespace {

// Distils the fixture with a 2-layer FCNN and returns its report, for a test
// to edit and write back to c.out/report.json.
nlohmann::json fcnn_report(const Case& c) {
  const RunResult made =
      run_cli("distill --data " + c.data + " --out " + c.out + " --quiet --model fcnn --layers 2",
              c.scratch.path);
  BOOST_TEST_REQUIRE(made.exit_code == 0, made.err);
  return nlohmann::json::parse(read_text(c.out + "/report.json"));
}

}  // namespace

// A report read by eval follows the same range as --layers.
BOOST_AUTO_TEST_CASE(report_layers_range) {
  Case c;
  nlohmann::json report = fcnn_report(c);
  const std::string path = c.out + "/report.json";
  report["model"]["layers"] = 101;
  write_text(path, report.dump());
  const RunResult r = run_cli("eval --distilled " + c.out, c.scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("\"layers\" in model must be between 1 and 100") != std::string::npos,
             r.err);
}

// eval sizes the feature map from a report: a map that cannot fit is refused
// with the figure before it is made. The report of a small run is pointed at
// a dataset of 128×128 images, where 100 FCNN layers of width d are 214.7 GB
// (and their first layer's integer form 3.4 GB).
BOOST_AUTO_TEST_CASE(eval_memory_estimate) {
  Case c;
  nlohmann::json report = fcnn_report(c);
  const std::string path = c.out + "/report.json";
  const std::string wide = c.data + "_wide";
  write_npy_dataset(wide, 1, 128, 128, cycling_labels(4, 4));
  report["dataset"]["source"] = "npy";
  report["dataset"]["dir"] = wide;
  report["dataset"]["shape"] = {1, 128, 128};
  report["dataset"]["d"] = 128 * 128;
  report["model"]["layers"] = 100;
  report["model"]["width"] = 128 * 128;
  write_text(path, report.dump());
  const RunResult r = run_cli("eval --distilled " + c.out, c.scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.rfind("error: eval needs about 21", 0) == 0u, r.err);
  BOOST_TEST(r.err.find("(the feature map 214.7 GB") != std::string::npos, r.err);
  // With an exact integer product the pixel path's buffers come on top
  // (3.4 GB on two threads, each thread's sums 67 MB).
  BOOST_TEST((r.err.find(", its integer form 3.") != std::string::npos) ==
                 krrdistill::integer_product_is_exact(),
             r.err);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

BOOST_AUTO_TEST_CASE(ipc_range_for_both_inits_and_every_command) {
  Case c;  // 50 training images per class
  for (const std::string init : {"noise", "real"}) {
    c.expect_refusal("distill", "--init " + init + " --ipc 51", "--ipc must be between 1 and 50");
    c.expect_refusal("distill", "--init " + init + " --ipc 100000",
                     "--ipc must be between 1 and 50");
    c.expect_refusal("distill", "--init " + init + " --ipc 0", "--ipc must be between 1 and 50");
    c.expect_refusal("kip", "--init " + init + " --ipc 51", "--ipc must be between 1 and 50");
    c.expect_refusal("compare", "--init " + init + " --ipc 1,51", "--ipc must be between 1 and 50");
  }
  c.expect_refusal("labelsolve", "--ipc 51", "--ipc must be between 1 and 50");
  const RunResult r = run_cli("distill --data " + c.data + " --out " + c.out +
                                  " --quiet --ipc 50 --init noise --lambda 1e-3",
                              c.scratch.path);
  BOOST_TEST(r.exit_code == 0, r.err);
}

BOOST_AUTO_TEST_CASE(chunk_batch_steps_features_width_ranges) {
  Case c;
  for (const std::string command : {"distill", "labelsolve", "compare"}) {
    c.expect_refusal(command, "--chunk 0", "--chunk must be between 1 and 65536");
    c.expect_refusal(command, "--chunk 65537", "--chunk must be between 1 and 65536");
    c.expect_refusal(command, "--model rff --features 65", "--features <= 64");
    c.expect_refusal(command, "--model fcnn --width 65", "--width <= 64");
  }
  c.expect_refusal("kip", "--model rff --features 65", "--features <= 64");
  c.expect_refusal("kip", "--batch 0", "--batch must be between 1 and 65536");
  c.expect_refusal("kip", "--batch 65537", "--batch must be between 1 and 65536");
  c.expect_refusal("labelsolve", "--batch 65537", "--batch must be between 1 and 65536");
  c.expect_refusal("kip", "--steps 0", "--steps must be between 1 and 1000000");
  c.expect_refusal("kip", "--steps 1000001", "--steps must be between 1 and 1000000");
  c.expect_refusal("compare", "--kip-steps 1000001", "--kip-steps must be between 1 and 1000000");
  c.expect_refusal("compare", "--kip-seconds -1", "--kip-seconds must be between 0");
  c.expect_refusal("compare", "--kip-seconds 1e9", "--kip-seconds must be between 0");
  c.expect_refusal("compare", "--kip-seconds nan", "--kip-seconds");
}

// One label 65535 used to make 65536 classes and a run of many GB.
BOOST_AUTO_TEST_CASE(huge_label_is_refused_at_once) {
  Case c;
  std::vector<std::int64_t> labels = cycling_labels(20, 2);
  labels[3] = 65535;
  write_npy_dataset(c.data + "_npy", 1, 4, 4, labels);
  c.data += "_npy";
  for (const std::string command : {"distill", "kip", "labelsolve", "compare"})
    c.expect_refusal(command, "", "label 65535 of item 3 is too large (at most 10000 classes");
}

BOOST_AUTO_TEST_CASE(one_class_and_absent_classes_are_refused) {
  Case c;
  const std::string base = c.data;
  c.data = base + "_one";
  write_npy_dataset(c.data, 1, 4, 4, std::vector<std::int64_t>(20, 0));
  for (const std::string command : {"distill", "kip", "labelsolve", "compare"})
    c.expect_refusal(command, "", "distillation needs at least 2");
  c.data = base + "_absent";
  std::vector<std::int64_t> labels = cycling_labels(20, 2);
  labels[0] = 3;  // classes 0, 1, 3: class 2 has no image
  write_npy_dataset(c.data, 1, 4, 4, labels);
  for (const std::string command : {"distill", "kip", "labelsolve", "compare"})
    c.expect_refusal(command, "", "class 2 of 0..3 has no training image");
}

// Images of 786432 values: the linear model's G alone is d² doubles (4.9 TB),
// refused from the estimate before anything of that size is allocated.
BOOST_AUTO_TEST_CASE(memory_estimate_refuses_what_cannot_fit) {
  Case c;
  c.data += "_wide";
  write_npy_dataset(c.data, 3, 512, 512, cycling_labels(4, 2));
  // (KIP's linear kernel needs no d×d matrix: only the commands that form G.)
  for (const std::string command : {"distill", "labelsolve", "compare"}) {
    const std::string what = command == "distill"      ? "distillation"
                             : command == "labelsolve" ? "Label Solve"
                                                       : "compare";
    c.expect_refusal(command, "--ipc 1", what + " needs about ");
    c.expect_refusal(command, "--ipc 1", " of memory is available");
  }
  // G and B: six p×(p + k) doubles, p = d = 786432; and the pixel moments'
  // d×(d + 1 + k) int32 product (int8, VNNI) or each of the two threads'
  // d×d float product and float block (float32).
  c.expect_refusal("distill", "--ipc 1 --threads 2",
                   krrdistill::fastest_moments_product() == krrdistill::MomentsProduct::int8
                       ? "distillation needs about 32.2 TB (G and B 29.7 TB, the pixel moments' "
                         "buffers 2.5 TB)"
                       : "distillation needs about 34.6 TB (G and B 29.7 TB, the pixel moments' "
                         "buffers 5.0 TB)");
  // Label Solve's own need comes on top of KIP's: four p×(p + k) doubles.
  c.expect_refusal("labelsolve", "--ipc 1", "Label Solve needs about 19.8 TB (G and B 19.8 TB");
}

BOOST_AUTO_TEST_CASE(memory_check_against_a_given_availability) {
  using krrdistill::check_memory;
  using krrdistill::MemoryItem;
  const std::vector<MemoryItem> items = {
      {"G and B", 9.8e9}, {"the feature cache", 4.4e9}, {"tiny", 1.0}};
  BOOST_CHECK_NO_THROW(check_memory("distillation", items, 14.3e9));
  BOOST_CHECK_NO_THROW(check_memory("distillation", items, 0.0));  // unknown: no check
  const std::string message =
      fixtures::error_of([&] { check_memory("distillation", items, 3.1e9); });
  BOOST_TEST(message ==
             "distillation needs about 14.2 GB (G and B 9.8 GB, the feature cache 4.4 GB), but "
             "about 3.1 GB of memory is available");
  BOOST_TEST(krrdistill::format_bytes(830e6) == "830.0 MB");
  BOOST_TEST(krrdistill::format_bytes(12) == "12 bytes");
  BOOST_TEST(krrdistill::available_memory_bytes() > 0);
}

BOOST_AUTO_TEST_CASE(populated_pages_are_resident_and_keep_their_contents) {
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE)), pages = 64;
  void* at =
      mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(at != MAP_FAILED);
  unsigned char* bytes = static_cast<unsigned char*>(at);
  std::vector<unsigned char> resident(pages);
  BOOST_REQUIRE(mincore(at, pages * page, resident.data()) == 0);
  BOOST_TEST(std::count(resident.begin(), resident.end(), 0) == long(pages));  // fresh: none mapped
  for (std::size_t i = 0; i < 3 * page; ++i) bytes[i] = (unsigned char)(i * 7 + 1);
  // From the middle of page 1 to the middle of page 60: pages 2…59 whole.
  const bool done = krrdistill::populate_pages_async(bytes + page + 5, 59 * page).get();
  BOOST_REQUIRE(mincore(at, pages * page, resident.data()) == 0);
  // (Whether pages 60… stayed out is not asked: a kernel that maps anonymous
  // memory in folios of several pages may map them along.)
  if (done) {
    for (std::size_t p = 0; p < 60; ++p) BOOST_TEST((resident[p] & 1) == 1, "page " << p);
  } else {
    BOOST_TEST_MESSAGE("the kernel has no MADV_POPULATE_WRITE: nothing to check but the bytes");
  }
  bool kept = true;
  for (std::size_t i = 0; i < 3 * page; ++i) kept = kept && bytes[i] == (unsigned char)(i * 7 + 1);
  BOOST_TEST(kept);
  for (std::size_t i = 3 * page; i < pages * page; ++i) kept = kept && bytes[i] == 0;
  BOOST_TEST(kept);
  // Nothing inside a single page, or no buffer: no work, and no thread.
  BOOST_TEST(!krrdistill::populate_pages_async(bytes + 1, page - 2).get());
  BOOST_TEST(!krrdistill::populate_pages_async(nullptr, 0).get());
  munmap(at, pages * page);
}

BOOST_AUTO_TEST_CASE(large_ranges_are_populated_whole_in_parts) {
  // From an odd address, in parts cut at 2 MiB boundaries (memory.cpp): every
  // whole page of the range mapped, for several part counts and sizes.
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE)), span = std::size_t(44) << 20;
  const std::size_t first = 3 * page + 17;
  for (const std::size_t size : {(std::size_t(16) << 20) + page + 5, std::size_t(40) << 20}) {
    for (const int threads : {1, 2, 3, 4, 7}) {
      void* at = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      BOOST_REQUIRE(at != MAP_FAILED);
      // Small pages only: a huge page or a large folio mapped by one touch
      // would cover a gap left between two parts.
      madvise(at, span, MADV_NOHUGEPAGE);
      unsigned char* bytes = static_cast<unsigned char*>(at);
      // Whether this kernel populates at all: one page beyond the range.
      const bool supported = krrdistill::populate_pages(bytes + span - page, page);
      // A few marked bytes (each maps its page): at both ends, and inside
      // at 1 MiB past 2 MiB boundaries, where no cut falls.
      std::vector<std::size_t> marks = {first, first + size - 1};
      const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(bytes), huge = 1 << 21;
      for (std::uintptr_t a = (base + first) / huge * huge + huge / 2; a + 1 < base + first + size;
           a += 5 * huge)
        if (a > base + first) marks.push_back(std::size_t(a - base));
      for (const std::size_t i : marks) bytes[i] = (unsigned char)(i % 251 + 1);
      const bool done = krrdistill::populate_pages(bytes + first, size, threads);
      BOOST_TEST(done == supported, "size " << size << ", " << threads << " threads");
      std::vector<unsigned char> resident(span / page);
      BOOST_REQUIRE(mincore(at, span, resident.data()) == 0);
      if (supported) {
        long missing = 0;
        for (std::size_t p = first / page + 1; p < (first + size) / page; ++p)
          missing += (resident[p] & 1) == 0;
        BOOST_TEST(missing == 0, "size " << size << ", " << threads << " threads");
      }
      bool kept = true;
      for (const std::size_t i : marks) kept = kept && bytes[i] == (unsigned char)(i % 251 + 1);
      BOOST_TEST(kept, "size " << size << ", " << threads << " threads");
      munmap(at, span);
    }
  }
}

BOOST_AUTO_TEST_CASE(limits_checks) {
  using namespace krrdistill;
  BOOST_CHECK_NO_THROW(check_threads(0));
  BOOST_CHECK_NO_THROW(check_threads(256));
  BOOST_CHECK_THROW(check_threads(-1), Error);
  BOOST_CHECK_THROW(check_threads(257), Error);
  const arma::uvec counts = class_counts(arma::uvec{0, 1, 1, 2, 2, 2}, 3);
  BOOST_TEST(arma::approx_equal(counts, arma::uvec{1, 2, 3}, "absdiff", 0));
  BOOST_CHECK_NO_THROW(check_classes(counts, "x"));
  BOOST_CHECK_NO_THROW(check_ipc(1, counts));
  BOOST_CHECK_THROW(check_ipc(2, counts), Error);
  BOOST_CHECK_THROW(check_classes(arma::uvec{5}, "x"), Error);
  BOOST_CHECK_THROW(check_classes(arma::uvec{5, 0, 1}, "x"), Error);
}

// A report is kilobytes: a gzip file that inflates past 64 MiB is refused
// before it is read whole.
BOOST_AUTO_TEST_CASE(report_gzip_bomb_is_refused) {
  Case c;
  fs::create_directories(c.out);
  write_gz(c.out + "/report.json", Bytes((std::size_t(64) << 20) + 1, ' '));
  const RunResult r = run_cli("eval --distilled " + c.out, c.scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
  BOOST_TEST(r.err.find("more than 64 MiB once gunzipped") != std::string::npos, r.err);
}

// Bytes quoted from a file are escaped: a NUL no longer cuts the message
// and a newline no longer splits it.
BOOST_AUTO_TEST_CASE(nul_and_newline_in_quoted_text_are_escaped) {
  BOOST_TEST(krrdistill::printable(std::string("a\0b\nc\x7f"
                                               "d",
                                               7)) == "a\\x00b\\x0ac\\x7fd");
  BOOST_TEST(krrdistill::error_text(krrdistill::Error(std::string("x\0y", 3))) == "x\\x00y");
  Case c;
  const RunResult made =
      run_cli("distill --data " + c.data + " --out " + c.out + " --quiet", c.scratch.path);
  BOOST_TEST_REQUIRE(made.exit_code == 0, made.err);
  const std::string path = c.out + "/report.json";
  auto report = nlohmann::json::parse(read_text(path));
  report["dataset"]["dir"] = std::string("no\0where\nelse", 13);
  write_text(path, report.dump());
  const RunResult r = run_cli("eval --distilled " + c.out, c.scratch.path);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
  BOOST_TEST(r.err.find("no\\x00where\\x0aelse") != std::string::npos, r.err);

  // An .npy whose descr holds a NUL.
  Case n;
  n.data += "_npy";
  write_npy_dataset(n.data, 1, 4, 4, cycling_labels(20, 2));
  write_bytes(
      n.data + "/y_train.npy",
      krrdistill_fuzz::npy(std::string("<i\0"
                                       "8",
                                       4),
                           "(20,)", krrdistill_fuzz::le64(std::vector<std::int64_t>(20, 0))));
  n.expect_refusal("distill", "", "<i\\x008");
}

// --lambda-s: one rule for every init (λs <= ipc/(4‖W‖₂²), and the real-σ
// bound of D); a large value is clamped with a warning, never a failed solve,
// and the distilled set stays exact.
BOOST_AUTO_TEST_CASE(lambda_s_one_rule_for_every_init) {
  Case c;
  for (const std::string init : {"noise", "real"})
    for (const std::string value : {"1e6", "1e12", "1e160"}) {
      const std::string out = c.scratch.file("ls_" + init + "_" + value);
      const RunResult r = run_cli("distill --data " + c.data + " --out " + out +
                                      " --quiet --ipc 2 --init " + init + " --lambda-s " + value,
                                  c.scratch.path);
      BOOST_TEST_CONTEXT(init << " " << value << "\nstderr: " << r.err) {
        BOOST_TEST_REQUIRE(r.exit_code == 0);
        BOOST_TEST(r.err.rfind("warning: --lambda-s", 0) == 0u);
        BOOST_TEST(r.err.find("clamped") != std::string::npos);
        const auto report = nlohmann::json::parse(read_text(out + "/report.json"));
        BOOST_TEST(report["distilled"]["lambda_s_clamped"].get<bool>());
        BOOST_TEST(report["certificate"]["weight_rel_error"].get<double>() < 1e-8);
        BOOST_TEST(report["certificate"]["test_agreement"].get<double>() == 1.0);
      }
    }
}

// The sweep's scores are in the report: accuracy and squared error per λ.
BOOST_AUTO_TEST_CASE(lambda_grid_reports_both_scores) {
  Case c;
  const RunResult r =
      run_cli("distill --data " + c.data + " --out " + c.out + " --quiet", c.scratch.path);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
  const auto model = nlohmann::json::parse(read_text(c.out + "/report.json"))["model"];
  const auto& grid = model["lambda_grid"];
  BOOST_TEST(grid.size() == 24u);
  double best_acc = -1;
  for (const auto& row : grid) best_acc = std::max(best_acc, row["val_acc"].get<double>());
  double chosen_error = -1;
  for (const auto& row : grid) {
    BOOST_TEST(row["val_sq_error"].get<double>() > 0);
    if (row["lambda"].get<double>() == model["lambda"].get<double>()) {
      BOOST_TEST(row["val_acc"].get<double>() == best_acc);
      chosen_error = row["val_sq_error"].get<double>();
    }
  }
  BOOST_TEST_REQUIRE(chosen_error > 0);
  for (const auto& row : grid)
    if (row["val_acc"].get<double>() == best_acc)
      BOOST_TEST(row["val_sq_error"].get<double>() >= chosen_error);
}

// --chunk sets how many images each compensated addition of G and B holds,
// and where a nonlinear map's float partial Gram sums start (docs/design.md
// §12), so it moves that model by float rounding (README, --chunk); nothing
// more. A linear map's G and B are exact integer sums: the same bytes.
BOOST_AUTO_TEST_CASE(chunk_changes_only_the_rounding) {
  Case c;
  for (const std::string model : {"linear", "rff"}) {
    std::vector<arma::mat> sets;
    std::vector<fixtures::Bytes> weights;
    for (const std::string chunk : {"7", "4096"}) {
      const std::string out = c.scratch.file("chunk_" + model + chunk);
      const RunResult r = run_cli("distill --data " + c.data + " --out " + out + " --model " +
                                      model + " --quiet --ipc 2 --lambda 1e-2 --chunk " + chunk,
                                  c.scratch.path);
      BOOST_TEST_REQUIRE(r.exit_code == 0, r.err);
      const krrdistill::NpyArray a = krrdistill::read_npy(out + "/distilled_X.npy");
      const std::vector<double> values = krrdistill::npy_as_double(a, out);
      sets.emplace_back(values);
      weights.push_back(fixtures::read_bytes(out + "/model_W.npy"));
    }
    const double diff = arma::norm(sets[0] - sets[1]) / arma::norm(sets[1]);
    BOOST_TEST(diff < (model == "linear" ? 1e-10 : 1e-4), model);
    if (model == "linear") BOOST_TEST((weights[0] == weights[1]));
  }
}
