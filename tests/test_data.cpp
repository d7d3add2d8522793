#define BOOST_TEST_MODULE test_data
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"

namespace fs = std::filesystem;
using fixtures::Bytes;
using fixtures::contains;
using fixtures::error_of;
using fixtures::le_bytes;
using fixtures::put_be32;
using fixtures::read_bytes;
using fixtures::TempDir;
using fixtures::write_gz;
using fixtures::write_plain;
using krrdistill::Dataset;

namespace {

void write_file(const std::string& path, const Bytes& bytes, bool gz) {
  if (gz)
    write_gz(path + ".gz", bytes);
  else
    write_plain(path, bytes);
}

Bytes random_bytes(std::size_t n, std::mt19937& rng) {
  Bytes out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng() & 0xff);
  return out;
}

Bytes pixels_of(const krrdistill::PixelMatrix& m) {
  return Bytes(m.begin(), m.end());
}

std::vector<unsigned> labels_of(const arma::uvec& v) {
  return std::vector<unsigned>(v.begin(), v.end());
}

std::vector<std::string> numbers(int k) {
  std::vector<std::string> out;
  for (int c = 0; c < k; ++c) out.push_back(std::to_string(c));
  return out;
}

// ---- IDX fixtures ---------------------------------------------------------

Bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w, const Bytes& pixels,
                 std::uint32_t magic = 0x803) {
  Bytes out;
  put_be32(out, magic);
  put_be32(out, n);
  put_be32(out, h);
  put_be32(out, w);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

Bytes idx_labels(const std::vector<unsigned>& labels, std::uint32_t magic = 0x801) {
  Bytes out;
  put_be32(out, magic);
  put_be32(out, std::uint32_t(labels.size()));
  for (unsigned l : labels) out.push_back(static_cast<unsigned char>(l));
  return out;
}

struct IdxSplit {
  Bytes pixels;  // image after image, row-major
  std::vector<unsigned> labels;
};

IdxSplit make_split(std::uint32_t n, std::uint32_t d, unsigned k, std::mt19937& rng) {
  IdxSplit s;
  s.pixels = random_bytes(std::size_t(n) * d, rng);
  for (std::uint32_t i = 0; i < n; ++i) s.labels.push_back(unsigned(rng() % k));
  return s;
}

struct IdxFixture {
  IdxSplit train, test;
  std::uint32_t h = 5, w = 7;
};

// A complete IDX folder: 13 training and 6 test images of h×w.
IdxFixture write_idx_folder(const std::string& dir, bool gz, unsigned k = 10, std::uint32_t h = 5,
                            std::uint32_t w = 7) {
  std::mt19937 rng(42 + k + gz);
  IdxFixture f;
  f.h = h;
  f.w = w;
  f.train = make_split(13, h * w, k, rng);
  f.test = make_split(6, h * w, k, rng);
  // Make sure the largest label occurs, so num_classes is known exactly.
  f.test.labels[0] = k - 1;
  write_file(dir + "/train-images-idx3-ubyte", idx_images(13, h, w, f.train.pixels), gz);
  write_file(dir + "/train-labels-idx1-ubyte", idx_labels(f.train.labels), gz);
  write_file(dir + "/t10k-images-idx3-ubyte", idx_images(6, h, w, f.test.pixels), gz);
  write_file(dir + "/t10k-labels-idx1-ubyte", idx_labels(f.test.labels), gz);
  return f;
}

void check_idx(const Dataset& ds, const IdxFixture& f) {
  BOOST_TEST(ds.shape.channels == 1u);
  BOOST_TEST(ds.shape.height == f.h);
  BOOST_TEST(ds.shape.width == f.w);
  BOOST_TEST(ds.train.pixels.n_rows == f.h * f.w);
  BOOST_TEST(ds.train.pixels.n_cols == 13u);
  BOOST_TEST(ds.test.pixels.n_rows == f.h * f.w);
  BOOST_TEST(ds.test.pixels.n_cols == 6u);
  BOOST_TEST(pixels_of(ds.train.pixels) == f.train.pixels);
  BOOST_TEST(pixels_of(ds.test.pixels) == f.test.pixels);
  BOOST_TEST(labels_of(ds.train.labels) == f.train.labels);
  BOOST_TEST(labels_of(ds.test.labels) == f.test.labels);
  // Pixel (row r, column c) of image i sits at r·w + c of column i.
  const unsigned i = 4, r = f.h - 1, c = f.w - 2;
  BOOST_TEST(ds.train.pixels(r * f.w + c, i) == f.train.pixels[i * f.h * f.w + r * f.w + c]);
}

// ---- CIFAR fixtures -------------------------------------------------------

struct CifarRecords {
  Bytes pixels;                  // 3072 bytes per record, channel-first
  std::vector<unsigned> coarse;  // CIFAR-100 only
  std::vector<unsigned> labels;  // CIFAR-10 label or CIFAR-100 fine label
};

// Writes n records to path; appends what was written to into.
void write_cifar_batch(const std::string& path, int n, bool cifar100, std::mt19937& rng,
                       CifarRecords& into) {
  Bytes file;
  for (int i = 0; i < n; ++i) {
    unsigned coarse = unsigned(rng() % 20);
    unsigned label = unsigned(rng() % (cifar100 ? 100 : 10));
    if (cifar100) {
      file.push_back(static_cast<unsigned char>(coarse));
      into.coarse.push_back(coarse);
    }
    file.push_back(static_cast<unsigned char>(label));
    into.labels.push_back(label);
    Bytes px = random_bytes(3072, rng);
    file.insert(file.end(), px.begin(), px.end());
    into.pixels.insert(into.pixels.end(), px.begin(), px.end());
  }
  write_plain(path, file);
}

struct CifarFixture {
  CifarRecords train, test;
};

CifarFixture write_cifar10_folder(const std::string& dir) {
  std::mt19937 rng(10);
  CifarFixture f;
  for (int b = 1; b <= 5; ++b)
    write_cifar_batch(dir + "/data_batch_" + std::to_string(b) + ".bin", b, false, rng, f.train);
  write_cifar_batch(dir + "/test_batch.bin", 4, false, rng, f.test);
  return f;
}

CifarFixture write_cifar100_folder(const std::string& dir) {
  std::mt19937 rng(100);
  CifarFixture f;
  write_cifar_batch(dir + "/train.bin", 7, true, rng, f.train);
  write_cifar_batch(dir + "/test.bin", 3, true, rng, f.test);
  return f;
}

void check_cifar_pixels(const Dataset& ds, const CifarFixture& f) {
  BOOST_TEST(ds.shape.channels == 3u);
  BOOST_TEST(ds.shape.height == 32u);
  BOOST_TEST(ds.shape.width == 32u);
  BOOST_TEST(ds.train.pixels.n_rows == 3072u);
  BOOST_TEST(ds.test.pixels.n_rows == 3072u);
  BOOST_TEST(pixels_of(ds.train.pixels) == f.train.pixels);
  BOOST_TEST(pixels_of(ds.test.pixels) == f.test.pixels);
  // Green channel, row 5, column 9 of test image 2: offset 1024 + 5·32 + 9.
  BOOST_TEST(ds.test.pixels(1024 + 5 * 32 + 9, 2) == f.test.pixels[2 * 3072 + 1024 + 5 * 32 + 9]);
}

// ---- .npy fixtures --------------------------------------------------------

struct NpyFixture {
  Bytes train_pixels, test_pixels;
  std::vector<unsigned> train_labels, test_labels;
};

// 1-channel (n, h, w) when channels == 0, else (n, c, h, w).
NpyFixture write_npy_folder(const std::string& dir, unsigned channels) {
  std::mt19937 rng(7 + channels);
  NpyFixture f;
  const unsigned c = channels == 0 ? 1 : channels, h = 4, w = 6;
  const unsigned d = c * h * w;
  f.train_pixels = random_bytes(9 * d, rng);
  f.test_pixels = random_bytes(5 * d, rng);
  std::string dims = channels == 0 ? "4, 6" : std::to_string(channels) + ", 4, 6";
  write_plain(dir + "/x_train.npy",
              krrdistill_fuzz::npy("|u1", "(9, " + dims + ")", f.train_pixels));
  write_plain(dir + "/x_test.npy", krrdistill_fuzz::npy("|u1", "(5, " + dims + ")", f.test_pixels));
  // Different integer dtypes for the two label files; 11 is the largest label.
  std::vector<std::int64_t> train = {0, 3, 11, 2, 2, 5, 1, 0, 7};
  std::vector<std::uint8_t> test = {4, 4, 0, 9, 6};
  write_plain(dir + "/y_train.npy", krrdistill_fuzz::npy("<i8", "(9,)", le_bytes(train)));
  write_plain(dir + "/y_test.npy", krrdistill_fuzz::npy("|u1", "(5,)", le_bytes(test)));
  f.train_labels.assign(train.begin(), train.end());
  f.test_labels.assign(test.begin(), test.end());
  return f;
}

}  // namespace

// ===== one_hot =============================================================

BOOST_AUTO_TEST_CASE(one_hot_columns) {
  arma::uvec labels = {2, 0, 1, 2};
  arma::mat Y = krrdistill::one_hot(labels, 3);
  arma::mat expected = {{0, 1, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 1}};
  BOOST_TEST(Y.n_rows == 3u);
  BOOST_TEST(Y.n_cols == 4u);
  BOOST_TEST(arma::approx_equal(Y, expected, "absdiff", 0.0));
  BOOST_TEST(error_of([&] { krrdistill::one_hot(labels, 2); }) ==
             "one_hot: label 2 of item 0 is not below the number of classes 2");
}

// ===== IDX =================================================================

BOOST_AUTO_TEST_CASE(idx_plain_round_trip_mnist) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false);
  Dataset ds = krrdistill::load_dataset("mnist", tmp.dir(), false);
  check_idx(ds, f);
  BOOST_TEST(ds.name == "mnist");
  BOOST_TEST(ds.num_classes == 10u);
  BOOST_TEST(ds.class_names == numbers(10));
}

BOOST_AUTO_TEST_CASE(idx_gzip_round_trip_fashion_mnist) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), true, 10, 28, 28);
  BOOST_REQUIRE(fs::exists(tmp.file("train-images-idx3-ubyte.gz")));
  BOOST_REQUIRE(!fs::exists(tmp.file("train-images-idx3-ubyte")));
  Dataset ds = krrdistill::load_dataset("fashion-mnist", tmp.dir(), false);
  check_idx(ds, f);
  BOOST_TEST(ds.name == "fashion-mnist");
  BOOST_TEST(ds.num_classes == 10u);
  BOOST_TEST(ds.class_names ==
             (std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}));
}

// A whole .gz image file is inflated in one call (libdeflate) into the
// matrix, whose spare columns take the 16-byte header: images of 2, 12 and
// 42 pixels. A file of two gzip members goes the streaming way, same pixels.
BOOST_AUTO_TEST_CASE(idx_gzip_whole_file_for_any_image_size_and_several_members) {
  for (std::uint32_t w : {2u, 4u, 7u}) {
    TempDir tmp("data");
    IdxFixture f = write_idx_folder(tmp.dir(), true, 10, w == 2 ? 1 : w - 1, w);
    check_idx(krrdistill::load_dataset("mnist", tmp.dir(), false), f);
    const Bytes images = idx_images(13, f.h, f.w, f.train.pixels);
    const std::size_t half = images.size() / 2;
    write_gz(tmp.file("train-images-idx3-ubyte.gz"), Bytes(images.begin(), images.begin() + half));
    write_gz(tmp.file("train-images-idx3-ubyte.gz"), Bytes(images.begin() + half, images.end()),
             "ab");
    check_idx(krrdistill::load_dataset("mnist", tmp.dir(), false), f);
  }
}

BOOST_AUTO_TEST_CASE(idx_generic_classes_from_labels_and_auto) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false, 13, 3, 4);
  Dataset ds = krrdistill::load_dataset("idx", tmp.dir(), false);
  check_idx(ds, f);
  BOOST_TEST(ds.name == "idx");
  BOOST_TEST(ds.num_classes == 13u);
  BOOST_TEST(ds.class_names == numbers(13));
  Dataset detected = krrdistill::load_dataset("auto", tmp.dir(), false);
  BOOST_TEST(detected.name == "idx");
  BOOST_TEST(pixels_of(detected.train.pixels) == f.train.pixels);
}

BOOST_AUTO_TEST_CASE(idx_mixed_plain_and_gzip_prefers_plain) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false);
  // A gzipped copy with other content next to the plain file is ignored...
  write_gz(tmp.file("train-labels-idx1-ubyte.gz"), idx_labels({1}));
  // ...and a folder may mix plain and gzipped files.
  fs::remove(tmp.file("t10k-images-idx3-ubyte"));
  write_gz(tmp.file("t10k-images-idx3-ubyte.gz"), idx_images(6, 5, 7, f.test.pixels));
  Dataset ds = krrdistill::load_dataset("mnist", tmp.dir(), false);
  check_idx(ds, f);
}

BOOST_AUTO_TEST_CASE(idx_missing_file) {
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), true);
  fs::remove(tmp.file("t10k-labels-idx1-ubyte.gz"));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-labels-idx1-ubyte") + ": no such file (nor t10k-labels-idx1-ubyte.gz)");
}

BOOST_AUTO_TEST_CASE(idx_truncated_header) {
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("train-images-idx3-ubyte"), {0, 0, 8, 3, 0, 0, 0, 13, 0, 0});
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-images-idx3-ubyte") +
                 ": file too short for an IDX image header (10 bytes, need 16)");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("t10k-labels-idx1-ubyte"), {0, 0, 8, 1, 0});
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-labels-idx1-ubyte") +
                 ": file too short for an IDX label header (5 bytes, need 8)");
}

BOOST_AUTO_TEST_CASE(idx_truncated_pixels) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), true);
  Bytes cut(f.train.pixels.begin(), f.train.pixels.begin() + 100);
  write_gz(tmp.file("train-images-idx3-ubyte.gz"), idx_images(13, 5, 7, cut));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-images-idx3-ubyte.gz") +
                 ": header says 13 images of 5x7 (455 bytes) but the file holds 100 bytes after "
                 "the 16-byte header");
}

BOOST_AUTO_TEST_CASE(idx_too_long_file) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false);
  Bytes more = f.test.pixels;
  more.push_back(0);
  write_plain(tmp.file("t10k-images-idx3-ubyte"), idx_images(6, 5, 7, more));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-images-idx3-ubyte") +
                 ": header says 6 images of 5x7 (210 bytes) but the file holds 211 bytes after "
                 "the 16-byte header");
  write_idx_folder(tmp.dir(), false);
  std::vector<unsigned> labels(14, 1);
  Bytes lab = idx_labels(labels);
  lab[7] = 13;  // header says 13, 14 present
  write_plain(tmp.file("train-labels-idx1-ubyte"), lab);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-labels-idx1-ubyte") +
                 ": header says 13 labels but the file holds 14 bytes after the 8-byte header");
}

BOOST_AUTO_TEST_CASE(idx_huge_header_counts) {
  // 2^32-1 images of 2^32-1 × 2^32-1: checked against the length, never allocated.
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("train-images-idx3-ubyte"),
              idx_images(0xffffffffu, 0xffffffffu, 0xffffffffu, Bytes(20, 1)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-images-idx3-ubyte") +
                 ": header says 4294967295 images of 4294967295x4294967295 (more than 2^64 "
                 "bytes) but the file holds 20 bytes after the 16-byte header");
}

BOOST_AUTO_TEST_CASE(idx_wrong_magic) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("train-images-idx3-ubyte"), idx_images(13, 5, 7, f.train.pixels, 0x801));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-images-idx3-ubyte") +
                 ": wrong magic 0x00000801 (expected 0x00000803 for IDX images)");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("t10k-labels-idx1-ubyte"), idx_labels(f.test.labels, 0x803));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-labels-idx1-ubyte") +
                 ": wrong magic 0x00000803 (expected 0x00000801 for IDX labels)");
}

BOOST_AUTO_TEST_CASE(idx_label_out_of_range) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), true);
  f.train.labels[3] = 10;
  write_gz(tmp.file("train-labels-idx1-ubyte.gz"), idx_labels(f.train.labels));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("fashion-mnist", tmp.dir(), false); }) ==
             tmp.file("train-labels-idx1-ubyte.gz") +
                 ": label 10 of item 3 is out of range (the dataset has 10 classes)");
  // The same file is fine as a generic IDX folder: 11 classes.
  Dataset ds = krrdistill::load_dataset("idx", tmp.dir(), false);
  BOOST_TEST(ds.num_classes == 11u);
  // A label byte of 255 gives 256 classes and no overflow.
  f.train.labels[3] = 255;
  write_gz(tmp.file("train-labels-idx1-ubyte.gz"), idx_labels(f.train.labels));
  BOOST_TEST(krrdistill::load_dataset("idx", tmp.dir(), false).num_classes == 256u);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-labels-idx1-ubyte.gz") +
                 ": label 255 of item 3 is out of range (the dataset has 10 classes)");
}

BOOST_AUTO_TEST_CASE(idx_count_mismatch) {
  TempDir tmp("data");
  IdxFixture f = write_idx_folder(tmp.dir(), false);
  f.train.labels.pop_back();
  write_plain(tmp.file("train-labels-idx1-ubyte"), idx_labels(f.train.labels));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-labels-idx1-ubyte") + ": holds 12 labels but " +
                 tmp.file("train-images-idx3-ubyte") + " holds 13 images");
}

BOOST_AUTO_TEST_CASE(idx_train_test_size_differ) {
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), false);
  std::mt19937 rng(1);
  write_plain(tmp.file("t10k-images-idx3-ubyte"), idx_images(6, 7, 5, random_bytes(210, rng)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-images-idx3-ubyte") +
                 ": test images are 7x5 but the training images are 5x7");
}

BOOST_AUTO_TEST_CASE(idx_zero_images) {
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("t10k-images-idx3-ubyte"), idx_images(0, 5, 7, {}));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-images-idx3-ubyte") + ": holds zero images");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("train-images-idx3-ubyte"), idx_images(13, 0, 7, {}));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("train-images-idx3-ubyte") + ": image size 0x7 is empty");
  write_idx_folder(tmp.dir(), false);
  write_plain(tmp.file("t10k-labels-idx1-ubyte"), idx_labels({}));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-labels-idx1-ubyte") + ": holds zero labels");
}

BOOST_AUTO_TEST_CASE(idx_corrupt_gzip) {
  TempDir tmp("data");
  write_idx_folder(tmp.dir(), true);
  Bytes gz = read_bytes(tmp.file("train-images-idx3-ubyte.gz"));
  for (std::size_t i = 10; i < gz.size() - 8; ++i) gz[i] ^= 0xa5;
  write_plain(tmp.file("train-images-idx3-ubyte.gz"), gz);
  std::string msg = error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); });
  BOOST_TEST(contains(msg, tmp.file("train-images-idx3-ubyte.gz") + ": corrupt gzip data ("));
  // Truncated gzip.
  write_idx_folder(tmp.dir(), true);
  gz = read_bytes(tmp.file("t10k-images-idx3-ubyte.gz"));
  gz.resize(gz.size() / 2);
  write_plain(tmp.file("t10k-images-idx3-ubyte.gz"), gz);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), false); }) ==
             tmp.file("t10k-images-idx3-ubyte.gz") +
                 ": truncated gzip data (the compressed stream ends early)");
}

// ===== CIFAR-10 ============================================================

BOOST_AUTO_TEST_CASE(cifar10_round_trip_with_names) {
  TempDir tmp("data");
  CifarFixture f = write_cifar10_folder(tmp.dir());
  const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                          "dog",      "frog",       "horse", "ship", "truck"};
  std::string meta;
  for (const std::string& n : names) meta += n + "\n";
  meta += "\n\n";  // the official file ends with empty lines
  write_plain(tmp.file("batches.meta.txt"), Bytes(meta.begin(), meta.end()));
  Dataset ds = krrdistill::load_dataset("cifar10", tmp.dir(), false);
  BOOST_TEST(ds.name == "cifar10");
  BOOST_TEST(ds.num_classes == 10u);
  BOOST_TEST(ds.class_names == names);
  BOOST_TEST(ds.train.pixels.n_cols == 15u);  // 1 + 2 + 3 + 4 + 5 records
  BOOST_TEST(ds.test.pixels.n_cols == 4u);
  BOOST_TEST(labels_of(ds.train.labels) == f.train.labels);
  BOOST_TEST(labels_of(ds.test.labels) == f.test.labels);
  check_cifar_pixels(ds, f);
}

BOOST_AUTO_TEST_CASE(cifar10_subfolder_auto_and_number_names) {
  TempDir tmp("data");
  fs::create_directories(tmp.path / "cifar-10-batches-bin");
  CifarFixture f = write_cifar10_folder(tmp.file("cifar-10-batches-bin"));
  for (const char* name : {"cifar10", "auto"}) {
    Dataset ds = krrdistill::load_dataset(name, tmp.dir(), false);
    BOOST_TEST(ds.name == "cifar10");
    BOOST_TEST(ds.class_names == numbers(10));
    BOOST_TEST(labels_of(ds.train.labels) == f.train.labels);
    check_cifar_pixels(ds, f);
  }
}

BOOST_AUTO_TEST_CASE(cifar10_label_out_of_range) {
  TempDir tmp("data");
  write_cifar10_folder(tmp.dir());
  Bytes b = read_bytes(tmp.file("data_batch_3.bin"));
  b[2 * 3073] = 10;  // label byte of record 2
  write_plain(tmp.file("data_batch_3.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("data_batch_3.bin") +
                 ": label 10 of record 2 is out of range (CIFAR-10 has 10 classes)");
}

BOOST_AUTO_TEST_CASE(cifar10_bad_size) {
  TempDir tmp("data");
  write_cifar10_folder(tmp.dir());
  Bytes b = read_bytes(tmp.file("test_batch.bin"));
  b.pop_back();
  write_plain(tmp.file("test_batch.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("test_batch.bin") +
                 ": size 12291 bytes is not a multiple of the 3073-byte CIFAR-10 record (1 label "
                 "byte + 3072 pixels)");
  b.push_back(0);
  b.push_back(0);
  write_plain(tmp.file("test_batch.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("test_batch.bin") +
                 ": size 12293 bytes is not a multiple of the 3073-byte CIFAR-10 record (1 label "
                 "byte + 3072 pixels)");
}

BOOST_AUTO_TEST_CASE(cifar10_zero_images_and_missing_batch) {
  TempDir tmp("data");
  write_cifar10_folder(tmp.dir());
  write_plain(tmp.file("data_batch_4.bin"), {});
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("data_batch_4.bin") + ": holds zero images (the file is empty)");
  write_cifar10_folder(tmp.dir());
  fs::remove(tmp.file("data_batch_5.bin"));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("data_batch_5.bin") + ": no such file");
  fs::remove(tmp.file("data_batch_1.bin"));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("data_batch_1.bin") +
                 ": no such file (nor in the subfolder "
                 "cifar-10-batches-bin)");
}

BOOST_AUTO_TEST_CASE(cifar10_wrong_name_count) {
  TempDir tmp("data");
  write_cifar10_folder(tmp.dir());
  std::string meta = "a\nb\nc\n";
  write_plain(tmp.file("batches.meta.txt"), Bytes(meta.begin(), meta.end()));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar10", tmp.dir(), false); }) ==
             tmp.file("batches.meta.txt") + ": holds 3 class names but CIFAR-10 has 10 classes");
}

// ===== CIFAR-100 ===========================================================

BOOST_AUTO_TEST_CASE(cifar100_fine_and_coarse_round_trip) {
  TempDir tmp("data");
  fs::create_directories(tmp.path / "cifar-100-binary");
  const std::string folder = tmp.file("cifar-100-binary");
  CifarFixture f = write_cifar100_folder(folder);
  std::string fine, coarse;
  std::vector<std::string> fine_names, coarse_names;
  for (int c = 0; c < 100; ++c) fine_names.push_back("fine_" + std::to_string(c));
  for (int c = 0; c < 20; ++c) coarse_names.push_back("coarse_" + std::to_string(c));
  for (const auto& n : fine_names) fine += n + "\r\n";  // CRLF is tolerated
  for (const auto& n : coarse_names) coarse += n + "\n";
  write_plain(folder + "/fine_label_names.txt", Bytes(fine.begin(), fine.end()));
  write_plain(folder + "/coarse_label_names.txt", Bytes(coarse.begin(), coarse.end()));

  Dataset ds = krrdistill::load_dataset("cifar100", tmp.dir(), false);
  BOOST_TEST(ds.name == "cifar100");
  BOOST_TEST(ds.num_classes == 100u);
  BOOST_TEST(ds.class_names == fine_names);
  BOOST_TEST(labels_of(ds.train.labels) == f.train.labels);
  BOOST_TEST(labels_of(ds.test.labels) == f.test.labels);
  check_cifar_pixels(ds, f);

  Dataset dc = krrdistill::load_dataset("auto", tmp.dir(), true);
  BOOST_TEST(dc.name == "cifar100");
  BOOST_TEST(dc.num_classes == 20u);
  BOOST_TEST(dc.class_names == coarse_names);
  BOOST_TEST(labels_of(dc.train.labels) == f.train.coarse);
  BOOST_TEST(labels_of(dc.test.labels) == f.test.coarse);
  check_cifar_pixels(dc, f);
}

BOOST_AUTO_TEST_CASE(cifar100_number_names_without_files) {
  TempDir tmp("data");
  write_cifar100_folder(tmp.dir());
  Dataset ds = krrdistill::load_dataset("cifar100", tmp.dir(), true);
  BOOST_TEST(ds.class_names == numbers(20));
  BOOST_TEST(ds.train.pixels.n_cols == 7u);
  BOOST_TEST(ds.test.pixels.n_cols == 3u);
}

BOOST_AUTO_TEST_CASE(cifar100_wrong_name_count) {
  TempDir tmp("data");
  write_cifar100_folder(tmp.dir());
  std::string names = "apple\n\nbaby\n";
  write_plain(tmp.file("fine_label_names.txt"), Bytes(names.begin(), names.end()));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar100", tmp.dir(), false); }) ==
             tmp.file("fine_label_names.txt") +
                 ": holds 2 class names but CIFAR-100 (fine) has 100 classes");
}

BOOST_AUTO_TEST_CASE(cifar100_labels_out_of_range) {
  TempDir tmp("data");
  write_cifar100_folder(tmp.dir());
  Bytes b = read_bytes(tmp.file("train.bin"));
  b[5 * 3074 + 1] = 100;  // fine label of record 5
  write_plain(tmp.file("train.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar100", tmp.dir(), false); }) ==
             tmp.file("train.bin") +
                 ": fine label 100 of record 5 is out of range (CIFAR-100 has 100 fine classes)");
  write_cifar100_folder(tmp.dir());
  b = read_bytes(tmp.file("test.bin"));
  b[0] = 20;  // coarse label of record 0
  write_plain(tmp.file("test.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar100", tmp.dir(), true); }) ==
             tmp.file("test.bin") +
                 ": coarse label 20 of record 0 is out of range (CIFAR-100 has 20 coarse classes)");
}

BOOST_AUTO_TEST_CASE(cifar100_bad_size) {
  TempDir tmp("data");
  write_cifar100_folder(tmp.dir());
  Bytes b = read_bytes(tmp.file("test.bin"));
  b.resize(3073 * 3);  // CIFAR-10 sized records
  write_plain(tmp.file("test.bin"), b);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("cifar100", tmp.dir(), false); }) ==
             tmp.file("test.bin") +
                 ": size 9219 bytes is not a multiple of the 3074-byte CIFAR-100 record (2 label "
                 "bytes + 3072 pixels)");
}

// ===== .npy folder =========================================================

BOOST_AUTO_TEST_CASE(npy_folder_round_trip_gray) {
  TempDir tmp("data");
  NpyFixture f = write_npy_folder(tmp.dir(), 0);
  Dataset ds = krrdistill::load_dataset("npy", tmp.dir(), false);
  BOOST_TEST(ds.name == "npy");
  BOOST_TEST(ds.shape.channels == 1u);
  BOOST_TEST(ds.shape.height == 4u);
  BOOST_TEST(ds.shape.width == 6u);
  BOOST_TEST(ds.train.pixels.n_rows == 24u);
  BOOST_TEST(ds.train.pixels.n_cols == 9u);
  BOOST_TEST(pixels_of(ds.train.pixels) == f.train_pixels);
  BOOST_TEST(pixels_of(ds.test.pixels) == f.test_pixels);
  BOOST_TEST(labels_of(ds.train.labels) == f.train_labels);
  BOOST_TEST(labels_of(ds.test.labels) == f.test_labels);
  BOOST_TEST(ds.num_classes == 12u);
  BOOST_TEST(ds.class_names == numbers(12));
}

BOOST_AUTO_TEST_CASE(npy_folder_round_trip_color_and_auto) {
  TempDir tmp("data");
  NpyFixture f = write_npy_folder(tmp.dir(), 3);
  Dataset ds = krrdistill::load_dataset("auto", tmp.dir(), false);
  BOOST_TEST(ds.name == "npy");
  BOOST_TEST(ds.shape.channels == 3u);
  BOOST_TEST(ds.shape.size() == 72u);
  BOOST_TEST(ds.test.pixels.n_cols == 5u);
  BOOST_TEST(pixels_of(ds.train.pixels) == f.train_pixels);
  BOOST_TEST(pixels_of(ds.test.pixels) == f.test_pixels);
  // Channel 2, row 1, column 5 of training image 7.
  BOOST_TEST(ds.train.pixels(2 * 24 + 1 * 6 + 5, 7) == f.train_pixels[7 * 72 + 2 * 24 + 1 * 6 + 5]);
  // An explicit single channel (n, 1, h, w) is accepted as well.
  TempDir one("data");
  write_npy_folder(one.dir(), 1);
  BOOST_TEST(krrdistill::load_dataset("npy", one.dir(), false).shape.channels == 1u);
}

BOOST_AUTO_TEST_CASE(npy_folder_wrong_image_dtype_and_shape) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f8", "(1, 1, 1)", Bytes(8, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_train.npy") + ": a feature matrix must have shape (n, p), got (1, 1, 1)");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<i4", "(1, 1, 1)", Bytes(4, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_train.npy") +
                 ": images must be uint8 ('|u1') or a float32/float64 feature matrix, got '<i4'");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("|u1", "(2, 12)", Bytes(24, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_train.npy") +
                 ": images must have shape (n, h, w) or (n, c, h, w), got (2, 12)");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("|u1", "(2, 2, 2, 3)", Bytes(24, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_train.npy") +
                 ": images must have 1 or 3 channels, got 2 (shape (2, 2, 2, 3); channels come "
                 "second)");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("|u1", "(0, 4, 6)", {}));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_train.npy") + ": holds zero images");
}

// Float y files are real targets (docs/design.md §10): (n,) is k = 1, (n, k)
// is k columns of k×n, float32 and float64 alike, read to the bit.
BOOST_AUTO_TEST_CASE(npy_folder_real_targets) {
  TempDir tmp("data");
  const NpyFixture f = write_npy_folder(tmp.dir(), 0);
  const std::vector<double> train = {0.5, -1.25, 3,  1e-300, -0.0, 7,  8,  9,  10,
                                     11,  12,    13, 14,     15,   16, 17, 18, 19};
  const std::vector<float> test = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 2)", le_bytes(train)));
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("<f4", "(5, 2)", Bytes(40, 0)));
  Dataset ds = krrdistill::load_dataset("npy", tmp.dir(), false);
  BOOST_TEST(ds.regression());
  BOOST_TEST(ds.num_classes == 2u);
  BOOST_TEST(ds.class_names == std::vector<std::string>({"y0", "y1"}));
  BOOST_TEST(ds.train.labels.is_empty());
  BOOST_REQUIRE(ds.train.targets.n_rows == 2u);
  BOOST_REQUIRE(ds.train.targets.n_cols == 9u);
  for (arma::uword i = 0; i < 9; ++i)
    for (arma::uword j = 0; j < 2; ++j) BOOST_TEST(ds.train.targets(j, i) == train[2 * i + j]);
  BOOST_TEST(pixels_of(ds.train.pixels) == f.train_pixels);
  const krrdistill::StreamDataset source = krrdistill::open_stream_dataset("npy", tmp.dir(), false);
  BOOST_TEST(source.regression());
  BOOST_TEST(source.train.size() == 9u);
  BOOST_TEST(arma::approx_equal(krrdistill::targets_of(source.train, 2, 3),
                                ds.train.targets.cols(2, 4), "absdiff", 0.0));

  // k = 1 from a 1-D float32 file.
  write_plain(tmp.file("y_train.npy"),
              krrdistill_fuzz::npy("<f4", "(9,)", le_bytes(std::vector<float>(9, 2.5f))));
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("<f4", "(5,)", le_bytes(test)));
  ds = krrdistill::load_dataset("npy", tmp.dir(), false);
  BOOST_TEST(ds.num_classes == 1u);
  BOOST_TEST(ds.test.targets(0, 3) == double(0.4f));
}

// Float x files are feature matrices (docs/design.md §11): (n, p) in C or
// Fortran order, float32 or float64, read to the bit by load_dataset and by
// the streamed reads alike; shape {p, 1, 1}.
BOOST_AUTO_TEST_CASE(npy_folder_feature_matrices) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);  // 9 training and 5 test samples with labels
  std::vector<double> train(9 * 4), test(5 * 4);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = 0.25 * double(i) - 3.0;
  for (std::size_t i = 0; i < test.size(); ++i) test[i] = 1e-3 * double(i);
  // Training values in C order (sample i's 4 features contiguous); test
  // values in Fortran order (feature j of all 5 samples contiguous), float32.
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 4)", le_bytes(train)));
  std::vector<float> test_fortran(test.size());
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < 4; ++j) test_fortran[j * 5 + i] = float(test[i * 4 + j]);
  write_plain(tmp.file("x_test.npy"),
              krrdistill_fuzz::npy("<f4", "(5, 4)", le_bytes(test_fortran), true));
  const Dataset ds = krrdistill::load_dataset("npy", tmp.dir(), false);
  BOOST_TEST(ds.feature_matrix());
  BOOST_TEST(ds.shape.channels == 4u);
  BOOST_TEST(ds.shape.size() == 4u);
  BOOST_TEST(ds.train.pixels.is_empty());
  BOOST_REQUIRE(ds.train.features.n_cols == 9u);
  for (arma::uword i = 0; i < 9; ++i)
    for (arma::uword j = 0; j < 4; ++j) BOOST_TEST(ds.train.features(j, i) == train[i * 4 + j]);
  for (arma::uword i = 0; i < 5; ++i)
    for (arma::uword j = 0; j < 4; ++j)
      BOOST_TEST(ds.test.features(j, i) == double(float(test[i * 4 + j])));
  const krrdistill::StreamDataset source = krrdistill::open_stream_dataset("npy", tmp.dir(), false);
  BOOST_TEST(source.feature_matrix());
  for (const krrdistill::SplitSource* split : {&source.train, &source.test}) {
    const arma::mat& whole = split == &source.train ? ds.train.features : ds.test.features;
    for (arma::uword first = 0; first < split->size(); ++first)
      for (arma::uword count = 0; first + count <= split->size(); ++count)
        BOOST_TEST(arma::approx_equal(krrdistill::read_features(*split, first, count),
                                      arma::mat(whole.cols(first, first + count - 1)), "absdiff",
                                      0.0));
    const arma::uvec some = {0, 2, 3, 4};
    BOOST_TEST(arma::approx_equal(krrdistill::gather_features(*split, some),
                                  arma::mat(whole.cols(some)), "absdiff", 0.0));
  }
}

BOOST_AUTO_TEST_CASE(npy_folder_bad_feature_matrices) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  const auto error = [&] {
    return error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); });
  };
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f4", "(9, 3)", Bytes(108, 0)));
  BOOST_TEST(error() == tmp.file("x_train.npy") + " and " + tmp.file("x_test.npy") +
                            ": one holds uint8 images and the other a float feature matrix");
  write_plain(tmp.file("x_test.npy"), krrdistill_fuzz::npy("<f4", "(5, 2)", Bytes(40, 0)));
  BOOST_TEST(error() ==
             tmp.file("x_test.npy") + ": 2 features a sample but the training samples have 3");
  write_plain(tmp.file("x_test.npy"), krrdistill_fuzz::npy("<f4", "(5, 3)", Bytes(60, 0)));
  BOOST_CHECK_NO_THROW(krrdistill::load_dataset("npy", tmp.dir(), false));
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f4", "(9, 0)", {}));
  BOOST_TEST(error() ==
             tmp.file("x_train.npy") + ": feature vectors of dimension 0 (shape (9, 0))");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f4", "(0, 3)", {}));
  BOOST_TEST(error() == tmp.file("x_train.npy") + ": holds zero samples");
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f8", "(8, 3)", Bytes(192, 0)));
  BOOST_TEST(error() == tmp.file("y_train.npy") + ": holds 9 labels but " +
                            tmp.file("x_train.npy") + " holds 8 samples");
  std::vector<float> values(27, 1.0f);
  values[3 * 4 + 2] = std::numeric_limits<float>::quiet_NaN();
  write_plain(tmp.file("x_train.npy"), krrdistill_fuzz::npy("<f4", "(9, 3)", le_bytes(values)));
  BOOST_TEST(error() == tmp.file("x_train.npy") + ": feature 2 of sample 4 is not a finite number");
  write_plain(tmp.file("x_train.npy"),
              krrdistill_fuzz::npy("<f4", "(9, 3)", le_bytes(values), true));  // Fortran
  BOOST_TEST(error() == tmp.file("x_train.npy") + ": feature 1 of sample 5 is not a finite number");
  // Images stay C order only.
  write_npy_folder(tmp.dir(), 0);
  write_plain(tmp.file("x_train.npy"),
              krrdistill_fuzz::npy("|u1", "(9, 4, 6)", Bytes(216, 0), true));
  BOOST_TEST(error() == tmp.file("x_train.npy") +
                            ": Fortran-order arrays are not supported (save with C order)");
}

BOOST_AUTO_TEST_CASE(npy_folder_bad_real_targets) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  const auto error = [&] {
    return error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); });
  };
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("<f8", "(5, 2)", Bytes(80, 0)));
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 3)", Bytes(216, 0)));
  BOOST_TEST(error() ==
             tmp.file("y_test.npy") + ": targets of dimension 2 but the training targets have 3");
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(8, 2)", Bytes(128, 0)));
  BOOST_TEST(error() == tmp.file("y_train.npy") + ": holds 8 targets but " +
                            tmp.file("x_train.npy") + " holds 9 images");
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 0)", {}));
  BOOST_TEST(error() == tmp.file("y_train.npy") + ": targets of dimension 0 (shape (9, 0))");
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f4", "(9, 1, 1)", Bytes(36, 0)));
  BOOST_TEST(error() == tmp.file("y_train.npy") +
                            ": float targets must have shape (n,) or (n, k), got (9, 1, 1)");
  std::vector<double> values(18, 1.0);
  values[7] = std::numeric_limits<double>::quiet_NaN();
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 2)", le_bytes(values)));
  BOOST_TEST(error() == tmp.file("y_train.npy") + ": target 1 of item 3 is not a finite number");
  values[7] = std::numeric_limits<double>::infinity();
  write_plain(tmp.file("y_train.npy"), krrdistill_fuzz::npy("<f8", "(9, 2)", le_bytes(values)));
  BOOST_TEST(error() == tmp.file("y_train.npy") + ": target 1 of item 3 is not a finite number");
  write_plain(tmp.file("y_train.npy"),
              krrdistill_fuzz::npy("<f8", "(9, 20000)", Bytes(9 * 20000 * 8, 0)));
  BOOST_TEST(error() ==
             tmp.file("y_train.npy") + ": 20000 target dimensions (at most 10000 are supported)");
}

BOOST_AUTO_TEST_CASE(npy_folder_bad_labels) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("<f4", "(5,)", Bytes(20, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_train.npy") + " and " + tmp.file("y_test.npy") +
                 ": one holds float targets and the other integer labels");
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("|b1", "(5,)", Bytes(5, 0)));
  BOOST_TEST(error_of([&] {
               krrdistill::load_dataset("npy", tmp.dir(), false);
             }).find("unsupported dtype '|b1'") != std::string::npos);
  write_plain(tmp.file("y_test.npy"), krrdistill_fuzz::npy("|u1", "(5, 1)", Bytes(5, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_test.npy") + ": labels must be 1-D, got shape (5, 1)");
  write_plain(tmp.file("y_test.npy"),
              krrdistill_fuzz::npy("<i2", "(5,)", le_bytes<std::int16_t>({1, 2, -3, 4, 5})));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_test.npy") + ": label -3 of item 2 is negative");
  write_plain(
      tmp.file("y_test.npy"),
      krrdistill_fuzz::npy("<u4", "(5,)", le_bytes<std::uint32_t>({1, 2, 3, 4000000000u, 5})));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_test.npy") +
                 ": label 4000000000 of item 3 is too large (at most 10000 classes are "
                 "supported)");
  write_plain(tmp.file("y_test.npy"),
              krrdistill_fuzz::npy("<i4", "(4,)", le_bytes<std::int32_t>({1, 2, 3, 4})));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_test.npy") + ": holds 4 labels but " + tmp.file("x_test.npy") +
                 " holds 5 images");
}

BOOST_AUTO_TEST_CASE(npy_folder_train_test_shape_differ) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  write_plain(tmp.file("x_test.npy"), krrdistill_fuzz::npy("|u1", "(5, 3, 4, 6)", Bytes(360, 0)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_test.npy") +
                 ": test images are 3x4x6 (channels x height x width) but the training images "
                 "are 1x4x6");
}

BOOST_AUTO_TEST_CASE(npy_folder_npy_errors_pass_through) {
  TempDir tmp("data");
  write_npy_folder(tmp.dir(), 0);
  fs::remove(tmp.file("y_train.npy"));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("y_train.npy") + ": no such file");
  Bytes x = read_bytes(tmp.file("x_test.npy"));
  x.resize(x.size() - 1);
  write_plain(tmp.file("x_test.npy"), x);
  write_npy_folder(tmp.dir(), 0);
  write_plain(tmp.file("x_test.npy"), x);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("npy", tmp.dir(), false); }) ==
             tmp.file("x_test.npy") +
                 ": header says shape (5, 4, 6) of |u1 (120 bytes) but the file holds 119 bytes "
                 "of data");
}

// ===== load_dataset dispatch ===============================================

BOOST_AUTO_TEST_CASE(load_dataset_bad_arguments) {
  TempDir tmp("data");
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("svhn", tmp.dir(), false); }) ==
             "unknown dataset 'svhn' (expected one of: fashion-mnist, mnist, idx, cifar10, "
             "cifar100, npy, auto)");
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", "", false); }) ==
             "dataset 'mnist' needs a folder (--data DIR)");
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("auto", "", false); }) ==
             "dataset 'auto' needs a folder (--data DIR)");
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("auto", tmp.dir(), false); }) ==
             tmp.dir() +
                 ": cannot detect the dataset format (expected train-images-idx3-ubyte[.gz], "
                 "data_batch_1.bin, train.bin or x_train.npy)");
  write_idx_folder(tmp.dir(), false);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("mnist", tmp.dir(), true); }) ==
             "coarse labels exist only for cifar100, not for dataset 'mnist'");
}

// ===== the real Fashion-MNIST ==============================================

BOOST_AUTO_TEST_CASE(real_fashion_mnist) {
  const Dataset ds = krrdistill::load_dataset("fashion-mnist", KRRDISTILL_FASHION_MNIST, false);

  BOOST_TEST(ds.name == "fashion-mnist");
  BOOST_TEST(ds.shape.channels == 1u);
  BOOST_TEST(ds.shape.height == 28u);
  BOOST_TEST(ds.shape.width == 28u);
  BOOST_TEST(ds.num_classes == 10u);
  BOOST_TEST(ds.class_names.size() == 10u);
  BOOST_TEST(ds.class_names[9] == "Ankle boot");
  BOOST_TEST(ds.train.pixels.n_rows == 784u);
  BOOST_TEST(ds.train.pixels.n_cols == 60000u);
  BOOST_TEST(ds.test.pixels.n_rows == 784u);
  BOOST_TEST(ds.test.pixels.n_cols == 10000u);
  BOOST_TEST(ds.train.labels.n_elem == 60000u);
  BOOST_TEST(ds.test.labels.n_elem == 10000u);
  arma::uvec train_counts = arma::conv_to<arma::uvec>::from(
      arma::hist(ds.train.labels, arma::regspace<arma::uvec>(0, 9)));
  arma::uvec test_counts =
      arma::conv_to<arma::uvec>::from(arma::hist(ds.test.labels, arma::regspace<arma::uvec>(0, 9)));
  for (arma::uword c = 0; c < 10; ++c) {
    BOOST_TEST(train_counts[c] == 6000u, "class " << c);
    BOOST_TEST(test_counts[c] == 1000u, "class " << c);
  }
  // Known values of the published files.
  BOOST_TEST(labels_of(ds.train.labels.head(10)) ==
             (std::vector<unsigned>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  BOOST_TEST(labels_of(ds.test.labels.head(5)) == (std::vector<unsigned>{9, 2, 1, 1, 6}));
  BOOST_TEST(arma::accu(arma::conv_to<arma::uvec>::from(ds.train.pixels.col(0))) == 76247u);
  std::uint64_t train_sum = 0, test_sum = 0;
  for (std::uint8_t v : ds.train.pixels) train_sum += v;
  for (std::uint8_t v : ds.test.pixels) test_sum += v;
  BOOST_TEST(train_sum == 3431114169ull);
  BOOST_TEST(test_sum == 573469082ull);
}
