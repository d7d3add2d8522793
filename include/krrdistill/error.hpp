// The one exception type of krrdistill: the command line prints its message
// as a single "error: ..." line and exits non-zero.
#pragma once

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace krrdistill {

struct Error : std::runtime_error {
  explicit Error(const std::string& message) : std::runtime_error(message), message_(message) {}
  // The whole message: what() stops at a NUL byte quoted from a file.
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// A message made printable on one line: control bytes (NUL, newline, ...)
// and DEL as \xNN, so text quoted from a file can neither cut the message
// nor spread it over lines. Bytes >= 0x80 (UTF-8 names) are kept.
inline std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", unsigned(byte));
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

// The printable message of any exception (the whole of an Error's).
inline std::string error_text(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  return printable(error != nullptr ? error->message() : std::string(e.what()));
}

}  // namespace krrdistill
