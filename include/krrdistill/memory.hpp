// The machine's memory against a run's large allocations: each command
// estimates what it will hold at its peak, right after the headers are read
// and before the long work, and refuses with the figure when it cannot fit,
// instead of growing until the system kills it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <vector>

namespace krrdistill {

// Bytes this process can still allocate: /proc/meminfo's MemAvailable, or
// the cgroup's limit less its usage (v2 memory.max, v1 limit_in_bytes) when
// lower. 0 when nothing can be read (then no check is made).
double available_memory_bytes();

// One large allocation of a run's estimate.
struct MemoryItem {
  std::string what;
  double bytes = 0;
};

double total_bytes(const std::vector<MemoryItem>& items);

// "14.2 GB", "830 MB", "12 kB" (decimal units).
std::string format_bytes(double bytes);

// Throws Error("<what> needs about 14.2 GB (G and B 9.8 GB, ...), but about
// 3.1 GB of memory is available") when the total exceeds `available` (not
// checked when available <= 0).
void check_memory(const std::string& what, const std::vector<MemoryItem>& items, double available);
// The same against available_memory_bytes().
void check_memory(const std::string& what, const std::vector<MemoryItem>& items);

// Maps the whole pages inside [data, data + bytes) (MADV_POPULATE_WRITE),
// keeping their contents, so that a caller about to fill a large fresh
// buffer in one pass does not stop at a page fault every 4 KiB (on a
// virtual machine whose faults cost 10 µs each, 188 MB of memory freed
// just before took 0.024 s against 0.47 s for a fault a page). With
// threads > 1, a range of 16 MiB or more is cut into up to that many parts
// of about equal size (at least 8 MiB before the cuts are rounded down to
// 2 MiB boundaries), each populated on an OpenMP thread: memory handed back
// to the host some seconds before costs about ten times as much, and two
// threads halve that. Pass the caller's omp_get_max_threads() from the
// thread that set it (the count is each thread's own). Only a speed-up:
// false, with nothing done, when the range holds no whole page or the
// kernel or the system headers cannot (before Linux 5.14); false too when
// a call failed, and then some pages may be populated and others not.
bool populate_pages(void* data, std::size_t bytes, int threads = 1);

// The same, on one thread of its own, while the caller starts filling the
// buffer (libdeflate inflating a whole file into it). Nothing is done on
// one core, with no whole page, or when no thread can be started. The
// buffer must stay in place until the future is done; its destructor waits.
std::future<bool> populate_pages_async(void* data, std::size_t bytes);

}  // namespace krrdistill
