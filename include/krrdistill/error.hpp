// The one exception type of krrdistill: the command line prints its message
// as a single "error: ..." line and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace krrdistill {

struct Error : std::runtime_error {
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace krrdistill
