// Small file helpers shared by the readers and writers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace krrdistill {

// A data file opened for reading, the one low-level reader of the project.
// Only regular files are opened (a FIFO or a device is refused, never waited
// on). Gzip content (several members as gzip accepts them) is inflated as it
// is read, unless inflate_gzip is false: reading forward inflates each byte
// once, a seek backward restarts the stream. Plain files are read in place
// (pread), so scattered reads cost only their bytes. Errors name the file.
class InputFile {
 public:
  explicit InputFile(const std::string& path, bool inflate_gzip = true);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  bool gzip() const { return z_ != nullptr; }
  // Length on disk (compressed, for gzip).
  std::uint64_t size() const { return size_; }
  // The content's length for a plain file; for gzip the trailer's claim,
  // capped by what the compressed bytes could expand to (only a hint).
  std::uint64_t size_hint() const;
  // Position in the (inflated) content.
  std::uint64_t position() const { return position_; }

  // Up to size bytes from the current position; fewer only at the end.
  std::size_t read(void* out, std::size_t size);
  // Moves to a byte of the content (for gzip at most to its end).
  void seek(std::uint64_t offset);

 private:
  struct Inflater;
  std::size_t pread_some(void* out, std::size_t size, std::uint64_t offset);
  void restart_inflate();
  bool fill_input(std::size_t want);
  std::size_t inflate_some(unsigned char* out, std::size_t size);

  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
  std::unique_ptr<Inflater> z_;  // gzip only
};

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
