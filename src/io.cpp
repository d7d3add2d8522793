#include "krrdistill/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "krrdistill/error.hpp"

namespace krrdistill {

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// Closes a POSIX descriptor on scope exit, so every throw path releases it.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::vector<unsigned char> read_raw(const std::string& path) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (in.fd < 0) {
    int err = errno;
    if (err == ENOENT) throw Error(path + ": no such file");
    throw Error(path + ": cannot open: " + errno_text(err));
  }
  struct stat st;
  if (::fstat(in.fd, &st) != 0) throw Error(path + ": cannot stat: " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, expected a file");
  // Devices and pipes have no length to check a header against, and some
  // never end (/dev/zero): only regular files are data.
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  const int flags = ::fcntl(in.fd, F_GETFL);
  if (flags >= 0) ::fcntl(in.fd, F_SETFL, flags & ~O_NONBLOCK);

  // st_size may change while we read: read until EOF. One spare byte lets
  // the final read see EOF without growing the buffer.
  std::vector<unsigned char> bytes(std::size_t(st.st_size) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(std::max<std::size_t>(65536, bytes.size() * 2));
    ssize_t got = ::read(in.fd, bytes.data() + used, bytes.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": read failed: " + errno_text(errno));
    }
    if (got == 0) break;
    used += std::size_t(got);
  }
  bytes.resize(used);
  return bytes;
}

bool is_gzip(const std::vector<unsigned char>& bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Inflates a gzip file (possibly several concatenated members, as gzip itself
// accepts), stopping once the output exceeds max_size (max_size + 1 bytes are
// then returned, so the caller can tell). The output buffer is sized from the
// trailer's ISIZE so that the common case is a single pass with no
// reallocation; ISIZE is only a hint, capped by deflate's maximum ratio and
// by max_size, so a forged trailer cannot make us allocate more than the data
// could ever expand to, nor more than the caller expects.
std::vector<unsigned char> gunzip(const std::vector<unsigned char>& in, const std::string& path,
                                  std::size_t max_size) {
  const std::size_t kMaxRatio = 1032;  // deflate cannot expand more than this
  const std::size_t limit = max_size < std::numeric_limits<std::size_t>::max()
                                ? max_size + 1
                                : std::numeric_limits<std::size_t>::max();
  std::size_t hint = 0;
  if (in.size() >= 18) {
    const unsigned char* t = in.data() + in.size() - 4;
    hint = std::size_t(t[0]) | std::size_t(t[1]) << 8 | std::size_t(t[2]) << 16 |
           std::size_t(t[3]) << 24;
  }
  std::size_t cap = in.size() <= std::numeric_limits<std::size_t>::max() / kMaxRatio
                        ? in.size() * kMaxRatio
                        : std::numeric_limits<std::size_t>::max();
  std::vector<unsigned char> out(
      std::min({std::max<std::size_t>(hint, 4096), cap, std::max<std::size_t>(limit, 1)}));

  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error(path + ": cannot initialise zlib");
  std::size_t in_used = 0;
  std::size_t out_used = 0;
  for (;;) {
    if (out_used == limit) break;  // more than the caller wants: stop inflating
    if (out_used == out.size()) out.resize(out.size() <= limit / 2 ? out.size() * 2 : limit);
    // avail_in/avail_out are 32-bit: feed at most 1 GiB at a time.
    const std::size_t kStep = std::size_t(1) << 30;
    std::size_t in_step = std::min(kStep, in.size() - in_used);
    std::size_t out_step = std::min(kStep, out.size() - out_used);
    zs.next_in = const_cast<unsigned char*>(in.data() + in_used);
    zs.avail_in = uInt(in_step);
    zs.next_out = out.data() + out_used;
    zs.avail_out = uInt(out_step);
    int rc = inflate(&zs, Z_NO_FLUSH);
    in_used += in_step - zs.avail_in;
    out_used += out_step - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (in_used == in.size()) break;
      // Another gzip member follows; anything else is garbage.
      if (in.size() - in_used >= 2 && in[in_used] == 0x1f && in[in_used + 1] == 0x8b) {
        inflateReset(&zs);
        continue;
      }
      inflateEnd(&zs);
      throw Error(path + ": corrupt gzip data (" + std::to_string(in.size() - in_used) +
                  " bytes of garbage after the compressed stream)");
    }
    if (rc == Z_OK) continue;
    // Output space is always available here, so no progress means the input
    // ran out before the end of the stream.
    if (rc == Z_BUF_ERROR && in_used == in.size()) {
      inflateEnd(&zs);
      throw Error(path + ": truncated gzip data (the compressed stream ends early)");
    }
    std::string why = zs.msg ? zs.msg : (rc == Z_MEM_ERROR ? "out of memory" : "inflate error");
    inflateEnd(&zs);
    throw Error(path + ": corrupt gzip data (" + why + ")");
  }
  inflateEnd(&zs);
  out.resize(out_used);
  return out;
}

std::atomic<unsigned> temp_counter{0};

}  // namespace

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  bool longer = false;
  return read_file_bytes(path, std::numeric_limits<std::size_t>::max(), &longer);
}

std::vector<unsigned char> read_file_bytes(const std::string& path, std::size_t max_size,
                                           bool* longer) {
  *longer = false;
  std::vector<unsigned char> bytes = read_raw(path);
  if (!is_gzip(bytes)) return bytes;
  bytes = gunzip(bytes, path, max_size);
  if (bytes.size() > max_size) {
    bytes.resize(max_size);
    *longer = true;
  }
  return bytes;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (!target.has_filename()) throw Error(path + ": not a file name");
  // Same folder as the target, so rename(2) is atomic (no cross-device move);
  // pid and a counter keep concurrent writers apart.
  std::string temp_name = "." + target.filename().string() + ".tmp." + std::to_string(::getpid()) +
                          "." + std::to_string(temp_counter++);
  std::string temp = (target.parent_path() / temp_name).string();

  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw Error(path + ": cannot create temporary file " + temp + ": " + errno_text(errno));
  auto fail = [&](const std::string& what, int err) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw Error(path + ": " + what + ": " + errno_text(err));
  };
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    ssize_t put = ::write(fd, p, left);
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    p += put;
    left -= std::size_t(put);
  }
  // fsync so that after a crash the target is either the old or the new file.
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close failed", errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) fail("cannot rename temporary file", errno);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace krrdistill
