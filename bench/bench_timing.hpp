// Timing for the benchmark programs: the median wall time of several runs,
// since the machines they run on are shared and noisy.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

template <typename Work>
double median_seconds(int runs, Work&& work) {
  std::vector<double> times;
  for (int r = 0; r < std::max(1, runs); ++r) {
    const auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}
