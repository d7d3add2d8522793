// Small file helpers shared by the readers and writers.
#pragma once

#include <string>
#include <vector>

namespace krrdistill {

// Whole file, transparently gunzipped when it starts with the gzip magic.
// Throws Error naming the file on a missing, unreadable or corrupt file.
std::vector<unsigned char> read_file_bytes(const std::string& path);

bool file_exists(const std::string& path);

// Writes bytes to "path" atomically: a temporary file in the same folder,
// flushed, then renamed over path. Nothing is left behind on failure.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace krrdistill
