// Drawing primitives over cairo for the report's figures.
#include "report/plot_canvas.h"

#include <cairo-svg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gpt2q {
namespace {

constexpr const char* kFontFamily = "DejaVu Sans";

// Tableau-like qualitative colours, chosen to stay apart when semi-transparent.
constexpr Rgba kPalette[] = {
    {0.58, 0.40, 0.74, 1}, {0.50, 0.50, 0.50, 1}, {1.00, 0.50, 0.05, 1},
    {0.17, 0.63, 0.17, 1}, {0.12, 0.47, 0.71, 1}, {0.55, 0.34, 0.29, 1},
    {0.89, 0.47, 0.76, 1}, {0.74, 0.74, 0.13, 1}, {0.09, 0.75, 0.81, 1},
    {0.84, 0.15, 0.16, 1},
};

void SelectFont(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

Status SurfaceStatus(cairo_surface_t* surface, const std::string& path) {
  const cairo_status_t st = cairo_surface_status(surface);
  if (st != CAIRO_STATUS_SUCCESS) {
    return Status::Error(path + ": cairo: " + cairo_status_to_string(st));
  }
  return OkStatus();
}

}  // namespace

Rgba PaletteColor(size_t i, double a) {
  Rgba c = kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
  c.a = a;
  return c;
}

void SetColor(cairo_t* cr, const Rgba& c) { cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a); }

std::string FormatCount(double value) {
  const double mag = std::fabs(value);
  const char* suffix = "";
  double scaled = value;
  if (mag >= 1e9) {
    suffix = "G";
    scaled = value / 1e9;
  } else if (mag >= 1e6) {
    suffix = "M";
    scaled = value / 1e6;
  } else if (mag >= 1e3) {
    suffix = "K";
    scaled = value / 1e3;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", scaled);
  std::string s = buf;  // trim trailing zeros: "2.50" → "2.5", "3.00" → "3"
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s + suffix;
}

std::string FormatTick(double value, double step) {
  int decimals = 0;
  if (step > 0 && step < 1) {
    decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    if (std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6)
      ++decimals;  // 0.25 needs 2
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", std::min(decimals, 9), value);
  std::string s = buf;
  if (s.rfind("-0", 0) == 0 && std::stod(s) == 0) s = s.substr(1);
  return s;
}

static double NiceStep(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  const double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * p;
}

std::vector<double> NiceTicks(double lo, double hi, int target, double* step_out) {
  std::vector<double> ticks;
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi) || target < 1) return ticks;
  const double step = NiceStep((hi - lo) / target);
  if (step_out) *step_out = step;
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (int i = 0; i < 1000; ++i) {
    double t = first + i * step;
    if (t > hi + step * 1e-9) break;
    if (std::fabs(t) < step * 1e-9) t = 0;
    ticks.push_back(t);
  }
  return ticks;
}

double NiceCeil(double value) {
  if (!(value > 0) || !std::isfinite(value)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(value)));
  for (double f : {1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0}) {
    if (f * p >= value * (1 - 1e-12)) return f * p;
  }
  return 10 * p;
}

double TextWidth(cairo_t* cr, const std::string& text, double size, bool bold) {
  cairo_save(cr);
  SelectFont(cr, size, bold);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  cairo_restore(cr);
  return ext.x_advance;
}

void DrawText(cairo_t* cr, const std::string& text, double x, double y, double size, HAlign h,
              VAlign v, bool bold, double angle, Rgba color) {
  cairo_save(cr);
  SelectFont(cr, size, bold);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  cairo_font_extents_t font;
  cairo_font_extents(cr, &font);
  double dx = h == HAlign::kLeft ? 0 : h == HAlign::kCenter ? -ext.x_advance / 2 : -ext.x_advance;
  // Vertical placement from the font's ascent/descent so that labels line up.
  double dy = v == VAlign::kTop ? font.ascent
              : v == VAlign::kMiddle ? (font.ascent - font.descent) / 2
                                     : -font.descent;
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, dx, dy);
  SetColor(cr, color);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}

void DrawAxes(cairo_t* cr, const PlotArea& a, const std::vector<double>& xticks,
              const TickFormatter& xformat, const std::vector<double>& yticks,
              const TickFormatter& yformat, const std::string& xlabel,
              const std::string& ylabel) {
  cairo_save(cr);
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgba(cr, 0.85, 0.85, 0.85, 1);
  for (double t : yticks) {
    const double y = std::round(a.Y(t)) + 0.5;
    cairo_move_to(cr, a.left, y);
    cairo_line_to(cr, a.left + a.width, y);
  }
  for (double t : xticks) {
    const double x = std::round(a.X(t)) + 0.5;
    cairo_move_to(cr, x, a.top);
    cairo_line_to(cr, x, a.top + a.height);
  }
  cairo_stroke(cr);
  cairo_set_source_rgba(cr, 0.2, 0.2, 0.2, 1);
  cairo_rectangle(cr, std::round(a.left) + 0.5, std::round(a.top) + 0.5, std::round(a.width),
                  std::round(a.height));
  cairo_stroke(cr);
  const double bottom = a.top + a.height;
  double max_ylabel = 0;
  for (double t : yticks) {
    const std::string s = yformat(t);
    max_ylabel = std::max(max_ylabel, TextWidth(cr, s, 11));
    DrawText(cr, s, a.left - 6, a.Y(t), 11, HAlign::kRight, VAlign::kMiddle);
    cairo_move_to(cr, a.left - 4, std::round(a.Y(t)) + 0.5);
    cairo_line_to(cr, a.left, std::round(a.Y(t)) + 0.5);
  }
  for (double t : xticks) {
    DrawText(cr, xformat(t), a.X(t), bottom + 6, 11, HAlign::kCenter, VAlign::kTop);
    cairo_move_to(cr, std::round(a.X(t)) + 0.5, bottom);
    cairo_line_to(cr, std::round(a.X(t)) + 0.5, bottom + 4);
  }
  cairo_stroke(cr);
  if (!xlabel.empty()) {
    DrawText(cr, xlabel, a.left + a.width / 2, bottom + 24, 12, HAlign::kCenter, VAlign::kTop);
  }
  if (!ylabel.empty()) {
    DrawText(cr, ylabel, a.left - max_ylabel - 14, a.top + a.height / 2, 12, HAlign::kCenter,
             VAlign::kBottom, false, -M_PI / 2);
  }
  cairo_restore(cr);
}

void DrawLegend(cairo_t* cr, const PlotArea& a, const std::vector<LegendEntry>& entries) {
  if (entries.empty()) return;
  constexpr double kSize = 11, kRow = 17, kPad = 6, kSwatch = 18;
  double text_w = 0;
  for (const auto& e : entries) text_w = std::max(text_w, TextWidth(cr, e.label, kSize));
  const double w = kPad * 3 + kSwatch + text_w, h = kPad * 2 + kRow * entries.size();
  const double x = a.left + a.width - w - 8, y = a.top + 8;
  cairo_save(cr);
  cairo_rectangle(cr, x, y, w, h);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_fill_preserve(cr);
  cairo_set_source_rgba(cr, 0.7, 0.7, 0.7, 1);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < entries.size(); ++i) {
    const double cy = y + kPad + kRow * i + kRow / 2;
    SetColor(cr, entries[i].color);
    if (entries[i].line) {
      cairo_set_line_width(cr, 2);
      cairo_move_to(cr, x + kPad, cy);
      cairo_line_to(cr, x + kPad + kSwatch, cy);
      cairo_stroke(cr);
      cairo_arc(cr, x + kPad + kSwatch / 2, cy, 3, 0, 2 * M_PI);
      cairo_fill(cr);
    } else {
      cairo_rectangle(cr, x + kPad, cy - 5, kSwatch, 10);
      cairo_fill(cr);
    }
    DrawText(cr, entries[i].label, x + kPad * 2 + kSwatch, cy, kSize, HAlign::kLeft,
             VAlign::kMiddle);
  }
  cairo_restore(cr);
}

Status RenderPngAndSvg(const std::string& stem, int width, int height,
                       const std::function<void(cairo_t*)>& draw) {
  const auto paint = [&](cairo_surface_t* surface) {
    cairo_t* cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    draw(cr);
    const cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    return st;
  };
  const std::string png = stem + ".png";
  cairo_surface_t* image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  Status status = SurfaceStatus(image, png);
  if (status.ok()) {
    const cairo_status_t st = paint(image);
    if (st != CAIRO_STATUS_SUCCESS) {
      status = Status::Error(png + ": cairo: " + cairo_status_to_string(st));
    } else {
      const cairo_status_t wst = cairo_surface_write_to_png(image, png.c_str());
      if (wst != CAIRO_STATUS_SUCCESS) {
        status = Status::Error(png + ": cannot write PNG: " + cairo_status_to_string(wst));
      }
    }
  }
  cairo_surface_destroy(image);
  GPT2Q_RETURN_IF_ERROR(status);

  const std::string svg = stem + ".svg";
  cairo_surface_t* vector = cairo_svg_surface_create(svg.c_str(), width, height);
  status = SurfaceStatus(vector, svg);
  if (status.ok()) {
    const cairo_status_t st = paint(vector);
    cairo_surface_finish(vector);
    if (st != CAIRO_STATUS_SUCCESS) {
      status = Status::Error(svg + ": cairo: " + cairo_status_to_string(st));
    } else {
      status = SurfaceStatus(vector, svg);
    }
  }
  cairo_surface_destroy(vector);
  return status;
}

}  // namespace gpt2q
