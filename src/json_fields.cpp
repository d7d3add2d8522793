#include "krrdistill/json_fields.hpp"

#include <cmath>
#include <limits>

#include "krrdistill/error.hpp"

namespace krrdistill {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where,
                            const std::string& path) {
  if (!j.is_object() || !j.contains(key))
    throw Error(path + ": missing \"" + std::string(key) + "\" in " + where);
  return j.at(key);
}

[[noreturn]] void wrong(const char* key, const std::string& where, const std::string& path,
                        const std::string& what) {
  throw Error(path + ": \"" + std::string(key) + "\" in " + where + " " + what);
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where,
                         const std::string& path) {
  const nlohmann::json& v = field(j, key, where, path);
  if (!v.is_string()) wrong(key, where, path, "must be a string");
  return v.get<std::string>();
}

bool bool_field(const nlohmann::json& j, const char* key, const std::string& where,
                const std::string& path) {
  const nlohmann::json& v = field(j, key, where, path);
  if (!v.is_boolean()) wrong(key, where, path, "must be true or false");
  return v.get<bool>();
}

std::uint64_t unsigned_field(const nlohmann::json& j, const char* key, const std::string& where,
                             const std::string& path) {
  const nlohmann::json& v = field(j, key, where, path);
  if (!v.is_number_unsigned()) wrong(key, where, path, "must be a non-negative integer");
  return v.get<std::uint64_t>();
}

double finite_field(const nlohmann::json& j, const char* key, const std::string& where,
                    const std::string& path) {
  const nlohmann::json& v = field(j, key, where, path);
  if (!v.is_number()) wrong(key, where, path, "must be a number");
  const double value = v.get<double>();
  if (!std::isfinite(value)) wrong(key, where, path, "must be finite");
  return value;
}

const nlohmann::json& section(const nlohmann::json& report, const char* key,
                              const std::string& path) {
  if (!report.is_object()) throw Error(path + ": expected a JSON object at the top level");
  if (!report.contains(key) || !report.at(key).is_object())
    throw Error(path + ": missing section \"" + std::string(key) + "\"");
  return report.at(key);
}

std::uint64_t header_image_size(const nlohmann::json& report, const std::string& path) {
  const nlohmann::json& dataset = section(report, "dataset", path);
  const nlohmann::json& shape = field(dataset, "shape", "dataset", path);
  if (!shape.is_array() || shape.size() != 3)
    wrong("shape", "dataset", path, "must be [channels, height, width]");
  std::uint64_t d = 1;
  for (const nlohmann::json& dim : shape) {
    if (!dim.is_number_unsigned() || dim.get<std::uint64_t>() == 0)
      wrong("shape", "dataset", path, "must hold three positive integers");
    const std::uint64_t v = dim.get<std::uint64_t>();
    if (d > std::numeric_limits<std::uint64_t>::max() / v)
      wrong("shape", "dataset", path, "is too large");
    d *= v;
  }
  if (unsigned_field(dataset, "d", "dataset", path) != d)
    wrong("d", "dataset", path, "is not the product of \"shape\" (" + std::to_string(d) + ")");
  return d;
}

}  // namespace krrdistill
