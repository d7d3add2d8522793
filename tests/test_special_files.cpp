// Inputs that are not bad bytes but bad files: a FIFO (opening one without a
// writer used to wait forever), a device that never ends (/dev/zero), and a
// small gzip file that expands to a gigabyte (it used to be inflated whole
// before the IDX header was checked). Each is refused at once with one
// Error naming the file.
#define BOOST_TEST_MODULE special_files
#include <sys/stat.h>
#include <zlib.h>

#include <boost/test/unit_test.hpp>

#include "../fuzz/harness.hpp"
#include "fixtures.hpp"
#include "krrdistill/data.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"
#include "krrdistill/npy.hpp"
#include "krrdistill/report.hpp"

using namespace fixtures;

namespace {

// A valid folder of the harness's fixtures for a reader.
struct Folder {
  TempDir scratch{"special"};
  krrdistill_fuzz::Harness harness;
  explicit Folder(krrdistill_fuzz::Target t) : harness(t, scratch.path) {}
  std::string file(const std::string& name) const { return (harness.dir() / name).string(); }
  void make_fifo(const std::string& name) const {
    fs::remove(file(name));
    BOOST_REQUIRE(::mkfifo(file(name).c_str(), 0600) == 0);
  }
  void link_to(const std::string& name, const std::string& target) const {
    fs::remove(file(name));
    fs::create_symlink(target, file(name));
  }
};

Bytes gzip_member(const Bytes& content) {
  return krrdistill_fuzz::gzip(content);
}

}  // namespace

BOOST_AUTO_TEST_CASE(fifos_are_refused_not_waited_on) {
  {
    Folder f(krrdistill_fuzz::Target::cifar10);
    f.make_fifo("data_batch_2.bin");
    BOOST_TEST(error_of([&] {
                 krrdistill::load_dataset("cifar10", f.harness.dir().string(), false);
               }) == f.file("data_batch_2.bin") + ": not a regular file");
  }
  {
    Folder f(krrdistill_fuzz::Target::npy);
    f.make_fifo("x_test.npy");
    BOOST_TEST(error_of([&] {
                 krrdistill::load_dataset("npy", f.harness.dir().string(), false);
               }) == f.file("x_test.npy") + ": not a regular file");
  }
  {
    Folder f(krrdistill_fuzz::Target::report);
    f.make_fifo("report.json");
    BOOST_TEST(error_of([&] { krrdistill::read_eval_report(f.file("report.json")); }) ==
               f.file("report.json") + ": not a regular file");
  }
  {
    // IDX files are looked up as regular files: a FIFO is not one of them.
    Folder f(krrdistill_fuzz::Target::idx);
    f.make_fifo("t10k-labels-idx1-ubyte");
    BOOST_TEST(
        error_of([&] { krrdistill::load_dataset("idx", f.harness.dir().string(), false); }) ==
        f.file("t10k-labels-idx1-ubyte") + ": no such file (nor t10k-labels-idx1-ubyte.gz)");
  }
}

BOOST_AUTO_TEST_CASE(endless_devices_are_refused) {
  Folder f(krrdistill_fuzz::Target::cifar100);
  f.link_to("test.bin", "/dev/zero");
  BOOST_TEST(error_of([&] {
               krrdistill::load_dataset("cifar100", f.harness.dir().string(), false);
             }) == f.file("test.bin") + ": not a regular file");
  BOOST_TEST(error_of([&] { krrdistill::read_npy("/dev/zero"); }) ==
             "/dev/zero: not a regular file");
  BOOST_TEST(error_of([&] { krrdistill::read_file_bytes("/dev/zero"); }) ==
             "/dev/zero: not a regular file");
}

BOOST_AUTO_TEST_CASE(gzip_bomb_is_not_inflated_past_the_header) {
  // 1 GiB of zeros in 1024 concatenated gzip members of 1 MiB (about 1 KiB
  // each compressed), behind an IDX header for 2 images of 2×2: the reader
  // must stop inflating right after the 8 bytes the header asks for.
  Folder f(krrdistill_fuzz::Target::idx);
  Bytes header = krrdistill_fuzz::idx_images(2, 2, 2);
  header.resize(16);
  const Bytes mib(1 << 20, 0);
  Bytes first = header;
  first.insert(first.end(), mib.begin(), mib.end());
  Bytes file = gzip_member(first);
  const Bytes member = gzip_member(mib);
  for (int i = 1; i < 1024; ++i) file.insert(file.end(), member.begin(), member.end());
  BOOST_TEST(file.size() < 2u << 20);
  fs::remove(f.file("train-images-idx3-ubyte"));
  write_bytes(f.file("train-images-idx3-ubyte.gz"), file);
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("idx", f.harness.dir().string(), false); }) ==
             f.file("train-images-idx3-ubyte.gz") +
                 ": header says 2 images of 2x2 (8 bytes) but the file holds more than 8 bytes "
                 "after the 16-byte header");

  // Labels the same way, and a header with absurd sizes: the mismatch is
  // named after inflating at most 1 MiB.
  Bytes labels = krrdistill_fuzz::idx_labels({0, 1});
  labels.resize(8);
  labels.insert(labels.end(), mib.begin(), mib.end());
  fs::remove(f.file("train-labels-idx1-ubyte"));
  write_bytes(f.file("train-labels-idx1-ubyte.gz"), gzip_member(labels));
  write_bytes(f.file("train-images-idx3-ubyte.gz"),
              gzip_member(krrdistill_fuzz::idx_images(3, 2, 2)));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("idx", f.harness.dir().string(), false); }) ==
             f.file("train-labels-idx1-ubyte.gz") +
                 ": header says 2 labels but the file holds more than 2 bytes after the 8-byte "
                 "header");
  Bytes absurd;
  krrdistill_fuzz::put_be32(absurd, 0x803);
  for (int i = 0; i < 3; ++i) krrdistill_fuzz::put_be32(absurd, 0xffffffffu);
  absurd.insert(absurd.end(), mib.begin(), mib.end());
  absurd.insert(absurd.end(), mib.begin(), mib.end());
  write_bytes(f.file("train-images-idx3-ubyte.gz"), gzip_member(absurd));
  BOOST_TEST(error_of([&] { krrdistill::load_dataset("idx", f.harness.dir().string(), false); }) ==
             f.file("train-images-idx3-ubyte.gz") +
                 ": header says 4294967295 images of 4294967295x4294967295 (more than 2^64 bytes) "
                 "but the file holds more than 1048576 bytes after the 16-byte header");
}

BOOST_AUTO_TEST_CASE(gzip_names_file_expanding_without_end) {
  Folder f(krrdistill_fuzz::Target::cifar10);
  const Bytes member = gzip_member(Bytes(1 << 20, 'a'));
  Bytes file;
  for (int i = 0; i < 17; ++i) file.insert(file.end(), member.begin(), member.end());
  write_bytes(f.file("batches.meta.txt"), file);
  BOOST_TEST(
      error_of([&] { krrdistill::load_dataset("cifar10", f.harness.dir().string(), false); }) ==
      f.file("batches.meta.txt") + ": more than 16 MiB once gunzipped, not a list of class names");
}

BOOST_AUTO_TEST_CASE(gzip_limit_keeps_exact_lengths) {
  TempDir scratch("special");
  const std::string path = scratch.file("a.gz");
  const Bytes content = {1, 2, 3, 4, 5};
  write_bytes(path, gzip_member(content));
  bool longer = true;
  BOOST_TEST(krrdistill::read_file_bytes(path, 5, &longer) == content);
  BOOST_TEST(!longer);
  BOOST_TEST(krrdistill::read_file_bytes(path, 9, &longer) == content);
  BOOST_TEST(!longer);
  BOOST_TEST(krrdistill::read_file_bytes(path, 3, &longer) == Bytes({1, 2, 3}));
  BOOST_TEST(longer);
  BOOST_TEST(krrdistill::read_file_bytes(path, 0, &longer).empty());
  BOOST_TEST(longer);
  // Plain files are read whole.
  write_bytes(path, content);
  BOOST_TEST(krrdistill::read_file_bytes(path, 3, &longer) == content);
  BOOST_TEST(!longer);
}
