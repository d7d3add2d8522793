// Out-of-core datasets (stream.hpp): the streamed readers give the same
// labels and pixels as load_dataset for every format, and the passes on them
// (preprocessing, fit, certificate) give the same model as in memory.
#define BOOST_TEST_MODULE test_stream
#include <zlib.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/analytic.hpp"
#include "krrdistill/certify.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/model.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/sample_chunks.hpp"
#include "krrdistill/stream.hpp"

using namespace krrdistill;
using fixtures::Bytes;
using fixtures::read_bytes;
using fixtures::TempDir;
using fixtures::write_gz;

namespace {

// The IDX fixture of fixtures.hpp, with every file gzipped.
void gzip_folder(const std::string& dir) {
  for (const auto& entry : fixtures::fs::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    write_gz(path + ".gz", read_bytes(path));
    fixtures::fs::remove(path);
  }
}

// A gzipped IDX fixture (n_train, n_test, images side × side, 3 classes)
// in tmp, loaded into memory and opened for streaming.
struct GzipFixture {
  Dataset memory;
  StreamDataset stream;
};

GzipFixture gzip_fixture(const TempDir& tmp, arma::uword n_train, arma::uword n_test,
                         arma::uword side) {
  const std::string dir = tmp.file("idx");
  fixtures::write_idx_folder(dir, n_train, n_test, side, 3);
  gzip_folder(dir);
  return GzipFixture{load_dataset("idx", dir, false), open_stream_dataset("idx", dir, false)};
}

// Deterministic bytes for record fixtures.
Bytes pattern(std::size_t n, unsigned salt) {
  Bytes out(n);
  std::uint32_t state = 777u + salt;
  for (auto& b : out) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(state >> 24);
  }
  return out;
}

// CIFAR-style records: label bytes then 3072 pixels.
Bytes cifar_records(std::size_t n, std::size_t label_bytes, unsigned salt,
                    const std::vector<unsigned>& limits) {
  Bytes out;
  const Bytes pixels = pattern(n * 3072, salt);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < label_bytes; ++j)
      out.push_back(static_cast<unsigned char>((i * 7 + salt + j * 3) % limits[j]));
    out.insert(out.end(), pixels.begin() + i * 3072, pixels.begin() + (i + 1) * 3072);
  }
  return out;
}

// Streamed and loaded datasets agree on everything, and every way of reading
// pixels (ranges in any order, across files, gathered) gives the loaded pixels.
void check_same(const StreamDataset& s, const Dataset& d) {
  BOOST_TEST(s.name == d.name);
  BOOST_TEST(s.shape.size() == d.shape.size());
  BOOST_TEST(s.shape.channels == d.shape.channels);
  BOOST_TEST(s.num_classes == d.num_classes);
  BOOST_TEST(s.class_names == d.class_names);
  for (int which = 0; which < 2; ++which) {
    const SplitSource& split = which == 0 ? s.train : s.test;
    const Split& loaded = which == 0 ? d.train : d.test;
    BOOST_TEST(split.dim == loaded.pixels.n_rows);
    BOOST_TEST_REQUIRE(split.size() == loaded.labels.n_elem);
    BOOST_TEST(arma::all(labels_of(split, 0, split.size()) == loaded.labels));
    PixelReader reader(split);
    const arma::uword n = split.size();
    BOOST_TEST(arma::all(arma::vectorise(reader.read(0, n) == loaded.pixels)));
    // Backwards (a gzip stream restarts), then a range in the middle.
    const arma::uword a = n / 3, b = n - n / 4;
    BOOST_TEST(arma::all(arma::vectorise(reader.read(b, n - b) == loaded.pixels.cols(b, n - 1))));
    BOOST_TEST(arma::all(arma::vectorise(reader.read(a, b - a) == loaded.pixels.cols(a, b - 1))));
    const arma::uvec pick = {n - 1, 0, 1, 2, a, a + 1, b};
    const PixelMatrix gathered = reader.gather(pick);
    for (arma::uword j = 0; j < pick.n_elem; ++j)
      BOOST_TEST(arma::all(gathered.col(j) == loaded.pixels.col(pick[j])));
    // Chunks of an odd size cover the split exactly once, in order.
    arma::uword next = 0;
    for_each_pixel_chunk(
        split, Range{0, n}, 7,
        [&](arma::uword first, const PixelMatrix& pixels, arma::uword column, arma::uword count) {
          BOOST_TEST(first == next);
          next += count;
          BOOST_TEST(arma::all(arma::vectorise(pixels.cols(column, column + count - 1) ==
                                               loaded.pixels.cols(first, first + count - 1))));
        });
    BOOST_TEST(next == n);
  }
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(idx_plain_and_gzip_match_load_dataset) {
  for (bool gz : {false, true}) {
    TempDir tmp("stream");
    const std::string dir = tmp.file("idx");
    fixtures::write_idx_folder(dir, 103, 37, 6, 3);
    if (gz) gzip_folder(dir);
    const StreamDataset s = open_stream_dataset("idx", dir, false);
    BOOST_TEST(s.train.files.size() == 1u);
    BOOST_TEST(s.train.files[0].gzip == gz);
    check_same(s, load_dataset("idx", dir, false));
    check_same(open_stream_dataset("auto", dir, false), load_dataset("auto", dir, false));
  }
}

BOOST_AUTO_TEST_CASE(fashion_mnist_gzip_matches_load_dataset) {
  const StreamDataset s = open_stream_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);
  const Dataset d = load_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);
  BOOST_TEST(s.train.size() == 60000u);
  BOOST_TEST(s.train.files[0].gzip);
  BOOST_TEST(arma::all(labels_of(s.train, 0, 60000) == d.train.labels));
  PixelReader reader(s.train);
  const PixelMatrix tail = reader.read(59000, 1000);
  BOOST_TEST(arma::all(arma::vectorise(tail == d.train.pixels.cols(59000, 59999))));
  BOOST_TEST(arma::all(arma::vectorise(reader.read(0, 500) == d.train.pixels.cols(0, 499))));
}

BOOST_AUTO_TEST_CASE(cifar10_records_across_batch_files) {
  TempDir tmp("stream");
  const std::string dir = tmp.file("cifar-10-batches-bin");
  fixtures::fs::create_directories(dir);
  const std::size_t counts[5] = {7, 5, 9, 3, 6};
  for (int b = 0; b < 5; ++b) {
    const Bytes records = cifar_records(counts[b], 1, unsigned(b), {10});
    const std::string path = dir + "/data_batch_" + std::to_string(b + 1) + ".bin";
    // One batch file gzipped (load_dataset inflates any file with the gzip magic).
    if (b == 2)
      write_gz(path, records);
    else
      fixtures::write_bytes(path, records);
  }
  fixtures::write_bytes(dir + "/test_batch.bin", cifar_records(4, 1, 9, {10}));
  const StreamDataset s = open_stream_dataset("cifar10", tmp.path.string(), false);
  BOOST_TEST(s.train.files.size() == 5u);
  BOOST_TEST(s.train.files[2].gzip);
  BOOST_TEST(s.train.files[0].pixel_offset == 1u);
  check_same(s, load_dataset("cifar10", tmp.path.string(), false));
}

BOOST_AUTO_TEST_CASE(cifar100_coarse_and_fine_labels) {
  TempDir tmp("stream");
  fixtures::write_bytes(tmp.file("train.bin"), cifar_records(11, 2, 1, {20, 100}));
  fixtures::write_bytes(tmp.file("test.bin"), cifar_records(5, 2, 2, {20, 100}));
  for (bool coarse : {false, true})
    check_same(open_stream_dataset("cifar100", tmp.path.string(), coarse),
               load_dataset("cifar100", tmp.path.string(), coarse));
}

BOOST_AUTO_TEST_CASE(npy_folder_matches_load_dataset) {
  TempDir tmp("stream");
  const Bytes train = pattern(9 * 3 * 4 * 5, 1), test = pattern(5 * 3 * 4 * 5, 2);
  fixtures::write_bytes(tmp.file("x_train.npy"),
                        krrdistill_fuzz::npy("|u1", "(9, 3, 4, 5)", train));
  fixtures::write_bytes(tmp.file("x_test.npy"), krrdistill_fuzz::npy("|u1", "(5, 3, 4, 5)", test));
  Bytes y_train, y_test = {0, 1, 2, 3, 1};
  for (int i = 0; i < 9; ++i) {
    const Bytes le = {static_cast<unsigned char>(i % 4), 0, 0, 0, 0, 0, 0, 0};
    y_train.insert(y_train.end(), le.begin(), le.end());
  }
  fixtures::write_bytes(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<i8", "(9,)", y_train));
  fixtures::write_bytes(tmp.file("y_test.npy"), krrdistill_fuzz::npy("|u1", "(5,)", y_test));
  const StreamDataset s = open_stream_dataset("npy", tmp.path.string(), false);
  BOOST_TEST(s.shape.channels == 3u);
  check_same(s, load_dataset("npy", tmp.path.string(), false));
}

BOOST_AUTO_TEST_CASE(bad_files_are_refused) {
  TempDir tmp("stream");
  const std::string dir = tmp.file("idx");
  fixtures::write_idx_folder(dir, 40, 10, 4, 2);
  const std::string images = dir + "/train-images-idx3-ubyte";
  const Bytes good = read_bytes(images);

  // Plain: the length is checked when the dataset is opened.
  fixtures::write_bytes(images, Bytes(good.begin(), good.end() - 3));
  BOOST_TEST(message_of([&] { open_stream_dataset("idx", dir, false); }).find("header says") !=
             std::string::npos);

  // Gzip: a short stream is found when its end is read, not before.
  fixtures::fs::remove(images);
  write_gz(images + ".gz", Bytes(good.begin(), good.end() - 16));
  const StreamDataset truncated = open_stream_dataset("idx", dir, false);
  PixelReader first(truncated.train);
  BOOST_TEST(first.read(0, 20).n_cols == 20u);
  // The same message as load_dataset's for the same file (one reader).
  BOOST_TEST(message_of([&] { first.read(20, 20); }) ==
             images + ".gz: header says 40 images of 4x4 (640 bytes) but the file holds 624 " +
                 "bytes after the 16-byte header");
  BOOST_TEST(message_of([&] { load_dataset("idx", dir, false); }) ==
             message_of([&] { first.read(20, 20); }));

  // Gzip: bytes after the last record.
  Bytes longer = good;
  longer.push_back(7);
  write_gz(images + ".gz", longer);
  const StreamDataset trailing = open_stream_dataset("idx", dir, false);
  PixelReader second(trailing.train);
  BOOST_TEST(second.read(0, 39).n_cols == 39u);
  BOOST_TEST(message_of([&] { second.read(39, 1); }) ==
             images + ".gz: header says 40 images of 4x4 (640 bytes) but the file holds more " +
                 "than 640 bytes after the 16-byte header");
  BOOST_TEST(message_of([&] { load_dataset("idx", dir, false); }) ==
             message_of([&] { second.read(39, 1); }));

  // Out of range: labels, ranges.
  BOOST_TEST(!message_of([&] { second.read(30, 11); }).empty());
  fixtures::write_bytes(dir + "/train-labels-idx1-ubyte", fixtures::idx_labels({0, 11}));
  // A count mismatch with a gzip image file that is itself too long: the
  // image file's fault is named first, as when it is plain.
  BOOST_TEST(message_of([&] { open_stream_dataset("mnist", dir, false); }) ==
             message_of([&] { second.read(39, 1); }));
  write_gz(images + ".gz", good);
  BOOST_TEST(message_of([&] { open_stream_dataset("mnist", dir, false); }).find("labels but") !=
             std::string::npos);

  // CIFAR: a file that is not whole records.
  fixtures::write_bytes(tmp.file("train.bin"), Bytes(3074 * 2 + 5, 0));
  fixtures::write_bytes(tmp.file("test.bin"), Bytes(3074, 0));
  BOOST_TEST(message_of([&] {
               open_stream_dataset("cifar100", tmp.path.string(), false);
             }).find("not a multiple") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validation_indices_match_the_dense_shuffle) {
  for (arma::uword n : {20u, 1000u, 60000u})
    for (std::uint64_t seed : {0u, 1u, 42u}) {
      const arma::uword n_val = std::max<arma::uword>(1, arma::uword(std::llround(0.05 * n)));
      std::vector<arma::uword> order(n);
      for (arma::uword i = 0; i < n; ++i) order[i] = i;
      std::mt19937_64 rng = make_rng(seed, RngStream::validation_split);
      for (arma::uword i = 0; i < n_val; ++i) std::swap(order[i], order[i + rng() % (n - i)]);
      const arma::uvec dense =
          arma::sort(arma::uvec(std::vector<arma::uword>(order.begin(), order.begin() + n_val)));
      const arma::uvec sparse = validation_indices(n, 0.05, seed);
      BOOST_TEST_REQUIRE(sparse.n_elem == n_val);
      BOOST_TEST(arma::all(sparse == dense));
    }
  BOOST_CHECK_THROW(validation_indices(1, 0.05, 0), Error);
}

BOOST_AUTO_TEST_CASE(preprocessor_streamed_equals_in_memory) {
  TempDir tmp("stream");
  const GzipFixture fixture = gzip_fixture(tmp, 150, 20, 5);
  const Dataset& d = fixture.memory;
  const StreamDataset& s = fixture.stream;
  for (bool zca : {false, true}) {
    const Preprocessor memory = fit_preprocessor(d.train.pixels, d.shape, zca, 0.1);
    const Preprocessor streamed = fit_preprocessor(s, zca, 0.1, 11, Communicator{});
    // The channel sums are exact integers: the very same mean and std.
    BOOST_TEST(arma::all(memory.channel_mean == streamed.channel_mean));
    BOOST_TEST(arma::all(memory.channel_std == streamed.channel_std));
    BOOST_TEST(streamed.zca == zca);
    if (zca) {
      BOOST_TEST(std::abs(streamed.zca_reg - memory.zca_reg) <= 1e-12 * memory.zca_reg);
      BOOST_TEST(arma::norm(streamed.zca_whiten - memory.zca_whiten, "fro") <=
                 1e-10 * arma::norm(memory.zca_whiten, "fro"));
    }
    // One fit: in memory it is the streamed fit in chunks of 4096, bit for bit.
    const Preprocessor same = fit_preprocessor(s, zca, 0.1, 4096, Communicator{});
    BOOST_TEST(same.zca_reg == memory.zca_reg);
    BOOST_TEST(arma::all(arma::vectorise(same.zca_whiten == memory.zca_whiten)));
    BOOST_TEST(arma::all(arma::vectorise(same.zca_unwhiten == memory.zca_unwhiten)));
    // Written into reused buffers: the very same numbers as to_model_input.
    arma::mat X_into, scratch;
    for (arma::uword first : {5u, 0u, 140u}) {
      model_inputs_into(streamed, d.train.pixels, first, 10, X_into, scratch);
      BOOST_TEST(arma::all(
          arma::vectorise(X_into == to_model_input(streamed, d.train.pixels, first, 10))));
    }
    BOOST_CHECK_THROW(model_inputs_into(streamed, d.train.pixels, 145, 10, X_into, scratch), Error);
    const arma::uvec pick = {0, 77, 149};
    const arma::mat X = model_inputs(streamed, s.train, pick, Range{0, 150}, Communicator{});
    BOOST_TEST(
        arma::approx_equal(X, to_model_input(memory, d.train.pixels, pick), "reldiff", 1e-10));
  }
}

BOOST_AUTO_TEST_CASE(fit_and_certificate_streamed_equal_in_memory) {
  TempDir tmp("stream");
  const GzipFixture fixture = gzip_fixture(tmp, 300, 60, 6);
  const Dataset& d = fixture.memory;
  const StreamDataset& s = fixture.stream;
  const Preprocessor pre = fit_preprocessor(d.train.pixels, d.shape, false, 0.1);
  for (const char* kind : {"linear", "rff", "fcnn"}) {
    BOOST_TEST_CONTEXT(kind) {
      FeatureMapSpec spec;
      spec.kind = kind;
      spec.features = 30;
      spec.width = 30;
      const FeatureMap map = make_feature_map(spec, d.shape.size());
      FitOptions options;
      options.chunk = 64;
      arma::fmat cached;
      const Model memory = fit_model(d, pre, map, options, Progress::silent(), &cached);
      // The same chunks from the files: the same bits.
      const Model same_chunks = fit_model(s, pre, map, options, Communicator{}, Progress::silent());
      BOOST_TEST(same_chunks.sweep.val_sq_error == memory.sweep.val_sq_error);
      BOOST_TEST(arma::approx_equal(same_chunks.W, memory.W, "absdiff", 0.0));
      options.chunk = 13;  // chunks that straddle the validation samples differently
      const Model streamed = fit_model(s, pre, map, options, Communicator{}, Progress::silent());
      BOOST_TEST(memory.lambda == streamed.lambda);
      BOOST_TEST(memory.n_validation == 15u);
      BOOST_TEST(memory.sweep.val_accuracy == streamed.sweep.val_accuracy);
      // The squared errors too, up to the rounding the different chunks
      // bring: double for the linear map's exact moments, the float partial
      // Gram sums of a nonlinear map's (docs/design.md §12) on this
      // ill-conditioned 300-sample G.
      const bool linear = std::string(kind) == "linear";
      const double tolerance = linear ? 1e-9 : 1e-4;
      BOOST_TEST_REQUIRE(memory.sweep.val_sq_error.size() == streamed.sweep.val_sq_error.size());
      for (std::size_t i = 0; i < memory.sweep.val_sq_error.size(); ++i)
        BOOST_TEST(memory.sweep.val_sq_error[i] == streamed.sweep.val_sq_error[i],
                   boost::test_tools::tolerance(tolerance));
      BOOST_TEST(arma::norm(memory.W - streamed.W, "fro") <=
                 (linear ? 1e-10 : 1e-4) * arma::norm(memory.W, "fro"));

      AnalyticOptions analytic;
      analytic.ipc = 2;
      analytic.init = Init::real;
      const arma::uvec start = choose_real_images(d.train.labels, d.num_classes, 2, 0);
      const arma::mat X0 = model_inputs(pre, s.train, start, Range{0, 300}, Communicator{});
      const DistilledSet distilled = distill_analytic(map, memory.W, X0, analytic);
      const Certificate a = certify(d, memory, distilled, X0, 64, Progress::silent(), &cached);
      const Certificate b =
          certify(s, memory, distilled, X0, 13, Communicator{}, Progress::silent());
      BOOST_TEST(a.weight_rel_error < 1e-8);
      BOOST_TEST(a.original.train == b.original.train);
      BOOST_TEST(a.original.test == b.original.test);
      BOOST_TEST(a.distilled.test == b.distilled.test);
      BOOST_TEST(a.test_agreement == b.test_agreement);
      BOOST_TEST(
          arma::approx_equal(a.nearest_train_distance, b.nearest_train_distance, "reldiff", 1e-10));
      BOOST_TEST(test_accuracy(d, pre, map, memory.W, 64) ==
                 test_accuracy(s, pre, map, memory.W, 5, Communicator{}));
    }
  }
}

BOOST_AUTO_TEST_CASE(cli_stream_matches_default) {
  TempDir tmp("stream");
  const std::string dir = tmp.file("idx");
  fixtures::write_idx_folder(dir, 300, 60, 6, 3);
  for (const std::string args : {"--ipc 2 --init real", "--model rff --ipc 1 --init noise"}) {
    BOOST_TEST_CONTEXT(args) {
      // The same chunks in memory and from the files: the same sums, bit for bit.
      const std::string common =
          "distill --dataset idx --data " + dir + " --quiet --chunk 17 " + args;
      const auto a = fixtures::run_cli(common + " --out " + tmp.file("a"), tmp.path);
      const auto b = fixtures::run_cli(common + " --stream --out " + tmp.file("b"), tmp.path);
      BOOST_TEST_REQUIRE(a.exit_code == 0, a.err);
      BOOST_TEST_REQUIRE(b.exit_code == 0, b.err);
      const auto ra = nlohmann::json::parse(fixtures::read_text(tmp.file("a/report.json")));
      const auto rb = nlohmann::json::parse(fixtures::read_text(tmp.file("b/report.json")));
      BOOST_TEST(rb["run"]["stream"].get<bool>());
      BOOST_TEST(!rb["run"]["feature_cache"].get<bool>());
      BOOST_TEST(ra["dataset"]["n_train"] == rb["dataset"]["n_train"]);
      BOOST_TEST(ra["model"]["lambda_grid"] == rb["model"]["lambda_grid"]);
      BOOST_TEST(ra["certificate"]["original"] == rb["certificate"]["original"]);
      BOOST_TEST(ra["certificate"]["distilled"] == rb["certificate"]["distilled"]);
      const NpyArray xa = read_npy(tmp.file("a/distilled_X.npy"));
      const NpyArray xb = read_npy(tmp.file("b/distilled_X.npy"));
      const arma::vec va(npy_as_double(xa, "a")), vb(npy_as_double(xb, "b"));
      BOOST_TEST(xa.shape == xb.shape);
      BOOST_TEST(arma::all(va == vb));
      fixtures::fs::remove_all(tmp.file("a"));
      fixtures::fs::remove_all(tmp.file("b"));
    }
  }
}

// RFF and FCNN features are floats whose last bits depend on a sample's
// place in its BLAS call (the kernels group columns), so the λ sweep scores
// the pass's own features: from the cache in memory, formed again in the
// same chunks when streaming. The same bits either way, at sizes that take
// the BLAS's blocked kernels and a p that is no multiple of a vector.
BOOST_AUTO_TEST_CASE(nonlinear_sweep_streamed_equals_cached) {
  TempDir tmp("stream");
  const GzipFixture fixture = gzip_fixture(tmp, 600, 30, 16);
  const Dataset& d = fixture.memory;
  const StreamDataset& s = fixture.stream;
  const Preprocessor pre = fit_preprocessor(d.train.pixels, d.shape, false, 0.1);
  for (const char* kind : {"rff", "fcnn"}) {
    FeatureMapSpec spec;
    spec.kind = kind;
    spec.features = 103;
    spec.width = 103;
    const FeatureMap map = make_feature_map(spec, d.shape.size());
    FitOptions options;
    options.chunk = 200;
    arma::fmat cached;
    const Model memory = fit_model(d, pre, map, options, Progress::silent(), &cached);
    BOOST_TEST_REQUIRE(cached.n_cols == 600u);
    const Model streamed = fit_model(s, pre, map, options, Communicator{}, Progress::silent());
    BOOST_TEST(memory.sweep.val_sq_error == streamed.sweep.val_sq_error, kind);
    BOOST_TEST(memory.sweep.val_accuracy == streamed.sweep.val_accuracy, kind);
    BOOST_TEST(arma::approx_equal(memory.W, streamed.W, "absdiff", 0.0), kind);
  }
}

// A pass that needs the features alone (the certificate's test scores) forms
// them from float inputs: the same bits as for_each_chunk's from double
// inputs, for every map, with and without ZCA, from gzip files, in chunks
// that do not start at the range's first sample.
BOOST_AUTO_TEST_CASE(feature_chunks_match_for_each_chunk) {
  TempDir tmp("stream");
  const GzipFixture fixture = gzip_fixture(tmp, 230, 20, 9);
  const Dataset& d = fixture.memory;
  const StreamDataset& s = fixture.stream;
  const Range range{11, 230};
  for (bool zca : {false, true})
    for (const char* kind : {"linear", "rff", "fcnn"}) {
      BOOST_TEST_CONTEXT(kind << " zca " << zca) {
        const Preprocessor pre = fit_preprocessor(d.train.pixels, d.shape, zca, 0.1);
        FeatureMapSpec spec;
        spec.kind = kind;
        spec.features = 97;
        spec.width = 97;
        const FeatureMap map = make_feature_map(spec, d.shape.size());
        arma::mat both(feature_dim(map), range.size());
        for_each_chunk(
            pre, map, s.train, range, 37,
            [&](arma::uword first, const arma::mat&, const arma::mat& Phi) {
              both.cols(first - range.first, first - range.first + Phi.n_cols - 1) = Phi;
            },
            Progress::silent(), "test");
        arma::mat alone(feature_dim(map), range.size(), arma::fill::value(arma::datum::nan));
        arma::uword visits = 0;
        for_each_feature_chunk(
            pre, map, s.train, range, 37,
            [&](arma::uword first, const arma::mat& Phi) {
              alone.cols(first - range.first, first - range.first + Phi.n_cols - 1) = Phi;
              ++visits;
            },
            Progress::silent(), "test");
        BOOST_TEST(visits == 6u);
        BOOST_TEST(arma::approx_equal(alone, both, "absdiff", 0.0));
        BOOST_TEST(arma::abs(both).max() > 0.0);
      }
    }
}

// Beside a feature cache the certificate's training pass visits a chunk cut
// into whole product blocks 1024 samples at a time: over chunks of 1536
// (pieces of 1024 and 512) and a last one of 1064 (whole: no whole blocks)
// it gives the bits the files give in whole chunks, and releases the cache.
BOOST_AUTO_TEST_CASE(certificate_pieces_beside_the_cache_equal_whole_chunks) {
  // A weak model that misses training samples (a piece's labels read from
  // the wrong place would show), and a wider one whose products' bits
  // depend on their tiles (pieces cut across a chunk's blocks would show).
  struct Case {
    arma::uword side, width;
    double lambda;
  };
  for (const Case& c : {Case{6, 4, 1e3}, Case{7, 40, 1e3}}) {
    BOOST_TEST_CONTEXT("width " << c.width) {
      TempDir tmp("stream");
      const GzipFixture fixture = gzip_fixture(tmp, 2600, 40, c.side);
      const Dataset& d = fixture.memory;
      const StreamDataset& s = fixture.stream;
      const Preprocessor pre = fit_preprocessor(d.train.pixels, d.shape, false, 0.1);
      FeatureMapSpec spec;
      spec.kind = "fcnn";
      spec.width = c.width;
      const FeatureMap map = make_feature_map(spec, d.shape.size());
      FitOptions options;
      options.chunk = 1536;
      options.lambda = c.lambda;
      arma::fmat cached;
      const Model model = fit_model(d, pre, map, options, Progress::silent(), &cached);
      BOOST_TEST_REQUIRE(cached.n_cols == 2600u);
      AnalyticOptions analytic;
      analytic.ipc = 1;
      const DistilledSet distilled = distill_analytic(map, model.W, arma::mat(), analytic);
      const Certificate pieces =
          certify(d, model, distilled, {}, 1536, Progress::silent(), &cached);
      BOOST_TEST(cached.is_empty());
      const Certificate whole =
          certify(s, model, distilled, {}, 1536, Communicator{}, Progress::silent());
      if (c.width == 4) BOOST_TEST(pieces.original.train < 1.0);
      BOOST_TEST(pieces.original.train == whole.original.train);
      BOOST_TEST(pieces.distilled.train == whole.distilled.train);
      BOOST_TEST(pieces.original.test == whole.original.test);
      BOOST_TEST(arma::approx_equal(pieces.nearest_train_distance, whole.nearest_train_distance,
                                    "absdiff", 0.0));
    }
  }
}
