#include "output_lock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

#include "krrdistill/error.hpp"

namespace fs = std::filesystem;

namespace krrdistill::detail {

namespace {

// Staging folders of runs on the same output are ".NAME.partial-PID" (and
// ".NAME.partial-PID.old" from earlier versions).
bool is_staging_name(const std::string& entry, const std::string& prefix) {
  if (entry.compare(0, prefix.size(), prefix) != 0) return false;
  std::string rest = entry.substr(prefix.size());
  if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".old") == 0)
    rest.resize(rest.size() - 4);
  return !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

}  // namespace

std::string lock_file_name(const std::string& name) {
  return "." + name + ".lock";
}

std::string staging_prefix(const std::string& name) {
  return "." + name + ".partial-";
}

// getdents64 rather than opendir, which may allocate: a signal handler calls this.
void remove_flat_folder(const char* dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;  // already gone
    alignas(8) char buffer[4096];
    for (;;) {
      const ssize_t n = ::getdents64(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t offset = 0; offset < n;) {
        const auto* entry = reinterpret_cast<const struct dirent64*>(buffer + offset);
        const char* name = entry->d_name;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(fd, name, 0);
        offset += entry->d_reclen;
      }
    }
    ::close(fd);
    if (::rmdir(dir) == 0 || errno == ENOENT) return;
  }
}

// Holding the lock, every staging folder of this output belongs to a run
// that was killed (a live one would hold the lock): remove them. They hold
// only files; anything else is named, not touched.
void remove_leftovers(const fs::path& parent, const std::string& name) {
  const std::string prefix = staging_prefix(name);
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(parent, ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (is_staging_name(it->path().filename().string(), prefix)) stale.push_back(it->path());
  for (const fs::path& dir : stale) {
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode))
      throw Error(dir.string() + " is left from a killed run but is not a folder; remove it");
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_directory() && !entry.is_symlink())
        throw Error(dir.string() + " is left from a killed run but holds a folder (" +
                    entry.path().filename().string() + "); remove it yourself");
    remove_flat_folder(dir.c_str());
  }
}

int acquire_lock(const std::string& path, const std::string& out_text) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw Error("cannot create the lock file " + path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char holder[32] = {0};
      const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
      ::close(fd);
      std::string pid = n > 0 ? std::string(holder, std::size_t(n)) : "";
      pid.erase(std::remove_if(pid.begin(), pid.end(), [](char c) { return !std::isdigit(c); }),
                pid.end());
      if (err == EWOULDBLOCK)
        throw Error("another krrdistill run" + (pid.empty() ? "" : " (process " + pid + ")") +
                    " is writing " + out_text + "; wait for it to end or choose another --out");
      throw Error("cannot lock " + path + ": " + std::strerror(err));
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
        // The pid is only for the message of a run that finds the lock taken.
      }
      return fd;
    }
    ::close(fd);
  }
  throw Error("cannot lock " + out_text + ": its lock file " + path + " keeps changing");
}

void release_lock(const char* path, int fd) noexcept {
  ::unlink(path);
  ::close(fd);
}

}  // namespace krrdistill::detail
