// The report's figures: histogram panels, bar charts, SQNR lines, Pareto scatter.
#include "report/charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "report/plot_canvas.h"
#include "report/results_io.h"

namespace gpt2q {
namespace {

constexpr Rgba kOriginalColor = {0.94, 0.50, 0.50, 0.55};  // light red, as the reference figure
constexpr Rgba kFrontColor = {0.84, 0.15, 0.16, 1};
constexpr Rgba kDominatedColor = {0.55, 0.55, 0.55, 1};

std::string ShortTensorName(std::string name) {
  if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    name.resize(name.size() - suffix.size());
  }
  return name;
}

void DrawHistogramPanel(cairo_t* cr, const HistogramData& h, size_t index, double x0, double y0,
                        double w, double hgt) {
  const std::string model = h.model_name.empty() ? "model" : h.model_name;
  const std::string quant_name = model + "_" + h.method_label;
  DrawText(cr, "Original (" + model + ") vs Quantized (" + quant_name + ")", x0 + w / 2, y0 + 8,
           14, HAlign::kCenter, VAlign::kTop, true);
  int64_t peak = 0;
  for (size_t i = 0; i < h.original_counts.size(); ++i) {
    peak = std::max({peak, h.original_counts[i], h.quantized_counts[i]});
  }
  PlotArea a;
  a.left = x0 + 78;
  a.top = y0 + 36;
  a.width = w - 78 - 16;
  a.height = hgt - 36 - 62;
  a.xmin = h.bin_edges.front();
  a.xmax = h.bin_edges.back();
  a.ymin = 0;
  a.ymax = NiceCeil(static_cast<double>(peak) * 1.05);
  double xstep = 0;
  const auto xticks = NiceTicks(a.xmin, a.xmax, 8, &xstep);
  DrawAxes(cr, a, xticks, [xstep](double v) { return FormatTick(v, xstep); },
           NiceTicks(0, a.ymax, 6), [](double v) { return FormatCount(v); }, "Weights", "Count");
  const Rgba quant_color = PaletteColor(index, 0.55);
  for (int series = 0; series < 2; ++series) {
    const auto& counts = series == 0 ? h.original_counts : h.quantized_counts;
    SetColor(cr, series == 0 ? kOriginalColor : quant_color);
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] == 0) continue;
      const double xl = a.X(h.bin_edges[i]), xr = a.X(h.bin_edges[i + 1]);
      const double yt = a.Y(static_cast<double>(counts[i]));
      cairo_rectangle(cr, xl, yt, xr - xl, a.Y(0) - yt);
    }
    cairo_fill(cr);
  }
  DrawLegend(cr, a,
             {{"Original " + model + " weights", kOriginalColor},
              {quant_name + " weights", quant_color}});
  char note[256];
  std::snprintf(note, sizeof(note), "%zu bins; in range: original %s of %s, quantized %s of %s",
                h.original_counts.size(), FormatCount(h.original_plotted).c_str(),
                FormatCount(h.original_total).c_str(), FormatCount(h.quantized_plotted).c_str(),
                FormatCount(h.quantized_total).c_str());
  DrawText(cr, note, a.left + a.width, y0 + hgt - 6, 10, HAlign::kRight, VAlign::kBottom, false, 0,
           {0.4, 0.4, 0.4, 1});
}

struct BarValue {
  double value = std::nan("");
  double err = std::nan("");
};

BarValue MetricValue(const MethodResult& r, BarMetric metric) {
  switch (metric) {
    case BarMetric::kPpl: return {r.ppl, r.ppl_stderr};
    case BarMetric::kKld: return {r.kld_mean, r.kld_stderr};
    case BarMetric::kBytes: return {static_cast<double>(r.weights_bytes) / 1e6, std::nan("")};
    case BarMetric::kTokensPerSecond: return {r.tokens_per_s, std::nan("")};
  }
  return {};
}

}  // namespace

Status PlotHistogramGrid(const std::vector<HistogramData>& histograms, const std::string& stem,
                         const HistogramPlotOptions& options) {
  if (histograms.empty()) return Status::Error(stem + ": no histograms to plot");
  if (options.columns < 1 || options.panel_width < 200 || options.panel_height < 150) {
    return Status::Error(stem + ": histogram plot needs columns >= 1 and panels >= 200x150 px");
  }
  for (const HistogramData& h : histograms) {
    const size_t bins = h.original_counts.size();
    if (bins == 0 || h.quantized_counts.size() != bins || h.bin_edges.size() != bins + 1 ||
        !(h.bin_edges.front() < h.bin_edges.back())) {
      return Status::Error(stem + ": histogram '" + h.method_label + "' has " +
                           std::to_string(h.bin_edges.size()) + " edges, " +
                           std::to_string(bins) + " original and " +
                           std::to_string(h.quantized_counts.size()) +
                           " quantized counts; expected bins + 1 increasing edges and bins counts");
    }
  }
  const int cols = std::min<int>(options.columns, static_cast<int>(histograms.size()));
  const int rows = static_cast<int>((histograms.size() + cols - 1) / cols);
  const int pw = options.panel_width, ph = options.panel_height;
  return RenderPngAndSvg(stem, cols * pw, rows * ph, [&](cairo_t* cr) {
    for (size_t i = 0; i < histograms.size(); ++i) {
      DrawHistogramPanel(cr, histograms[i], i, (i % cols) * pw, (i / cols) * ph, pw, ph);
    }
  });
}

std::string BarMetricTitle(BarMetric metric) {
  switch (metric) {
    case BarMetric::kPpl: return "Perplexity (lower is better)";
    case BarMetric::kKld: return "KL divergence from fp32, nats/token (lower is better)";
    case BarMetric::kBytes: return "Weights, MB (10^6 bytes)";
    case BarMetric::kTokensPerSecond: return "Evaluation speed, tokens/s (higher is better)";
  }
  return "";
}

std::string BarMetricName(BarMetric metric) {
  switch (metric) {
    case BarMetric::kPpl: return "ppl";
    case BarMetric::kKld: return "kld";
    case BarMetric::kBytes: return "bytes";
    case BarMetric::kTokensPerSecond: return "speed";
  }
  return "";
}

bool HasMetric(const std::vector<MethodResult>& results, BarMetric metric) {
  for (const auto& r : results) {
    if (std::isfinite(MetricValue(r, metric).value)) return true;
  }
  return false;
}

Status PlotBarChart(const std::vector<MethodResult>& results, BarMetric metric,
                    const std::string& stem) {
  if (!HasMetric(results, metric)) {
    return Status::Error(stem + ": no method has a measured " + BarMetricName(metric));
  }
  double vmax = 0;
  for (const auto& r : results) {
    const BarValue b = MetricValue(r, metric);
    if (!std::isfinite(b.value)) continue;
    vmax = std::max(vmax, b.value + (std::isfinite(b.err) ? b.err : 0));
  }
  constexpr int kRow = 28, kWidth = 960;
  const int height = 70 + kRow * static_cast<int>(results.size()) + 60;
  return RenderPngAndSvg(stem, kWidth, height, [&](cairo_t* cr) {
    double label_w = 0;
    for (const auto& r : results) label_w = std::max(label_w, TextWidth(cr, MethodLabel(r), 11));
    PlotArea a;
    a.left = std::min(label_w + 20, kWidth * 0.45);
    a.top = 44;
    a.width = kWidth - a.left - 90;
    a.height = kRow * static_cast<double>(results.size());
    a.xmin = 0;
    a.xmax = NiceCeil(vmax * 1.05);
    a.ymin = 0;
    a.ymax = static_cast<double>(results.size());
    double step = 0;
    const auto ticks = NiceTicks(0, a.xmax, 8, &step);
    DrawText(cr, BarMetricTitle(metric), kWidth / 2.0, 12, 14, HAlign::kCenter, VAlign::kTop,
             true);
    DrawAxes(cr, a, ticks,
             [step, metric](double v) {
               return metric == BarMetric::kTokensPerSecond ? FormatCount(v) : FormatTick(v, step);
             },
             {}, nullptr, BarMetricTitle(metric), "");
    for (size_t i = 0; i < results.size(); ++i) {
      const double yc = a.top + kRow * (i + 0.5);
      DrawText(cr, MethodLabel(results[i]), a.left - 8, yc, 11, HAlign::kRight, VAlign::kMiddle);
      const BarValue b = MetricValue(results[i], metric);
      if (!std::isfinite(b.value)) {
        DrawText(cr, "not measured", a.left + 6, yc, 11, HAlign::kLeft, VAlign::kMiddle, false, 0,
                 {0.5, 0.5, 0.5, 1});
        continue;
      }
      SetColor(cr, PaletteColor(i, 0.85));
      cairo_rectangle(cr, a.X(0), yc - kRow * 0.35, a.X(b.value) - a.X(0), kRow * 0.7);
      cairo_fill(cr);
      double end = a.X(b.value);
      if (std::isfinite(b.err) && b.err > 0) {
        cairo_set_source_rgba(cr, 0.15, 0.15, 0.15, 1);
        cairo_set_line_width(cr, 1.2);
        const double lo = a.X(std::max(0.0, b.value - b.err)), hi = a.X(b.value + b.err);
        cairo_move_to(cr, lo, yc);
        cairo_line_to(cr, hi, yc);
        cairo_move_to(cr, lo, yc - 5);
        cairo_line_to(cr, lo, yc + 5);
        cairo_move_to(cr, hi, yc - 5);
        cairo_line_to(cr, hi, yc + 5);
        cairo_stroke(cr);
        end = hi;
      }
      DrawText(cr, FormatNumber(b.value, 5), end + 6, yc, 11, HAlign::kLeft, VAlign::kMiddle);
    }
  });
}

bool HasPerTensorSqnr(const std::vector<MethodResult>& results) {
  for (const auto& r : results) {
    for (const auto& t : r.per_tensor) {
      if (std::isfinite(t.sqnr_db)) return true;
    }
  }
  return false;
}

Status PlotSqnrPerTensor(const std::vector<MethodResult>& results, const std::string& stem) {
  if (!HasPerTensorSqnr(results)) return Status::Error(stem + ": no per-tensor SQNR to plot");
  // Tensor order: first seen across methods (each method lists model order).
  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  for (const auto& r : results) {
    for (const auto& t : r.per_tensor) {
      if (index.emplace(t.tensor, names.size()).second) names.push_back(t.tensor);
    }
  }
  double lo = INFINITY, hi = -INFINITY;
  std::vector<size_t> plotted;  // results with at least one finite point
  for (size_t m = 0; m < results.size(); ++m) {
    bool any = false;
    for (const auto& t : results[m].per_tensor) {
      if (!std::isfinite(t.sqnr_db)) continue;
      lo = std::min(lo, t.sqnr_db);
      hi = std::max(hi, t.sqnr_db);
      any = true;
    }
    if (any) plotted.push_back(m);
  }
  const double pad = std::max(1.0, (hi - lo) * 0.08);
  const int n = static_cast<int>(names.size());
  const int label_every = std::max(1, (n + 59) / 60);
  double longest = 0;
  for (const auto& s : names) longest = std::max<double>(longest, ShortTensorName(s).size());
  const double label_h = 12 + longest * 6.0 * 0.72;  // rotated labels at ~6 px per character
  const int width = std::max(960, 120 + 16 * n + 260);
  const int height = static_cast<int>(440 + label_h);
  return RenderPngAndSvg(stem, width, height, [&](cairo_t* cr) {
    PlotArea a;
    a.left = 70;
    a.top = 44;
    a.width = width - a.left - 260;
    a.height = 360;
    a.xmin = -0.5;
    a.xmax = n - 0.5;
    a.ymin = lo - pad;
    a.ymax = hi + pad;
    double ystep = 0;
    const auto yticks = NiceTicks(a.ymin, a.ymax, 8, &ystep);
    DrawText(cr, "SQNR of each dequantized tensor (dB, higher is better)", width / 2.0, 12, 14,
             HAlign::kCenter, VAlign::kTop, true);
    DrawAxes(cr, a, {}, nullptr, yticks, [ystep](double v) { return FormatTick(v, ystep); }, "",
             "SQNR (dB)");
    for (int i = 0; i < n; i += label_every) {
      DrawText(cr, ShortTensorName(names[i]), a.X(i) + 3, a.top + a.height + 6, 9, HAlign::kRight,
               VAlign::kMiddle, false, -M_PI / 4);
    }
    std::vector<LegendEntry> legend;
    for (size_t k = 0; k < plotted.size(); ++k) {
      const MethodResult& r = results[plotted[k]];
      const Rgba color = PaletteColor(k);
      legend.push_back({MethodLabel(r), color, true});
      SetColor(cr, color);
      cairo_set_line_width(cr, 1.8);
      bool pen_down = false;
      int last = -2;
      for (const auto& t : r.per_tensor) {
        const int i = static_cast<int>(index.at(t.tensor));
        if (!std::isfinite(t.sqnr_db)) {
          pen_down = false;
          continue;
        }
        if (pen_down && i == last + 1) cairo_line_to(cr, a.X(i), a.Y(t.sqnr_db));
        else cairo_move_to(cr, a.X(i), a.Y(t.sqnr_db));
        pen_down = true;
        last = i;
      }
      cairo_stroke(cr);
      for (const auto& t : r.per_tensor) {
        if (!std::isfinite(t.sqnr_db)) continue;
        cairo_arc(cr, a.X(index.at(t.tensor)), a.Y(t.sqnr_db), 2.5, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
    PlotArea legend_area = a;
    legend_area.left = a.left + a.width + 4;
    legend_area.width = 252;
    DrawLegend(cr, legend_area, legend);
  });
}

std::vector<size_t> ParetoFront(const std::vector<MethodResult>& results) {
  std::vector<size_t> order;
  for (size_t i = 0; i < results.size(); ++i) {
    if (std::isfinite(results[i].ppl)) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (results[a].weights_bytes != results[b].weights_bytes)
      return results[a].weights_bytes < results[b].weights_bytes;
    return results[a].ppl < results[b].ppl;
  });
  std::vector<size_t> front;
  double best = INFINITY;
  for (size_t i : order) {
    if (results[i].ppl < best) {
      front.push_back(i);
      best = results[i].ppl;
    }
  }
  return front;
}

Status PlotPareto(const std::vector<MethodResult>& results, const std::string& stem) {
  const std::vector<size_t> front = ParetoFront(results);
  if (front.empty()) return Status::Error(stem + ": no method has a measured ppl");
  std::vector<bool> on_front(results.size(), false);
  for (size_t i : front) on_front[i] = true;
  double xmax = 0, ylo = INFINITY, yhi = -INFINITY;
  for (const auto& r : results) {
    if (!std::isfinite(r.ppl)) continue;
    xmax = std::max(xmax, r.weights_bytes / 1e6);
    ylo = std::min(ylo, r.ppl);
    yhi = std::max(yhi, r.ppl);
  }
  const double pad = std::max((yhi - ylo) * 0.1, std::max(1e-3, std::fabs(yhi) * 0.01));
  constexpr int kWidth = 960, kHeight = 600;
  return RenderPngAndSvg(stem, kWidth, kHeight, [&](cairo_t* cr) {
    PlotArea a;
    a.left = 80;
    a.top = 44;
    a.width = kWidth - 80 - 40;
    a.height = kHeight - 44 - 70;
    a.xmin = 0;
    a.xmax = NiceCeil(xmax * 1.15);
    a.ymin = ylo - pad;
    a.ymax = yhi + pad;
    double xstep = 0, ystep = 0;
    const auto xticks = NiceTicks(a.xmin, a.xmax, 8, &xstep);
    const auto yticks = NiceTicks(a.ymin, a.ymax, 8, &ystep);
    DrawText(cr, "Perplexity vs weight memory (Pareto front in red)", kWidth / 2.0, 12, 14,
             HAlign::kCenter, VAlign::kTop, true);
    DrawAxes(cr, a, xticks, [xstep](double v) { return FormatTick(v, xstep); }, yticks,
             [ystep](double v) { return FormatTick(v, ystep); }, "Weights (MB)", "Perplexity");
    SetColor(cr, kFrontColor);
    cairo_set_line_width(cr, 2);
    for (size_t k = 0; k < front.size(); ++k) {
      const MethodResult& r = results[front[k]];
      if (k == 0) cairo_move_to(cr, a.X(r.weights_bytes / 1e6), a.Y(r.ppl));
      else cairo_line_to(cr, a.X(r.weights_bytes / 1e6), a.Y(r.ppl));
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < results.size(); ++i) {
      const MethodResult& r = results[i];
      if (!std::isfinite(r.ppl)) continue;
      const double x = a.X(r.weights_bytes / 1e6), y = a.Y(r.ppl);
      SetColor(cr, on_front[i] ? kFrontColor : kDominatedColor);
      cairo_arc(cr, x, y, on_front[i] ? 5 : 4, 0, 2 * M_PI);
      cairo_fill(cr);
      DrawText(cr, MethodLabel(r), x + 7, y - 4, 10, HAlign::kLeft, VAlign::kBottom, on_front[i],
               0, on_front[i] ? Rgba{0.5, 0.05, 0.05, 1} : Rgba{0.35, 0.35, 0.35, 1});
    }
    DrawLegend(cr, a, {{"Pareto front", kFrontColor, true}, {"dominated", kDominatedColor, true}});
  });
}

}  // namespace gpt2q
