// Small file helpers shared by the readers and writers.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace krrdistill {

// Whole file, transparently gunzipped when it starts with the gzip magic.
// Throws Error naming the file on a missing, unreadable or corrupt file.
// Only regular files are read (a FIFO or a device is refused, never waited on).
std::vector<unsigned char> read_file_bytes(const std::string& path);

// The same, but a gzip file is inflated no further than max_size bytes, and
// *longer tells whether its content goes on beyond them: a small compressed
// file cannot expand into a huge allocation when the caller knows how long
// the content should be. Plain files are read whole (their length is real)
// and *longer is false.
std::vector<unsigned char> read_file_bytes(const std::string& path, std::size_t max_size,
                                           bool* longer);

bool file_exists(const std::string& path);

// Writes bytes to "path" atomically: a temporary file in the same folder,
// flushed, then renamed over path. Nothing is left behind on failure.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace krrdistill
