#define BOOST_TEST_MODULE test_npy
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "krrdistill/error.hpp"
#include "krrdistill/npy.hpp"

namespace fs = std::filesystem;
using fixtures::contains;
using fixtures::error_of;
using fixtures::read_text;
using fixtures::TempDir;
using fixtures::write_text;

namespace {

// A .npy file built by hand: preamble for the given version, the header text
// as is (padded to 64 bytes with a final newline), then the data bytes.
std::string npy_file(const std::string& header, const std::string& data, int major = 1) {
  std::string out = "\x93NUMPY";
  out.push_back(char(major));
  out.push_back(0);
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string text = header;
  std::size_t total = prefix + text.size() + 1;
  text.append((total + 63) / 64 * 64 - total, ' ');
  text.push_back('\n');
  for (std::size_t i = 0; i < prefix - 8; ++i) out.push_back(char((text.size() >> (8 * i)) & 0xff));
  return out + text + data;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&out[0], values.data(), out.size());
  return out;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

}  // namespace

BOOST_AUTO_TEST_CASE(write_then_read_round_trip) {
  TempDir tmp("npy");
  const std::string path = tmp.file("a.npy");
  std::vector<double> values = {1.5, -2.25, 0.0, 1e300, -1e-300, 3.0,
                                7.0, 8.5,   9.0, 10.0,  11.0,    12.0};
  krrdistill::write_npy(path, {3, 4}, values.data());
  krrdistill::NpyArray a = krrdistill::read_npy(path);
  BOOST_TEST(a.dtype == "<f8");
  BOOST_TEST(a.shape == (std::vector<std::uint64_t>{3, 4}));
  BOOST_TEST(a.count() == 12u);
  BOOST_TEST(krrdistill::npy_as_double(a, path) == values);

  // The exact bytes numpy writes for this array (format 1.0, 64-byte aligned).
  std::string file = read_text(path);
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header.push_back('\n');
  std::string expected = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' + header;
  BOOST_TEST(file.substr(0, 128) == expected);
  BOOST_TEST(file.size() == 128u + 12u * 8u);
}

BOOST_AUTO_TEST_CASE(write_one_and_zero_dimensional) {
  TempDir tmp("npy");
  std::vector<double> v = {4.0, 5.0, 6.0, 7.0, 8.0};
  krrdistill::write_npy(tmp.file("v.npy"), {5}, v.data());
  BOOST_TEST(contains(read_text(tmp.file("v.npy")), "'shape': (5,), }"));
  krrdistill::NpyArray a = krrdistill::read_npy(tmp.file("v.npy"));
  BOOST_TEST(a.shape == std::vector<std::uint64_t>{5});
  BOOST_TEST(krrdistill::npy_as_double(a, "v.npy") == v);

  double scalar = 42.0;
  krrdistill::write_npy(tmp.file("s.npy"), {}, &scalar);
  BOOST_TEST(contains(read_text(tmp.file("s.npy")), "'shape': (), }"));
  a = krrdistill::read_npy(tmp.file("s.npy"));
  BOOST_TEST(a.shape.empty());
  BOOST_TEST(a.count() == 1u);
  BOOST_TEST(krrdistill::npy_as_double(a, "s.npy") == std::vector<double>{42.0});

  krrdistill::write_npy(tmp.file("e.npy"), {0, 3}, nullptr);
  a = krrdistill::read_npy(tmp.file("e.npy"));
  BOOST_TEST(a.shape == (std::vector<std::uint64_t>{0, 3}));
  BOOST_TEST(a.bytes.empty());
  BOOST_TEST(read_text(tmp.file("e.npy")).size() == 128u);
}

BOOST_AUTO_TEST_CASE(integer_and_float_dtypes) {
  TempDir tmp("npy");
  struct Case {
    std::string descr, canonical, data;
    std::vector<double> expected;
  };
  std::vector<Case> cases = {
      {"|u1", "|u1", raw<std::uint8_t>({0, 7, 255}), {0, 7, 255}},
      {"<u1", "|u1", raw<std::uint8_t>({1, 2, 3}), {1, 2, 3}},
      {"|i1", "|i1", raw<std::int8_t>({-128, 0, 127}), {-128, 0, 127}},
      {"<i2", "<i2", raw<std::int16_t>({-32768, 5, 32767}), {-32768, 5, 32767}},
      {"<u2", "<u2", raw<std::uint16_t>({0, 5, 65535}), {0, 5, 65535}},
      {"<i4", "<i4", raw<std::int32_t>({-7, 0, 2000000000}), {-7, 0, 2000000000}},
      {"<u4", "<u4", raw<std::uint32_t>({1, 2, 4000000000u}), {1, 2, 4000000000.0}},
      {"<i8", "<i8", raw<std::int64_t>({-1, 9, 1ll << 40}), {-1, 9, double(1ll << 40)}},
      {"<u8", "<u8", raw<std::uint64_t>({3, 4, 1ull << 50}), {3, 4, double(1ull << 50)}},
      {"<f4", "<f4", raw<float>({0.5f, -1.25f, 3.0f}), {0.5, -1.25, 3.0}},
      {"<f8", "<f8", raw<double>({0.1, -0.2, 0.3}), {0.1, -0.2, 0.3}},
  };
  for (const Case& c : cases) {
    std::string path = tmp.file("t.npy");
    write_text(path, npy_file(dict(c.descr, "(3,)"), c.data));
    krrdistill::NpyArray a = krrdistill::read_npy(path);
    BOOST_TEST(a.dtype == c.canonical, "descr " << c.descr);
    BOOST_TEST(krrdistill::npy_as_double(a, path) == c.expected, "descr " << c.descr);
  }
}

BOOST_AUTO_TEST_CASE(versions_2_and_3_and_header_variants) {
  TempDir tmp("npy");
  std::string data = raw<std::int32_t>({1, 2, 3, 4, 5, 6});
  for (int major : {2, 3}) {
    std::string path = tmp.file("v" + std::to_string(major) + ".npy");
    write_text(path, npy_file(dict("<i4", "(2, 3)"), data, major));
    krrdistill::NpyArray a = krrdistill::read_npy(path);
    BOOST_TEST(a.shape == (std::vector<std::uint64_t>{2, 3}));
    BOOST_TEST(krrdistill::npy_as_double(a, path) == (std::vector<double>{1, 2, 3, 4, 5, 6}));
  }
  // Other key order, double quotes, no trailing comma, Python 2 long dims.
  std::string path = tmp.file("variant.npy");
  write_text(path,
             npy_file("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<i4\"}", data));
  krrdistill::NpyArray a = krrdistill::read_npy(path);
  BOOST_TEST(a.shape == (std::vector<std::uint64_t>{2, 3}));
  BOOST_TEST(a.dtype == "<i4");
}

BOOST_AUTO_TEST_CASE(missing_file) {
  TempDir tmp("npy");
  std::string msg = error_of([&] { krrdistill::read_npy(tmp.file("none.npy")); });
  BOOST_TEST(msg == tmp.file("none.npy") + ": no such file");
}

BOOST_AUTO_TEST_CASE(bad_magic) {
  TempDir tmp("npy");
  std::string path = tmp.file("m.npy");
  std::string file = npy_file(dict("<f8", "(1,)"), raw<double>({1.0}));
  file[1] = 'X';
  write_text(path, file);
  std::string msg = error_of([&] { krrdistill::read_npy(path); });
  BOOST_TEST(msg == path + ": not a .npy file (bad magic: expected \\x93NUMPY)");
}

BOOST_AUTO_TEST_CASE(too_short_and_truncated_header) {
  TempDir tmp("npy");
  std::string path = tmp.file("s.npy");
  write_text(path, "\x93NUM");
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": file too short for a .npy header (4 bytes)");
  std::string file = npy_file(dict("<f8", "(1,)"), "");
  write_text(path, file.substr(0, 40));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path +
                 ": truncated .npy header (header length 118 but the file holds 30 bytes after "
                 "the preamble)");
}

BOOST_AUTO_TEST_CASE(unsupported_version) {
  TempDir tmp("npy");
  std::string path = tmp.file("v.npy");
  std::string file = npy_file(dict("<f8", "(1,)"), raw<double>({1.0}));
  file[6] = 4;
  write_text(path, file);
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)");
}

BOOST_AUTO_TEST_CASE(bad_header) {
  TempDir tmp("npy");
  std::string path = tmp.file("h.npy");
  struct Case {
    std::string header, message;
  };
  std::vector<Case> cases = {
      {"not a dict", "expected '{'"},
      {"{'descr': '<f8', 'shape': (1,), }",
       "the header must have the keys 'descr', 'fortran_order' and 'shape'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
       "unexpected or repeated key 'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
       "unexpected or repeated key 'descr'"},
      {"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1,)}",
       "'fortran_order' must be True or False"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, x)}", "expected a dimension"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,) ",
       "expected ',' or '}' after the value of 'shape'"},
      {"{'descr: '<f8', 'fortran_order': False, 'shape': (1,)}", "expected ':'"},
      {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,)}",
       "'descr' is not a simple dtype string (structured dtypes are not supported)"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
       "dimension too large"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk",
       "unexpected text after the closing '}'"},
  };
  for (const Case& c : cases) {
    write_text(path, npy_file(c.header, raw<double>({1.0})));
    std::string msg = error_of([&] { krrdistill::read_npy(path); });
    BOOST_TEST(msg == path + ": bad .npy header: " + c.message, "header " << c.header);
  }
}

BOOST_AUTO_TEST_CASE(wrong_dtype) {
  TempDir tmp("npy");
  std::string path = tmp.file("d.npy");
  for (std::string descr : {"<U5", "<c16", "|b1", "<f2", "O"}) {
    write_text(path, npy_file(dict(descr, "(1,)"), std::string(16, '\0')));
    BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
                   path + ": unsupported dtype '" + descr +
                       "' (expected an integer or float type such as '|u1', '<i8' or '<f8')",
               "descr " << descr);
  }
  write_text(path, npy_file(dict(">f8", "(1,)"), std::string(8, '\0')));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": big-endian dtype '>f8' is not supported");
  write_text(path, npy_file(dict(">i4", "(2,)"), std::string(8, '\0')));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": big-endian dtype '>i4' is not supported");
  write_text(path, npy_file(dict("|i4", "(2,)"), std::string(8, '\0')));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": dtype '|i4' lacks a byte order");
}

BOOST_AUTO_TEST_CASE(fortran_order_rejected) {
  TempDir tmp("npy");
  std::string path = tmp.file("f.npy");
  write_text(path, npy_file(dict("<f8", "(2, 2)", true), raw<double>({1, 2, 3, 4})));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": Fortran-order arrays are not supported (save with C order)");
}

BOOST_AUTO_TEST_CASE(size_mismatch_short_and_long) {
  TempDir tmp("npy");
  std::string path = tmp.file("z.npy");
  write_text(path, npy_file(dict("<f8", "(2, 3)"), raw<double>({1, 2, 3, 4, 5})));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path +
                 ": header says shape (2, 3) of <f8 (48 bytes) but the file holds 40 bytes of "
                 "data");
  write_text(path, npy_file(dict("<f8", "(2, 3)"), raw<double>({1, 2, 3, 4, 5, 6, 7})));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path +
                 ": header says shape (2, 3) of <f8 (48 bytes) but the file holds 56 bytes of "
                 "data");
}

BOOST_AUTO_TEST_CASE(huge_shape_rejected_before_allocation) {
  TempDir tmp("npy");
  std::string path = tmp.file("big.npy");
  // 2^62 bytes would be impossible to allocate: the length check comes first.
  write_text(path, npy_file(dict("<f8", "(1073741824, 536870912)"), raw<double>({1})));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path +
                 ": header says shape (1073741824, 536870912) of <f8 (4611686018427387904 "
                 "bytes) but the file holds 8 bytes of data");
  // Beyond 2^64 bytes: an overflow, reported as such.
  write_text(path, npy_file(dict("<f8", "(4294967296, 4294967296)"), raw<double>({1})));
  BOOST_TEST(error_of([&] { krrdistill::read_npy(path); }) ==
             path + ": shape (4294967296, 4294967296) is too large");
}

BOOST_AUTO_TEST_CASE(npy_as_double_checks_the_byte_count) {
  krrdistill::NpyArray a;
  a.shape = {3};
  a.dtype = "<f8";
  a.bytes.resize(16);
  BOOST_TEST(error_of([&] { krrdistill::npy_as_double(a, "mem"); }) ==
             "mem: 16 data bytes do not match shape (3,) of <f8");
}
