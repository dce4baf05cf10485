// Drawing primitives over cairo for the report's figures: plot areas, axes with
// ticks, text, legends, colours, and rendering one drawing to PNG and SVG.
#pragma once

#include <cairo.h>

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpt2q {

struct Rgba {
  double r = 0, g = 0, b = 0, a = 1;
};

// Returns colour i of a fixed qualitative palette (cycled), with alpha `a`.
Rgba PaletteColor(size_t i, double a = 1.0);

// Formats a count with a K/M/G suffix: 0 → "0", 2500 → "2.5K", 1.75e7 → "17.5M".
std::string FormatCount(double value);

// Formats a tick value with the fewest decimals that tell ticks `step` apart.
std::string FormatTick(double value, double step);

// Returns about `target` round tick values (1, 2, 2.5, 5 × 10^k steps) inside
// [lo, hi]; the step is written to *step when given. Requires lo < hi, finite.
std::vector<double> NiceTicks(double lo, double hi, int target, double* step = nullptr);

// Returns a round number ≥ value (1, 2, 2.5, 5 × 10^k), for axis maxima; 1 if ≤ 0.
double NiceCeil(double value);

// A rectangle of the canvas (pixels, y down) mapped to data ranges.
struct PlotArea {
  double left = 0, top = 0, width = 0, height = 0;
  double xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  double X(double x) const { return left + (x - xmin) / (xmax - xmin) * width; }
  double Y(double y) const { return top + height - (y - ymin) / (ymax - ymin) * height; }
};

enum class HAlign { kLeft, kCenter, kRight };
enum class VAlign { kTop, kMiddle, kBottom };

// Draws `text` (UTF-8) in DejaVu Sans at `size` px, anchored at (x, y) and
// rotated by `angle` radians about the anchor.
void DrawText(cairo_t* cr, const std::string& text, double x, double y, double size, HAlign h,
              VAlign v, bool bold = false, double angle = 0, Rgba color = {0.1, 0.1, 0.1, 1});

// Returns the width in px of `text` at `size`.
double TextWidth(cairo_t* cr, const std::string& text, double size, bool bold = false);

using TickFormatter = std::function<std::string(double)>;

// Draws the frame, grid lines at the ticks, tick labels and axis labels.
// Empty tick lists draw no ticks on that axis.
void DrawAxes(cairo_t* cr, const PlotArea& area, const std::vector<double>& xticks,
              const TickFormatter& xformat, const std::vector<double>& yticks,
              const TickFormatter& yformat, const std::string& xlabel,
              const std::string& ylabel);

struct LegendEntry {
  std::string label;
  Rgba color;
  bool line = false;  // a line with a marker instead of a filled box
};

// Draws a boxed legend in the top-right corner inside `area`.
void DrawLegend(cairo_t* cr, const PlotArea& area, const std::vector<LegendEntry>& entries);

void SetColor(cairo_t* cr, const Rgba& c);

// Renders `draw` on a white width × height canvas twice: to `stem`.png (image
// surface) and `stem`.svg (SVG surface). Fails naming the file if cairo cannot
// write it.
Status RenderPngAndSvg(const std::string& stem, int width, int height,
                       const std::function<void(cairo_t*)>& draw);

}  // namespace gpt2q
