// PNG encoding (stb_image_write) of an 8-bit pixel buffer, written atomically.
#pragma once

#include <string>
#include <vector>

namespace krrdistill {

// pixels: height rows of width·channels bytes (1 grey, 3 RGB), top row first.
// Throws Error prefixed with `where` if encoding or writing fails.
void write_png(const std::string& path, const std::vector<unsigned char>& pixels, int width,
               int height, int channels, const std::string& where);

}  // namespace krrdistill
