// The statistics file (docs/design.md §9): the 16 bytes "KRRDISTILL-STATS",
// the format version (uint32), the length of a JSON header (uint64) and the
// header, the arrays it implies as little-endian float64, then zlib's CRC-32
// of all the bytes before it (uint32); integers little-endian. Its reader
// trusts nothing: every field, every size and every value is checked.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "krrdistill/features.hpp"
#include "krrdistill/saved_statistics.hpp"

namespace krrdistill {

constexpr std::uint32_t kStatisticsVersion = 1;

// Writes atomically (a temporary file beside path, then renamed). An
// existing path is replaced only with force, and only when it is a
// statistics file (it starts with the magic bytes).
void write_statistics(const std::string& path, const SavedStatistics& stats, bool force);

// Reads and validates everything: magic, version, header fields, array
// sizes against the file's length before any allocation, the checksum, and
// the values against what sums of real data satisfy (docs/design.md §9).
SavedStatistics read_statistics(const std::string& path);

// The parts as report.json and the file's header list them.
nlohmann::json parts_json(const std::vector<StatisticsPart>& parts);

// Refuses (Error) an output path that write_statistics would refuse, so a
// command can check it before the long work.
void check_statistics_output(const std::string& path, bool force);

// The map as a header records it (its resolved sizes and seed); two files
// of the same map have the same JSON.
nlohmann::json map_spec_json(const FeatureMapSpec& spec);

}  // namespace krrdistill
