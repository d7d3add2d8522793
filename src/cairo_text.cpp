#include "cairo_text.hpp"

#include "krrdistill/error.hpp"

namespace krrdistill::detail {

namespace {

// Length of the UTF-8 sequence starting at text[i] (1 to 4), or 0 if the
// bytes there are not a valid, shortest-form encoding of a scalar value.
std::size_t utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t j) { return static_cast<unsigned char>(text[j]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  char32_t value = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    value = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    value = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    value = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t j = 1; j < n; ++j) {
    if ((byte(i + j) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + j) & 0x3F);
  }
  constexpr char32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (value < kShortest[n] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

Drawing make_drawing(cairo_format_t format, int width, int height, const std::string& where) {
  Drawing d;
  d.surface.reset(cairo_image_surface_create(format, width, height));
  if (cairo_surface_status(d.surface.get()) != CAIRO_STATUS_SUCCESS)
    throw Error(where + "cannot create a " + std::to_string(width) + "×" + std::to_string(height) +
                " image: " + cairo_status_to_string(cairo_surface_status(d.surface.get())));
  d.cr.reset(cairo_create(d.surface.get()));
  check(d.cr.get(), where);
  return d;
}

void check(cairo_t* cr, const std::string& where) {
  const cairo_status_t status = cairo_status(cr);
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(where + "drawing failed: " + cairo_status_to_string(status));
}

std::string clean_text(const std::string& text, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (chars == max_chars) {
      out += "\u2026";
      break;
    }
    const std::size_t n = utf8_length(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 0) {
      out += '?';
      i += 1;
    } else if (c < 0x20 || c == 0x7F) {
      out += ' ';
      i += 1;
    } else {
      out.append(text, i, n);
      i += n;
    }
    ++chars;
  }
  return out;
}

void use_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_subpixel_order(options, CAIRO_SUBPIXEL_ORDER_DEFAULT);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

}  // namespace krrdistill::detail
