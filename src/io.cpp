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

std::atomic<unsigned> temp_counter{0};

}  // namespace

// ---- InputFile ----------------------------------------------------------------

struct InputFile::Inflater {
  z_stream zs;
  std::vector<unsigned char> in = std::vector<unsigned char>(std::size_t(1) << 17);
  std::uint64_t fed = 0;    // compressed bytes read from the file into `in`
  bool member_end = false;  // the last inflate() ended a gzip member
  Inflater() { std::memset(&zs, 0, sizeof zs); }
  ~Inflater() { inflateEnd(&zs); }
};

InputFile::InputFile(const std::string& path, bool inflate_gzip) : path_(path) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    int err = errno;
    if (err == ENOENT) throw Error(path + ": no such file");
    throw Error(path + ": cannot open: " + errno_text(err));
  }
  try {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw Error(path + ": cannot stat: " + errno_text(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, expected a file");
    // Devices and pipes have no length to check a header against, and some
    // never end (/dev/zero): only regular files are data.
    if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
    size_ = std::uint64_t(st.st_size);
    unsigned char magic[2] = {0, 0};
    if (inflate_gzip && pread_some(magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
      restart_inflate();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t InputFile::pread_some(void* out, std::size_t size, std::uint64_t offset) {
  unsigned char* p = static_cast<unsigned char*>(out);
  std::size_t done = 0;
  while (done < size) {
    const std::size_t step = std::min<std::size_t>(size - done, std::size_t(1) << 30);
    const ssize_t got = ::pread(fd_, p + done, step, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Error(path_ + ": read failed: " + errno_text(errno));
    if (got == 0) break;
    done += std::size_t(got);
  }
  return done;
}

void InputFile::restart_inflate() {
  if (!z_) {
    z_ = std::make_unique<Inflater>();
    if (inflateInit2(&z_->zs, 16 + MAX_WBITS) != Z_OK)
      throw Error(path_ + ": cannot initialise zlib");
  } else {
    inflateReset(&z_->zs);
  }
  z_->zs.avail_in = 0;
  z_->fed = 0;
  z_->member_end = false;
  position_ = 0;
}

std::uint64_t InputFile::size_hint() const {
  if (!z_) return size_;
  // The trailer's ISIZE (the content's length mod 2^32), capped by deflate's
  // maximum ratio: a forged trailer cannot ask for more than the data could
  // ever expand to.
  const std::uint64_t kMaxRatio = 1032;
  unsigned char t[4];
  if (size_ < 18 || const_cast<InputFile*>(this)->pread_some(t, 4, size_ - 4) != 4) return 0;
  const std::uint64_t isize = std::uint64_t(t[0]) | std::uint64_t(t[1]) << 8 |
                              std::uint64_t(t[2]) << 16 | std::uint64_t(t[3]) << 24;
  return std::min(isize, size_ * kMaxRatio);
}

// Keeps at least `want` compressed bytes ready when the file has them.
bool InputFile::fill_input(std::size_t want) {
  z_stream& zs = z_->zs;
  if (zs.avail_in >= want) return true;
  std::vector<unsigned char>& in = z_->in;
  if (zs.avail_in > 0) std::memmove(in.data(), zs.next_in, zs.avail_in);
  const std::size_t got = pread_some(in.data() + zs.avail_in, in.size() - zs.avail_in, z_->fed);
  z_->fed += got;
  zs.next_in = in.data();
  zs.avail_in = uInt(zs.avail_in + got);
  return zs.avail_in >= want;
}

std::size_t InputFile::inflate_some(unsigned char* out, std::size_t size) {
  z_stream& zs = z_->zs;
  std::size_t done = 0;
  while (done < size) {
    if (z_->member_end) {
      // Another gzip member may follow, as gzip itself accepts; anything
      // else is garbage.
      if (!fill_input(2)) {
        if (zs.avail_in == 0) break;  // the end of the file
      } else if (zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        inflateReset(&zs);
        z_->member_end = false;
        continue;
      }
      const std::uint64_t garbage = size_ - (z_->fed - zs.avail_in);
      throw Error(path_ + ": corrupt gzip data (" + std::to_string(garbage) +
                  " bytes of garbage after the compressed stream)");
    }
    fill_input(1);
    const bool input_left = zs.avail_in > 0;
    // avail_out is 32-bit: at most 1 GiB at a time.
    const std::size_t step = std::min<std::size_t>(size - done, std::size_t(1) << 30);
    zs.next_out = out + done;
    zs.avail_out = uInt(step);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    done += step - zs.avail_out;
    if (rc == Z_STREAM_END) {
      z_->member_end = true;
      continue;
    }
    if (rc == Z_OK) continue;
    // Output space is available here, so no progress means the input ran
    // out before the end of the stream.
    if (rc == Z_BUF_ERROR && !input_left)
      throw Error(path_ + ": truncated gzip data (the compressed stream ends early)");
    const std::string why =
        zs.msg ? zs.msg : (rc == Z_MEM_ERROR ? "out of memory" : "inflate error");
    throw Error(path_ + ": corrupt gzip data (" + why + ")");
  }
  return done;
}

std::size_t InputFile::read(void* out, std::size_t size) {
  const std::size_t got =
      z_ ? inflate_some(static_cast<unsigned char*>(out), size) : pread_some(out, size, position_);
  position_ += got;
  return got;
}

void InputFile::seek(std::uint64_t offset) {
  if (!z_) {
    position_ = offset;
    return;
  }
  if (offset < position_) restart_inflate();
  std::vector<unsigned char> skip(std::size_t(1) << 16);
  while (position_ < offset) {
    const std::size_t step = std::size_t(std::min<std::uint64_t>(skip.size(), offset - position_));
    if (read(skip.data(), step) < step) return;  // past the end: later reads get nothing
  }
}

std::vector<unsigned char> read_file_bytes(const std::string& path) {
  bool longer = false;
  return read_file_bytes(path, std::numeric_limits<std::size_t>::max(), &longer);
}

std::vector<unsigned char> read_file_bytes(const std::string& path, std::size_t max_size,
                                           bool* longer) {
  *longer = false;
  InputFile file(path);
  // A plain file is read whole (its length is real); gzip content no further
  // than max_size + 1 bytes, so the caller can tell it goes on. The buffer
  // starts at the size hint so the common case is one pass, no reallocation.
  const std::size_t limit = !file.gzip() || max_size == std::numeric_limits<std::size_t>::max()
                                ? std::numeric_limits<std::size_t>::max()
                                : max_size + 1;
  // One spare byte lets the final read see the end without growing.
  const std::uint64_t hint = file.size_hint() + (file.gzip() ? 0 : 1);
  std::vector<unsigned char> bytes(std::size_t(std::min<std::uint64_t>(
      std::max<std::uint64_t>(hint, 4096), std::max<std::size_t>(limit, 1))));
  std::size_t used = 0;
  for (;;) {
    if (used == limit) break;  // more than the caller wants: stop inflating
    if (used == bytes.size()) bytes.resize(bytes.size() <= limit / 2 ? bytes.size() * 2 : limit);
    const std::size_t got = file.read(bytes.data() + used, bytes.size() - used);
    used += got;
    if (got == 0) break;
  }
  bytes.resize(used);
  if (file.gzip() && used > max_size) {
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
