// Larger IDX datasets for bench/bench_scale.sh: the training set of an IDX
// folder repeated C times, copy c perturbed deterministically (mirrored when
// c is odd, rows shifted cyclically by (c/2) mod 4, brighter by 16 when
// c >= 8), labels kept; the test set copied as it is. Plain (uncompressed)
// files, so that they can be read at any offset.
// Usage: make_scaled_idx SRC_DIR DST_DIR COPIES
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "krrdistill/data.hpp"

using namespace krrdistill;

namespace {

void put_be32(std::ofstream& out, std::uint32_t v) {
  const char bytes[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.write(bytes, 4);
}

void write_split(const std::string& dir, const std::string& prefix, const Split& split,
                 const ImageShape& shape, unsigned copies) {
  const arma::uword n = split.pixels.n_cols, h = shape.height, w = shape.width;
  std::ofstream images(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  put_be32(images, 0x803);
  put_be32(images, std::uint32_t(n * copies));
  put_be32(images, std::uint32_t(h));
  put_be32(images, std::uint32_t(w));
  std::vector<unsigned char> image(h * w);
  for (unsigned c = 0; c < copies; ++c)
    for (arma::uword j = 0; j < n; ++j) {
      const std::uint8_t* in = split.pixels.colptr(j);
      for (arma::uword r = 0; r < h; ++r)
        for (arma::uword col = 0; col < w; ++col) {
          const arma::uword src_r = (r + h - (c / 2) % 4 % h) % h;
          const arma::uword src_c = (c % 2 == 1) ? w - 1 - col : col;
          const unsigned v = in[src_r * w + src_c] + (c >= 8 ? 16u : 0u);
          image[r * w + col] = static_cast<unsigned char>(v > 255 ? 255 : v);
        }
      images.write(reinterpret_cast<const char*>(image.data()), std::streamsize(image.size()));
    }
  std::ofstream labels(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  put_be32(labels, 0x801);
  put_be32(labels, std::uint32_t(n * copies));
  for (unsigned c = 0; c < copies; ++c)
    for (arma::uword j = 0; j < n; ++j) labels.put(char(split.labels[j]));
  if (!images || !labels) {
    std::fprintf(stderr, "error: cannot write %s\n", dir.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || std::atoi(argv[3]) < 1) {
    std::fprintf(stderr, "usage: make_scaled_idx SRC_DIR DST_DIR COPIES\n");
    return 2;
  }
  const Dataset data = load_dataset("idx", argv[1], false);
  std::filesystem::create_directories(argv[2]);
  write_split(argv[2], "train", data.train, data.shape, unsigned(std::atoi(argv[3])));
  write_split(argv[2], "t10k", data.test, data.shape, 1);
  return 0;
}
