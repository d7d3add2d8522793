#define BOOST_TEST_MODULE test_io
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

namespace fs = std::filesystem;
using fixtures::Bytes;
using fixtures::contains;
using fixtures::error_of;
using fixtures::read_bytes;
using fixtures::TempDir;
using fixtures::write_gz;
using fixtures::write_plain;

namespace {

Bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng() & 0xff);
  return out;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(read_plain_file_round_trip) {
  TempDir tmp("io");
  Bytes data = random_bytes(100003, 1);
  // Make sure the plain data cannot be mistaken for gzip.
  data[0] = 0x00;
  write_plain(tmp.file("a.bin"), data);
  BOOST_TEST(krrdistill::read_file_bytes(tmp.file("a.bin")) == data);
}

BOOST_AUTO_TEST_CASE(read_empty_file) {
  TempDir tmp("io");
  write_plain(tmp.file("empty"), {});
  BOOST_TEST(krrdistill::read_file_bytes(tmp.file("empty")).empty());
}

BOOST_AUTO_TEST_CASE(read_gzip_round_trip) {
  TempDir tmp("io");
  Bytes data = random_bytes(300001, 2);
  // Half random, half repetitive: both stored and compressed deflate blocks.
  std::fill(data.begin() + 150000, data.end(), 7);
  write_gz(tmp.file("a.gz"), data);
  BOOST_TEST(read_bytes(tmp.file("a.gz")).size() < data.size());
  BOOST_TEST(krrdistill::read_file_bytes(tmp.file("a.gz")) == data);
}

BOOST_AUTO_TEST_CASE(read_gzip_empty_payload) {
  TempDir tmp("io");
  write_gz(tmp.file("empty.gz"), {});
  BOOST_TEST(krrdistill::read_file_bytes(tmp.file("empty.gz")).empty());
}

BOOST_AUTO_TEST_CASE(read_gzip_multi_member_grows_buffer) {
  // Two gzip members back to back (as `cat a.gz b.gz` makes): the trailer's
  // size hint only covers the small last member, so the buffer must grow.
  TempDir tmp("io");
  Bytes first(5000000, 3);
  Bytes second = random_bytes(1000, 4);
  write_gz(tmp.file("multi.gz"), first);
  write_gz(tmp.file("multi.gz"), second, "ab");
  Bytes expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  BOOST_TEST(krrdistill::read_file_bytes(tmp.file("multi.gz")) == expected);
}

BOOST_AUTO_TEST_CASE(input_file_reads_ranges_in_any_order) {
  // The readers' one access path: small reads at odd offsets, forward and
  // backward, across a gzip member boundary, equal the content's bytes.
  TempDir tmp("io");
  const Bytes a = random_bytes(70001, 3), b = random_bytes(5003, 4);
  Bytes both = a;
  both.insert(both.end(), b.begin(), b.end());
  write_gz(tmp.file("m.gz"), a);
  write_gz(tmp.file("m.gz"), b, "ab");
  const Bytes members = read_bytes(tmp.file("m.gz"));
  write_plain(tmp.file("m"), both);
  for (const char* name : {"m.gz", "m"}) {
    krrdistill::InputFile file(tmp.file(name));
    BOOST_TEST(file.gzip() == (std::string(name) == "m.gz"));
    for (std::uint64_t offset : {69997u, 13u, 70001u, 1u, 74999u}) {
      Bytes got(7);
      file.seek(offset);
      const std::size_t n = file.read(got.data(), got.size());
      const std::size_t want = std::min<std::size_t>(7, both.size() - offset);
      BOOST_TEST(n == want);
      BOOST_TEST(std::equal(got.begin(), got.begin() + long(n), both.begin() + long(offset)));
      BOOST_TEST(file.position() == offset + n);
    }
  }
  // A .npy is never compressed: its reader opens gzip bytes as they are.
  krrdistill::InputFile raw(tmp.file("m.gz"), false);
  BOOST_TEST(!raw.gzip());
  BOOST_TEST(raw.size() == members.size());
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_error) {
  TempDir tmp("io");
  std::string path = tmp.file("nope.bin");
  std::string msg = error_of([&] { krrdistill::read_file_bytes(path); });
  BOOST_TEST(msg == path + ": no such file");
}

BOOST_AUTO_TEST_CASE(directory_is_an_error) {
  TempDir tmp("io");
  std::string msg = error_of([&] { krrdistill::read_file_bytes(tmp.path.string()); });
  BOOST_TEST(msg == tmp.path.string() + ": is a directory, expected a file");
}

BOOST_AUTO_TEST_CASE(truncated_gzip_is_an_error) {
  TempDir tmp("io");
  write_gz(tmp.file("t.gz"), random_bytes(20000, 5));
  Bytes gz = read_bytes(tmp.file("t.gz"));
  gz.resize(gz.size() / 2);
  write_plain(tmp.file("t.gz"), gz);
  std::string msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("t.gz")); });
  BOOST_TEST(msg == tmp.file("t.gz") + ": truncated gzip data (the compressed stream ends early)");

  // Only the trailer missing: the data inflates but cannot be verified.
  write_gz(tmp.file("t2.gz"), random_bytes(20000, 5));
  gz = read_bytes(tmp.file("t2.gz"));
  gz.resize(gz.size() - 4);
  write_plain(tmp.file("t2.gz"), gz);
  msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("t2.gz")); });
  BOOST_TEST(contains(msg, ": truncated gzip data"));

  // Nothing but the magic.
  write_plain(tmp.file("t3.gz"), {0x1f, 0x8b});
  msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("t3.gz")); });
  BOOST_TEST(contains(msg, tmp.file("t3.gz") + ": truncated gzip data"));
}

BOOST_AUTO_TEST_CASE(corrupt_gzip_is_an_error) {
  TempDir tmp("io");
  Bytes data(50000, 0);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i % 251);
  write_gz(tmp.file("c.gz"), data);
  Bytes gz = read_bytes(tmp.file("c.gz"));
  // Flip the payload bytes after the 10-byte header: the deflate stream or
  // the CRC no longer matches.
  for (std::size_t i = 10; i < gz.size() - 8; ++i) gz[i] ^= 0x5a;
  write_plain(tmp.file("c.gz"), gz);
  std::string msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("c.gz")); });
  BOOST_TEST(contains(msg, tmp.file("c.gz") + ": corrupt gzip data ("));

  // A wrong CRC alone is detected too.
  write_gz(tmp.file("crc.gz"), data);
  gz = read_bytes(tmp.file("crc.gz"));
  gz[gz.size() - 8] ^= 0xff;
  write_plain(tmp.file("crc.gz"), gz);
  msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("crc.gz")); });
  BOOST_TEST(msg == tmp.file("crc.gz") + ": corrupt gzip data (incorrect data check)");
}

BOOST_AUTO_TEST_CASE(gzip_with_trailing_garbage_is_an_error) {
  TempDir tmp("io");
  write_gz(tmp.file("g.gz"), random_bytes(1000, 6));
  Bytes gz = read_bytes(tmp.file("g.gz"));
  gz.push_back('x');
  gz.push_back('y');
  gz.push_back('z');
  write_plain(tmp.file("g.gz"), gz);
  std::string msg = error_of([&] { krrdistill::read_file_bytes(tmp.file("g.gz")); });
  BOOST_TEST(msg == tmp.file("g.gz") +
                        ": corrupt gzip data (3 bytes of garbage after the compressed stream)");
}

BOOST_AUTO_TEST_CASE(file_exists_only_for_regular_files) {
  TempDir tmp("io");
  write_plain(tmp.file("x"), {1, 2, 3});
  BOOST_TEST(krrdistill::file_exists(tmp.file("x")));
  BOOST_TEST(!krrdistill::file_exists(tmp.file("y")));
  BOOST_TEST(!krrdistill::file_exists(tmp.path.string()));
}

BOOST_AUTO_TEST_CASE(write_atomic_creates_and_replaces) {
  TempDir tmp("io");
  std::string path = tmp.file("out.txt");
  krrdistill::write_file_atomic(path, std::string("first version, long text\n"));
  BOOST_TEST(krrdistill::read_file_bytes(path) ==
             Bytes({'f', 'i', 'r', 's', 't', ' ', 'v', 'e', 'r', 's', 'i', 'o', 'n',
                    ',', ' ', 'l', 'o', 'n', 'g', ' ', 't', 'e', 'x', 't', '\n'}));
  Bytes data = random_bytes(70000, 7);
  krrdistill::write_file_atomic(path, data.data(), data.size());
  BOOST_TEST(read_bytes(path) == data);
  // Only the target remains: no temporary files left behind.
  BOOST_TEST(names_in(tmp.path) == std::vector<std::string>{"out.txt"});
  krrdistill::write_file_atomic(path, std::string());
  BOOST_TEST(fs::file_size(path) == 0u);
}

BOOST_AUTO_TEST_CASE(write_atomic_relative_path) {
  TempDir tmp("io");
  fs::path old = fs::current_path();
  fs::current_path(tmp.path);
  try {
    krrdistill::write_file_atomic("rel.txt", std::string("abc"));
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
  BOOST_TEST(read_bytes(tmp.file("rel.txt")) == Bytes({'a', 'b', 'c'}));
  BOOST_TEST(names_in(tmp.path) == std::vector<std::string>{"rel.txt"});
}

BOOST_AUTO_TEST_CASE(write_atomic_missing_folder_is_an_error) {
  TempDir tmp("io");
  std::string path = tmp.file("no/such/folder/out.txt");
  std::string msg = error_of([&] { krrdistill::write_file_atomic(path, std::string("x")); });
  BOOST_TEST(contains(msg, path + ": cannot create temporary file "));
  BOOST_TEST(contains(msg, "No such file or directory"));
}

BOOST_AUTO_TEST_CASE(write_atomic_failed_rename_leaves_nothing) {
  // The target is a non-empty directory: rename(2) fails after the temporary
  // file was written, which must then be removed.
  TempDir tmp("io");
  fs::create_directories(tmp.path / "target" / "inside");
  std::string path = tmp.file("target");
  std::string msg = error_of([&] { krrdistill::write_file_atomic(path, std::string("data")); });
  BOOST_TEST(contains(msg, path + ": cannot rename temporary file: "));
  BOOST_TEST(names_in(tmp.path) == std::vector<std::string>{"target"});
  BOOST_TEST(fs::is_directory(tmp.path / "target" / "inside"));
}

BOOST_AUTO_TEST_CASE(write_atomic_rejects_folder_name) {
  TempDir tmp("io");
  std::string path = tmp.path.string() + "/";
  std::string msg = error_of([&] { krrdistill::write_file_atomic(path, std::string("x")); });
  BOOST_TEST(msg == path + ": not a file name");
}

// Timing lives in bench/bench.sh; this checks the real file's content only.
BOOST_AUTO_TEST_CASE(real_fashion_mnist_gunzip) {
  const std::string path = std::string(KRRDISTILL_FASHION_MNIST) + "/train-images-idx3-ubyte.gz";
  const Bytes bytes = krrdistill::read_file_bytes(path);
  BOOST_TEST(bytes.size() == 16u + 60000u * 28u * 28u);
  BOOST_TEST(Bytes(bytes.begin(), bytes.begin() + 16) ==
             Bytes({0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28}));
  std::uint64_t sum = 0;
  for (std::size_t i = 16; i < bytes.size(); ++i) sum += bytes[i];
  BOOST_TEST(sum == 3431114169ull);
}
