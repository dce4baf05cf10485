// Weight histograms: counts of original and dequantized values in equal bins.
#include "report/histogram.h"

#include <cmath>

#include "core/check.h"

namespace gpt2q {

Status ValidateHistogramOptions(const HistogramOptions& options) {
  if (options.bins < 1 || options.bins > 100000) {
    return Status::Error("histogram: bins must be in [1, 100000], got " +
                         std::to_string(options.bins));
  }
  if (!std::isfinite(options.lo) || !std::isfinite(options.hi) || !(options.lo < options.hi)) {
    return Status::Error("histogram: range must be finite with lo < hi, got [" +
                         std::to_string(options.lo) + ", " + std::to_string(options.hi) + "]");
  }
  return OkStatus();
}

int64_t AccumulateHistogram(std::span<const float> values, const HistogramOptions& options,
                            std::vector<int64_t>& counts) {
  GPT2Q_CHECK(ValidateHistogramOptions(options).ok());
  GPT2Q_CHECK(counts.size() == static_cast<size_t>(options.bins));
  const double lo = options.lo, hi = options.hi;
  const double scale = options.bins / (hi - lo);
  int64_t counted = 0;
  for (float f : values) {
    const double v = f;
    if (!(v >= lo && v <= hi)) continue;  // also drops NaN
    int64_t bin = static_cast<int64_t>((v - lo) * scale);
    if (bin >= options.bins) bin = options.bins - 1;  // v == hi, or rounding at the top
    ++counts[bin];
    ++counted;
  }
  return counted;
}

std::vector<double> HistogramEdges(const HistogramOptions& options) {
  std::vector<double> edges(options.bins + 1);
  for (int i = 0; i <= options.bins; ++i) {
    edges[i] = options.lo + (options.hi - options.lo) * i / options.bins;
  }
  return edges;
}

Result<HistogramData> MakeHistogram(const std::string& model_name, const std::string& method_label,
                                    const std::vector<std::span<const float>>& original,
                                    const std::vector<std::span<const float>>& quantized,
                                    const HistogramOptions& options) {
  GPT2Q_RETURN_IF_ERROR(ValidateHistogramOptions(options));
  HistogramData data;
  data.model_name = model_name;
  data.method_label = method_label;
  data.bin_edges = HistogramEdges(options);
  data.original_counts.assign(options.bins, 0);
  data.quantized_counts.assign(options.bins, 0);
  for (const auto& piece : original) {
    data.original_plotted += AccumulateHistogram(piece, options, data.original_counts);
    data.original_total += static_cast<int64_t>(piece.size());
  }
  for (const auto& piece : quantized) {
    data.quantized_plotted += AccumulateHistogram(piece, options, data.quantized_counts);
    data.quantized_total += static_cast<int64_t>(piece.size());
  }
  return data;
}

}  // namespace gpt2q
