// Shared helpers of the test suites: a scratch folder, running the CLI, and
// small dataset files written in each format.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fixtures {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

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
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

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

// Runs the krrdistill command line with arguments (shell-quoted by the caller).
inline RunResult run_cli(const std::string& args, const fs::path& scratch) {
  const std::string out_file = (scratch / "cli_stdout.txt").string();
  const std::string err_file = (scratch / "cli_stderr.txt").string();
  const std::string command =
      std::string(KRRDISTILL_CLI) + " " + args + " >" + out_file + " 2>" + err_file;
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out_file);
  result.err = read_text(err_file);
  fs::remove(out_file);
  fs::remove(err_file);
  return result;
}

}  // namespace fixtures
