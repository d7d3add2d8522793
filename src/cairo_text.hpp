// Private helpers around cairo for the plot and the image grid labels:
// owning handles, one font setup, text that cairo accepts.
#pragma once

#include <cairo.h>

#include <cstddef>
#include <memory>
#include <string>

namespace krrdistill::detail {

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

// An image surface and a context drawing on it; throws Error (prefixed with
// where) if cairo cannot allocate them.
struct Drawing {
  Surface surface;
  Context cr;
};
Drawing make_drawing(cairo_format_t format, int width, int height, const std::string& where);

// Throws Error (prefixed with where) if cr has gone into an error state.
void check(cairo_t* cr, const std::string& where);

// text as valid UTF-8 that cairo will draw: an invalid byte becomes '?', a
// control character a space, and text beyond max_chars characters is cut
// with an ellipsis. (cairo refuses invalid UTF-8 by stopping all drawing.)
std::string clean_text(const std::string& text, std::size_t max_chars);

// DejaVu Sans (Debian's fonts-dejavu-core) at size pixels, grey-level
// anti-aliasing, no hinting: the glyphs depend on the font file, not on the
// desktop's fontconfig settings, so the same text gives the same pixels.
void use_font(cairo_t* cr, double size, bool bold = false);

// Height of DejaVu Sans capitals at size pixels: text whose top should be
// at y has its baseline at y + cap_height(size).
inline double cap_height(double size) {
  return 0.73 * size;
}

// Advance width of text in the current font, in pixels.
double text_width(cairo_t* cr, const std::string& text);

}  // namespace krrdistill::detail
