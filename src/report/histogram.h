// Weight histograms: counts of original and dequantized values in equal bins.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "report/results.h"

namespace gpt2q {

// The reference figures use 150–200 bins over [−2, 2].
struct HistogramOptions {
  double lo = -2.0;
  double hi = 2.0;
  int bins = 180;
};

// Returns an error naming the bad field unless bins is in [1, 100000] and
// lo < hi (both finite).
Status ValidateHistogramOptions(const HistogramOptions& options);

// Adds the values of `values` that lie in [lo, hi] to `counts` (size bins; bin i
// covers [lo + i·w, lo + (i+1)·w), the last bin also holds hi). Values outside
// the range and NaNs go to no bin. Returns how many values were counted.
// Requires counts.size() == options.bins and valid options (checked).
int64_t AccumulateHistogram(std::span<const float> values, const HistogramOptions& options,
                            std::vector<int64_t>& counts);

// Returns the bins + 1 edges lo, lo + w, ..., hi.
std::vector<double> HistogramEdges(const HistogramOptions& options);

// Builds the histogram of one method: `original` and `quantized` are the
// tensors (fp32 and dequantized) that were plotted, in any number of pieces.
// Fails on invalid options.
Result<HistogramData> MakeHistogram(const std::string& model_name, const std::string& method_label,
                                    const std::vector<std::span<const float>>& original,
                                    const std::vector<std::span<const float>>& quantized,
                                    const HistogramOptions& options);

}  // namespace gpt2q
