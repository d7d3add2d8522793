#include "krrdistill/png.hpp"

#include "krrdistill/error.hpp"
#include "krrdistill/io.hpp"

// The one stb_image_write implementation of the library. STATIC keeps its
// symbols (and global settings such as the vertical flip flag) private, so it
// cannot clash with a user's own copy; NO_STDIO because we encode to memory
// and the file is written atomically.
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
