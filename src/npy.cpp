#include "krrdistill/npy.hpp"

#include <cctype>
#include <cstring>
#include <limits>

#include "krrdistill/dataset_files.hpp"  // shape_text
#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

// The data bytes are copied to and from memory as they are: little-endian only.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "krrdistill's .npy code assumes a little-endian host"
#endif

namespace krrdistill {

namespace {

const char kMagic[] = "\x93NUMPY";
const std::size_t kMagicSize = 6;

std::size_t item_size(const std::string& dtype) {
  return std::size_t(dtype[2] - '0');
}

// Canonical numpy descr of a supported dtype ("|u1", "<i4", "<f8", ...), or
// throws. One-byte types have no byte order; wider ones must be little-endian.
std::string canonical_dtype(const std::string& descr, const std::string& path) {
  if (descr.size() == 3) {
    char order = descr[0], kind = descr[1], size = descr[2];
    bool known_order = order == '<' || order == '>' || order == '|' || order == '=';
    if (known_order && (kind == 'u' || kind == 'i') && size == '1')
      return std::string("|") + kind + '1';
    if (known_order && (kind == 'u' || kind == 'i') &&
        (size == '2' || size == '4' || size == '8')) {
      if (order == '>') throw Error(path + ": big-endian dtype '" + descr + "' is not supported");
      if (order == '|') throw Error(path + ": dtype '" + descr + "' lacks a byte order");
      return std::string("<") + kind + size;
    }
    if (known_order && kind == 'f' && (size == '4' || size == '8')) {
      if (order == '>') throw Error(path + ": big-endian dtype '" + descr + "' is not supported");
      if (order == '|') throw Error(path + ": dtype '" + descr + "' lacks a byte order");
      return std::string("<f") + size;
    }
  }
  throw Error(path + ": unsupported dtype '" + descr +
              "' (expected an integer or float type such as '|u1', '<i8' or '<f8')");
}

// Parser for the header, a Python dict literal such as
// {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<std::uint64_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      std::string key = parse_string();
      expect(':');
      if (key == "descr" && !have_descr) {
        skip_space();
        if (peek() != '\'' && peek() != '"')
          fail("'descr' is not a simple dtype string (structured dtypes are not supported)");
        descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order" && !have_order) {
        fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape" && !have_shape) {
        shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected or repeated key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' after the value of '" + key + "'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the closing '}'");
    if (!have_descr || !have_order || !have_shape)
      fail("the header must have the keys 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": bad .npy header: " + what);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    std::size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_space();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  std::uint64_t parse_uint() {
    skip_space();
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension");
    std::uint64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      std::uint64_t digit = std::uint64_t(s_[pos_] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("dimension too large");
      v = v * 10 + digit;
      ++pos_;
    }
    // numpy 1.x may write dimensions as Python 2 longs ("3L").
    if (peek() == 'L') ++pos_;
    return v;
  }
  std::vector<std::uint64_t> parse_shape() {
    std::vector<std::uint64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      shape.push_back(parse_uint());
      if (shape.size() > 32) fail("more than 32 dimensions");
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in 'shape'");
    }
    ++pos_;
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

template <typename T>
void convert(const std::vector<char>& bytes, std::vector<double>& out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    out[i] = double(v);
  }
}

}  // namespace

std::uint64_t NpyArray::count() const {
  std::uint64_t n = 1;
  for (std::uint64_t dim : shape) n *= dim;
  return n;
}

NpyHeader read_npy_header(InputFile& file, bool allow_fortran) {
  const std::string& path = file.path();
  const std::uint64_t file_size = file.size();
  unsigned char preamble[12];
  if (file_size < 10 || file.read(preamble, 8) != 8)
    throw Error(path + ": file too short for a .npy header (" + std::to_string(file_size) +
                " bytes)");
  if (std::memcmp(preamble, kMagic, kMagicSize) != 0)
    throw Error(path + ": not a .npy file (bad magic: expected \\x93NUMPY)");
  const unsigned major = preamble[6], minor = preamble[7];
  std::uint64_t header_len = 0;
  std::uint64_t prefix = 0;
  if (major == 1 && minor == 0) {
    if (file.read(preamble + 8, 2) != 2) throw Error(path + ": truncated .npy header");
    header_len = std::uint64_t(preamble[8]) | std::uint64_t(preamble[9]) << 8;
    prefix = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (file.read(preamble + 8, 4) != 4) throw Error(path + ": truncated .npy header");
    header_len = std::uint64_t(preamble[8]) | std::uint64_t(preamble[9]) << 8 |
                 std::uint64_t(preamble[10]) << 16 | std::uint64_t(preamble[11]) << 24;
    prefix = 12;
  } else {
    throw Error(path + ": unsupported .npy format version " + std::to_string(major) + "." +
                std::to_string(minor) + " (expected 1.0, 2.0 or 3.0)");
  }
  if (header_len > file_size - prefix)
    throw Error(path + ": truncated .npy header (header length " + std::to_string(header_len) +
                " but the file holds " + std::to_string(file_size - prefix) +
                " bytes after the preamble)");

  std::string text(header_len, '\0');
  if (file.read(text.data(), header_len) != header_len)
    throw Error(path + ": truncated .npy header");

  NpyHeader header;
  std::string descr;
  bool fortran_order = false;
  HeaderParser(text, path).parse(descr, fortran_order, header.shape);
  header.dtype = canonical_dtype(descr, path);
  if (fortran_order && !allow_fortran)
    throw Error(path + ": Fortran-order arrays are not supported (save with C order)");
  header.fortran_order = fortran_order;

  // Size from the header, checked for overflow and against the real file
  // length before anything is allocated.
  std::uint64_t data_bytes = item_size(header.dtype);
  for (std::uint64_t dim : header.shape) {
    if (dim != 0 && data_bytes > std::numeric_limits<std::uint64_t>::max() / dim)
      throw Error(path + ": shape " + shape_text(header.shape) + " is too large");
    data_bytes *= dim;
  }
  const std::uint64_t available = file_size - prefix - header_len;
  if (data_bytes != available)
    throw Error(path + ": header says shape " + shape_text(header.shape) + " of " + header.dtype +
                " (" + std::to_string(data_bytes) + " bytes) but the file holds " +
                std::to_string(available) + " bytes of data");
  header.data_offset = prefix + header_len;
  header.data_bytes = data_bytes;
  return header;
}

NpyArray read_npy(const std::string& path) {
  InputFile file(path, false);
  NpyHeader header = read_npy_header(file);
  NpyArray array;
  array.shape = std::move(header.shape);
  array.dtype = std::move(header.dtype);
  array.bytes.resize(header.data_bytes);
  if (file.read(array.bytes.data(), header.data_bytes) != header.data_bytes)
    throw Error(path + ": file shrank while being read");
  return array;
}

std::vector<double> npy_as_double(const NpyArray& array, const std::string& path) {
  const std::string& t = array.dtype;
  if (t.size() != 3) throw Error(path + ": unsupported dtype '" + t + "'");
  const std::uint64_t n = array.count();
  if (std::uint64_t(array.bytes.size()) != n * item_size(t))
    throw Error(path + ": " + std::to_string(array.bytes.size()) +
                " data bytes do not match shape " + shape_text(array.shape) + " of " + t);
  std::vector<double> out(n);
  if (t == "|u1")
    convert<std::uint8_t>(array.bytes, out);
  else if (t == "|i1")
    convert<std::int8_t>(array.bytes, out);
  else if (t == "<u2")
    convert<std::uint16_t>(array.bytes, out);
  else if (t == "<i2")
    convert<std::int16_t>(array.bytes, out);
  else if (t == "<u4")
    convert<std::uint32_t>(array.bytes, out);
  else if (t == "<i4")
    convert<std::int32_t>(array.bytes, out);
  else if (t == "<u8")
    convert<std::uint64_t>(array.bytes, out);
  else if (t == "<i8")
    convert<std::int64_t>(array.bytes, out);
  else if (t == "<f4")
    convert<float>(array.bytes, out);
  else if (t == "<f8")
    convert<double>(array.bytes, out);
  else
    throw Error(path + ": unsupported dtype '" + t + "'");
  return out;
}

void write_npy(const std::string& path, const std::vector<std::uint64_t>& shape,
               const double* data) {
  std::uint64_t n = 1;
  for (std::uint64_t dim : shape) {
    if (dim != 0 && n > std::numeric_limits<std::uint64_t>::max() / 8 / dim)
      throw Error(path + ": shape " + shape_text(shape) + " is too large");
    n *= dim;
  }
  std::string dict =
      "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // Version 1.0 has a 2-byte header length; numpy switches to 2.0 beyond it.
  std::size_t prefix = 10;
  if (dict.size() + 1 + 64 + prefix > 65535) prefix = 12;
  // Pad with spaces and end with '\n' so that the data starts at a multiple of
  // 64 bytes, as the format specification asks.
  std::size_t total = prefix + dict.size() + 1;
  std::size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  const std::size_t header_len = dict.size();

  std::vector<char> out;
  out.reserve(padded + n * 8);
  out.insert(out.end(), kMagic, kMagic + kMagicSize);
  if (prefix == 10) {
    out.push_back(1);
    out.push_back(0);
    out.push_back(char(header_len & 0xff));
    out.push_back(char(header_len >> 8));
  } else {
    out.push_back(2);
    out.push_back(0);
    for (int i = 0; i < 4; ++i) out.push_back(char((header_len >> (8 * i)) & 0xff));
  }
  out.insert(out.end(), dict.begin(), dict.end());
  const char* raw = reinterpret_cast<const char*>(data);
  if (n > 0) out.insert(out.end(), raw, raw + n * 8);
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace krrdistill
