// Checked fields of the JSON files krrdistill reads back (report.json, the
// header of a statistics file): each read names the file and the field in
// its error, and checks the type before anything is sized from the value.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace krrdistill {

// j[key], which must exist; where names j in messages ("dataset", "model").
const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where,
                            const std::string& path);
[[noreturn]] void wrong(const char* key, const std::string& where, const std::string& path,
                        const std::string& what);
std::string string_field(const nlohmann::json& j, const char* key, const std::string& where,
                         const std::string& path);
bool bool_field(const nlohmann::json& j, const char* key, const std::string& where,
                const std::string& path);
// Non-negative integers only: nlohmann would otherwise wrap -1 or truncate 2.5.
std::uint64_t unsigned_field(const nlohmann::json& j, const char* key, const std::string& where,
                             const std::string& path);
double finite_field(const nlohmann::json& j, const char* key, const std::string& where,
                    const std::string& path);
// A top-level object section.
const nlohmann::json& section(const nlohmann::json& report, const char* key,
                              const std::string& path);
// The image size d a file was made for: the product of dataset.shape
// ([channels, height, width]), which must equal dataset.d.
std::uint64_t header_image_size(const nlohmann::json& report, const std::string& path);

}  // namespace krrdistill
