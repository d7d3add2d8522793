// Shared helpers of the test suites: a scratch folder, reading and writing
// files, expected errors, running the CLI, small dataset files written in each
// format, and finite-difference gradients. A suite that reads PNG files
// defines FIXTURES_READ_PNG before including this header to get decode_png.
#pragma once

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <armadillo>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "krrdistill/error.hpp"
#include "krrdistill/image.hpp"
#include "krrdistill/random.hpp"
#include "krrdistill/threads.hpp"

#ifdef FIXTURES_READ_PNG
// The stb include folder is private to the library target, so fall back to
// the stb/ prefix under /usr/include that Debian's libstb-dev also provides.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif
#pragma GCC diagnostic pop
#endif

namespace fixtures {

// The suites run on the BLAS kernels the command line picks (threads.hpp),
// so that what they compute and what it writes can be compared bit for bit.
struct TunedLibraries {
  TunedLibraries() { krrdistill::restart_with_tuned_libraries(); }
};
BOOST_TEST_GLOBAL_FIXTURE(TunedLibraries);

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

// n images of d pixel values drawn uniformly from 0…255.
inline krrdistill::PixelMatrix random_pixels(arma::uword d, arma::uword n, std::uint64_t seed) {
  std::mt19937_64 rng = krrdistill::make_rng(seed, krrdistill::RngStream::feature_map);
  krrdistill::PixelMatrix pixels(d, n);
  for (auto& v : pixels) v = std::uint8_t(rng() % 256);
  return pixels;
}

// A fresh folder under the test's working folder, removed afterwards.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = fs::current_path() /
           (tag + "_tmp_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string dir() const { return path.string(); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Writes bytes to path; whether the stream was still good after writing.
inline bool write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return out.good();
}

// Writes bytes to path as they are; the test stops if that fails.
inline void write_plain(const std::string& path, const Bytes& bytes) {
  BOOST_REQUIRE(write_bytes(path, bytes));
}

// Writes bytes gzip-compressed to path (mode "ab" appends a gzip member); the
// test stops if that fails.
inline void write_gz(const std::string& path, const Bytes& bytes, const char* mode = "wb") {
  gzFile gz = gzopen(path.c_str(), mode);
  BOOST_REQUIRE(gz != nullptr);
  if (!bytes.empty())
    BOOST_REQUIRE_EQUAL(gzwrite(gz, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  BOOST_REQUIRE_EQUAL(gzclose(gz), Z_OK);
}

// Writes text to path as it is; the test stops if that fails.
inline void write_text(const std::string& path, const std::string& text) {
  write_plain(path, Bytes(text.begin(), text.end()));
}

// The contents of the file at path (empty if it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The lines of text, without their newlines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The bytes of the file at path (none if it cannot be read).
inline Bytes read_bytes(const std::string& path) {
  const std::string text = read_text(path);
  return Bytes(text.begin(), text.end());
}

// Whether part occurs anywhere in text.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The message of the krrdistill::Error thrown by f; fails the test when nothing is thrown.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const krrdistill::Error& e) {
    return e.what();
  }
  BOOST_FAIL("expected krrdistill::Error");
  return "";
}

// The gradient of f at X by central differences of step h in each element.
inline arma::mat numeric_gradient(const std::function<double(const arma::mat&)>& f,
                                  const arma::mat& X, double h = 1e-5) {
  arma::mat G(arma::size(X));
  for (arma::uword i = 0; i < X.n_elem; ++i) {
    arma::mat Xp = X, Xm = X;
    Xp[i] += h;
    Xm[i] -= h;
    G[i] = (f(Xp) - f(Xm)) / (2 * h);
  }
  return G;
}

// ‖a − b‖ / ‖b‖ in the Frobenius norm, with ‖b‖ kept away from zero.
inline double relative_error(const arma::mat& a, const arma::mat& b) {
  return arma::norm(a - b, "fro") / std::max(arma::norm(b, "fro"), 1e-300);
}

#ifdef FIXTURES_READ_PNG
// A PNG file's pixels as stored: height rows of width pixels of comp channels.
struct PngPixels {
  int width = 0;
  int height = 0;
  int comp = 0;
  std::vector<unsigned char> data;
};

// Decodes the PNG file at path; the test stops if stb_image cannot read it.
inline PngPixels decode_png(const std::string& path) {
  PngPixels png;
  // req_comp 0: keep the file's own channel count, which is under test.
  unsigned char* raw = stbi_load(path.c_str(), &png.width, &png.height, &png.comp, 0);
  BOOST_REQUIRE_MESSAGE(raw != nullptr, "stb_image could not read " << path);
  std::unique_ptr<unsigned char, void (*)(void*)> owner(raw, stbi_image_free);
  png.data.assign(raw, raw + static_cast<std::size_t>(png.width) * png.height * png.comp);
  return png;
}
#endif

inline void put_be32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

inline Bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w, const Bytes& pixels) {
  Bytes out;
  put_be32(out, 0x803);
  put_be32(out, n);
  put_be32(out, h);
  put_be32(out, w);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

inline Bytes idx_labels(const std::vector<unsigned>& labels) {
  Bytes out;
  put_be32(out, 0x801);
  put_be32(out, std::uint32_t(labels.size()));
  for (unsigned l : labels) out.push_back(static_cast<unsigned char>(l));
  return out;
}

// A small, learnable IDX dataset: class c images are brighter in row block c.
inline void write_idx_folder(const std::string& dir, std::uint32_t n_train, std::uint32_t n_test,
                             std::uint32_t side, unsigned k) {
  auto split = [&](std::uint32_t n, const char* images, const char* labels, unsigned salt) {
    Bytes pixels;
    std::vector<unsigned> y;
    std::uint32_t state = 12345u + salt;
    for (std::uint32_t i = 0; i < n; ++i) {
      const unsigned c = i % k;
      y.push_back(c);
      for (std::uint32_t r = 0; r < side; ++r)
        for (std::uint32_t col = 0; col < side; ++col) {
          state = state * 1664525u + 1013904223u;
          const unsigned noise = (state >> 24) % 64;
          pixels.push_back(static_cast<unsigned char>((r % k == c ? 160 : 20) + noise));
        }
    }
    write_bytes(dir + "/" + images, idx_images(n, side, side, pixels));
    write_bytes(dir + "/" + labels, idx_labels(y));
  };
  fs::create_directories(dir);
  split(n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 0);
  split(n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 1);
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the krrdistill command line with arguments (shell-quoted by the
// caller), from the folder cwd when given (else the test's own folder).
inline RunResult run_cli(const std::string& args, const fs::path& scratch,
                         const std::string& cwd = "") {
  const std::string out_file = (scratch / "cli_stdout.txt").string();
  const std::string err_file = (scratch / "cli_stderr.txt").string();
  const std::string command = (cwd.empty() ? "" : "cd '" + cwd + "' && ") +
                              std::string(KRRDISTILL_CLI) + " " + args + " >'" + out_file +
                              "' 2>'" + err_file + "'";
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out_file);
  result.err = read_text(err_file);
  fs::remove(out_file);
  fs::remove(err_file);
  return result;
}

// A refused run: a non-zero exit and one "error:" line that holds part.
inline void check_refusal(const RunResult& r, const std::string& part) {
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.rfind("error: ", 0) == 0u);
  BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  BOOST_TEST(r.err.find(part) != std::string::npos);
}

// Values as their little-endian bytes (the data of a .npy file).
template <typename T>
Bytes le_bytes(const std::vector<T>& values) {
  Bytes out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

}  // namespace fixtures
