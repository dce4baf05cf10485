// The report's figures, each written as STEM.png and STEM.svg with cairo:
// weight-histogram panels, per-method bar charts, per-tensor SQNR lines and the
// perplexity-vs-bytes Pareto scatter.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "report/results.h"

namespace gpt2q {

struct HistogramPlotOptions {
  int columns = 1;          // panels per row
  int panel_width = 760;    // px
  int panel_height = 380;   // px
};

// One panel per histogram: original (light red) and dequantized (a palette
// colour) counts overlaid semi-transparently, y ticks with K/M suffixes, a
// legend, and the title "Original (MODEL) vs Quantized (MODEL_METHOD)".
// Fails if `histograms` is empty, a histogram's edges and counts disagree, or a
// file cannot be written.
Status PlotHistogramGrid(const std::vector<HistogramData>& histograms, const std::string& stem,
                         const HistogramPlotOptions& options);

enum class BarMetric { kPpl, kKld, kBytes, kTokensPerSecond };

// The metric's axis title, e.g. "Perplexity (lower is better)".
std::string BarMetricTitle(BarMetric metric);
// The metric's file-name part: "ppl", "kld", "bytes", "speed".
std::string BarMetricName(BarMetric metric);
// Returns true if at least one result has a finite value of `metric`.
bool HasMetric(const std::vector<MethodResult>& results, BarMetric metric);

// Horizontal bars, one per method (label at the left, value at the bar's end,
// ± stderr whiskers for ppl and KLD). Methods without the value are listed as
// "not measured". Fails if no result has the metric.
Status PlotBarChart(const std::vector<MethodResult>& results, BarMetric metric,
                    const std::string& stem);

// Returns true if at least one result has a per-tensor entry with finite SQNR.
bool HasPerTensorSqnr(const std::vector<MethodResult>& results);

// SQNR (dB) per tensor in model order, one line per method with per-tensor
// data (exact tensors, SQNR = inf, are left out). Fails if there is no data.
Status PlotSqnrPerTensor(const std::vector<MethodResult>& results, const std::string& stem);

// Indices of the results on the Pareto front of (weights_bytes, ppl): no other
// result has both fewer-or-equal bytes and lower-or-equal ppl with one strictly
// lower. Results without a finite ppl are never on it. In increasing bytes.
std::vector<size_t> ParetoFront(const std::vector<MethodResult>& results);

// Scatter of ppl against weights MB, the Pareto front drawn as a line with its
// points highlighted and labelled. Fails if no result has a finite ppl.
Status PlotPareto(const std::vector<MethodResult>& results, const std::string& stem);

}  // namespace gpt2q
