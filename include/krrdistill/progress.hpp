// Progress of long work on stderr, only when stderr is a terminal and the
// user did not ask for --quiet.
#pragma once

#include <string>

namespace krrdistill {

class Progress {
 public:
  // Enabled when stderr is a terminal and quiet is false.
  static Progress for_terminal(bool quiet);
  static Progress silent() { return Progress(false); }

  bool enabled() const { return enabled_; }
  // "phase 42%" on one rewritten line; fraction in [0, 1].
  void update(const std::string& phase, double fraction) const;
  // A free-form status line, rewritten in place (e.g. a KIP step).
  void status(const std::string& line) const;
  // Clears the line.
  void finish() const;

 private:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  bool enabled_ = false;
};

}  // namespace krrdistill
