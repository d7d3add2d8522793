// Private to the output folder (output_dir.cpp): one run at a time on an
// output NAME, through a lock file .NAME.lock beside it, and the removal of
// the staging folders .NAME.partial-PID that killed runs left there.
#pragma once

#include <filesystem>
#include <string>

namespace krrdistill::detail {

// The names beside the output folder NAME: its lock file, and the prefix of
// the staging folders of runs on it (the pid follows).
std::string lock_file_name(const std::string& name);
std::string staging_prefix(const std::string& name);

// Takes the lock file at path (flock, released by the kernel when the process
// dies however it dies) and writes our pid into it; returns its descriptor.
// A lock file that its holder removed after we opened it is stale: it is
// opened again. Throws Error naming the holder's pid when the lock is taken
// (out_text is the output as given, for the message).
int acquire_lock(const std::string& path, const std::string& out_text);

// Releases the lock taken by acquire_lock: unlinked while still held, so
// that a run that opened it meanwhile sees a stale file and opens it again,
// then closed. Async-signal-safe.
void release_lock(const char* path, int fd) noexcept;

// Holding the lock on the output name in parent, removes the staging
// folders of earlier runs on it (all killed: a live run would hold the
// lock). Throws Error, touching nothing, for one that is not a folder of
// files.
void remove_leftovers(const std::filesystem::path& parent, const std::string& name);

// Removes every entry of a flat folder, then the folder, with
// async-signal-safe calls only (no opendir/malloc). The main thread may still
// be creating a file while this runs on another thread, so it rescans until
// the folder is gone (bounded, in case something else holds it).
void remove_flat_folder(const char* dir);

}  // namespace krrdistill::detail
