#include "krrdistill/png.hpp"

#include <libdeflate.h>

#include <climits>
#include <cstdlib>

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

namespace {

// stb's own deflate took 0.05 s for a grid of ten images a class (3 MB of
// filtered rows, 212 kB); libdeflate, which already inflates the datasets,
// takes 0.01 s at its fastest level, and the file is smaller (163 kB). The
// result is freed by stb (free). stb's quality argument is its own
// deflate's setting.
constexpr int kDeflateLevel = 1;  // libdeflate's fastest

unsigned char* zlib_compress(unsigned char* data, int length, int* out_length, int /*quality*/) {
  libdeflate_compressor* compressor = libdeflate_alloc_compressor(kDeflateLevel);
  if (compressor == nullptr) return nullptr;
  const std::size_t bound = libdeflate_zlib_compress_bound(compressor, std::size_t(length));
  auto* out = static_cast<unsigned char*>(std::malloc(bound));
  const std::size_t size =
      out == nullptr ? 0
                     : libdeflate_zlib_compress(compressor, data, std::size_t(length), out, bound);
  libdeflate_free_compressor(compressor);
  // stb adds its chunks' 57 bytes to the length in an int.
  if (size == 0 || size > std::size_t(INT_MAX) - 64) {
    std::free(out);
    return nullptr;
  }
  *out_length = int(size);
  return out;
}

}  // namespace

// The one stb_image_write implementation of the library. STATIC keeps its
// symbols (and global settings such as the vertical flip flag) private, so it
// cannot clash with a user's own copy; NO_STDIO because we encode to memory
// and the file is written atomically.
#define STBIW_ZLIB_COMPRESS zlib_compress
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>

namespace krrdistill {

namespace {

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* bytes = static_cast<const unsigned char*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

}  // namespace

void write_png(const std::string& path, const std::vector<unsigned char>& pixels, int width,
               int height, int channels, const std::string& where) {
  if (pixels.size() != std::size_t(width) * std::size_t(height) * std::size_t(channels))
    throw Error(where + "pixel buffer does not match the image size");
  std::vector<unsigned char> png;
  if (!stbi_write_png_to_func(append_bytes, &png, width, height, channels, pixels.data(),
                              width * channels))
    throw Error(where + "PNG encoding failed");
  write_file_atomic(path, png.data(), png.size());
}

}  // namespace krrdistill
